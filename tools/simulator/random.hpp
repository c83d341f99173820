#pragma once
// A tiny seeded generator: every courier owns one, so 8 bytes of state beat the 2.5 KB of
// std::mt19937_64 when a process drives tens of thousands of couriers, and a run is
// reproducible from --seed.

#include <cmath>
#include <cstdint>
#include <numbers>

namespace peyk::simulator {

class rng {
 public:
  using result_type = std::uint64_t;
  explicit rng(std::uint64_t seed = 1) : state_(seed) {}

  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return ~result_type{0}; }

  // splitmix64: passes BigCrush, one add and three multiply-xorshifts per draw.
  result_type operator()() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }

  // Uniform in [0, 1).
  double unit() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * unit(); }
  // Uniform integer in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) {
    return lo + (*this)() % (hi - lo + 1);
  }
  bool chance(double p) { return unit() < p; }
  // Standard normal (Box-Muller; the second value is thrown away for simplicity).
  double normal() {
    double u = 1.0 - unit();  // (0, 1]: log stays finite
    return std::sqrt(-2.0 * std::log(u)) * std::cos(2.0 * std::numbers::pi * unit());
  }

 private:
  std::uint64_t state_;
};

}  // namespace peyk::simulator
