#pragma once
// A courier's summary over a window (GET /couriers/{id}/summary, PROTOCOL.md §7), computed
// from its points in time order, page by page. Pure: no I/O.
//
// The track is cut into legs, one between each two consecutive points (dt = the later
// t_us minus the earlier one; length: haversine on a sphere of radius 6,371,008.8 m, the
// mean Earth radius).
// - GPS jump: a leg whose average speed is over 70 m/s (252 km/h), or that moves in zero
//   time, is ignored for `distance_m` and `max_speed_mps`: an outlier point costs its two
//   legs. Its time counts by the later point's reported speed alone (moving when >= 0.5
//   m/s, stopped when below; neither when that point has no speed).
// - Gap: a leg longer than 5 min (dt > 300 s) counts as neither moving nor stopped (the
//   app was off or offline: nobody knows); its length still counts in `distance_m` unless
//   it is a jump.
// - Otherwise a leg is moving when its average speed >= 0.5 m/s or the later point's
//   reported `speed` >= 0.5 m/s, else stopped; its whole dt goes to `moving_s` or
//   `stopped_s`.
// - `max_speed_mps`: the largest of every reported speed and every non-jump leg's average
//   speed (0 without points).
// - Points out of time order (dt < 0) make a zero-time leg.

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "history/history.hpp"

namespace peyk::history {

inline constexpr double earth_radius_m = 6'371'008.8;
inline constexpr double jump_speed_mps = 70.0;           // a leg above it is a GPS jump
inline constexpr double moving_speed_mps = 0.5;          // at or above it: moving
inline constexpr std::int64_t max_leg_us = 300'000'000;  // a longer leg is a gap

// Great-circle distance in metres between two points given in degrees.
double haversine_m(double lat1, double lon1, double lat2, double lon2);

struct summary {
  std::size_t points = 0;
  double distance_m = 0;
  double moving_s = 0;
  double stopped_s = 0;
  double max_speed_mps = 0;
  std::optional<point> first;
  std::optional<point> last;
};

// Feed one courier's points oldest first, across as many pages as the window takes.
class summary_accumulator {
 public:
  void add(const point& p);
  void add(std::span<const point> points);
  const summary& result() const { return s_; }

 private:
  summary s_;
};

summary summarize(std::span<const point> points);

// {"points","distance_m","moving_s","stopped_s","max_speed_mps","first","last"}: the
// figures rounded to 3 decimals (millimetres, milliseconds), `first`/`last` as the points
// of a courier track (write_point_json) or null.
void write_summary_json(std::string& out, const summary& s);

}  // namespace peyk::history
