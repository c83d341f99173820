#pragma once
// The update interval told to a courier (PROTOCOL.md §10), as a pure function of its
// state: watched (a customer of one of its orders is connected, or a peyk.v1 viewer
// focuses it), active (it carries orders), idle; a low battery stretches it.

#include <optional>

namespace peyk::policy {

struct interval_policy {
  int watched_s = 2;       // --interval-watched
  int active_s = 10;       // --interval-active
  int idle_s = 60;         // --interval-idle (old name: --update-interval)
  double low_battery = 2;  // --interval-low-battery: factor below low_battery_below %
  double low_battery_below = 20;
  int max_s = 86400;  // the answer never exceeds this
};

enum class courier_state { watched, active, idle };

// `battery` in % (absent: unknown, not stretched); a charging phone is not stretched.
int interval_seconds(const interval_policy& p, courier_state s, std::optional<double> battery,
                     std::optional<bool> charging);

}  // namespace peyk::policy
