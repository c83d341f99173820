#include "gateway/hub.hpp"

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace peyk::gateway {
namespace {

// Records what a real session would write: queued frames, or (for viewers that read the
// shard's feed) the locations of the feed's batches past its cursor.
struct fake_viewer : viewer {
  explicit fake_viewer(auth::identity i, subprotocol p = subprotocol::v1)
      : id(std::move(i)), proto(p) {}
  const auth::identity& who() const override { return id; }
  subprotocol protocol() const override { return proto; }
  bool push(const frame_ptr& f) override {
    pending.push_back(f);
    return pending.size() == 1;
  }
  void flush() override {
    ++flushes;
    if (const feed* f = shared_feed()) {
      std::vector<feed::batch_ptr> batches;
      set_cursor(f->collect(cursor(), proto == subprotocol::echo, 1000, 1u << 30, batches));
      for (auto& b : batches) {
        got_batches.push_back(b);
        if (b->v1.empty()) continue;  // an echo-only batch: recorded, not parsed
        auto parsed = boost::json::parse("[" + b->v1.substr(1) + "]");
        for (auto& v : parsed.as_array()) {
          const auto& uid = v.at("user").at("id");
          got.push_back(make_frame_ptr(
              uid.is_string() ? std::string(uid.as_string()) : boost::json::serialize(uid),
              boost::json::serialize(v), 0));
        }
      }
      return;
    }
    for (auto& f : pending) got.push_back(f);
    pending.clear();
  }
  void push_status(const std::shared_ptr<const std::string>& payload) override {
    status.push_back(*payload);
  }
  std::vector<std::string> couriers() const {
    std::vector<std::string> s;
    for (auto& f : got) s.push_back(f->courier_id);
    return s;
  }
  auth::identity id;
  subprotocol proto;
  std::vector<frame_ptr> pending, got;
  std::vector<feed::batch_ptr> got_batches;
  std::vector<std::string> status;
  int flushes = 0;
};

auth::identity make_id(auth::role r, std::vector<std::string> fleets = {},
                       std::vector<std::string> orders = {}) {
  auth::identity i;
  i.role = r;
  i.sub = "v";
  i.fleets = std::move(fleets);
  i.orders = std::move(orders);
  return i;
}

update_ptr loc(std::string courier, std::string fleet, std::vector<std::string> orders,
               bool customers = true) {
  auto l = std::make_shared<core::location>();
  l->courier_id = std::move(courier);
  l->fleet = std::move(fleet);
  l->orders = std::move(orders);
  l->ts_us = 1;
  return make_update(l, customers);
}

TEST(Hub, EachRoleSeesExactlyItsCouriers) {
  hub h;
  auto admin = std::make_shared<fake_viewer>(make_id(auth::role::admin));
  auto disp = std::make_shared<fake_viewer>(make_id(auth::role::dispatcher, {"f1", "f3"}));
  auto cust = std::make_shared<fake_viewer>(make_id(auth::role::customer, {}, {"o2"}));
  auto courier = std::make_shared<fake_viewer>(make_id(auth::role::courier));
  EXPECT_TRUE(h.add(admin));
  EXPECT_TRUE(h.add(disp));
  EXPECT_TRUE(h.add(cust));
  EXPECT_FALSE(h.add(courier));
  std::vector<update_ptr> batch{loc("c1", "f1", {"o1"}), loc("c2", "f2", {"o2", "o9"}),
                                loc("c3", "f3", {}), loc("c4", "", {"o4"})};
  h.dispatch(batch);
  EXPECT_EQ(admin->couriers(), (std::vector<std::string>{"c1", "c2", "c3", "c4"}));
  EXPECT_EQ(disp->couriers(), (std::vector<std::string>{"c1", "c3"}));
  ASSERT_EQ(cust->couriers(), (std::vector<std::string>{"c2"}));
  // The customer's copy lists only its own order.
  auto v = boost::json::parse(cust->got[0]->json).as_object();
  EXPECT_EQ(v.at("orders").as_array(), (boost::json::array{"o2"}));
  auto full = boost::json::parse(admin->got[1]->json).as_object();
  EXPECT_EQ(full.at("orders").as_array().size(), 2u);
  // One flush per viewer per batch (the cork), not one per message.
  EXPECT_EQ(admin->flushes, 1);
}

TEST(Hub, FramesAreSharedNotReencodedPerViewer) {
  hub h;
  std::vector<std::shared_ptr<fake_viewer>> vs;
  for (int i = 0; i < 5; ++i) {
    vs.push_back(std::make_shared<fake_viewer>(make_id(auth::role::admin)));
    h.add(vs.back());
  }
  h.dispatch(std::vector<update_ptr>{loc("c1", "", {}), loc("c2", "", {})});
  // One encoded batch for all admins.
  for (auto& v : vs) {
    ASSERT_EQ(v->got_batches.size(), 1u);
    EXPECT_EQ(v->got_batches[0].get(), vs[0]->got_batches[0].get());
    EXPECT_EQ(v->couriers(), (std::vector<std::string>{"c1", "c2"}));
  }
  // Dispatchers of one fleet share each frame.
  auto d1 = std::make_shared<fake_viewer>(make_id(auth::role::dispatcher, {"f1"}));
  auto d2 = std::make_shared<fake_viewer>(make_id(auth::role::dispatcher, {"f1"}));
  h.add(d1);
  h.add(d2);
  h.dispatch(std::vector<update_ptr>{loc("c1", "f1", {})});
  ASSERT_EQ(d1->got.size(), 1u);
  EXPECT_EQ(d1->got[0].get(), d2->got[0].get());
}

TEST(Hub, FeedEncodesOnlyTheSubprotocolsInUse) {
  hub h;
  auto v1 = std::make_shared<fake_viewer>(make_id(auth::role::admin), subprotocol::v1);
  h.add(v1);
  h.dispatch(std::vector<update_ptr>{loc("c1", "", {})});
  ASSERT_EQ(v1->got_batches.size(), 1u);
  EXPECT_TRUE(v1->got_batches[0]->echo.empty());
  EXPECT_FALSE(v1->got_batches[0]->v1.empty());
  auto echo = std::make_shared<fake_viewer>(make_id(auth::role::admin), subprotocol::echo);
  h.add(echo);
  h.remove(v1.get());
  h.dispatch(std::vector<update_ptr>{loc("c2", "", {})});
  ASSERT_EQ(echo->got_batches.size(), 1u);  // joined after the first batch: not sent it
  EXPECT_FALSE(echo->got_batches[0]->echo.empty());
  EXPECT_TRUE(echo->got_batches[0]->v1.empty());
}

TEST(Hub, AdminJoiningLateStartsAtTheEndOfTheFeed) {
  hub h;
  auto early = std::make_shared<fake_viewer>(make_id(auth::role::admin));
  h.add(early);
  h.dispatch(std::vector<update_ptr>{loc("c1", "", {})});
  auto late = std::make_shared<fake_viewer>(make_id(auth::role::admin));
  h.add(late);
  h.dispatch(std::vector<update_ptr>{loc("c2", "", {})});
  EXPECT_EQ(early->couriers(), (std::vector<std::string>{"c1", "c2"}));
  EXPECT_EQ(late->couriers(), (std::vector<std::string>{"c2"}));
}

TEST(Hub, CustomerWithSeveralOrdersOnOneCourierGetsOneFrameListingBoth) {
  hub h;
  auto cust = std::make_shared<fake_viewer>(make_id(auth::role::customer, {}, {"o1", "o2"}));
  h.add(cust);
  h.dispatch(std::vector<update_ptr>{loc("c1", "", {"o1", "o2", "o3"})});
  ASSERT_EQ(cust->got.size(), 1u);
  auto v = boost::json::parse(cust->got[0]->json).as_object();
  EXPECT_EQ(v.at("orders").as_array(), (boost::json::array{"o1", "o2"}));
}

TEST(Hub, CustomerViewsBuiltOnDemandWhenNotPrecomputed) {
  hub h;
  auto cust = std::make_shared<fake_viewer>(make_id(auth::role::customer, {}, {"o1"}));
  h.add(cust);
  h.dispatch(std::vector<update_ptr>{loc("c1", "", {"o1", "o3"}, false)});
  ASSERT_EQ(cust->got.size(), 1u);
  EXPECT_EQ(boost::json::parse(cust->got[0]->json).at("orders").as_array().size(), 1u);
}

TEST(Hub, RemovedViewersGetNothing) {
  hub h;
  auto a = std::make_shared<fake_viewer>(make_id(auth::role::admin));
  auto d = std::make_shared<fake_viewer>(make_id(auth::role::dispatcher, {"f1"}));
  auto c = std::make_shared<fake_viewer>(make_id(auth::role::customer, {}, {"o1"}));
  auto b = std::make_shared<fake_viewer>(make_id(auth::role::admin));
  h.add(a);
  h.add(d);
  h.add(c);
  h.add(b);
  EXPECT_EQ(h.customers(), 1u);
  h.remove(a.get());
  h.remove(d.get());
  h.remove(c.get());
  h.remove(c.get());  // twice is harmless
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h.customers(), 0u);
  h.dispatch(std::vector<update_ptr>{loc("c1", "f1", {"o1"})});
  EXPECT_TRUE(a->got.empty());
  EXPECT_TRUE(d->got.empty());
  EXPECT_TRUE(c->got.empty());
  EXPECT_EQ(b->got.size(), 1u);
}

store::location_ptr courier(std::string id, std::string fleet, std::vector<std::string> orders) {
  auto l = std::make_shared<core::location>();
  l->courier_id = std::move(id);
  l->fleet = std::move(fleet);
  l->orders = std::move(orders);
  l->ts_us = 1;
  return l;
}

// PROTOCOL.md §12: a silent courier is sent as offline to the peyk.v1 viewers who may see
// it, and to nobody else.
TEST(Hub, OfflineStatusGoesToWhoMaySee) {
  hub h;
  auto admin = std::make_shared<fake_viewer>(make_id(auth::role::admin));
  auto echo_admin = std::make_shared<fake_viewer>(make_id(auth::role::admin), subprotocol::echo);
  auto disp = std::make_shared<fake_viewer>(make_id(auth::role::dispatcher, {"f1"}));
  auto other_disp = std::make_shared<fake_viewer>(make_id(auth::role::dispatcher, {"f9"}));
  auto cust = std::make_shared<fake_viewer>(make_id(auth::role::customer, {}, {"o1", "o2"}));
  for (auto& v : {admin, echo_admin, disp, other_disp, cust}) h.add(v);
  std::vector<store::location_ptr> gone{courier("10", "f1", {"o1", "o2"}),
                                        courier("c-7", "f2", {})};
  h.offline(gone);
  ASSERT_EQ(admin->status.size(), 1u);
  EXPECT_EQ(admin->status[0], R"({"type":"status","couriers":[{"id":10,"state":"offline"},)"
                              R"({"id":"c-7","state":"offline"}]})");
  EXPECT_TRUE(echo_admin->status.empty());  // echo frames are locations only
  ASSERT_EQ(disp->status.size(), 1u);
  EXPECT_EQ(disp->status[0], R"({"type":"status","couriers":[{"id":10,"state":"offline"}]})");
  EXPECT_TRUE(other_disp->status.empty());
  ASSERT_EQ(cust->status.size(), 1u);  // once, though it tracks both of the courier's orders
  EXPECT_EQ(cust->status[0], disp->status[0]);
  for (auto& v : {admin, echo_admin, disp, other_disp, cust}) h.remove(v.get());
}

// The courier TTL: the feed's courier table (the catch-up source) forgets the courier.
TEST(Hub, ForgetDropsCouriersFromTheFeedTable) {
  hub h;
  auto admin = std::make_shared<fake_viewer>(make_id(auth::role::admin));
  h.add(admin);
  std::vector<update_ptr> batch{make_update(courier("1", "", {}), false),
                                make_update(courier("2", "", {}), false),
                                make_update(courier("3", "", {}), false)};
  h.dispatch(batch);
  EXPECT_EQ(h.shared_feed().couriers(), 3u);
  std::vector<store::location_ptr> gone{batch[0]->loc, batch[2]->loc};
  h.forget(gone);
  EXPECT_EQ(h.shared_feed().couriers(), 1u);
  std::vector<frame_ptr> latest;
  h.shared_feed().latest_since(0, latest);
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0]->courier_id, "2");
  h.remove(admin.get());
}

}  // namespace
}  // namespace peyk::gateway
