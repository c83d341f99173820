#include "core/recent_points.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace peyk::core {

recent_points::recent_points(std::size_t per_courier, std::size_t max_couriers,
                             std::int64_t forget_after_us)
    : per_courier_(std::max<std::size_t>(1, per_courier)),
      max_per_stripe_(max_couriers / stripes + 1),
      forget_after_us_(forget_after_us) {}

std::int64_t recent_points::fingerprint(std::int64_t recorded_us, double latitude,
                                        double longitude) {
  // splitmix64 over the time and the micro-degrees (positions are rounded to 6 decimals).
  auto mix = [](std::uint64_t z) {
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  };
  const auto lat = static_cast<std::uint64_t>(std::llround(latitude * 1e6));
  const auto lon = static_cast<std::uint64_t>(std::llround(longitude * 1e6));
  return static_cast<std::int64_t>(
      mix(mix(mix(static_cast<std::uint64_t>(recorded_us)) ^ lat) ^ lon));
}

recent_points::stripe& recent_points::stripe_of(std::string_view courier) {
  return stripes_[std::hash<std::string_view>{}(courier) % stripes];
}

recent_points::entry* recent_points::find_or_add(stripe& s, std::string_view courier,
                                                 std::int64_t now_us) {
  auto it = s.map.find(courier);
  if (it != s.map.end()) return &it->second;
  if (s.map.size() >= max_per_stripe_) {
    std::erase_if(s.map,
                  [&](const auto& kv) { return now_us - kv.second.last_us > forget_after_us_; });
    if (s.map.size() >= max_per_stripe_) return nullptr;  // full of live couriers
  }
  return &s.map.emplace(std::string(courier), entry{}).first->second;
}

bool recent_points::seen(std::string_view courier, std::int64_t recorded_us) {
  auto& s = stripe_of(courier);
  std::lock_guard lock(s.mu);
  auto it = s.map.find(courier);
  if (it == s.map.end()) return false;
  const auto& ring = it->second.ring;
  return std::find(ring.begin(), ring.end(), recorded_us) != ring.end();
}

void recent_points::remember(std::string_view courier, std::span<const std::int64_t> recorded_us,
                             std::int64_t now_us) {
  if (recorded_us.empty()) return;
  auto& s = stripe_of(courier);
  std::lock_guard lock(s.mu);
  auto* e = find_or_add(s, courier, now_us);
  if (!e) return;
  e->last_us = now_us;
  for (auto t : recorded_us) {
    if (e->ring.size() < per_courier_) {
      e->ring.push_back(t);
    } else {
      e->ring[e->next] = t;
      e->next = (e->next + 1) % per_courier_;
    }
  }
}

int recent_points::exchange_interval(std::string_view courier, int interval, std::int64_t now_us) {
  auto& s = stripe_of(courier);
  std::lock_guard lock(s.mu);
  auto* e = find_or_add(s, courier, now_us);
  if (!e) return interval;  // not remembered: say nothing new
  e->last_us = now_us;
  return std::exchange(e->interval, interval);
}

std::size_t recent_points::couriers() const {
  std::size_t n = 0;
  for (const auto& s : stripes_) {
    std::lock_guard lock(s.mu);
    n += s.map.size();
  }
  return n;
}

}  // namespace peyk::core
