#include "store/last_known.hpp"

#include <algorithm>
#include <thread>

#include <gtest/gtest.h>

namespace peyk::store {
namespace {

location_ptr at(std::string id, std::int64_t ts, double lat = 1) {
  auto loc = std::make_shared<core::location>();
  loc->courier_id = std::move(id);
  loc->ts_us = ts;
  loc->latitude = lat;
  return loc;
}

TEST(LastKnown, KeepsNewestPerCourier) {
  last_known s;
  constexpr std::int64_t sec = 1'000'000;
  EXPECT_TRUE(s.update(at("a", 10 * sec, 1)));
  EXPECT_TRUE(s.update(at("a", 20 * sec, 2)));
  EXPECT_FALSE(s.update(at("a", 12 * sec, 3)));  // a late arrival, past the skew allowed
  EXPECT_FALSE(s.update(at("a", 20 * sec, 4)));  // a replay of the same point
  EXPECT_TRUE(s.update(at("b", 5)));
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.find("a").loc->latitude, 2);
  EXPECT_EQ(s.find("zzz").loc, nullptr);
  int n = 0;
  s.for_each([&](const entry&) { ++n; });
  EXPECT_EQ(n, 2);
}

location_ptr with(std::string id, std::int64_t ts, std::vector<std::string> orders,
                  std::string recorded_at = "") {
  auto loc = std::make_shared<core::location>();
  loc->courier_id = std::move(id);
  loc->ts_us = ts;
  loc->orders = std::move(orders);
  loc->recorded_at = std::move(recorded_at);
  return loc;
}

constexpr std::int64_t s_ = 1'000'000;

TEST(LastKnown, NoCapOnCouriers) {
  last_known s;
  for (int i = 0; i < 300'000; ++i) ASSERT_TRUE(s.update(at(std::to_string(i), 1)));
  EXPECT_EQ(s.size(), 300'000u);
  std::size_t n = 0;
  s.for_each([&](const entry&) { ++n; });
  EXPECT_EQ(n, 300'000u);
}

TEST(LastKnown, ToleratesSkewedIngestClocksInArrivalOrder) {
  last_known s;
  // Ingest A runs 3 s ahead of ingest B; the courier's second point went through B.
  EXPECT_TRUE(s.update(at("a", 1000 * s_ + 3 * s_, 1)));
  EXPECT_TRUE(s.update(at("a", 1000 * s_ + 1 * s_, 2)));
  EXPECT_EQ(s.find("a").loc->latitude, 2);
  // Beyond the tolerance it is an old point.
  EXPECT_FALSE(s.update(at("a", 1000 * s_ - 5 * s_, 3)));
  // The first point again (a second channel, a replay): never taken twice.
  EXPECT_FALSE(s.update(at("a", 1000 * s_ + 3 * s_, 4)));
  EXPECT_EQ(s.find("a").loc->latitude, 2);
}

TEST(LastKnown, BufferedPointsNeverMoveTheMarkerBack) {
  last_known s;
  std::int64_t now = 1764331200 * s_;
  EXPECT_TRUE(s.update(with("a", now, {}, "2025-11-28T12:00:00Z"), nullptr, now));
  // A batch buffered an hour ago arrives later, with later ts but an older recorded_at.
  EXPECT_FALSE(s.update(with("a", now + s_, {}, "2025-11-28T11:00:00Z"), nullptr, now + s_));
  EXPECT_EQ(s.find("a").loc->ts_us, now);
  EXPECT_TRUE(s.update(with("a", now + 2 * s_, {}, "2025-11-28T12:00:01Z"), nullptr, now + 2 * s_));
  // The same measurement again (an app's retry): taken once.
  EXPECT_FALSE(
      s.update(with("a", now + 3 * s_, {}, "2025-11-28T12:00:01Z"), nullptr, now + 3 * s_));
  // A recorded_at in the future is not trusted for ordering (it would freeze the courier).
  EXPECT_TRUE(s.update(with("b", now, {}, "2099-01-01T00:00:00Z"), nullptr, now));
  EXPECT_TRUE(s.update(with("b", now + s_, {}, "2025-11-28T12:00:00Z"), nullptr, now + s_));
}

TEST(LastKnown, FindsCouriersByOrder) {
  last_known s;
  s.update(with("a", 1, {"o1", "o2"}));
  s.update(with("b", 1, {"o2"}));
  s.update(with("c", 1, {}));
  auto ids = [&](std::string_view order) {
    std::vector<std::string> out;
    s.for_order(order, [&](const entry& e) { out.push_back(e.loc->courier_id); });
    std::sort(out.begin(), out.end());
    return out;
  };
  EXPECT_EQ(ids("o1"), std::vector<std::string>{"a"});
  EXPECT_EQ(ids("o2"), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(ids("zz").empty());
  s.update(with("a", 2, {"o3"}));  // a dropped o1 and o2
  EXPECT_TRUE(ids("o1").empty());
  EXPECT_EQ(ids("o2"), std::vector<std::string>{"b"});
  EXPECT_EQ(ids("o3"), std::vector<std::string>{"a"});
}

TEST(LastKnown, SweepReportsOfflineOnceAndForgets) {
  last_known s;
  s.update(with("quiet", 1, {"o1"}), nullptr, 100 * s_);
  s.update(with("busy", 1, {}), nullptr, 100 * s_);
  s.update(with("busy", 2, {}), nullptr, 200 * s_);
  last_known::swept out;
  s.sweep(0, last_known::stripe_count, 150 * s_, 0, out);
  ASSERT_EQ(out.offline.size(), 1u);
  EXPECT_EQ(out.offline[0]->courier_id, "quiet");
  EXPECT_TRUE(s.find("quiet").offline);
  out = {};
  s.sweep(0, last_known::stripe_count, 150 * s_, 0, out);
  EXPECT_TRUE(out.offline.empty());  // reported once
  s.update(with("quiet", 2, {"o1"}), nullptr, 210 * s_);
  EXPECT_FALSE(s.find("quiet").offline);  // heard again
  out = {};
  s.sweep(0, last_known::stripe_count, 150 * s_, 205 * s_, out);
  ASSERT_EQ(out.forgotten.size(), 1u);
  EXPECT_EQ(out.forgotten[0]->courier_id, "busy");
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.find("busy").loc, nullptr);
  s.sweep(0, last_known::stripe_count, 0, 300 * s_, out);
  EXPECT_EQ(s.size(), 0u);
  std::size_t n = 0;
  s.for_order("o1", [&](const entry&) { ++n; });
  EXPECT_EQ(n, 0u);
}

TEST(LastKnown, ConcurrentWritersAndReaders) {
  last_known s;
  std::thread w([&] {
    for (int i = 0; i < 20000; ++i) s.update(at(std::to_string(i % 100), i));
  });
  std::size_t seen = 0;
  for (int i = 0; i < 200; ++i) s.for_each([&](const entry&) { ++seen; });
  w.join();
  EXPECT_EQ(s.size(), 100u);
  EXPECT_EQ(s.find("99").loc->ts_us, 19999);
}

}  // namespace
}  // namespace peyk::store
