#include "history/summary.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "history/format.hpp"

namespace peyk::history {
namespace {

double radians(double deg) {
  return deg * std::numbers::pi / 180.0;
}

double round3(double v) {
  return std::round(v * 1000.0) / 1000.0;
}

bool moving_by_report(const point& p) {
  return p.speed && *p.speed >= moving_speed_mps;
}

}  // namespace

double haversine_m(double lat1, double lon1, double lat2, double lon2) {
  const double dlat = radians(lat2 - lat1);
  const double dlon = radians(lon2 - lon1);
  const double s1 = std::sin(dlat / 2);
  const double s2 = std::sin(dlon / 2);
  double a = s1 * s1 + std::cos(radians(lat1)) * std::cos(radians(lat2)) * s2 * s2;
  a = std::clamp(a, 0.0, 1.0);
  return 2 * earth_radius_m * std::asin(std::sqrt(a));
}

void summary_accumulator::add(const point& p) {
  if (p.speed && std::isfinite(*p.speed)) {
    s_.max_speed_mps = std::max(s_.max_speed_mps, *p.speed);
  }
  if (!s_.last) {
    s_.first = p;
    s_.last = p;
    s_.points = 1;
    return;
  }
  const point& prev = *s_.last;
  const std::int64_t dt_us = std::max<std::int64_t>(p.t_us - prev.t_us, 0);
  const double dt = static_cast<double>(dt_us) / 1e6;
  const double d = haversine_m(prev.latitude, prev.longitude, p.latitude, p.longitude);
  const bool jump = dt_us == 0 ? d > 0 : d / dt > jump_speed_mps;

  if (!jump) {
    s_.distance_m += d;
    if (dt_us > 0) s_.max_speed_mps = std::max(s_.max_speed_mps, d / dt);
  }
  if (dt_us > 0 && dt_us <= max_leg_us) {
    if (jump) {
      if (p.speed) (moving_by_report(p) ? s_.moving_s : s_.stopped_s) += dt;
    } else {
      const bool moving = d / dt >= moving_speed_mps || moving_by_report(p);
      (moving ? s_.moving_s : s_.stopped_s) += dt;
    }
  }
  s_.last = p;  // assignment: reuses the strings' storage
  ++s_.points;
}

void summary_accumulator::add(std::span<const point> points) {
  for (const auto& p : points) add(p);
}

summary summarize(std::span<const point> points) {
  summary_accumulator acc;
  acc.add(points);
  return acc.result();
}

void write_summary_json(std::string& out, const summary& s) {
  out += "{\"points\":";
  out += std::to_string(s.points);
  out += ",\"distance_m\":";
  append_number(out, round3(s.distance_m));
  out += ",\"moving_s\":";
  append_number(out, round3(s.moving_s));
  out += ",\"stopped_s\":";
  append_number(out, round3(s.stopped_s));
  out += ",\"max_speed_mps\":";
  append_number(out, round3(s.max_speed_mps));
  out += ",\"first\":";
  if (s.first) {
    write_point_json(out, *s.first);
  } else {
    out += "null";
  }
  out += ",\"last\":";
  if (s.last) {
    write_point_json(out, *s.last);
  } else {
    out += "null";
  }
  out += '}';
}

}  // namespace peyk::history
