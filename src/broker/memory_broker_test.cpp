#include "broker/memory_broker.hpp"

#include <gtest/gtest.h>

namespace peyk::broker {
namespace {

TEST(MemoryBroker, DeliversInOrderToEverySubscriberThenCompletes) {
  memory_broker b;
  std::vector<std::string> a, c;
  b.subscribe([&](const location_ptr& l) { a.push_back(l->courier_id); });
  b.subscribe([&](const location_ptr& l) { c.push_back(l->courier_id); });
  std::vector<location_ptr> batch;
  for (auto id : {"1", "2", "3"}) {
    auto l = std::make_shared<core::location>();
    l->courier_id = id;
    batch.push_back(l);
  }
  bool done = false;
  b.publish(batch, [&](boost::system::error_code ec) {
    EXPECT_FALSE(ec);
    EXPECT_EQ(a.size(), 3u);  // delivered before the publish completes
    done = true;
  });
  EXPECT_TRUE(done);
  EXPECT_EQ(a, (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(c, a);
  EXPECT_TRUE(b.connected());
}

TEST(MemoryBroker, ControlMessagesReachEveryControlSubscriber) {
  memory_broker b;
  std::vector<std::string> x, y;
  b.subscribe_control([&](std::string_view m) { x.emplace_back(m); });
  b.subscribe_control([&](std::string_view m) { y.emplace_back(m); });
  b.publish_control("one");
  b.publish_control("two");
  EXPECT_EQ(x, (std::vector<std::string>{"one", "two"}));
  EXPECT_EQ(y, x);
}

}  // namespace
}  // namespace peyk::broker
