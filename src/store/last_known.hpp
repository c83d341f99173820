#pragma once
// The last known location of every courier, for the snapshot a viewer gets on connect.
//
// Threading: written by the broker's message thread(s), read by gateway threads building
// snapshots, swept by the gateway's liveness timer. The couriers are spread over
// `stripe_count` stripes, each behind its own shared mutex, and snapshots read one stripe
// at a time: a reader holds a lock for one stripe's worth of work, so no snapshot, however
// large, holds up a writer for longer than that (it used to scan the whole map under one
// lock, on the thread that also delivers). An order index (order id -> couriers carrying
// it now) lets a customer's snapshot cost O(its orders), not O(couriers).
//
// Ordering: a courier's newest point wins. "Newer" is judged by the time the phone
// measured it (`recorded_at`) when both points carry one, so a buffered batch never moves
// the marker back. Otherwise by `ts`, with a tolerance of `max_skew` for points that
// arrive later: two ingest processes whose clocks differ by up to that much stamp one
// courier's points out of order, and the broker's arrival order (one channel per courier)
// is the truer one. A point already taken (same `ts`: a replay after a reconnect, or the
// same message over a second channel) is never taken twice.
//
// Liveness: every entry remembers when it last changed here; sweep() reports couriers
// that went silent (offline) and forgets those silent past the TTL.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/location.hpp"

namespace peyk::store {

using location_ptr = std::shared_ptr<const core::location>;
using json_ptr = std::shared_ptr<const std::string>;

// A location and its broker-format encoding, kept together so snapshots are not
// re-encoded per viewer.
struct entry {
  location_ptr loc;
  json_ptr json;
  std::int64_t seen_us = 0;              // when this point was taken here (wall clock)
  std::int64_t recorded_us = 0;          // loc->recorded_at, parsed; 0: absent or in the future
  std::array<std::int64_t, 4> recent{};  // `ts` of the last points taken (replays)
  bool offline = false;                  // reported offline by sweep(), not heard since
};

class last_known {
 public:
  static constexpr std::size_t stripe_count = 256;
  static constexpr std::int64_t default_max_skew_us = 5'000'000;

  explicit last_known(std::int64_t max_skew_us = default_max_skew_us);

  // Returns true when `loc` becomes the courier's newest (viewers are sent it); false
  // when it is older or was taken already. `now_us` 0: the clock.
  bool update(const location_ptr& loc, json_ptr json = nullptr, std::int64_t now_us = 0);

  // Calls `fn` for every entry of one stripe, under that stripe's shared lock (keep it
  // cheap: no I/O, no other lock).
  template <class Fn>
  void for_each_in(std::size_t index, Fn&& fn) const {
    const auto& s = stripes_[index];
    std::shared_lock lock(s.mu);
    for (const auto& [id, e] : s.map) fn(e);
  }
  // Every entry, one stripe at a time.
  void for_each(const std::function<void(const entry&)>& fn) const;

  // The entries of the couriers whose newest point carries `order`.
  void for_order(std::string_view order, const std::function<void(const entry&)>& fn) const;

  entry find(const std::string& courier_id) const;
  std::size_t size() const { return size_.load(std::memory_order_relaxed); }

  struct swept {
    std::vector<location_ptr> offline;    // silent since before `offline_before_us`
    std::vector<location_ptr> forgotten;  // silent since before `forget_before_us`: removed
  };
  // Sweeps stripes [first, first + n): appends to `out` the couriers that went offline
  // (each reported once until it is heard again) and removes those silent past the TTL.
  void sweep(std::size_t first, std::size_t n, std::int64_t offline_before_us,
             std::int64_t forget_before_us, swept& out);

 private:
  struct alignas(64) stripe {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, entry> map;
  };
  struct alignas(64) order_stripe {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, std::vector<std::string>> couriers;  // order -> ids
  };
  static std::size_t stripe_of(std::string_view id);
  order_stripe& orders_of(std::string_view order) const;
  void index_orders(const std::string& courier, const core::location* before,
                    const core::location* after);

  std::int64_t max_skew_us_;
  std::atomic<std::size_t> size_{0};
  std::unique_ptr<stripe[]> stripes_;
  std::unique_ptr<order_stripe[]> order_stripes_;
  static constexpr std::size_t order_stripe_count = 64;
};

}  // namespace peyk::store
