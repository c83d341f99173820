#include "history/history.hpp"

#include <stdexcept>

#include "core/timestamp.hpp"
#include "history/postgres_store.hpp"
#include "history/sqlite_store.hpp"

namespace peyk::history {

point to_point(const core::location& l) {
  point p;
  p.courier_id = l.courier_id;
  p.name = l.username;
  p.fleet = l.fleet;
  p.orders = l.orders;
  p.latitude = l.latitude;
  p.longitude = l.longitude;
  p.accuracy = l.accuracy;
  p.speed = l.speed;
  p.heading = l.heading;
  p.battery = l.battery;
  p.ts_us = l.ts_us;
  if (!l.recorded_at.empty()) p.recorded_us = core::parse_rfc3339_us(l.recorded_at);
  p.t_us = p.recorded_us.value_or(p.ts_us);
  return p;
}

std::unique_ptr<store> open_store(const std::string& spec, const options& opt,
                                  core::metrics& metrics) {
  constexpr std::string_view sqlite_scheme = "sqlite:";
  if (spec.starts_with(sqlite_scheme)) {
    auto path = spec.substr(sqlite_scheme.size());
    if (path.empty()) throw std::invalid_argument("--history sqlite:PATH needs a file path");
    return make_sqlite_store(path, opt, metrics);
  }
  if (spec.starts_with("postgres://") || spec.starts_with("postgresql://")) {
    return make_postgres_store(spec, opt, metrics);
  }
  if (spec == "off") throw std::invalid_argument("--history off: the caller opens no store");
  // Only the scheme is echoed: the rest may hold a password.
  auto colon = spec.find(':');
  throw std::invalid_argument(
      "--history takes sqlite:PATH, postgres://USER[:PASS]@HOST:PORT/DB or off, not '" +
      (colon == std::string::npos ? spec : spec.substr(0, colon + 1) + "...") + "'");
}

}  // namespace peyk::history
