#include "store/last_known.hpp"

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
  EXPECT_TRUE(s.update(at("a", 10, 1)));
  EXPECT_TRUE(s.update(at("a", 20, 2)));
  EXPECT_FALSE(s.update(at("a", 15, 3)));  // late arrival does not win
  EXPECT_FALSE(s.update(at("a", 20, 4)));  // nor does a replay of the same point
  EXPECT_TRUE(s.update(at("b", 5)));
  EXPECT_EQ(s.size(), 2u);
  EXPECT_EQ(s.find("a").loc->latitude, 2);
  EXPECT_EQ(s.find("zzz").loc, nullptr);
  int n = 0;
  s.for_each([&](const entry&) { ++n; });
  EXPECT_EQ(n, 2);
}

TEST(LastKnown, BoundedNumberOfCouriers) {
  last_known s(2);
  EXPECT_TRUE(s.update(at("a", 1)));
  EXPECT_TRUE(s.update(at("b", 1)));
  EXPECT_TRUE(s.update(at("c", 1)));  // fresh, so fanned out, but not kept
  EXPECT_TRUE(s.update(at("a", 2)));  // known couriers still update
  EXPECT_EQ(s.size(), 2u);
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
