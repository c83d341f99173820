#include "core/recent_points.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace peyk::core {
namespace {

TEST(RecentPoints, RemembersAcceptedTimesPerCourier) {
  recent_points r(4, 100, 1'000'000);
  EXPECT_FALSE(r.seen("10", 5));
  std::vector<std::int64_t> t{5, 6};
  r.remember("10", t, 0);
  EXPECT_TRUE(r.seen("10", 5));
  EXPECT_TRUE(r.seen("10", 6));
  EXPECT_FALSE(r.seen("10", 7));
  EXPECT_FALSE(r.seen("11", 5));  // another courier
}

TEST(RecentPoints, KeepsOnlyTheNewestPerCourier) {
  recent_points r(3, 100, 1'000'000);
  std::vector<std::int64_t> t{1, 2, 3, 4};
  r.remember("c", t, 0);
  EXPECT_FALSE(r.seen("c", 1));  // overwritten
  EXPECT_TRUE(r.seen("c", 2));
  EXPECT_TRUE(r.seen("c", 4));
}

TEST(RecentPoints, BoundedCouriersForgetTheSilent) {
  // One stripe holds max/16+1 couriers: fill far past the cap.
  recent_points r(2, 16, 1'000);
  std::vector<std::int64_t> t{1};
  for (int i = 0; i < 1000; ++i) r.remember("c" + std::to_string(i), t, 0);
  EXPECT_LE(r.couriers(), 16u + 16u);
  // Later, the silent ones are dropped to make room.
  r.remember("late", t, 10'000);
  EXPECT_TRUE(r.seen("late", 1));
}

TEST(RecentPoints, FingerprintIsTimeAndPosition) {
  auto f = recent_points::fingerprint;
  EXPECT_EQ(f(1000, 35.7, 51.4), f(1000, 35.7, 51.4));
  EXPECT_NE(f(1000, 35.7, 51.4), f(1001, 35.7, 51.4));
  EXPECT_NE(f(1000, 35.7, 51.4), f(1000, 35.700001, 51.4));
  EXPECT_NE(f(1000, 35.7, 51.4), f(1000, 35.7, 51.400001));
  EXPECT_NE(f(1000, 35.7, 51.4), f(1000, 51.4, 35.7));
}

TEST(RecentPoints, IntervalExchange) {
  recent_points r;
  EXPECT_EQ(r.exchange_interval("c", 10, 0), 0);
  EXPECT_EQ(r.exchange_interval("c", 10, 1), 10);
  EXPECT_EQ(r.exchange_interval("c", 2, 2), 10);
  EXPECT_EQ(r.exchange_interval("d", 2, 2), 0);
}

}  // namespace
}  // namespace peyk::core
