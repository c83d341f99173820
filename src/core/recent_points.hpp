#pragma once
// Recently accepted points per courier (PROTOCOL.md §9): an app that retries a request whose
// answer it never saw sends the same point again (same courier, same measuring time); the
// ingest path asks here (by fingerprint: time and position) and answers 200 without
// recording or publishing it twice.
// Also the last interval told to each courier (OwnTracks gets a command when it changes).
// Thread-safe with striped locks; pure logic: the caller passes the time.
// Memory: per courier at most `per_courier` timestamps (8 bytes each) and ~100 bytes of
// bookkeeping; at most `max_couriers` couriers (a courier silent for `forget_after` is
// dropped when its stripe fills; past the cap a new courier is not remembered).

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace peyk::core {

class recent_points {
 public:
  recent_points(std::size_t per_courier = 64, std::size_t max_couriers = 100'000,
                std::int64_t forget_after_us = 86'400'000'000);

  // The key of a point: its measuring time and position (an app's retry repeats both).
  static std::int64_t fingerprint(std::int64_t recorded_us, double latitude, double longitude);

  // True when `recorded_us` (a fingerprint) was accepted for `courier` lately.
  bool seen(std::string_view courier, std::int64_t recorded_us);
  // Records accepted points' times (after their 200).
  void remember(std::string_view courier, std::span<const std::int64_t> recorded_us,
                std::int64_t now_us);
  // The interval last told to `courier` (0: none), replaced by `interval`.
  int exchange_interval(std::string_view courier, int interval, std::int64_t now_us);

  std::size_t couriers() const;

 private:
  struct entry {
    std::vector<std::int64_t> ring;  // up to per_courier, oldest overwritten
    std::size_t next = 0;
    std::int64_t last_us = 0;
    int interval = 0;
  };
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct stripe {
    mutable std::mutex mu;
    std::unordered_map<std::string, entry, key_hash, std::equal_to<>> map;
  };
  static constexpr std::size_t stripes = 16;
  stripe& stripe_of(std::string_view courier);
  entry* find_or_add(stripe& s, std::string_view courier, std::int64_t now_us);

  std::size_t per_courier_;
  std::size_t max_per_stripe_;
  std::int64_t forget_after_us_;
  std::array<stripe, stripes> stripes_;
};

}  // namespace peyk::core
