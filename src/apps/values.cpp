// The values the apps send as text: numbers, booleans, times, speed units.
#include <charconv>
#include <cmath>

#include "apps/apps.hpp"
#include "apps/fields.hpp"
#include "core/timestamp.hpp"

namespace peyk::apps {

std::optional<speed_unit> parse_speed_unit(std::string_view t) {
  if (t == "kn" || t == "knots") return speed_unit::knots;
  if (t == "kmh" || t == "kph") return speed_unit::kmh;
  if (t == "mps" || t == "ms") return speed_unit::mps;
  if (t == "mph") return speed_unit::mph;
  return std::nullopt;
}

double to_mps(double v, speed_unit unit) {
  switch (unit) {
    case speed_unit::knots:
      return v * 1852.0 / 3600.0;
    case speed_unit::kmh:
      return v / 3.6;
    case speed_unit::mph:
      return v * 1609.344 / 3600.0;
    case speed_unit::mps:
      break;
  }
  return v;
}

namespace detail {

std::optional<double> parse_number(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty() || s.size() > 64) return std::nullopt;
  if (s.front() == '+') s.remove_prefix(1);
  for (char c : s) {
    const bool ok =
        (c >= '0' && c <= '9') || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+';
    if (!ok) return std::nullopt;  // no nan, inf, hex, commas
  }
  double v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::general);
  if (ec != std::errc{} || ptr != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<bool> parse_bool(std::string_view s) {
  auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
  std::string t;
  for (char c : s.substr(0, 8)) t += lower(c);
  if (s.size() > 8) return std::nullopt;
  if (t == "true" || t == "1" || t == "yes") return true;
  if (t == "false" || t == "0" || t == "no") return false;
  return std::nullopt;
}

}  // namespace detail

std::optional<std::int64_t> parse_app_time_us(std::string_view s) {
  if (s.empty() || s.size() > 40) return std::nullopt;
  bool numeric = true;
  for (char c : s) numeric = numeric && ((c >= '0' && c <= '9') || c == '.');
  if (numeric) {
    auto v = detail::parse_number(s);
    if (!v || *v < 0) return std::nullopt;
    // Traccar's rule: a value that fits a 32-bit int is seconds, a larger one milliseconds.
    double us = *v < 2147483647.0 ? *v * 1e6 : *v * 1e3;
    if (us > 253402300799e6) return std::nullopt;  // after 9999-12-31
    return static_cast<std::int64_t>(std::llround(us));
  }
  return core::parse_rfc3339_us(s);  // also "YYYY-MM-DD HH:MM:SS" (no zone: UTC)
}

std::string format_rfc3339(std::int64_t us) {
  using namespace std::chrono;
  const auto tp = sys_time<microseconds>(microseconds(us));
  const auto day = floor<days>(tp);
  const year_month_day ymd{day};
  const hh_mm_ss<microseconds> t{tp - day};
  const auto frac = t.subseconds().count();
  // By hand (no snprintf: this runs for every point an app sends).
  std::string out;
  out.reserve(27);
  auto put = [&out](long long v, int width) {
    char d[20];
    for (int i = width - 1; i >= 0; --i) {
      d[i] = static_cast<char>('0' + v % 10);
      v /= 10;
    }
    out.append(d, static_cast<std::size_t>(width));
  };
  put(static_cast<int>(ymd.year()), 4);
  out += '-';
  put(static_cast<unsigned>(ymd.month()), 2);
  out += '-';
  put(static_cast<unsigned>(ymd.day()), 2);
  out += 'T';
  put(t.hours().count(), 2);
  out += ':';
  put(t.minutes().count(), 2);
  out += ':';
  put(t.seconds().count(), 2);
  out += '.';
  if (frac % 1000 == 0) {
    put(frac / 1000, 3);
  } else {
    put(frac, 6);
  }
  out += 'Z';
  return out;
}

}  // namespace peyk::apps
