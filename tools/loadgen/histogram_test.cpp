#include "histogram.hpp"

#include <gtest/gtest.h>

namespace peyk::loadgen {
namespace {

TEST(loadgen_histogram, buckets_are_contiguous_and_tight) {
  for (std::uint64_t v : {0ull, 1ull, 255ull, 256ull, 257ull, 1000ull, 123456ull, 1ull << 40}) {
    auto i = histogram::index_of(v);
    EXPECT_GE(histogram::upper_of(i), v) << v;
    if (i > 0) {
      EXPECT_LT(histogram::upper_of(i - 1), v) << v;
    }
    EXPECT_LE(static_cast<double>(histogram::upper_of(i) - v), 0.008 * static_cast<double>(v) + 1)
        << v;
  }
  EXPECT_EQ(histogram::index_of(~0ull), histogram::bucket_count - 1);
}

TEST(loadgen_histogram, percentiles) {
  histogram h;
  for (int v = 1; v <= 1000; ++v) h.record(v);
  EXPECT_EQ(h.count(), 1000u);
  EXPECT_EQ(h.percentile(0.0), 1u);
  EXPECT_NEAR(static_cast<double>(h.percentile(0.5)), 500, 4);
  EXPECT_NEAR(static_cast<double>(h.percentile(0.99)), 990, 8);
  EXPECT_EQ(h.percentile(1.0), 1000u);
  EXPECT_EQ(h.max(), 1000u);
  EXPECT_DOUBLE_EQ(h.mean(), 500.5);
}

TEST(loadgen_histogram, windows_subtract) {
  histogram a;
  for (int i = 0; i < 100; ++i) a.record(10);
  histogram b = a;
  for (int i = 0; i < 100; ++i) b.record(5000);
  auto d = b.minus(a);
  EXPECT_EQ(d.count(), 100u);
  EXPECT_NEAR(static_cast<double>(d.percentile(0.5)), 5000, 40);
  EXPECT_GE(d.max(), 5000u);
  a.merge(d);
  EXPECT_EQ(a.count(), 200u);
  histogram n;
  n.record(-5);
  EXPECT_EQ(n.negative(), 1u);
  EXPECT_EQ(n.percentile(0.5), 0u);
}

}  // namespace
}  // namespace peyk::loadgen
