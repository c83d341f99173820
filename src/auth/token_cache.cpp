#include "auth/token_cache.hpp"

#include <algorithm>
#include <utility>

// Design: 16 stripes, each a mutex over a map from the token text to the identity it
// verified to. The lock is held only for the lookup or the insert, never during HMAC,
// so concurrent misses verify in parallel (two threads missing on the same token both
// verify; the first insert wins and both return an equal identity). Bounded by
// clearing a stripe when it is full: cheap, lock-local, and a cleared entry only costs
// one re-verification. Only successes are cached, so an attacker cannot fill the cache
// without valid tokens.

namespace peyk::auth {

token_cache::token_cache(const jwt_verifier& verifier, std::size_t max_entries)
    : verifier_(verifier), max_per_stripe_(std::max<std::size_t>(1, max_entries / stripes)) {}

token_cache::stripe& token_cache::stripe_for(std::string_view token) {
  // The top bits of a Fibonacci-mixed hash pick the stripe, so they are independent of
  // the low bits the map's buckets use.
  static_assert(stripes == 16);
  const std::uint64_t h = std::uint64_t{key_hash{}(token)} * 0x9E3779B97F4A7C15ull;
  return stripes_[h >> 60];
}

core::expected<std::shared_ptr<const identity>> token_cache::verify(std::string_view token,
                                                                    std::int64_t now_s) {
  stripe& s = stripe_for(token);
  {
    std::lock_guard lock(s.mu);
    if (auto it = s.map.find(token); it != s.map.end()) {
      // Served from the cache only strictly before exp; from exp on, the verifier
      // decides (it applies the leeway and reports token_expired past it).
      if (it->second->exp > now_s) return it->second;
      s.map.erase(it);
    }
  }

  core::expected<identity> verified = verifier_.verify(token, now_s);
  if (!verified) return verified.error();
  auto id = std::make_shared<const identity>(std::move(*verified));

  std::lock_guard lock(s.mu);
  if (s.map.size() >= max_per_stripe_) s.map.clear();
  return s.map.try_emplace(std::string(token), std::move(id)).first->second;
}

}  // namespace peyk::auth
