#include "core/codec.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

#include <boost/json.hpp>

namespace peyk::core {
namespace json = boost::json;

namespace {

error invalid(std::string field, std::string message) {
  return error{"invalid_field", std::move(message), std::move(field)};
}

std::string join(std::string_view prefix, std::string_view field) {
  if (prefix.empty()) return std::string(field);
  std::string s(prefix);
  s += '.';
  s += field;
  return s;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// A decimal string as DRF's DecimalField takes it: optional sign, digits with an optional
// fraction, optional exponent, surrounding blanks; never NaN or Infinity.
std::optional<double> parse_decimal_string(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  if (s.empty() || s.size() > 64) return std::nullopt;
  std::string_view body = s;
  if (body.front() == '+') body.remove_prefix(1);  // from_chars rejects a leading '+'
  for (char c : body) {
    bool ok = (c >= '0' && c <= '9') || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+';
    if (!ok) return std::nullopt;  // rules out nan, inf, hex
  }
  double v = 0;
  auto [ptr, ec] =
      std::from_chars(body.data(), body.data() + body.size(), v, std::chars_format::general);
  if (ec != std::errc{} || ptr != body.data() + body.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

// A finite number, or a decimal string; bool and null are not numbers.
std::optional<double> to_number(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_:
      if (!std::isfinite(v.get_double())) return std::nullopt;
      return v.get_double();
    case json::kind::int64:
      return static_cast<double>(v.get_int64());
    case json::kind::uint64:
      return static_cast<double>(v.get_uint64());
    case json::kind::string:
      return parse_decimal_string(v.get_string());
    default:
      return std::nullopt;
  }
}

// Reads a required coordinate in [-bound, bound], rounded to 6 decimals.
expected<double> coordinate(const json::object& o, std::string_view name, double bound,
                            std::string_view path) {
  auto it = o.find(name);
  if (it == o.end() || it->value().is_null()) {
    return error{"missing_field", std::string(name) + " is required", join(path, name)};
  }
  auto v = to_number(it->value());
  if (!v) {
    return invalid(join(path, name), std::string(name) + " must be a finite number");
  }
  if (*v < -bound || *v > bound) {
    return invalid(join(path, name), std::string(name) + " must be between " +
                                         std::to_string(static_cast<int>(-bound)) + " and " +
                                         std::to_string(static_cast<int>(bound)));
  }
  return round6(*v);
}

// Optional number in [lo, hi]; null counts as absent.
expected<std::optional<double>> optional_number(const json::object& o, std::string_view name,
                                                double lo, double hi, std::string_view path) {
  auto it = o.find(name);
  if (it == o.end() || it->value().is_null()) return std::optional<double>{};
  auto v = to_number(it->value());
  if (!v || *v < lo || *v > hi) {
    return invalid(join(path, name), std::string(name) + " must be a number between " +
                                         std::to_string(static_cast<long long>(lo)) + " and " +
                                         std::to_string(static_cast<long long>(hi)));
  }
  return std::optional<double>{*v};
}

bool digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return false;
  for (std::size_t i = pos; i < pos + n; ++i)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

// RFC 3339 shape: YYYY-MM-DDTHH:MM:SS, then anything short (fraction, zone).
bool looks_like_timestamp(std::string_view s) {
  return s.size() >= 19 && s.size() <= 40 && digits(s, 0, 4) && s[4] == '-' && digits(s, 5, 2) &&
         s[7] == '-' && digits(s, 8, 2) && (s[10] == 'T' || s[10] == 't' || s[10] == ' ') &&
         digits(s, 11, 2) && s[13] == ':' && digits(s, 14, 2) && s[16] == ':' && digits(s, 17, 2);
}

// An id given as a JSON string or integer, as text.
std::optional<std::string> id_text(const json::value& v, std::size_t max_bytes) {
  std::string s;
  if (v.is_string()) {
    s = std::string(v.get_string());
  } else if (v.is_int64()) {
    s = std::to_string(v.get_int64());
  } else if (v.is_uint64()) {
    s = std::to_string(v.get_uint64());
  } else {
    return std::nullopt;
  }
  if (s.empty() || s.size() > max_bytes) return std::nullopt;
  return s;
}

struct field_limits {
  std::size_t max_orders;
  std::size_t max_string_bytes;
};

// The point fields shared by the ingest body and the broker message.
expected<void> read_point(const json::object& o, location& loc, const field_limits& lim,
                          std::string_view path) {
  auto lat = coordinate(o, "latitude", 90, path);
  if (!lat) return lat.error();
  auto lon = coordinate(o, "longitude", 180, path);
  if (!lon) return lon.error();
  loc.latitude = *lat;
  loc.longitude = *lon;

  auto acc = optional_number(o, "accuracy", 0, 1e7, path);
  if (!acc) return acc.error();
  auto speed = optional_number(o, "speed", 0, 1e4, path);
  if (!speed) return speed.error();
  auto heading = optional_number(o, "heading", 0, 360, path);
  if (!heading) return heading.error();
  auto altitude = optional_number(o, "altitude", -1e5, 1e6, path);
  if (!altitude) return altitude.error();
  auto battery = optional_number(o, "battery", 0, 100, path);
  if (!battery) return battery.error();
  loc.accuracy = *acc;
  loc.speed = *speed;
  loc.heading = *heading;
  loc.altitude = *altitude;
  loc.battery = *battery;
  if (auto it = o.find("charging"); it != o.end() && !it->value().is_null()) {
    if (!it->value().is_bool())
      return invalid(join(path, "charging"), "charging must be true or false");
    loc.charging = it->value().get_bool();
  }

  if (auto it = o.find("recorded_at"); it != o.end() && !it->value().is_null()) {
    const auto* s = it->value().if_string();
    if (!s || !looks_like_timestamp(*s)) {
      return invalid(join(path, "recorded_at"),
                     "recorded_at must be an RFC 3339 timestamp such as 2026-11-28T12:00:00Z");
    }
    loc.recorded_at = std::string(*s);
  }

  if (auto it = o.find("orders"); it != o.end() && !it->value().is_null()) {
    const auto* arr = it->value().if_array();
    if (!arr) return invalid(join(path, "orders"), "orders must be a list of order ids");
    if (arr->size() > lim.max_orders) {
      return invalid(join(path, "orders"),
                     "orders holds at most " + std::to_string(lim.max_orders) + " ids");
    }
    loc.orders.clear();
    loc.orders.reserve(arr->size());
    for (const auto& e : *arr) {
      auto id = id_text(e, lim.max_string_bytes);
      if (!id) {
        return invalid(join(path, "orders"),
                       "each order id must be a non-empty string of at most " +
                           std::to_string(lim.max_string_bytes) + " bytes");
      }
      loc.orders.push_back(std::move(*id));
    }
  }
  return {};
}

expected<json::value> parse_json(std::string_view text) {
  boost::system::error_code ec;
  json::parse_options opt;
  opt.max_depth = 16;
  json::value v = json::parse(text, ec, {}, opt);
  if (ec) return error{"invalid_json", "body is not valid JSON: " + ec.message(), ""};
  return v;
}

void append_number(std::string& out, double v) {
  char buf[32];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  if (ec != std::errc{}) {
    out += '0';
    return;
  }
  out.append(buf, ptr);
}

void append_string(std::string& out, std::string_view s) {
  out += json::serialize(s);
}

void append_optional(std::string& out, const char* key, const std::optional<double>& v) {
  if (!v) return;
  out += key;
  append_number(out, *v);
}

template <class Orders>
std::string encode(const location& loc, const Orders& orders) {
  std::string out;
  out.reserve(192);
  out += "{\"latitude\":";
  append_number(out, loc.latitude);
  out += ",\"longitude\":";
  append_number(out, loc.longitude);
  out += ",\"user\":{\"id\":";
  if (is_numeric_id(loc.courier_id)) {
    out += loc.courier_id;
  } else {
    append_string(out, loc.courier_id);
  }
  if (!loc.username.empty()) {
    out += ",\"username\":";
    append_string(out, loc.username);
  }
  out += '}';
  if (loc.ts_us > 0) {
    out += ",\"ts\":";
    out += std::to_string(loc.ts_us);
  }
  if (!loc.recorded_at.empty()) {
    out += ",\"recorded_at\":";
    append_string(out, loc.recorded_at);
  }
  append_optional(out, ",\"accuracy\":", loc.accuracy);
  append_optional(out, ",\"speed\":", loc.speed);
  append_optional(out, ",\"heading\":", loc.heading);
  append_optional(out, ",\"altitude\":", loc.altitude);
  append_optional(out, ",\"battery\":", loc.battery);
  if (loc.charging) out += *loc.charging ? ",\"charging\":true" : ",\"charging\":false";
  if (!loc.source.empty()) {
    out += ",\"source\":";
    append_string(out, loc.source);
  }
  if (!loc.fleet.empty()) {
    out += ",\"fleet\":";
    append_string(out, loc.fleet);
  }
  if (!orders.empty()) {
    out += ",\"orders\":[";
    bool first = true;
    for (const auto& o : orders) {
      if (!first) out += ',';
      first = false;
      append_string(out, o);
    }
    out += ']';
  }
  out += '}';
  return out;
}

}  // namespace

double round6(double v) {
  double r = std::round(v * 1e6) / 1e6;
  return r == 0 ? 0.0 : r;  // no "-0"
}

bool is_numeric_id(std::string_view id) {
  if (id.empty() || id.size() > 18) return false;  // 18 digits always fit in int64
  if (id.size() > 1 && id[0] == '0') return false;
  for (char c : id)
    if (c < '0' || c > '9') return false;
  return true;
}

expected<std::vector<location>> parse_ingest_body(std::string_view body,
                                                  const ingest_limits& limits) {
  auto parsed = parse_json(body);
  if (!parsed) return parsed.error();
  const auto* root = parsed->if_object();
  if (!root) return error{"invalid_body", "body must be a JSON object", ""};

  field_limits lim{limits.max_orders, limits.max_string_bytes};
  std::vector<location> out;
  if (auto it = root->find("points"); it != root->end()) {
    const auto* arr = it->value().if_array();
    if (!arr) return invalid("points", "points must be a list of location objects");
    if (arr->empty() || arr->size() > limits.max_points) {
      return invalid("points", "a batch holds 1 to " + std::to_string(limits.max_points) +
                                   " points, not " + std::to_string(arr->size()));
    }
    out.resize(arr->size());
    for (std::size_t i = 0; i < arr->size(); ++i) {
      std::string path = "points[" + std::to_string(i) + "]";
      const auto* obj = (*arr)[i].if_object();
      if (!obj) return invalid(path, "each point must be a JSON object");
      auto r = read_point(*obj, out[i], lim, path);
      if (!r) return r.error();
    }
    return out;
  }
  out.resize(1);
  auto r = read_point(*root, out[0], lim, "");
  if (!r) return r.error();
  return out;
}

expected<location> decode_broker_message(std::string_view text, const decode_limits& limits) {
  if (text.size() > limits.max_message_bytes) {
    return error{"too_large", "message over " + std::to_string(limits.max_message_bytes) + " bytes",
                 ""};
  }
  auto parsed = parse_json(text);
  if (!parsed) return parsed.error();
  const auto* root = parsed->if_object();
  if (!root) return error{"invalid_body", "message must be a JSON object", ""};

  location loc;
  auto r = read_point(*root, loc, {limits.max_orders, limits.max_string_bytes}, "");
  if (!r) return r.error();

  auto uit = root->find("user");
  const auto* user = uit == root->end() ? nullptr : uit->value().if_object();
  if (!user) return error{"missing_field", "user is required", "user"};
  auto idit = user->find("id");
  if (idit == user->end()) return error{"missing_field", "user.id is required", "user.id"};
  auto id = id_text(idit->value(), limits.max_string_bytes);
  if (!id) return invalid("user.id", "user.id must be a non-empty string or an integer");
  loc.courier_id = std::move(*id);
  if (auto nit = user->find("username"); nit != user->end() && !nit->value().is_null()) {
    const auto* s = nit->value().if_string();
    if (!s || s->size() > limits.max_string_bytes) {
      return invalid("user.username", "user.username must be a short string");
    }
    loc.username = std::string(*s);
  }
  if (auto fit = root->find("fleet"); fit != root->end() && !fit->value().is_null()) {
    auto f = id_text(fit->value(), limits.max_string_bytes);
    if (!f) return invalid("fleet", "fleet must be a non-empty string");
    loc.fleet = std::move(*f);
  }
  if (auto sit = root->find("source"); sit != root->end() && !sit->value().is_null()) {
    const auto* s = sit->value().if_string();
    if (!s || s->empty() || s->size() > 32)
      return invalid("source", "source must be a short string");
    loc.source = std::string(*s);
  }
  if (auto tit = root->find("ts"); tit != root->end() && !tit->value().is_null()) {
    const auto& t = tit->value();
    if (t.is_int64() && t.get_int64() > 0) {
      loc.ts_us = t.get_int64();
    } else if (t.is_uint64() && t.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
      loc.ts_us = static_cast<std::int64_t>(t.get_uint64());
    } else {
      return invalid("ts", "ts must be a positive integer (microseconds since the epoch)");
    }
  }
  return loc;
}

std::string encode_location(const location& loc) {
  return encode(loc, loc.orders);
}

std::string encode_location(const location& loc, std::span<const std::string> visible_orders) {
  return encode(loc, visible_orders);
}

}  // namespace peyk::core
