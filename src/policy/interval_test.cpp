#include "policy/interval.hpp"

#include <gtest/gtest.h>

#include <limits>

namespace peyk::policy {
namespace {

TEST(Interval, ByState) {
  interval_policy p;
  EXPECT_EQ(interval_seconds(p, courier_state::watched, {}, {}), 2);
  EXPECT_EQ(interval_seconds(p, courier_state::active, {}, {}), 10);
  EXPECT_EQ(interval_seconds(p, courier_state::idle, {}, {}), 60);
}

TEST(Interval, LowBatteryStretches) {
  interval_policy p;
  EXPECT_EQ(interval_seconds(p, courier_state::active, 10.0, {}), 20);
  EXPECT_EQ(interval_seconds(p, courier_state::watched, 19.9, false), 4);
  EXPECT_EQ(interval_seconds(p, courier_state::active, 20.0, {}), 10);   // 20 % is not low
  EXPECT_EQ(interval_seconds(p, courier_state::active, 5.0, true), 10);  // charging
  EXPECT_EQ(
      interval_seconds(p, courier_state::active, std::numeric_limits<double>::quiet_NaN(), {}), 10);
  p.low_battery = 1.5;
  EXPECT_EQ(interval_seconds(p, courier_state::idle, 3.0, {}), 90);
  p.low_battery = 1;  // off
  EXPECT_EQ(interval_seconds(p, courier_state::idle, 3.0, {}), 60);
}

TEST(Interval, Capped) {
  interval_policy p;
  p.idle_s = 86400;
  EXPECT_EQ(interval_seconds(p, courier_state::idle, 1.0, {}), 86400);
  p.watched_s = 0;
  EXPECT_EQ(interval_seconds(p, courier_state::watched, {}, {}), 1);
}

}  // namespace
}  // namespace peyk::policy
