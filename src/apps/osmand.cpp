// OsmAnd protocol parameters (query string or form body), as Traccar's OsmAnd decoder
// reads them and as the OsmAnd app and Traccar Client send them.
#include <cmath>

#include <boost/url/encoding_opts.hpp>
#include <boost/url/params_view.hpp>
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
    if (value.size() > lim.ingest.max_string_bytes) return invalid("location", "location is too long");
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

}  // namespace

core::expected<parsed> parse_osmand_params(std::string_view params, speed_unit unit,
                                           const limits& lim) {
  if (!boost::urls::parse_query(params)) {
    return core::error{"invalid_body", "the parameters are not a valid query string", ""};
  }
  boost::urls::params_view view(params, form_decoding);
  if (view.size() > lim.max_params) {
    return core::error{"invalid_body", "too many parameters", ""};
  }
  detail::osmand_fields f(unit);
  for (const auto& p : view) {
    if (auto r = f.set(p.key, p.value, lim); !r) return r.error();
  }
  auto loc = f.finish("osmand");
  if (!loc) return loc.error();
  parsed out;
  out.points.push_back(std::move(*loc));
  out.token = f.token();
  out.app = "osmand";
  return out;
}

std::optional<std::string> token_in_params(std::string_view params, std::size_t max_bytes) {
  if (params.empty() || !boost::urls::parse_query(params)) return std::nullopt;
  boost::urls::params_view view(params, form_decoding);
  std::optional<std::string> id;
  std::size_t n = 0;
  for (const auto& p : view) {
    if (++n > 256) break;
    if (p.value.empty() || p.value.size() > max_bytes) continue;
    if (p.key == "token") return p.value;
    if (!id && (p.key == "id" || p.key == "deviceid" || p.key == "device_id")) id = p.value;
  }
  return id;
}

}  // namespace peyk::apps
