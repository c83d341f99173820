// The JSON bodies of Traccar Client (its version 9 template and its newer SDK's flat
// objects) and of OwnTracks' HTTP mode.
#include <cmath>

#include <boost/json.hpp>

#include "apps/apps.hpp"
#include "apps/fields.hpp"

namespace peyk::apps {

namespace json = boost::json;
using detail::invalid;
using detail::missing;

namespace {

core::expected<json::value> parse_json(std::string_view body) {
  boost::system::error_code ec;
  json::parse_options opt;
  opt.max_depth = 16;
  auto v = json::parse(body, ec, {}, opt);
  if (ec) return core::error{"invalid_json", "the body is not valid JSON", ""};
  return v;
}

// A JSON number (or a string of one); nullopt for anything else, null included.
std::optional<double> number(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_:
      if (!std::isfinite(v.get_double())) return std::nullopt;
      return v.get_double();
    case json::kind::int64:
      return static_cast<double>(v.get_int64());
    case json::kind::uint64:
      return static_cast<double>(v.get_uint64());
    case json::kind::string:
      return detail::parse_number(v.get_string());
    default:
      return std::nullopt;
  }
}

// A field as the text an OsmAnd parameter would carry (numbers, strings, booleans).
std::optional<std::string> as_text(const json::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_bool()) return std::string(v.get_bool() ? "true" : "false");
  if (v.is_number()) return json::serialize(v);
  return std::nullopt;
}

const json::value* find(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

// An optional number in [lo, hi]; negative is "unknown" (flutter_background_geolocation
// sends -1) when `negative_unknown`.
core::expected<std::optional<double>> opt_number(const json::object& o, std::string_view key,
                                                 const std::string& path, double lo, double hi,
                                                 bool negative_unknown) {
  const auto* v = find(o, key);
  if (!v) return std::optional<double>{};
  auto n = number(*v);
  if (!n) return invalid(path, path + " must be a number");
  if (negative_unknown && *n < 0) return std::optional<double>{};
  if (*n < lo || *n > hi) return invalid(path, path + " is out of range");
  return std::optional<double>{*n};
}

core::expected<double> coordinate(const json::object& o, std::string_view key,
                                  const std::string& path, double bound) {
  const auto* v = find(o, key);
  if (!v) return missing(path, path + " is required");
  auto n = number(*v);
  if (!n || *n < -bound || *n > bound) {
    return invalid(path, path + " must be a number in [-" + std::to_string(int(bound)) + ", " +
                             std::to_string(int(bound)) + "]");
  }
  return core::round6(*n);
}

std::string prefixed(const std::string& path, const std::string& field) {
  if (path.empty()) return field;
  if (field.empty()) return path;
  return path + "." + field;
}

// One location of flutter_background_geolocation's template (Traccar Client 9).
core::expected<core::location> bg_location(const json::value& v, const std::string& path) {
  const auto* o = v.if_object();
  if (!o) return invalid(path, path + " must be an object");
  core::location loc;
  const auto* coords_v = find(*o, "coords");
  if (!coords_v) return missing(path + ".coords", path + ".coords is required");
  const auto* c = coords_v->if_object();
  if (!c) return invalid(path + ".coords", path + ".coords must be an object");
  const std::string cp = path + ".coords";
  auto lat = coordinate(*c, "latitude", cp + ".latitude", 90);
  if (!lat) return lat.error();
  auto lon = coordinate(*c, "longitude", cp + ".longitude", 180);
  if (!lon) return lon.error();
  loc.latitude = *lat;
  loc.longitude = *lon;
  auto acc = opt_number(*c, "accuracy", cp + ".accuracy", 0, 1e7, true);
  if (!acc) return acc.error();
  loc.accuracy = *acc;
  auto speed = opt_number(*c, "speed", cp + ".speed", 0, 1e4, true);  // m/s
  if (!speed) return speed.error();
  loc.speed = *speed;
  auto heading = opt_number(*c, "heading", cp + ".heading", 0, 360, true);
  if (!heading) return heading.error();
  loc.heading = *heading;
  auto alt = opt_number(*c, "altitude", cp + ".altitude", -1e5, 1e6, false);
  if (!alt) return alt.error();
  loc.altitude = *alt;
  if (const auto* t = find(*o, "timestamp")) {
    const auto* s = t->if_string();
    auto us = s ? parse_app_time_us(*s) : std::nullopt;
    if (!us) return invalid(path + ".timestamp", path + ".timestamp must be an ISO 8601 time");
    loc.recorded_at = format_rfc3339(*us);
  }
  if (const auto* b = find(*o, "battery")) {
    const auto* bo = b->if_object();
    if (!bo) return invalid(path + ".battery", path + ".battery must be an object");
    // level is a fraction 0..1; -1 when unknown.
    auto level = opt_number(*bo, "level", path + ".battery.level", 0, 1, true);
    if (!level) return level.error();
    if (*level) loc.battery = std::round(**level * 1000) / 10;
    if (const auto* ch = find(*bo, "is_charging")) {
      if (!ch->is_bool()) {
        return invalid(path + ".battery.is_charging", "is_charging must be true or false");
      }
      loc.charging = ch->get_bool();
    }
  }
  loc.source = "traccar";
  return loc;
}

// A flat object of the Traccar Client SDK's JSON upload: the OsmAnd parameters as fields.
core::expected<core::location> flat_location(const json::value& v, const std::string& path,
                                             speed_unit unit, const limits& lim,
                                             std::string& token) {
  const auto* o = v.if_object();
  if (!o) return invalid(path, path + " must be an object");
  if (o->size() > lim.max_params) return invalid(path, "too many fields");
  detail::osmand_fields f(unit);
  for (const auto& kv : *o) {
    if (kv.value().is_null()) continue;
    auto text = as_text(kv.value());
    if (!text) continue;  // objects, arrays: not OsmAnd parameters
    if (auto r = f.set(kv.key(), *text, lim); !r) {
      auto e = r.error();
      e.field = prefixed(path, e.field);
      return e;
    }
  }
  auto loc = f.finish("traccar");
  if (!loc) {
    auto e = loc.error();
    e.field = prefixed(path, e.field);
    return e;
  }
  if (token.empty()) token = f.token();
  return loc;
}

std::optional<std::string> id_text(const json::value& v, std::size_t max) {
  std::string s;
  if (v.is_string()) {
    s = std::string(v.get_string());
  } else if (v.is_int64() || v.is_uint64()) {
    s = json::serialize(v);
  } else {
    return std::nullopt;
  }
  if (s.empty() || s.size() > max) return std::nullopt;
  return s;
}

}  // namespace

core::expected<parsed> parse_traccar_json(std::string_view body, speed_unit unit,
                                          const limits& lim) {
  auto root = parse_json(body);
  if (!root) return root.error();
  parsed out;
  out.app = "traccar";
  if (const auto* arr = root->if_array()) {
    // The SDK's JSON upload: an array of flat objects, the buffered points of one device.
    if (arr->empty()) return core::error{"invalid_body", "the array holds no points", ""};
    if (arr->size() > lim.ingest.max_points) {
      return core::error{"invalid_body",
                         "at most " + std::to_string(lim.ingest.max_points) + " points a request",
                         ""};
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
      auto loc = flat_location((*arr)[i], "[" + std::to_string(i) + "]", unit, lim, out.token);
      if (!loc) return loc.error();
      out.points.push_back(std::move(*loc));
    }
    return out;
  }
  const auto* o = root->if_object();
  if (!o) return core::error{"invalid_body", "the body must be a JSON object or array", ""};
  const auto* location = find(*o, "location");
  if (!location) {
    if (find(*o, "lat") || find(*o, "lon")) {  // one flat object
      auto loc = flat_location(*root, "", unit, lim, out.token);
      if (!loc) return loc.error();
      out.points.push_back(std::move(*loc));
      return out;
    }
    return missing("location", "location is required");
  }
  for (std::string_view key : {"device_id", "id", "deviceid", "token"}) {
    if (const auto* d = find(*o, key)) {
      auto id = id_text(*d, lim.max_token_bytes);
      if (!id) return invalid(std::string(key), std::string(key) + " must be a string");
      if (key == "token" || out.token.empty()) out.token = std::move(*id);
    }
  }
  if (const auto* arr = location->if_array()) {  // batchSync: several locations at once
    if (arr->empty()) return core::error{"invalid_body", "location holds no points", "location"};
    if (arr->size() > lim.ingest.max_points) {
      return core::error{"invalid_body",
                         "at most " + std::to_string(lim.ingest.max_points) + " points a request",
                         "location"};
    }
    for (std::size_t i = 0; i < arr->size(); ++i) {
      auto loc = bg_location((*arr)[i], "location[" + std::to_string(i) + "]");
      if (!loc) return loc.error();
      out.points.push_back(std::move(*loc));
    }
    return out;
  }
  auto loc = bg_location(*location, "location");
  if (!loc) return loc.error();
  out.points.push_back(std::move(*loc));
  return out;
}

core::expected<parsed> parse_owntracks(std::string_view body, const limits&) {
  auto root = parse_json(body);
  if (!root) return root.error();
  const auto* o = root->if_object();
  if (!o) return core::error{"invalid_body", "the body must be a JSON object", ""};
  parsed out;
  out.app = "owntracks";
  const auto* type = find(*o, "_type");
  if (!type || !type->is_string()) return missing("_type", "_type is required");
  if (type->get_string() != "location") return out;  // transition, waypoint, lwt, ...: not points
  core::location loc;
  auto lat = coordinate(*o, "lat", "lat", 90);
  if (!lat) return lat.error();
  auto lon = coordinate(*o, "lon", "lon", 180);
  if (!lon) return lon.error();
  loc.latitude = *lat;
  loc.longitude = *lon;
  if (const auto* t = find(*o, "tst")) {
    auto s = number(*t);
    if (!s || *s < 0 || *s > 253402300799.0) return invalid("tst", "tst must be Unix seconds");
    loc.recorded_at = format_rfc3339(static_cast<std::int64_t>(std::llround(*s * 1e6)));
  }
  auto acc = opt_number(*o, "acc", "acc", 0, 1e7, true);
  if (!acc) return acc.error();
  loc.accuracy = *acc;
  auto alt = opt_number(*o, "alt", "alt", -1e5, 1e6, false);
  if (!alt) return alt.error();
  loc.altitude = *alt;
  auto cog = opt_number(*o, "cog", "cog", 0, 360, true);
  if (!cog) return cog.error();
  loc.heading = *cog;
  auto vel = opt_number(*o, "vel", "vel", 0, 36000, true);  // km/h
  if (!vel) return vel.error();
  if (*vel) loc.speed = std::round(to_mps(**vel, speed_unit::kmh) * 1000) / 1000;
  auto batt = opt_number(*o, "batt", "batt", 0, 100, true);
  if (!batt) return batt.error();
  loc.battery = *batt;
  if (const auto* bs = find(*o, "bs")) {
    // 0 unknown, 1 unplugged, 2 charging, 3 full (on the charger).
    auto n = number(*bs);
    if (!n || *n < 0 || *n > 3) return invalid("bs", "bs must be 0, 1, 2 or 3");
    if (*n == 1) loc.charging = false;
    if (*n == 2 || *n == 3) loc.charging = true;
  }
  loc.source = "owntracks";
  out.points.push_back(std::move(loc));
  return out;
}

}  // namespace peyk::apps
