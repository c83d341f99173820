#pragma once
// Bounds the distinct order ids each courier may name (PROTOCOL.md §12; issue #12,
// finding 3). In Redis Cluster mode every order id named gets a key of its own that lives
// `window` after its last write, so a courier token naming fresh ids without end would
// grow Redis without end. Per courier, the ids named within the window are remembered; a
// batch that would take them past `max_per_courier` is refused whole (nothing recorded).
// Thread-safe with striped locks; pure logic: the caller passes the time.
// Memory: per courier at most `max_per_courier` ids (each <= 128 bytes plus ~80 bytes of
// bookkeeping); couriers whose ids all expired are dropped when a stripe fills.

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>

namespace peyk::core {

class order_budget {
 public:
  // max_per_courier == 0 disables the budget.
  order_budget(std::size_t max_per_courier, std::int64_t window_us,
               std::size_t max_couriers = 1'000'000);

  struct decision {
    bool allowed;
    std::size_t live;  // ids this courier has named within the window (after the batch if allowed)
  };
  // The order ids of one request (repeats allowed).
  decision admit(std::string_view courier, std::span<const std::string_view> orders,
                 std::int64_t now_us);

  std::size_t max_per_courier() const { return max_; }

 private:
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  using id_map = std::unordered_map<std::string, std::int64_t, key_hash, std::equal_to<>>;
  struct stripe {
    std::mutex mu;
    std::unordered_map<std::string, id_map, key_hash, std::equal_to<>> couriers;
  };
  static constexpr std::size_t stripes = 16;
  void expire(id_map& ids, std::int64_t now_us) const;

  std::size_t max_;
  std::int64_t window_us_;
  std::size_t max_per_stripe_;
  std::array<stripe, stripes> stripes_;
};

}  // namespace peyk::core
