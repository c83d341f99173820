#include "core/log.hpp"

#include <unistd.h>

#include <chrono>
#include <ctime>
#include <string>

namespace peyk::core {

namespace {
std::atomic<int> level{static_cast<int>(log_level::info)};
const char* names[] = {"debug", "info", "warn", "error", "off"};
}  // namespace

void set_log_level(log_level l) {
  level.store(static_cast<int>(l));
}

bool log_enabled(log_level l) {
  return static_cast<int>(l) >= level.load();
}

void log(log_level l, std::string_view msg) {
  if (!log_enabled(l)) return;
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line;
  line.reserve(msg.size() + 48);
  line += ts;
  line += '.';
  char buf[8];
  std::snprintf(buf, sizeof buf, "%03d", static_cast<int>(ms.count()));
  line += buf;
  line += "Z ";
  line += names[static_cast<int>(l)];
  line += ' ';
  line += msg;
  line += '\n';
  [[maybe_unused]] auto n = ::write(2, line.data(), line.size());
}

bool log_limiter::allow() {
  auto now = std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::steady_clock::now().time_since_epoch())
                 .count();
  auto w = window_.load(std::memory_order_relaxed);
  if (w != now && window_.compare_exchange_strong(w, now)) count_.store(0);
  return count_.fetch_add(1, std::memory_order_relaxed) < per_second_;
}

}  // namespace peyk::core
