#include "simulator/wire.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>

namespace peyk::simulator {

std::string format_rfc3339(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  if (ms % 1000 < 0) --secs;  // before 1970: floor, not truncate
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];  // roomy: GCC cannot tell that tm's fields are in range
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(((ms % 1000) + 1000) % 1000));
  return buf;
}

std::string encode_point(const fix& f, std::chrono::system_clock::time_point recorded_at) {
  char buf[192];
  int n = std::snprintf(buf, sizeof buf,
                        R"({"latitude":%.6f,"longitude":%.6f,"accuracy":%.1f,"speed":%.1f,)"
                        R"("heading":%.1f,"recorded_at":")",
                        f.where.lat, f.where.lon, f.accuracy_m, f.speed_mps,
                        f.heading_deg >= 359.95 ? 0.0 : f.heading_deg);
  std::string out(buf, static_cast<std::size_t>(n));
  out += format_rfc3339(recorded_at);
  out += '"';
  if (!f.orders.empty()) {
    out += R"(,"orders":[)";
    for (std::size_t i = 0; i < f.orders.size(); ++i) {
      if (i) out += ',';
      // Ids are generated here ("A" and digits): nothing to escape.
      out += '"';
      out += f.orders[i];
      out += '"';
    }
    out += ']';
  }
  out += '}';
  return out;
}

namespace {

std::optional<double> number_at(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end == s.data()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<double> parse_update_interval(std::string_view body) {
  // A tiny fixed answer: a search is enough, and cheaper than a JSON parse per request.
  constexpr std::string_view key = R"("update_interval_seconds")";
  auto at = body.find(key);
  if (at == std::string_view::npos) return std::nullopt;
  body.remove_prefix(at + key.size());
  while (!body.empty() && (body.front() == ' ' || body.front() == ':')) body.remove_prefix(1);
  auto v = number_at(body);
  if (!v || !(*v > 0)) return std::nullopt;
  return v;
}

std::optional<double> parse_retry_after(std::string_view value) {
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  for (char c : value) {
    if ((c < '0' || c > '9') && c != ' ') return std::nullopt;
  }
  auto v = number_at(value);
  if (!v || *v < 0) return std::nullopt;
  return v;
}

}  // namespace peyk::simulator
