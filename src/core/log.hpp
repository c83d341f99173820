#pragma once
// Minimal structured-ish logging to stderr: one write per line, so lines from several
// threads never interleave. Callers must not pass secrets (see http::redact_target).

#include <atomic>
#include <string_view>

namespace peyk::core {

enum class log_level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

void set_log_level(log_level l);
bool log_enabled(log_level l);
void log(log_level l, std::string_view msg);

// True at most `per_second` times a second per call site's limiter: for logging from
// paths an attacker can trigger (invalid broker messages, refused upgrades).
class log_limiter {
 public:
  explicit log_limiter(int per_second = 5) : per_second_(per_second) {}
  bool allow();

 private:
  int per_second_;
  std::atomic<long long> window_{0};
  std::atomic<int> count_{0};
};

}  // namespace peyk::core
