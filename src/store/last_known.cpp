#include "store/last_known.hpp"

#include <mutex>

namespace peyk::store {

bool last_known::update(const location_ptr& loc, json_ptr json) {
  std::unique_lock lock(mu_);
  auto it = by_courier_.find(loc->courier_id);
  if (it == by_courier_.end()) {
    if (by_courier_.size() >= max_couriers_) return true;  // not kept, but not stale either
    by_courier_.emplace(loc->courier_id, entry{loc, std::move(json)});
    return true;
  }
  if (loc->ts_us <= it->second.loc->ts_us) return false;  // older, or seen (a replay)
  it->second = entry{loc, std::move(json)};
  return true;
}

void last_known::for_each(const std::function<void(const entry&)>& fn) const {
  std::shared_lock lock(mu_);
  for (const auto& [id, e] : by_courier_) fn(e);
}

entry last_known::find(const std::string& courier_id) const {
  std::shared_lock lock(mu_);
  auto it = by_courier_.find(courier_id);
  return it == by_courier_.end() ? entry{} : it->second;
}

std::size_t last_known::size() const {
  std::shared_lock lock(mu_);
  return by_courier_.size();
}

}  // namespace peyk::store
