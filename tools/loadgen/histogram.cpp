#include "histogram.hpp"

#include <algorithm>
#include <cmath>

namespace peyk::loadgen {

std::uint64_t histogram::percentile(double q) const {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  // The rank of the q-th value, 1-based; q = 0 asks for the smallest.
  auto rank = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(q * count_)));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(upper_of(i), max_);
  }
  return max_;
}

void histogram::merge(const histogram& o) {
  for (std::size_t i = 0; i < bucket_count; ++i) buckets_[i] += o.buckets_[i];
  count_ += o.count_;
  negative_ += o.negative_;
  sum_ += o.sum_;
  max_ = std::max(max_, o.max_);
}

histogram histogram::minus(const histogram& older) const {
  histogram d;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    d.buckets_[i] = buckets_[i] - older.buckets_[i];
    if (d.buckets_[i]) d.max_ = upper_of(i);
  }
  d.max_ = std::min(d.max_, max_);
  d.count_ = count_ - older.count_;
  d.negative_ = negative_ - older.negative_;
  d.sum_ = sum_ - older.sum_;
  return d;
}

}  // namespace peyk::loadgen
