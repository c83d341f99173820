// The update interval answered to a courier (PROTOCOL.md §3 `update_interval_seconds`,
// §10's policy). One function, so that every ingest path (the JSON API, the phone apps)
// answers the same figure.
#include <algorithm>
#include <string>
#include <vector>

#include "http/routes.hpp"
#include "policy/interval.hpp"

namespace peyk::http {

namespace {

// The orders the courier carries now. Today the server does not assign orders (issue #14
// will: `--orders bound` stamps each point with the courier's unfinished orders), so they
// are the orders named in the batch being answered, by any of its points. When #14 lands,
// this is the one place to read the assignment instead.
std::vector<std::string> orders_carried(const services&, const auth::identity&,
                                        std::span<const broker::location_ptr> batch) {
  std::vector<std::string> out;
  for (const auto& p : batch) {
    for (const auto& o : p->orders) {
      if (std::find(out.begin(), out.end(), o) == out.end()) out.push_back(o);
    }
  }
  return out;
}

}  // namespace

int answer_interval(const settings& cfg, const services& svc, const auth::identity& courier,
                    std::span<const broker::location_ptr> batch) {
  auto orders = orders_carried(svc, courier, batch);
  auto state = policy::courier_state::idle;
  if (svc.watches && svc.watches->watched(courier.sub, orders, policy::clock::now())) {
    state = policy::courier_state::watched;
  } else if (!orders.empty()) {
    state = policy::courier_state::active;
  }
  // The battery of the newest point that reported one (the batch is oldest first).
  std::optional<double> battery;
  std::optional<bool> charging;
  for (auto it = batch.rbegin(); it != batch.rend(); ++it) {
    if ((*it)->battery) {
      battery = (*it)->battery;
      charging = (*it)->charging;
      break;
    }
  }
  return policy::interval_seconds(cfg.interval, state, battery, charging);
}

}  // namespace peyk::http
