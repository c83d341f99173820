#pragma once
// Flat-earth geometry for a city-sized box: an equirectangular projection around the box's
// centre is off by far less than GPS noise over tens of kilometres, and lets the street
// model work in metres.

#include <algorithm>
#include <cmath>
#include <numbers>

namespace peyk::simulator {

struct vec2 {
  double x = 0;  // metres east
  double y = 0;  // metres north
};
inline vec2 operator+(vec2 a, vec2 b) {
  return {a.x + b.x, a.y + b.y};
}
inline vec2 operator-(vec2 a, vec2 b) {
  return {a.x - b.x, a.y - b.y};
}
inline vec2 operator*(vec2 a, double k) {
  return {a.x * k, a.y * k};
}
inline double dot(vec2 a, vec2 b) {
  return a.x * b.x + a.y * b.y;
}
inline double length(vec2 a) {
  return std::hypot(a.x, a.y);
}
inline double distance(vec2 a, vec2 b) {
  return length(b - a);
}

// Degrees clockwise from north in [0, 360), the `heading` of the wire format.
inline double bearing_deg(vec2 d) {
  double deg = std::atan2(d.x, d.y) * 180.0 / std::numbers::pi;
  if (deg < 0) deg += 360.0;
  return deg >= 360.0 ? 0.0 : deg;
}

struct lat_lon {
  double lat = 0;
  double lon = 0;
};

struct bbox {
  double min_lat = 35.60;
  double min_lon = 51.20;
  double max_lat = 35.80;
  double max_lon = 51.55;

  bool valid() const {
    return min_lat < max_lat && min_lon < max_lon && min_lat >= -85 && max_lat <= 85 &&
           min_lon >= -180 && max_lon <= 180;
  }
  bool contains(lat_lon p) const {
    return p.lat >= min_lat && p.lat <= max_lat && p.lon >= min_lon && p.lon <= max_lon;
  }
  lat_lon clamp(lat_lon p) const {
    return {std::clamp(p.lat, min_lat, max_lat), std::clamp(p.lon, min_lon, max_lon)};
  }
};

class projection {
 public:
  explicit projection(const bbox& b)
      : lat0_((b.min_lat + b.max_lat) / 2),
        lon0_((b.min_lon + b.max_lon) / 2),
        m_per_lat_(111'320.0),
        m_per_lon_(111'320.0 * std::cos(lat0_ * std::numbers::pi / 180.0)) {}

  vec2 to_xy(lat_lon p) const {
    return {(p.lon - lon0_) * m_per_lon_, (p.lat - lat0_) * m_per_lat_};
  }
  lat_lon to_geo(vec2 v) const { return {lat0_ + v.y / m_per_lat_, lon0_ + v.x / m_per_lon_}; }

 private:
  double lat0_, lon0_, m_per_lat_, m_per_lon_;
};

}  // namespace peyk::simulator
