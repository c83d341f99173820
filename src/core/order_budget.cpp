#include "core/order_budget.hpp"

#include <algorithm>
#include <vector>

namespace peyk::core {

order_budget::order_budget(std::size_t max_per_courier, std::int64_t window_us,
                           std::size_t max_couriers)
    : max_(max_per_courier),
      window_us_(std::max<std::int64_t>(1, window_us)),
      max_per_stripe_(max_couriers / stripes + 1) {}

// An id named at t lives (its key in Redis does) until t + window.
void order_budget::expire(id_map& ids, std::int64_t now_us) const {
  std::erase_if(ids, [&](const auto& kv) { return kv.second + window_us_ <= now_us; });
}

order_budget::decision order_budget::admit(std::string_view courier,
                                           std::span<const std::string_view> orders,
                                           std::int64_t now_us) {
  if (max_ == 0) return {true, 0};
  if (orders.empty()) return {true, 0};  // nothing to record (and no entry to create)
  auto& s = stripes_[std::hash<std::string_view>{}(courier) % stripes];
  std::lock_guard lock(s.mu);
  auto it = s.couriers.find(courier);
  if (it == s.couriers.end()) {
    // A full stripe forgets couriers whose ids all expired; if still full (more couriers
    // naming orders than max_couriers, far more than a fleet), it is cleared: bounded
    // memory in this process wins over the budget.
    if (s.couriers.size() >= max_per_stripe_) {
      for (auto& [name, ids] : s.couriers) expire(ids, now_us);
      std::erase_if(s.couriers, [](const auto& kv) { return kv.second.empty(); });
      if (s.couriers.size() >= max_per_stripe_) s.couriers.clear();
    }
    it = s.couriers.emplace(std::string(courier), id_map{}).first;
  }
  auto& ids = it->second;
  expire(ids, now_us);
  std::vector<std::string_view> fresh;  // ids of this request not yet live
  for (auto o : orders) {
    if (!ids.contains(o) && std::find(fresh.begin(), fresh.end(), o) == fresh.end()) {
      fresh.push_back(o);
      if (ids.size() + fresh.size() > max_) return {false, ids.size()};
    }
  }
  for (auto o : orders) {
    auto found = ids.find(o);
    if (found == ids.end()) {
      ids.emplace(std::string(o), now_us);
    } else {
      found->second = now_us;  // the key's TTL starts again at every write
    }
  }
  return {true, ids.size()};
}

}  // namespace peyk::core
