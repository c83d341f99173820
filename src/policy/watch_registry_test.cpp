#include "policy/watch_registry.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace peyk::policy {
namespace {

using std::chrono::milliseconds;
const auto t0 = clock::time_point{} + std::chrono::hours(1);
const std::vector<std::string> none;

TEST(WatchRegistry, LocalCountsPerId) {
  watch_registry r;
  std::vector<std::string> orders{"A1"};
  EXPECT_FALSE(r.watched("10", orders, t0));
  r.local(kind::order, "A1", +1);
  r.local(kind::order, "A1", +1);
  EXPECT_TRUE(r.watched("10", orders, t0));
  EXPECT_FALSE(r.watched("10", none, t0));  // a courier without that order
  r.local(kind::order, "A1", -1);
  EXPECT_TRUE(r.watched("10", orders, t0));  // one customer still there
  r.local(kind::order, "A1", -1);
  EXPECT_FALSE(r.watched("10", orders, t0));
  EXPECT_EQ(r.count(kind::order), 0u);
  r.local(kind::order, "A1", -1);  // below zero: nothing to take back
  EXPECT_EQ(r.count(kind::order), 0u);
}

TEST(WatchRegistry, LocalNeverExpires) {
  watch_registry r;
  r.local(kind::courier, "10", +1);
  r.expire(t0 + std::chrono::hours(100));
  EXPECT_TRUE(r.watched("10", none, t0 + std::chrono::hours(100)));
  EXPECT_FALSE(r.watched("11", none, t0));
  EXPECT_EQ(r.count(kind::courier), 1u);
}

TEST(WatchRegistry, RemoteExpiresUnlessRefreshed) {
  watch_registry r;
  std::vector<std::string> orders{"B2", "A1"};
  ASSERT_TRUE(r.remote("gw-a", kind::order, "A1", 1, t0 + milliseconds(3000)));
  EXPECT_TRUE(r.watched("10", orders, t0 + milliseconds(2999)));
  EXPECT_FALSE(r.watched("10", orders, t0 + milliseconds(3000)));  // lapsed, even unswept
  // Refreshed in time: it holds on.
  r.remote("gw-a", kind::order, "A1", 1, t0 + milliseconds(4000));
  EXPECT_TRUE(r.watched("10", orders, t0 + milliseconds(3500)));
  r.expire(t0 + milliseconds(3500));
  EXPECT_EQ(r.count(kind::order), 1u);
  r.expire(t0 + milliseconds(4000));
  EXPECT_EQ(r.count(kind::order), 0u);
  EXPECT_FALSE(r.watched("10", orders, t0 + milliseconds(4000)));
}

TEST(WatchRegistry, RemoteZeroRemovesOnlyThatSource) {
  watch_registry r;
  auto until = t0 + milliseconds(3000);
  r.remote("gw-a", kind::courier, "10", 1, until);
  r.remote("gw-b", kind::courier, "10", 2, until);
  r.local(kind::courier, "10", +1);
  r.remote("gw-a", kind::courier, "10", 0, until);
  EXPECT_TRUE(r.watched("10", none, t0));
  r.remote("gw-b", kind::courier, "10", 0, until);
  EXPECT_TRUE(r.watched("10", none, t0));  // the local viewer
  r.local(kind::courier, "10", -1);
  EXPECT_FALSE(r.watched("10", none, t0));
  EXPECT_EQ(r.count(kind::courier), 0u);
}

TEST(WatchRegistry, PerGatewayRefreshAndForget) {
  watch_registry r;
  std::vector<std::string> a{"A1"}, b{"B1"};
  r.remote("gw-a", kind::order, "A1", 1, t0 + milliseconds(3000));
  r.remote("gw-b", kind::order, "B1", 1, t0 + milliseconds(3000));
  // Only gw-b keeps refreshing: gw-a (crashed) lapses, gw-b does not.
  r.remote("gw-b", kind::order, "B1", 1, t0 + milliseconds(4000));
  r.expire(t0 + milliseconds(3100));
  EXPECT_FALSE(r.watched("1", a, t0 + milliseconds(3100)));
  EXPECT_TRUE(r.watched("1", b, t0 + milliseconds(3100)));
  r.forget_source("gw-b");
  EXPECT_FALSE(r.watched("1", b, t0 + milliseconds(3100)));
  EXPECT_EQ(r.count(kind::order), 0u);
}

TEST(WatchRegistry, BoundsRemoteWatchesAndSources) {
  watch_limits lim;
  lim.max_remote = 3;
  lim.max_sources = 2;
  watch_registry r(lim);
  auto until = t0 + milliseconds(3000);
  EXPECT_TRUE(r.remote("gw-a", kind::order, "1", 1, until));
  EXPECT_TRUE(r.remote("gw-a", kind::order, "2", 1, until));
  EXPECT_TRUE(r.remote("gw-b", kind::order, "1", 1, until));
  EXPECT_FALSE(r.remote("gw-b", kind::order, "3", 1, until));  // a fourth watch
  EXPECT_TRUE(r.remote("gw-b", kind::order, "1", 5, until));   // an update still goes in
  EXPECT_FALSE(r.remote("gw-c", kind::order, "9", 1, until));  // a third source
  EXPECT_EQ(r.dropped(), 2u);
  // Local viewers are never refused.
  r.local(kind::order, "4", +1);
  EXPECT_TRUE(r.watched("x", std::vector<std::string>{"4"}, t0));
  // Lapsed sources free their slots and watches.
  r.expire(t0 + std::chrono::minutes(2));
  EXPECT_TRUE(r.remote("gw-c", kind::order, "9", 1, t0 + std::chrono::minutes(3)));
  EXPECT_TRUE(r.remote("gw-d", kind::order, "8", 1, t0 + std::chrono::minutes(3)));
}

TEST(WatchRegistry, TracksLocalChanges) {
  watch_registry r;
  r.local(kind::order, "A1", +1);  // not tracked yet
  r.track_changes(true);
  r.local(kind::order, "A1", +1);
  r.local(kind::courier, "10", +1);
  r.local(kind::courier, "10", -1);
  r.remote("gw-a", kind::order, "Z", 1, t0);  // remote: not ours to publish
  bool overflow = true;
  auto ch = r.take_changes(overflow);
  EXPECT_FALSE(overflow);
  ASSERT_EQ(ch.size(), 2u);
  for (const auto& e : ch) {
    if (e.k == kind::order) {
      EXPECT_EQ(e.id, "A1");
      EXPECT_EQ(e.count, 2u);
    } else {
      EXPECT_EQ(e.id, "10");
      EXPECT_EQ(e.count, 0u);  // went away: published as 0
    }
  }
  EXPECT_TRUE(r.take_changes(overflow).empty());
  std::vector<watch_registry::entry> all;
  r.for_each_local([&](const watch_registry::entry& e) { all.push_back(e); });
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, "A1");
}

TEST(WatchRegistry, ChangeOverflowAsksForTheWholeState) {
  watch_limits lim;
  lim.max_changes = 3;
  watch_registry r(lim);
  r.track_changes(true);
  for (int i = 0; i < 5; ++i) r.local(kind::order, std::to_string(i), +1);
  bool overflow = false;
  EXPECT_TRUE(r.take_changes(overflow).empty());
  EXPECT_TRUE(overflow);
  r.local(kind::order, "x", +1);
  EXPECT_EQ(r.take_changes(overflow).size(), 1u);
  EXPECT_FALSE(overflow);
}

// Gateways' threads report, the broker's thread applies, ingest threads read, a timer
// expires and publishes, all at once (run under TSan in the sanitizer build). At the end
// every local watch was given back, and the remote ones lapse.
TEST(WatchRegistry, ConcurrentUse) {
  watch_registry r;
  r.track_changes(true);
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto id = std::to_string((i + t) % 50);
        r.local(kind::order, id, +1);
        r.local(kind::courier, id, +1);
        r.local(kind::order, id, -1);
        r.local(kind::courier, id, -1);
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 2000; ++i) {
      r.remote("gw-" + std::to_string(i % 3), kind::order, std::to_string(i % 70), 1,
               t0 + milliseconds(3000));
    }
  });
  threads.emplace_back([&] {
    std::vector<std::string> orders{"1", "2", "3"};
    while (!stop) (void)r.watched("7", orders, t0);
  });
  threads.emplace_back([&] {
    bool overflow = false;
    while (!stop) {
      (void)r.take_changes(overflow);
      r.for_each_local([](const watch_registry::entry&) {});
      r.expire(t0 + milliseconds(1000));
    }
  });
  for (int i = 0; i < 3; ++i) threads[static_cast<std::size_t>(i)].join();
  stop = true;
  for (std::size_t i = 3; i < threads.size(); ++i) threads[i].join();
  std::size_t local = 0;
  r.for_each_local([&](const watch_registry::entry&) { ++local; });
  EXPECT_EQ(local, 0u);
  r.expire(t0 + milliseconds(3000));
  EXPECT_EQ(r.count(kind::order), 0u);
  EXPECT_EQ(r.count(kind::courier), 0u);
}

}  // namespace
}  // namespace peyk::policy
