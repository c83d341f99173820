#pragma once
// Settings of a simulator run and the `peyk simulate` flags that fill them.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

namespace peyk::simulator {

struct options {
  std::string target = "http://127.0.0.1:8082";  // the ingest API's base URL
  int couriers = 200;
  double interval_s = 0;  // seconds between a courier's points; 0: the server's update_interval
  std::string secret;     // the HS256 key the courier tokens are signed with (required)
  std::array<double, 4> bbox{35.60, 51.20, 35.80, 51.55};  // min_lat, min_lon, max_lat, max_lon
  int fleets = 8;         // stores; courier i works for "store-<i % fleets>"
  int connections = 0;    // keep-alive connections shared by all couriers; 0: min(couriers, 64)
  double duration_s = 0;  // 0: until stop()
  unsigned seed = 1;      // same seed, same city and drivers
  int first_id = 1;       // courier subs are first_id .. first_id + couriers - 1
  std::string name_prefix = "driver";  // courier i is called name_prefix + i
  std::size_t max_body = 64 * 1024;    // the server's --max-body: batches are split to fit
  double request_timeout_s = 10;
  double warm_up_s = 1200;        // couriers start up to this far into their shift, spread out
  std::function<void()> on_stop;  // runs on the io_context once the simulator has stopped
};

// Counters since start(); each one is read atomically, not all together.
struct stats {
  std::uint64_t requests_ok = 0;      // 200 answers
  std::uint64_t points_ok = 0;        // points inside those
  std::uint64_t rate_limited = 0;     // 429
  std::uint64_t unavailable = 0;      // 503 and other 5xx
  std::uint64_t errors = 0;           // transport errors of a request and failed connects
  std::uint64_t rejected = 0;         // other 4xx (a bug or a wrong key): counted and logged
  std::uint64_t points_rejected = 0;  // points inside those, not retried
  std::uint64_t points_dropped = 0;   // oldest buffered points dropped by a full outbox
  std::uint64_t points_buffered = 0;  // waiting now
  std::size_t couriers = 0;
  std::size_t couriers_active = 0;  // whose last request got a 200
  std::size_t connections_open = 0;
  double interval_s = 0;  // in use now (0: not known yet)
};

// Parses the flags of `peyk simulate` (argv[0] is the command name and skipped) and loads
// the key (--jwt-secret-file, else env PEYK_JWT_SECRET). nullopt after printing help (to
// `out`, exit 0) or an error (to `err`, exit 2); `exit_code` says which.
std::optional<options> parse_options(int argc, const char* const* argv, std::ostream& out,
                                     std::ostream& err, int& exit_code);

}  // namespace peyk::simulator
