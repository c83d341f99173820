#pragma once
// The location value type shared by every module: one courier position as it travels
// from ingest through the broker to viewers. Immutable once published (held by
// shared_ptr<const location>).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace peyk::core {

struct location {
  std::string courier_id;  // token `sub` or message `user.id` (decimal integers kept as text)
  std::string username;    // token `name` or message `user.username`; may be empty
  double latitude = 0;     // [-90, 90], rounded to 6 decimals
  double longitude = 0;    // [-180, 180], rounded to 6 decimals
  std::optional<double> accuracy;
  std::optional<double> speed;
  std::optional<double> heading;
  std::optional<double> altitude;  // metres (phone apps report it)
  std::optional<double> battery;   // 0..100 % (phone apps, PROTOCOL.md §9)
  std::optional<bool> charging;
  std::string
      source;  // the app it came from ("osmand", "traccar", "owntracks"); empty = the JSON API
  std::string recorded_at;          // as sent by the app; empty = absent
  std::string fleet;                // empty = no fleet
  std::vector<std::string> orders;  // the orders the courier carries now
  std::int64_t ts_us = 0;           // microseconds since the epoch when it entered peyk
};

}  // namespace peyk::core
