#include "history/format.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/codec.hpp"

namespace peyk::history {
namespace {

constexpr std::string_view replacement = "\xEF\xBF\xBD";  // U+FFFD

// Length of the valid UTF-8 sequence starting at s[i] (a non-ASCII lead byte), or 0 when
// it is not one (overlong forms, surrogates, > U+10FFFF, truncated), or -3 for U+FFFE and
// U+FFFF (noncharacters XML cannot hold: replaced as a whole).
int utf8_length(std::string_view s, std::size_t i) {
  auto at = [&](std::size_t k) -> unsigned {
    return i + k < s.size() ? static_cast<unsigned char>(s[i + k]) : 0u;
  };
  auto cont = [&](std::size_t k) { return (at(k) & 0xC0u) == 0x80u; };
  unsigned c = at(0);
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    unsigned c1 = at(1);
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && c1 < 0xA0) return 0;                               // overlong
    if (c == 0xED && c1 > 0x9F) return 0;                               // surrogates
    if (c == 0xEF && c1 == 0xBF && (at(2) & 0xFEu) == 0xBE) return -3;  // U+FFFE, U+FFFF
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    unsigned c1 = at(1);
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && c1 < 0x90) return 0;  // overlong
    if (c == 0xF4 && c1 > 0x8F) return 0;  // > U+10FFFF
    return 4;
  }
  return 0;
}

// Appends `s`: each ASCII byte through `ascii(out, c)`, valid multi-byte sequences as
// they are, invalid bytes as U+FFFD.
template <class Ascii>
void append_utf8(std::string& out, std::string_view s, Ascii ascii) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ascii(out, static_cast<char>(c));
      ++i;
      continue;
    }
    int n = utf8_length(s, i);
    if (n <= 0) {
      out += replacement;
      i += n < 0 ? static_cast<std::size_t>(-n) : 1;
    } else {
      out.append(s.data() + i, static_cast<std::size_t>(n));
      i += static_cast<std::size_t>(n);
    }
  }
}

void append_padded(std::string& out, long long v, int width) {
  char buf[24];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  for (auto n = ptr - buf; n < width; ++n) out += '0';
  out.append(buf, ptr);
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  out.append(buf, ptr);
}

void append_null_or_number(std::string& out, const std::optional<double>& v) {
  if (v && std::isfinite(*v)) {
    append_number(out, *v);
  } else {
    out += "null";
  }
}

void append_json_id(std::string& out, std::string_view id) {
  if (core::is_numeric_id(id)) {
    out += id;
  } else {
    append_json_string(out, id);
  }
}

void append_json_name(std::string& out, std::string_view name) {
  if (name.empty()) {
    out += "null";
  } else {
    append_json_string(out, name);
  }
}

void append_json_next(std::string& out, const std::optional<std::string>& next) {
  out += ",\"next\":";
  if (next) {
    append_json_string(out, *next);
  } else {
    out += "null";
  }
}

// Points grouped per courier in order of first appearance, each group in page order.
struct courier_group {
  std::string_view id;
  std::vector<const point*> points;
};

std::vector<courier_group> group_by_courier(std::span<const point> points) {
  std::vector<courier_group> groups;
  std::unordered_map<std::string_view, std::size_t> index;
  std::size_t last = 0;
  for (const auto& p : points) {
    if (groups.empty() || groups[last].id != p.courier_id) {
      auto [it, added] = index.try_emplace(p.courier_id, groups.size());
      if (added) groups.push_back({p.courier_id, {}});
      last = it->second;
    }
    groups[last].points.push_back(&p);
  }
  return groups;
}

std::string_view group_name(const courier_group& g) {
  for (auto it = g.points.rbegin(); it != g.points.rend(); ++it) {
    if (!(*it)->name.empty()) return (*it)->name;
  }
  return {};
}

// GPX's longitudeType is [-180, 180): what would be written as 180.000000 is written as
// -180.000000 (the same meridian).
double gpx_longitude(double lon) {
  return std::round(lon * 1e6) >= 180e6 ? lon - 360.0 : lon;
}

// Degrees in [0, 360).
double course(double heading) {
  double c = std::fmod(heading, 360.0);
  if (c < 0) c += 360.0;
  return c >= 360.0 ? 0.0 : c;
}

bool formula_start(std::string_view s) {
  if (s.empty()) return false;
  char c = s.front();
  return c == '=' || c == '+' || c == '-' || c == '@' || c == '\t' || c == '\r';
}

// One text cell: the formula guard, then RFC 4180 quoting when needed.
void append_csv_text(std::string& out, std::string_view s) {
  bool quote = s.find_first_of("\",\r\n") != std::string_view::npos;
  if (quote) out += '"';
  if (formula_start(s)) out += '\'';
  append_utf8(out, s, [](std::string& o, char c) {
    if (c == '"') o += '"';
    o += c;
  });
  if (quote) out += '"';
}

void append_csv_number(std::string& out, const std::optional<double>& v) {
  if (v && std::isfinite(*v)) append_number(out, *v);
}

}  // namespace

std::optional<format> parse_format(std::string_view text) {
  if (text == "json") return format::json;
  if (text == "geojson") return format::geojson;
  if (text == "gpx") return format::gpx;
  if (text == "csv") return format::csv;
  return std::nullopt;
}

std::string_view content_type(format f) {
  switch (f) {
    case format::geojson:
      return "application/geo+json";
    case format::gpx:
      return "application/gpx+xml";
    case format::csv:
      return "text/csv; charset=utf-8; header=present";
    case format::json:
      break;
  }
  return "application/json";
}

std::string_view file_extension(format f) {
  switch (f) {
    case format::geojson:
      return "geojson";
    case format::gpx:
      return "gpx";
    case format::csv:
      return "csv";
    case format::json:
      break;
  }
  return "json";
}

std::string_view courier_name(std::span<const point> points, std::string_view courier_id) {
  for (auto it = points.rbegin(); it != points.rend(); ++it) {
    if (it->courier_id == courier_id && !it->name.empty()) return it->name;
  }
  return {};
}

void append_time(std::string& out, std::int64_t us) {
  using namespace std::chrono;
  const sys_time<milliseconds> t{floor<milliseconds>(microseconds{us})};
  const auto day = floor<days>(t);
  const year_month_day ymd{day};
  const auto ms = (t - day).count();  // [0, 86'400'000)
  int y = static_cast<int>(ymd.year());
  append_padded(out, y < 0 ? 0 : (y > 9999 ? 9999 : y), 4);
  out += '-';
  append_padded(out, static_cast<unsigned>(ymd.month()), 2);
  out += '-';
  append_padded(out, static_cast<unsigned>(ymd.day()), 2);
  out += 'T';
  append_padded(out, ms / 3'600'000, 2);
  out += ':';
  append_padded(out, ms / 60'000 % 60, 2);
  out += ':';
  append_padded(out, ms / 1000 % 60, 2);
  out += '.';
  append_padded(out, ms % 1000, 3);
  out += 'Z';
}

void append_coordinate(std::string& out, double v) {
  if (!std::isfinite(v)) v = 0;
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, 6);
  if (ec != std::errc{}) {
    out += "0.000000";
    return;
  }
  std::string_view text(buf, static_cast<std::size_t>(ptr - buf));
  if (text == "-0.000000") text.remove_prefix(1);
  out += text;
}

void append_number(std::string& out, double v) {
  if (!std::isfinite(v) || v == 0) v = 0;  // also turns -0 into 0
  char buf[400];  // the longest fixed double: 309 digits, a sign and a fraction
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  if (ec != std::errc{}) {
    out += '0';
    return;
  }
  out.append(buf, ptr);
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr std::pair<char, std::string_view> named[] = {
      {'"', "\\\""}, {'\\', "\\\\"}, {'\n', "\\n"}, {'\r', "\\r"},
      {'\t', "\\t"}, {'\b', "\\b"},  {'\f', "\\f"}};
  static constexpr char hex[] = "0123456789abcdef";
  out += '"';
  append_utf8(out, s, [](std::string& o, char c) {
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7F && c != '"' && c != '\\') {
      o += c;
      return;
    }
    for (const auto& [k, v] : named) {
      if (c == k) {
        o += v;
        return;
      }
    }
    o += "\\u00";
    o += hex[u >> 4];
    o += hex[u & 0xF];
  });
  out += '"';
}

void append_xml_text(std::string& out, std::string_view s) {
  // TAB, LF and CR as references: kept as they are in attribute values too.
  static constexpr std::pair<char, std::string_view> named[] = {
      {'&', "&amp;"},   {'<', "&lt;"},  {'>', "&gt;"},   {'"', "&quot;"},
      {'\'', "&apos;"}, {'\t', "&#9;"}, {'\n', "&#10;"}, {'\r', "&#13;"}};
  append_utf8(out, s, [](std::string& o, char c) {
    for (const auto& [k, v] : named) {
      if (c == k) {
        o += v;
        return;
      }
    }
    if (static_cast<unsigned char>(c) < 0x20) {
      o += replacement;  // not a character XML 1.0 can hold, even as a reference
    } else {
      o += c;
    }
  });
}

// ---- JSON ----

void write_point_json(std::string& out, const point& p, bool with_courier) {
  out += '{';
  if (with_courier) {
    out += "\"courier\":{\"id\":";
    append_json_id(out, p.courier_id);
    out += ",\"name\":";
    append_json_name(out, p.name);
    out += "},";
  }
  out += "\"latitude\":";
  append_coordinate(out, p.latitude);
  out += ",\"longitude\":";
  append_coordinate(out, p.longitude);
  out += ",\"ts\":";
  append_int(out, p.ts_us);
  out += ",\"recorded_at\":";
  if (p.recorded_us) {
    out += '"';
    append_time(out, *p.recorded_us);
    out += '"';
  } else {
    out += "null";
  }
  out += ",\"speed\":";
  append_null_or_number(out, p.speed);
  out += ",\"heading\":";
  append_null_or_number(out, p.heading);
  out += ",\"accuracy\":";
  append_null_or_number(out, p.accuracy);
  out += ",\"battery\":";
  append_null_or_number(out, p.battery);
  out += ",\"fleet\":";
  append_json_name(out, p.fleet);
  out += ",\"orders\":[";
  for (std::size_t i = 0; i < p.orders.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, p.orders[i]);
  }
  out += "]}";
}

void write_courier_track_json(std::string& out, std::string_view courier_id,
                              std::span<const point> points,
                              const std::optional<std::string>& next) {
  out.reserve(out.size() + 96 + points.size() * 220);
  out += "{\"courier\":{\"id\":";
  append_json_id(out, courier_id);
  out += ",\"name\":";
  append_json_name(out, courier_name(points, courier_id));
  out += "},\"points\":[";
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (i) out += ',';
    write_point_json(out, points[i]);
  }
  out += ']';
  append_json_next(out, next);
  out += '}';
}

void write_order_track_json(std::string& out, std::string_view order_id,
                            std::span<const point> points, const std::optional<std::string>& next) {
  out.reserve(out.size() + 96 + points.size() * 260);
  out += "{\"order\":{\"id\":";
  append_json_string(out, order_id);
  out += "},\"points\":[";
  for (std::size_t i = 0; i < points.size(); ++i) {
    if (i) out += ',';
    write_point_json(out, points[i], true);
  }
  out += ']';
  append_json_next(out, next);
  out += '}';
}

void write_window_json(std::string& out, std::span<const point> points,
                       const std::optional<std::string>& next) {
  out.reserve(out.size() + 64 + points.size() * 220);
  out += "{\"couriers\":[";
  std::size_t i = 0;
  bool first_group = true;
  while (i < points.size()) {
    std::size_t end = i + 1;
    while (end < points.size() && points[end].courier_id == points[i].courier_id) ++end;
    auto run = points.subspan(i, end - i);
    if (!first_group) out += ',';
    first_group = false;
    out += "{\"id\":";
    append_json_id(out, points[i].courier_id);
    out += ",\"name\":";
    append_json_name(out, courier_name(run, points[i].courier_id));
    out += ",\"points\":[";
    for (std::size_t k = 0; k < run.size(); ++k) {
      if (k) out += ',';
      write_point_json(out, run[k]);
    }
    out += "]}";
    i = end;
  }
  out += ']';
  append_json_next(out, next);
  out += '}';
}

// ---- GeoJSON ----

void write_geojson(std::string& out, std::span<const point> points,
                   const std::optional<std::string>& next) {
  out.reserve(out.size() + 96 + points.size() * 56);
  out += "{\"type\":\"FeatureCollection\",\"features\":[";
  bool first_feature = true;
  for (const auto& g : group_by_courier(points)) {
    if (!first_feature) out += ',';
    first_feature = false;
    const bool line = g.points.size() >= 2;
    out += "{\"type\":\"Feature\",\"geometry\":{\"type\":";
    out += line ? "\"LineString\",\"coordinates\":" : "\"Point\",\"coordinates\":";
    if (line) out += '[';
    for (std::size_t i = 0; i < g.points.size(); ++i) {
      if (i) out += ',';
      out += '[';
      append_coordinate(out, g.points[i]->longitude);
      out += ',';
      append_coordinate(out, g.points[i]->latitude);
      out += ']';
    }
    if (line) out += ']';
    out += "},\"properties\":{\"courier_id\":";
    append_json_id(out, g.id);
    out += ",\"name\":";
    append_json_name(out, group_name(g));
    out += ",\"coordTimes\":[";
    for (std::size_t i = 0; i < g.points.size(); ++i) {
      if (i) out += ',';
      out += '"';
      append_time(out, g.points[i]->t_us);
      out += '"';
    }
    out += "]}}";
  }
  out += ']';
  append_json_next(out, next);
  out += '}';
}

// ---- GPX ----

void write_gpx(std::string& out, std::span<const point> points) {
  out.reserve(out.size() + 320 + points.size() * 240);
  out +=
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<gpx version=\"1.1\" creator=\"peyk\" xmlns=\"http://www.topografix.com/GPX/1/1\""
      " xmlns:gpxtpx=\"http://www.garmin.com/xmlschemas/TrackPointExtension/v2\">\n";
  for (const auto& g : group_by_courier(points)) {
    auto name = group_name(g);
    out += "<trk><name>";
    append_xml_text(out, name.empty() ? g.id : name);
    out += "</name><desc>courier ";
    append_xml_text(out, g.id);
    out += "</desc><trkseg>\n";
    for (const point* p : g.points) {
      out += "<trkpt lat=\"";
      append_coordinate(out, p->latitude);
      out += "\" lon=\"";
      append_coordinate(out, gpx_longitude(p->longitude));
      out += "\"><time>";
      append_time(out, p->t_us);
      out += "</time>";
      const bool speed = p->speed && std::isfinite(*p->speed);
      const bool heading = p->heading && std::isfinite(*p->heading);
      if (speed || heading) {
        out += "<extensions><gpxtpx:TrackPointExtension>";
        if (speed) {
          out += "<gpxtpx:speed>";
          append_number(out, *p->speed);
          out += "</gpxtpx:speed>";
        }
        if (heading) {
          out += "<gpxtpx:course>";
          append_number(out, course(*p->heading));
          out += "</gpxtpx:course>";
        }
        out += "</gpxtpx:TrackPointExtension></extensions>";
      }
      out += "</trkpt>\n";
    }
    out += "</trkseg></trk>\n";
  }
  out += "</gpx>\n";
}

// ---- CSV ----

void write_csv_row(std::string& out, const point& p) {
  append_csv_text(out, p.courier_id);
  out += ',';
  append_csv_text(out, p.name);
  out += ',';
  append_csv_text(out, p.fleet);
  out += ',';
  append_time(out, p.t_us);
  out += ',';
  append_int(out, p.ts_us);
  out += ',';
  if (p.recorded_us) append_time(out, *p.recorded_us);
  out += ',';
  append_coordinate(out, p.latitude);
  out += ',';
  append_coordinate(out, p.longitude);
  out += ',';
  append_csv_number(out, p.accuracy);
  out += ',';
  append_csv_number(out, p.speed);
  out += ',';
  append_csv_number(out, p.heading);
  out += ',';
  append_csv_number(out, p.battery);
  out += ',';
  if (p.orders.size() == 1) {
    append_csv_text(out, p.orders.front());
  } else if (!p.orders.empty()) {
    std::string joined;
    for (std::size_t i = 0; i < p.orders.size(); ++i) {
      if (i) joined += ';';
      joined += p.orders[i];
    }
    append_csv_text(out, joined);
  }
  out += "\r\n";
}

void write_csv(std::string& out, std::span<const point> points) {
  out.reserve(out.size() + csv_header.size() + points.size() * 150);
  out += csv_header;
  for (const auto& p : points) write_csv_row(out, p);
}

}  // namespace peyk::history
