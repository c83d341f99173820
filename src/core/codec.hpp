#pragma once
// JSON codec of the wire formats (PROTOCOL.md §3, §4) and the validation rules they share.
// Pure functions: no I/O, no clocks (the caller passes `now`).

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/location.hpp"

namespace peyk::core {

struct ingest_limits {
  std::size_t max_points = 1000;       // points in one batch
  std::size_t max_orders = 32;         // order ids in one point
  std::size_t max_string_bytes = 128;  // any string field (order id, recorded_at, ...)
};

// Parses the body of POST /api/v1/locations: one point object or {"points": [...]}.
// Only the point fields are filled (latitude..orders); identity and ts are the caller's.
expected<std::vector<location>> parse_ingest_body(std::string_view body,
                                                  const ingest_limits& limits = {});

struct decode_limits {
  std::size_t max_message_bytes = 16 * 1024;
  std::size_t max_orders = 32;
  std::size_t max_string_bytes = 128;
};

// Decodes one broker message (§4). `ts` is left 0 when the publisher left it out.
expected<location> decode_broker_message(std::string_view json, const decode_limits& limits = {});

// Encodes a location in the broker format (§4); also the `echo-protocol` frame and the
// element of `peyk.v1` arrays. `user.id` is a number when the id is a decimal integer.
std::string encode_location(const location& loc);

// As encode_location, but `orders` lists only `visible_orders` (a customer's view).
std::string encode_location(const location& loc, std::span<const std::string> visible_orders);

// Rounds to 6 decimal places (the precision of the original design's DecimalField).
double round6(double v);

// True when `id` is a decimal integer that is sent as a JSON number (no sign, no leading
// zero, fits in int64).
bool is_numeric_id(std::string_view id);

}  // namespace peyk::core
