#pragma once
// Caches verified tokens so a keep-alive courier's token is not HMAC-verified on every
// request. Thread-safe (striped locks); bounded; an entry is never used past its `exp`.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "auth/jwt.hpp"

namespace peyk::auth {

class token_cache {
 public:
  token_cache(const jwt_verifier& verifier, std::size_t max_entries = 100'000);
  // The verifier is held by reference; a temporary would dangle.
  token_cache(jwt_verifier&&, std::size_t = 0) = delete;

  // Same contract as jwt_verifier::verify; failures are not cached.
  core::expected<std::shared_ptr<const identity>> verify(std::string_view token,
                                                         std::int64_t now_s);

 private:
  static constexpr std::size_t stripes = 16;
  // Transparent, so a lookup by string_view does not copy the token.
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct stripe {
    std::mutex mu;
    std::unordered_map<std::string, std::shared_ptr<const identity>, key_hash, std::equal_to<>> map;
  };
  stripe& stripe_for(std::string_view token);

  const jwt_verifier& verifier_;
  std::size_t max_per_stripe_;
  std::array<stripe, stripes> stripes_;
};

}  // namespace peyk::auth
