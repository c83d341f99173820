#include "core/rate_limiter.hpp"

#include <gtest/gtest.h>

namespace peyk::core {
namespace {

constexpr std::int64_t s = 1'000'000;

TEST(RateLimiter, BurstThenSteadyRate) {
  rate_limiter rl(1, 10);
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(rl.take("c1", 0).allowed) << i;
  auto d = rl.take("c1", 0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_s, 1);
  EXPECT_FALSE(rl.take("c1", s / 2).allowed);
  EXPECT_TRUE(rl.take("c1", s + s / 2).allowed);  // one token back after a second
  EXPECT_FALSE(rl.take("c1", s + s / 2).allowed);
}

TEST(RateLimiter, KeysAreIndependent) {
  rate_limiter rl(1, 1);
  EXPECT_TRUE(rl.take("a", 0).allowed);
  EXPECT_FALSE(rl.take("a", 0).allowed);
  EXPECT_TRUE(rl.take("b", 0).allowed);
}

TEST(RateLimiter, RetryAfterReflectsSlowRates) {
  rate_limiter rl(0.1, 1);  // one request per 10 s
  EXPECT_TRUE(rl.take("a", 0).allowed);
  auto d = rl.take("a", 0);
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.retry_after_s, 10);
}

TEST(RateLimiter, BucketNeverExceedsBurst) {
  rate_limiter rl(1, 3);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(rl.take("a", 0).allowed);
  int allowed = 0;
  for (int i = 0; i < 10; ++i) allowed += rl.take("a", 1000 * s).allowed;
  EXPECT_EQ(allowed, 3);
}

TEST(RateLimiter, ZeroRateDisables) {
  rate_limiter rl(0, 1);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(rl.take("a", 0).allowed);
}

TEST(RateLimiter, BoundedKeys) {
  rate_limiter rl(1, 1, 32);
  for (int i = 0; i < 10000; ++i) EXPECT_TRUE(rl.take(std::to_string(i), 0).allowed);
}

}  // namespace
}  // namespace peyk::core
