#pragma once
// Log-linear latency histogram (HdrHistogram's layout): values below 256 µs are exact,
// above that each power of two has 128 buckets, so every bucket is within 0.8% of its
// values. Recording is a clz and an increment; histograms of several threads merge and
// subtract bucket by bucket, which is how the reporter builds per-interval figures.
// Not thread-safe: each worker records into its own and hands a copy to the reporter.

#include <array>
#include <bit>
#include <cstdint>
#include <limits>

namespace peyk::loadgen {

class histogram {
 public:
  static constexpr int sub_bits = 7;  // 128 buckets per power of two
  static constexpr std::uint64_t sub_count = std::uint64_t{1} << sub_bits;
  static constexpr int max_bits = 42;  // values are clamped below 2^42 µs (51 days)
  static constexpr std::size_t bucket_count = 2 * sub_count + (max_bits - sub_bits - 1) * sub_count;

  static std::size_t index_of(std::uint64_t v) {
    if (v >= (std::uint64_t{1} << max_bits)) v = (std::uint64_t{1} << max_bits) - 1;
    if (v < 2 * sub_count) return static_cast<std::size_t>(v);
    int msb = 63 - std::countl_zero(v);  // >= sub_bits + 1
    int shift = msb - sub_bits;
    return static_cast<std::size_t>((shift + 1) * sub_count + ((v >> shift) - sub_count));
  }
  // The largest value that lands in bucket `i` (HdrHistogram's "highest equivalent").
  static std::uint64_t upper_of(std::size_t i) {
    if (i < 2 * sub_count) return i;
    std::uint64_t shift = i / sub_count - 1;
    std::uint64_t mantissa = sub_count + i % sub_count;
    return ((mantissa + 1) << shift) - 1;
  }

  void record(std::int64_t v) {
    if (v < 0) {
      ++negative_;  // clock step between stamping and receipt; kept out of the buckets
      v = 0;
    }
    auto u = static_cast<std::uint64_t>(v);
    ++buckets_[index_of(u)];
    ++count_;
    sum_ += u;
    if (u > max_) max_ = u;
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t negative() const { return negative_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0.0; }
  // The value at quantile q in [0, 1] (the bucket's upper bound, never above max()).
  std::uint64_t percentile(double q) const;

  void merge(const histogram& o);
  // this - older, for a window between two snapshots; max is the window's bucket bound.
  histogram minus(const histogram& older) const;
  void reset() { *this = histogram{}; }

 private:
  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t negative_ = 0;
  std::uint64_t sum_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace peyk::loadgen
