#include "gateway/gateway.hpp"

#include <gtest/gtest.h>

namespace peyk::gateway {
namespace {

struct recording_viewer : viewer {
  auth::identity id;
  std::vector<frame_ptr> got;
  const auth::identity& who() const override { return id; }
  subprotocol protocol() const override { return subprotocol::v1; }
  bool push(const frame_ptr& f) override {
    got.push_back(f);
    return false;
  }
  void flush() override {}
  void push_status(const std::shared_ptr<const std::string>&) override {}
};

update_ptr at(std::string courier, double lat, std::int64_t ts) {
  auto l = std::make_shared<core::location>();
  l->courier_id = std::move(courier);
  l->latitude = lat;
  l->ts_us = ts;
  l->fleet = "f";
  return make_update(l, false);
}

// Under load a shard drains many messages at once: only each courier's newest reaches
// the viewers, in the order the couriers first appeared.
TEST(Shard, BatchKeepsNewestPerCourierBeforeFanOut) {
  boost::asio::io_context ioc;
  options opts;
  store::last_known store;
  core::metrics m;
  shard sh(ioc, opts, store, m);
  auto v = std::make_shared<recording_viewer>();
  v->id.role = auth::role::dispatcher;  // queued delivery (admins read the feed)
  v->id.fleets = {"f"};
  sh.viewers().add(v);
  sh.post(at("a", 1, 1));
  sh.post(at("b", 2, 2));
  sh.post(at("a", 3, 3));
  sh.post(at("c", 4, 4));
  sh.post(at("b", 5, 5));
  sh.post(at("a", 6, 6));
  ioc.poll();
  ASSERT_EQ(v->got.size(), 3u);
  EXPECT_EQ(v->got[0]->courier_id, "a");
  EXPECT_EQ(v->got[0]->ts_us, 6);
  EXPECT_EQ(v->got[1]->courier_id, "b");
  EXPECT_EQ(v->got[1]->ts_us, 5);
  EXPECT_EQ(v->got[2]->courier_id, "c");
  EXPECT_EQ(m.conflated.value(), 3u);
  sh.viewers().remove(v.get());
}

}  // namespace
}  // namespace peyk::gateway
