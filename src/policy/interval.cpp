#include "policy/interval.hpp"

#include <algorithm>
#include <cmath>

namespace peyk::policy {

int interval_seconds(const interval_policy& p, courier_state s, std::optional<double> battery,
                     std::optional<bool> charging) {
  double v = s == courier_state::watched  ? p.watched_s
             : s == courier_state::active ? p.active_s
                                          : p.idle_s;
  if (battery && std::isfinite(*battery) && *battery < p.low_battery_below &&
      !charging.value_or(false) && p.low_battery > 1) {
    v *= p.low_battery;
  }
  v = std::min<double>(std::max(1.0, std::round(v)), std::max(1, p.max_s));
  return static_cast<int>(v);
}

}  // namespace peyk::policy
