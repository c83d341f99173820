// OsmAnd protocol parameters (query string or form body), as Traccar's OsmAnd decoder
// reads them and as the OsmAnd app and Traccar Client send them.
#include <cmath>

#include <boost/url/encoding_opts.hpp>
#include <boost/url/params_encoded_view.hpp>
#include <boost/url/parse_query.hpp>

#include "apps/apps.hpp"
#include "apps/fields.hpp"
#include "core/codec.hpp"

namespace peyk::apps {

namespace detail {

core::error invalid(std::string field, std::string message) {
  return core::error{"invalid_field", std::move(message), std::move(field)};
}

core::error missing(std::string field, std::string message) {
  return core::error{"missing_field", std::move(message), std::move(field)};
}

core::expected<std::optional<double>> ranged(std::string_view field, std::string_view text,
                                             double lo, double hi, bool negative_unknown) {
  if (text.empty()) return std::optional<double>{};
  auto v = parse_number(text);
  if (!v) return invalid(std::string(field), std::string(field) + " must be a number");
  if (negative_unknown && *v < 0) return std::optional<double>{};
  if (*v < lo || *v > hi) {
    return invalid(std::string(field), std::string(field) + " is out of range");
  }
  return std::optional<double>{*v};
}

core::expected<void> osmand_fields::set(std::string_view key, std::string_view value,
                                        const limits& lim) {
  auto keep = [&](std::string& slot) -> core::expected<void> {
    if (value.size() > lim.ingest.max_string_bytes) {
      return invalid(std::string(key), std::string(key) + " is too long");
    }
    slot = std::string(value);
    return {};
  };
  if (key == "id" || key == "deviceid" || key == "device_id" || key == "token") {
    if (value.size() > lim.max_token_bytes) {
      return invalid(std::string(key), std::string(key) + " is too long");
    }
    (key == "token" ? token_ : device_id_) = std::string(value);
    return {};
  }
  if (key == "lat") return keep(lat_);
  if (key == "lon") return keep(lon_);
  if (key == "location") {
    // "lat,lon"
    auto comma = value.find(',');
    if (comma == std::string_view::npos) {
      return invalid("location", "location must be \"latitude,longitude\"");
    }
    if (value.size() > lim.ingest.max_string_bytes)
      return invalid("location", "location is too long");
    lat_ = std::string(value.substr(0, comma));
    lon_ = std::string(value.substr(comma + 1));
    location_given_ = true;
    return {};
  }
  if (key == "timestamp") return keep(time_);
  if (key == "speed") return keep(speed_);
  if (key == "bearing" || key == "heading") return keep(heading_);
  if (key == "altitude") return keep(altitude_);
  if (key == "accuracy") return keep(accuracy_);
  if (key == "batt") return keep(battery_);
  if (key == "charge") return keep(charge_);
  if (key == "speed_unit") {
    auto u = parse_speed_unit(value);
    if (!u) return invalid("speed_unit", "speed_unit must be kn, kmh, mps or mph");
    unit_ = *u;
    return {};
  }
  return {};  // hdop, cell, wifi, driverUniqueId, alarm, ... : not kept
}

core::expected<core::location> osmand_fields::finish(std::string_view source) const {
  const std::string lat_name = location_given_ ? "location" : "lat";
  const std::string lon_name = location_given_ ? "location" : "lon";
  if (lat_.empty()) return missing(lat_name, "lat (or location=lat,lon) is required");
  if (lon_.empty()) return missing(lon_name, "lon (or location=lat,lon) is required");
  core::location loc;
  auto lat = parse_number(lat_);
  if (!lat || *lat < -90 || *lat > 90) {
    return invalid(lat_name, "latitude must be a number in [-90, 90]");
  }
  auto lon = parse_number(lon_);
  if (!lon || *lon < -180 || *lon > 180) {
    return invalid(lon_name, "longitude must be a number in [-180, 180]");
  }
  loc.latitude = core::round6(*lat);
  loc.longitude = core::round6(*lon);
  if (!time_.empty()) {
    auto us = parse_app_time_us(time_);
    if (!us) {
      return invalid("timestamp",
                     "timestamp must be Unix seconds or milliseconds, or an ISO 8601 time");
    }
    loc.recorded_at = format_rfc3339(*us);
  }
  auto speed = ranged("speed", speed_, 0, 1e5, true);
  if (!speed) return speed.error();
  if (*speed) loc.speed = std::round(to_mps(**speed, unit_) * 1000) / 1000;
  if (loc.speed && *loc.speed > 1e4) return invalid("speed", "speed is out of range");
  auto heading = ranged("bearing", heading_, 0, 360, true);
  if (!heading) return heading.error();
  loc.heading = *heading;
  auto altitude = ranged("altitude", altitude_, -1e5, 1e6, false);
  if (!altitude) return altitude.error();
  loc.altitude = *altitude;
  auto accuracy = ranged("accuracy", accuracy_, 0, 1e7, true);
  if (!accuracy) return accuracy.error();
  loc.accuracy = *accuracy;
  auto battery = ranged("batt", battery_, 0, 100, true);
  if (!battery) return battery.error();
  loc.battery = *battery;
  if (!charge_.empty()) {
    auto c = parse_bool(charge_);
    if (!c) return invalid("charge", "charge must be true or false");
    loc.charging = *c;
  }
  loc.source = std::string(source);
  return loc;
}

}  // namespace detail

namespace {

const boost::urls::encoding_opts form_decoding{true, false, false};  // '+' is a space

// Calls fn(key, value) for each parameter, decoded ('+' a space); false when `params` is
// not a query string. The text is copied first: Boost.URL 1.81's parse_query runs strlen
// on its argument (valgrind: a read past the end of a request target inside Beast's
// buffer, and a wrong last value when the next byte is not 0), so it gets a string that
// ends in a terminator.
template <class Fn>
bool for_each_param(std::string_view params, std::size_t max, Fn&& fn) {
  if (params.find('\0') != std::string_view::npos) return false;  // never valid, and strlen's end
  const std::string owned(params);
  auto parsed = boost::urls::parse_query(boost::urls::string_view(owned.data(), owned.size()));
  if (!parsed) return false;
  std::size_t n = 0;
  for (auto p : *parsed) {
    if (++n > max) break;
    if (!fn(p.key.decode(form_decoding),
            p.has_value ? p.value.decode(form_decoding) : std::string()))
      break;
  }
  return true;
}

}  // namespace

core::expected<parsed> parse_osmand_params(std::string_view params, speed_unit unit,
                                           const limits& lim) {
  detail::osmand_fields f(unit);
  std::size_t count = 0;
  std::optional<core::error> failed;
  const bool query = for_each_param(params, lim.max_params + 1, [&](std::string k, std::string v) {
    if (++count > lim.max_params) {
      failed = core::error{"invalid_body", "too many parameters", ""};
      return false;
    }
    if (auto r = f.set(k, v, lim); !r) {
      failed = r.error();
      return false;
    }
    return true;
  });
  if (!query) return core::error{"invalid_body", "the parameters are not a valid query string", ""};
  if (failed) return *failed;
  auto loc = f.finish("osmand");
  if (!loc) return loc.error();
  parsed out;
  out.points.push_back(std::move(*loc));
  out.token = f.token();
  out.app = "osmand";
  return out;
}

std::optional<std::string> token_in_params(std::string_view params, std::size_t max_bytes) {
  if (params.empty()) return std::nullopt;
  std::optional<std::string> id, token;
  for_each_param(params, 256, [&](std::string k, std::string v) {
    if (v.empty() || v.size() > max_bytes) return true;
    if (k == "token") {
      token = std::move(v);
      return false;
    }
    if (!id && (k == "id" || k == "deviceid" || k == "device_id")) id = std::move(v);
    return true;
  });
  return token ? token : id;
}

}  // namespace peyk::apps
