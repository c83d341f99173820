#include "store/last_known.hpp"

#include <algorithm>
#include <mutex>

#include "core/clock.hpp"
#include "core/timestamp.hpp"

namespace peyk::store {

namespace {

bool seen_ts(const entry& e, std::int64_t ts) {
  return std::find(e.recent.begin(), e.recent.end(), ts) != e.recent.end();
}

void remember_ts(entry& e, std::int64_t ts) {
  std::move_backward(e.recent.begin(), e.recent.end() - 1, e.recent.end());
  e.recent[0] = ts;
}

// The measuring time of `loc`, when it has one that is not in the future.
std::int64_t recorded_us(const core::location& loc, std::int64_t now_us) {
  if (loc.recorded_at.empty()) return 0;
  auto t = core::parse_rfc3339_us(loc.recorded_at);
  if (!t || *t > now_us + core::max_future_us) return 0;
  return *t;
}

}  // namespace

last_known::last_known(std::int64_t max_skew_us)
    : max_skew_us_(max_skew_us),
      stripes_(std::make_unique<stripe[]>(stripe_count)),
      order_stripes_(std::make_unique<order_stripe[]>(order_stripe_count)) {}

std::size_t last_known::stripe_of(std::string_view id) {
  return std::hash<std::string_view>{}(id) % stripe_count;
}

last_known::order_stripe& last_known::orders_of(std::string_view order) const {
  return order_stripes_[std::hash<std::string_view>{}(order) % order_stripe_count];
}

bool last_known::update(const location_ptr& loc, json_ptr json, std::int64_t now_us) {
  if (now_us == 0) now_us = core::now_us();
  auto rec = recorded_us(*loc, now_us);
  auto& s = stripes_[stripe_of(loc->courier_id)];
  std::unique_lock lock(s.mu);
  auto it = s.map.find(loc->courier_id);
  if (it == s.map.end()) {
    entry e{loc, std::move(json), now_us, rec, {}, false};
    remember_ts(e, loc->ts_us);
    s.map.emplace(loc->courier_id, std::move(e));
    size_.fetch_add(1, std::memory_order_relaxed);
    index_orders(loc->courier_id, nullptr, loc.get());
    return true;
  }
  auto& e = it->second;
  if (seen_ts(e, loc->ts_us)) return false;  // taken already (replay, second channel)
  bool newer = rec != 0 && e.recorded_us != 0 ? rec > e.recorded_us
                                              : loc->ts_us > e.loc->ts_us - max_skew_us_;
  if (!newer) return false;
  index_orders(loc->courier_id, e.loc.get(), loc.get());
  e.loc = loc;
  e.json = std::move(json);
  e.seen_us = now_us;
  e.recorded_us = rec;
  e.offline = false;
  remember_ts(e, loc->ts_us);
  return true;
}

// Called with the courier's stripe locked; takes order stripes one at a time.
void last_known::index_orders(const std::string& courier, const core::location* before,
                              const core::location* after) {
  static const std::vector<std::string> none;
  const auto& old_orders = before ? before->orders : none;
  const auto& new_orders = after ? after->orders : none;
  if (old_orders == new_orders) return;
  for (const auto& o : old_orders) {
    if (std::find(new_orders.begin(), new_orders.end(), o) != new_orders.end()) continue;
    auto& os = orders_of(o);
    std::unique_lock lock(os.mu);
    auto it = os.couriers.find(o);
    if (it == os.couriers.end()) continue;
    std::erase(it->second, courier);
    if (it->second.empty()) os.couriers.erase(it);
  }
  for (const auto& o : new_orders) {
    if (std::find(old_orders.begin(), old_orders.end(), o) != old_orders.end()) continue;
    auto& os = orders_of(o);
    std::unique_lock lock(os.mu);
    auto& list = os.couriers[o];
    if (std::find(list.begin(), list.end(), courier) == list.end()) list.push_back(courier);
  }
}

void last_known::for_each(const std::function<void(const entry&)>& fn) const {
  for (std::size_t i = 0; i < stripe_count; ++i) for_each_in(i, fn);
}

void last_known::for_order(std::string_view order,
                           const std::function<void(const entry&)>& fn) const {
  std::vector<std::string> ids;
  {
    auto& os = orders_of(order);
    std::shared_lock lock(os.mu);
    auto it = os.couriers.find(std::string(order));
    if (it == os.couriers.end()) return;
    ids = it->second;
  }
  for (const auto& id : ids) {
    auto e = find(id);
    // Checked again: the courier may have dropped the order since the index was read.
    if (e.loc &&
        std::find(e.loc->orders.begin(), e.loc->orders.end(), order) != e.loc->orders.end()) {
      fn(e);
    }
  }
}

entry last_known::find(const std::string& courier_id) const {
  const auto& s = stripes_[stripe_of(courier_id)];
  std::shared_lock lock(s.mu);
  auto it = s.map.find(courier_id);
  return it == s.map.end() ? entry{} : it->second;
}

void last_known::sweep(std::size_t first, std::size_t n, std::int64_t offline_before_us,
                       std::int64_t forget_before_us, swept& out) {
  for (std::size_t i = first; i < first + n && i < stripe_count; ++i) {
    auto& s = stripes_[i];
    std::unique_lock lock(s.mu);
    for (auto it = s.map.begin(); it != s.map.end();) {
      auto& e = it->second;
      if (e.seen_us < forget_before_us) {
        out.forgotten.push_back(e.loc);
        index_orders(it->first, e.loc.get(), nullptr);
        it = s.map.erase(it);
        size_.fetch_sub(1, std::memory_order_relaxed);
        continue;
      }
      if (!e.offline && e.seen_us < offline_before_us) {
        e.offline = true;
        out.offline.push_back(e.loc);
      }
      ++it;
    }
  }
}

}  // namespace peyk::store
