#pragma once
// The phone apps' request formats (PROTOCOL.md §9): OsmAnd / Traccar Client (query string,
// form body, Traccar Client's JSON) and OwnTracks' HTTP mode, read into core::location.
// Pure: no I/O, no clock, no identity (the caller stamps courier, name, fleet and ts).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/codec.hpp"
#include "core/error.hpp"
#include "core/location.hpp"

namespace peyk::apps {

// The unit of a query/form `speed` (Traccar reads it as knots; the OsmAnd app's {5} is m/s).
enum class speed_unit { knots, kmh, mps, mph };
std::optional<speed_unit> parse_speed_unit(std::string_view text);  // kn|kmh|mps|mph
double to_mps(double value, speed_unit unit);

struct limits {
  core::ingest_limits ingest;          // points in a batch, string sizes
  std::size_t max_params = 64;         // query/form parameters (repeated ones count)
  std::size_t max_token_bytes = 4096;  // a device id that carries a JWT
};

// What one request said: its points (source set, recorded_at as RFC 3339 UTC when the app
// sent a time), the token it carried in its parameters or body (empty: none) and the app.
struct parsed {
  std::vector<core::location> points;
  std::string token;
  std::string app;  // "osmand", "traccar" or "owntracks"
};

// OsmAnd protocol parameters: a query string (without '?') or an
// application/x-www-form-urlencoded body. `id`|`deviceid`|`device_id` or `token` carry
// the token; `speed_unit` in the parameters overrides `unit`. source = "osmand".
core::expected<parsed> parse_osmand_params(std::string_view params, speed_unit unit,
                                           const limits& lim = {});

// Traccar Client's JSON bodies: {"device_id", "location": {...} | [{...}, ...]} (version 9,
// flutter_background_geolocation's template) and the flat objects of its newer SDK
// ({"id", "lat", "lon", "timestamp", ...}, alone or in an array). JSON speed is m/s except
// in the flat form, which carries the query's units (knots unless `unit`). source = "traccar".
core::expected<parsed> parse_traccar_json(std::string_view body, speed_unit unit,
                                          const limits& lim = {});

// OwnTracks HTTP mode: one JSON message. `_type` "location" gives one point; any other
// `_type` gives none (answered 200 []). source = "owntracks".
core::expected<parsed> parse_owntracks(std::string_view body, const limits& lim = {});

// The token in OsmAnd parameters, without parsing the rest (auth on the request's head):
// `token`, else `id`, `deviceid`, `device_id`. nullopt when none or the string is not a
// query.
std::optional<std::string> token_in_params(std::string_view params, std::size_t max_bytes = 4096);

// An app's time: Unix seconds or milliseconds (values under 2^31 are seconds, as Traccar
// reads them; a fraction is allowed), RFC 3339 / ISO 8601, or "YYYY-MM-DD HH:MM:SS" (UTC).
std::optional<std::int64_t> parse_app_time_us(std::string_view text);

// "2026-11-28T12:00:00.250Z": microseconds as RFC 3339 UTC with milliseconds (or
// microseconds when they are not whole milliseconds).
std::string format_rfc3339(std::int64_t us);

}  // namespace peyk::apps
