#include "policy/watch_sync.hpp"

#include <gtest/gtest.h>

#include <vector>

#include "policy/watch_message.hpp"

namespace peyk::policy {
namespace {

using std::chrono::milliseconds;
const auto t0 = clock::time_point{} + std::chrono::hours(1);

struct WatchSync : ::testing::Test {
  core::metrics metrics;
  watch_registry gw_reg, ingest_reg;
  std::vector<std::string> wire;
  watch_sync gw{gw_reg,
                {"gw-a", milliseconds(1000), milliseconds(3000), milliseconds(100)},
                metrics,
                [this](std::string m) { wire.push_back(std::move(m)); }};
  watch_sync ingest{
      ingest_reg,
      {"ing-1", milliseconds(1000), milliseconds(3000), milliseconds(100), 65536, false},
      metrics,
      [](std::string) { ADD_FAILURE() << "an ingest publishes nothing"; }};
  std::vector<std::string> orders{"A1"};

  void carry(clock::time_point now) {
    for (auto& m : wire) ingest.on_message(m, now);
    wire.clear();
  }
};

TEST_F(WatchSync, ChangeThenRefreshThenCrash) {
  gw.tick(t0);  // first tick: the (empty) state, nothing to say
  EXPECT_TRUE(wire.empty());
  gw_reg.local(kind::order, "A1", +1);
  gw.tick(t0 + milliseconds(50));  // within the debounce
  EXPECT_TRUE(wire.empty());
  gw.tick(t0 + milliseconds(100));
  ASSERT_EQ(wire.size(), 1u);
  carry(t0 + milliseconds(100));
  EXPECT_TRUE(ingest_reg.watched("10", orders, t0 + milliseconds(100)));
  // Refreshed every second: still watched long after the first ttl.
  for (int s = 1; s <= 5; ++s) {
    gw.tick(t0 + milliseconds(100 + 1000 * s));
    carry(t0 + milliseconds(100 + 1000 * s));
  }
  EXPECT_TRUE(ingest_reg.watched("10", orders, t0 + milliseconds(5500)));
  // The gateway dies: nothing more arrives, the watch lapses within the ttl.
  ingest.tick(t0 + milliseconds(8200));
  EXPECT_FALSE(ingest_reg.watched("10", orders, t0 + milliseconds(8200)));
  EXPECT_EQ(metrics.watched_orders.value(), 0);
}

TEST_F(WatchSync, LeavingIsSentAtOnceEvenAtARefresh) {
  gw_reg.local(kind::order, "A1", +1);
  gw.tick(t0);
  carry(t0);
  EXPECT_TRUE(ingest_reg.watched("10", orders, t0));
  gw_reg.local(kind::order, "A1", -1);
  gw.tick(t0 + milliseconds(1000));  // a full refresh: carries the 0
  carry(t0 + milliseconds(1000));
  EXPECT_FALSE(ingest_reg.watched("10", orders, t0 + milliseconds(1000)));
}

TEST_F(WatchSync, OwnMessagesAndGarbageAreSkipped) {
  watch_sync self{gw_reg, {"gw-a"}, metrics, [](std::string) {}};
  EXPECT_FALSE(self.on_message(R"({"v":1,"source":"gw-a","couriers":{"1":1}})", t0));
  EXPECT_FALSE(gw_reg.watched("1", {}, t0));
  EXPECT_FALSE(ingest.on_message("{not json", t0));
  EXPECT_EQ(metrics.watch_invalid.value(), 1u);
}

TEST_F(WatchSync, GoneDropsAtOnce) {
  gw_reg.local(kind::courier, "7", +1);
  gw.tick(t0);
  carry(t0);
  EXPECT_TRUE(ingest_reg.watched("7", {}, t0));
  gw.stop();
  carry(t0);
  EXPECT_FALSE(ingest_reg.watched("7", {}, t0));
}

}  // namespace
}  // namespace peyk::policy
