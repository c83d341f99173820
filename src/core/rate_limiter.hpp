#pragma once
// Per-key token bucket (the per-courier ingest rate limit of PROTOCOL.md §3).
// Thread-safe with striped locks; pure logic: the caller passes the time.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace peyk::core {

class rate_limiter {
 public:
  // `rate` tokens per second, bucket of `burst` tokens; rate <= 0 disables limiting.
  rate_limiter(double rate, double burst, std::size_t max_keys = 1'000'000);

  struct decision {
    bool allowed;
    std::int64_t retry_after_s;  // when refused: whole seconds until a token is back (>= 1)
  };
  decision take(std::string_view key, std::int64_t now_us);

 private:
  struct bucket {
    double tokens;
    std::int64_t last_us;
  };
  // Transparent, so a lookup by string_view does not build a std::string per request.
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct stripe {
    std::mutex mu;
    std::unordered_map<std::string, bucket, key_hash, std::equal_to<>> map;
  };
  static constexpr std::size_t stripes = 16;
  double rate_;
  double burst_;
  std::size_t max_per_stripe_;
  std::array<stripe, stripes> stripes_;
};

}  // namespace peyk::core
