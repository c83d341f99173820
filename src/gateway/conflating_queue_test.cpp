#include "gateway/conflating_queue.hpp"

#include <gtest/gtest.h>

namespace peyk::gateway {
namespace {

frame_ptr f(std::string id, std::string json) {
  return std::make_shared<frame>(frame{std::move(id), std::move(json), 0});
}

std::vector<std::string> drained(conflating_queue& q) {
  std::vector<frame_ptr> out;
  q.drain(out);
  std::vector<std::string> s;
  for (auto& x : out) s.push_back(x->json);
  return s;
}

TEST(ConflatingQueue, KeepsArrivalOrderAcrossCouriers) {
  conflating_queue q;
  EXPECT_EQ(q.push(f("a", "a1")), conflating_queue::result::queued);
  EXPECT_EQ(q.push(f("b", "b1")), conflating_queue::result::queued);
  EXPECT_EQ(q.push(f("c", "c1")), conflating_queue::result::queued);
  EXPECT_EQ(drained(q), (std::vector<std::string>{"a1", "b1", "c1"}));
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(ConflatingQueue, NewestWinsPerCourier) {
  conflating_queue q;
  q.push(f("a", "a1"));
  q.push(f("b", "b1"));
  EXPECT_EQ(q.push(f("a", "a2-longer")), conflating_queue::result::conflated);
  EXPECT_EQ(q.size(), 2u);
  EXPECT_EQ(q.bytes(), std::string("a2-longer").size() + 2);
  EXPECT_EQ(drained(q), (std::vector<std::string>{"a2-longer", "b1"}));
}

TEST(ConflatingQueue, ConflatesPastTheIndexThreshold) {
  conflating_queue q;
  const int couriers = 1000;
  for (int round = 0; round < 5; ++round)
    for (int i = 0; i < couriers; ++i)
      q.push(f(std::to_string(i), std::to_string(i) + "@" + std::to_string(round)));
  EXPECT_EQ(q.size(), static_cast<std::size_t>(couriers));
  auto out = drained(q);
  ASSERT_EQ(out.size(), static_cast<std::size_t>(couriers));
  for (int i = 0; i < couriers; ++i) EXPECT_EQ(out[i], std::to_string(i) + "@4");
  // Reusable after drain, index rebuilt from scratch.
  for (int i = 0; i < 40; ++i) q.push(f("x" + std::to_string(i % 35), "v"));
  EXPECT_EQ(q.size(), 35u);
}

TEST(ConflatingQueue, EntryLimit) {
  conflating_queue q({.max_entries = 2, .max_bytes = 1000});
  q.push(f("a", "1"));
  q.push(f("b", "1"));
  EXPECT_EQ(q.push(f("c", "1")), conflating_queue::result::overflow);
  EXPECT_EQ(q.push(f("a", "2")), conflating_queue::result::conflated);  // known courier ok
  EXPECT_EQ(q.size(), 2u);
}

TEST(ConflatingQueue, ByteLimit) {
  conflating_queue q({.max_entries = 100, .max_bytes = 10});
  EXPECT_EQ(q.push(f("a", "12345")), conflating_queue::result::queued);
  EXPECT_EQ(q.push(f("b", "123456")), conflating_queue::result::overflow);
  EXPECT_EQ(q.push(f("a", "12345678901")), conflating_queue::result::overflow);
  EXPECT_EQ(q.bytes(), 5u);
  EXPECT_EQ(q.push(f("b", "12345")), conflating_queue::result::queued);
  EXPECT_EQ(q.bytes(), 10u);
}

}  // namespace
}  // namespace peyk::gateway

namespace peyk::gateway {
namespace {

TEST(ConflatingQueue, IndexWithRealKeysAcrossGrowthAndReuse) {
  conflating_queue q;
  for (int round = 0; round < 3; ++round) {
    for (int rep = 0; rep < 3; ++rep)
      for (int i = 0; i < 5000; ++i)
        q.push(make_frame_ptr("c" + std::to_string(i), std::to_string(rep), 0));
    ASSERT_EQ(q.size(), 5000u);
    std::vector<frame_ptr> out;
    q.drain(out);
    ASSERT_EQ(out.size(), 5000u);
    for (int i = 0; i < 5000; ++i) {
      EXPECT_EQ(out[i]->courier_id, "c" + std::to_string(i));
      EXPECT_EQ(out[i]->json, "2");
    }
  }
}

}  // namespace
}  // namespace peyk::gateway
