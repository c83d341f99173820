#include "core/order_budget.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace peyk::core {
namespace {

constexpr std::int64_t s = 1'000'000;

std::vector<std::string_view> ids(const std::vector<std::string>& v) {
  return {v.begin(), v.end()};
}

TEST(OrderBudget, RefusesABatchThatNamesTooManyDistinctOrders) {
  order_budget b(3, 60 * s);
  std::vector<std::string> four{"A", "B", "C", "D"}, three{"A", "B", "C"};
  EXPECT_FALSE(b.admit("c1", ids(four), 0).allowed);
  auto d = b.admit("c1", ids(three), 0);  // nothing was recorded by the refusal
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.live, 3u);
  // Repeats, in one request or across requests, cost nothing.
  std::vector<std::string> again{"A", "A", "B", "C", "C"};
  EXPECT_TRUE(b.admit("c1", ids(again), s).allowed);
  std::vector<std::string> d1{"D"};
  EXPECT_FALSE(b.admit("c1", ids(d1), 2 * s).allowed);
  EXPECT_TRUE(b.admit("c2", ids(d1), 2 * s).allowed);  // couriers are independent
}

TEST(OrderBudget, AnOrderCountsUntilTheWindowAfterItsLastUse) {
  order_budget b(2, 10 * s);
  std::vector<std::string> ab{"A", "B"}, a{"A"}, c{"C"}, d{"D"};
  EXPECT_TRUE(b.admit("c", ids(ab), 0).allowed);
  EXPECT_TRUE(b.admit("c", ids(a), 8 * s).allowed);  // A's key lives until 18 s now
  EXPECT_FALSE(b.admit("c", ids(c), 9 * s).allowed);
  EXPECT_TRUE(b.admit("c", ids(c), 10 * s).allowed);  // B expired at 10 s
  EXPECT_FALSE(b.admit("c", ids(d), 17 * s).allowed);
  EXPECT_TRUE(b.admit("c", ids(d), 18 * s).allowed);
}

TEST(OrderBudget, ZeroDisablesAndMemoryStaysBounded) {
  order_budget off(0, 10 * s);
  std::vector<std::string> many;
  for (int i = 0; i < 1000; ++i) many.push_back("o" + std::to_string(i));
  EXPECT_TRUE(off.admit("c", ids(many), 0).allowed);
  // 100 couriers in a budget for 16: old entries are dropped, the newest one is admitted.
  order_budget small(1, 10 * s, 16);
  std::vector<std::string> one{"A"};
  for (int i = 0; i < 100; ++i) {
    EXPECT_TRUE(small.admit("c" + std::to_string(i), ids(one), 20 * s * i).allowed) << i;
  }
}

}  // namespace
}  // namespace peyk::core
