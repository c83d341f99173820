#include "core/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace peyk::core {

rate_limiter::rate_limiter(double rate, double burst, std::size_t max_keys)
    : rate_(rate), burst_(std::max(1.0, burst)), max_per_stripe_(max_keys / stripes + 1) {}

rate_limiter::decision rate_limiter::take(std::string_view key, std::int64_t now_us) {
  if (rate_ <= 0) return {true, 0};
  auto& s = stripes_[std::hash<std::string_view>{}(key) % stripes];
  std::lock_guard lock(s.mu);
  auto it = s.map.find(key);
  if (it == s.map.end()) {
    // A full stripe forgets buckets that have refilled; none refilled means every key
    // there is busy, and a new key starts with a full bucket anyway.
    if (s.map.size() >= max_per_stripe_) {
      std::erase_if(s.map, [&](const auto& kv) {
        return kv.second.tokens + (now_us - kv.second.last_us) / 1e6 * rate_ >= burst_;
      });
      if (s.map.size() >= max_per_stripe_) s.map.clear();
    }
    it = s.map.emplace(std::string(key), bucket{burst_, now_us}).first;
  }
  auto& b = it->second;
  double elapsed = std::max<std::int64_t>(0, now_us - b.last_us) / 1e6;
  b.tokens = std::min(burst_, b.tokens + elapsed * rate_);
  b.last_us = now_us;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return {true, 0};
  }
  double wait = (1 - b.tokens) / rate_;
  return {false, std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait)))};
}

}  // namespace peyk::core
