#include "auth/visibility.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace peyk::auth {
namespace {

using strings = std::vector<std::string>;

core::location courier_at(std::string id, std::string fleet, strings orders) {
  core::location loc;
  loc.courier_id = std::move(id);
  loc.fleet = std::move(fleet);
  loc.orders = std::move(orders);
  return loc;
}

identity viewer(role r, strings fleets = {}, strings orders = {}) {
  identity id;
  id.role = r;
  id.sub = "v";
  id.fleets = std::move(fleets);
  id.orders = std::move(orders);
  return id;
}

// Couriers used by the matrix: two fleets, one courier without a fleet, one idle.
const core::location c1 = courier_at("1", "store-7", {"A1", "A2"});
const core::location c2 = courier_at("2", "store-7", {"B1"});
const core::location c3 = courier_at("3", "store-9", {"C1", "A2"});
const core::location c4 = courier_at("4", "", {"D1"});
const core::location c5 = courier_at("5", "store-9", {});

std::string seen_by(const identity& v) {
  std::string out;
  for (const core::location* loc : {&c1, &c2, &c3, &c4, &c5}) {
    if (may_see(v, *loc)) out += loc->courier_id;
  }
  return out;
}

TEST(Visibility, MayWatchEveryRoleButCourier) {
  EXPECT_TRUE(may_watch(viewer(role::admin)));
  EXPECT_TRUE(may_watch(viewer(role::dispatcher)));
  EXPECT_TRUE(may_watch(viewer(role::customer)));
  EXPECT_FALSE(may_watch(viewer(role::courier)));
}

TEST(Visibility, Matrix) {
  EXPECT_EQ(seen_by(viewer(role::admin)), "12345");
  EXPECT_EQ(seen_by(viewer(role::admin, {}, {})), "12345");

  EXPECT_EQ(seen_by(viewer(role::dispatcher, {"store-7"})), "12");
  EXPECT_EQ(seen_by(viewer(role::dispatcher, {"store-9"})), "35");
  EXPECT_EQ(seen_by(viewer(role::dispatcher, {"store-9", "store-7"})), "1235");
  EXPECT_EQ(seen_by(viewer(role::dispatcher, {"store-1"})), "");
  EXPECT_EQ(seen_by(viewer(role::dispatcher)), "");
  // An empty fleet means "no fleet", never a match; fleet names are case-sensitive.
  EXPECT_EQ(seen_by(viewer(role::dispatcher, {""})), "");
  EXPECT_EQ(seen_by(viewer(role::dispatcher, {"STORE-7"})), "");
  // A dispatcher's orders grant nothing.
  EXPECT_EQ(seen_by(viewer(role::dispatcher, {}, {"A1"})), "");

  EXPECT_EQ(seen_by(viewer(role::customer, {}, {"A1"})), "1");
  EXPECT_EQ(seen_by(viewer(role::customer, {}, {"A2"})), "13");
  EXPECT_EQ(seen_by(viewer(role::customer, {}, {"B1", "D1"})), "24");
  EXPECT_EQ(seen_by(viewer(role::customer, {}, {"Z9"})), "");
  EXPECT_EQ(seen_by(viewer(role::customer)), "");
  // A customer's fleets grant nothing.
  EXPECT_EQ(seen_by(viewer(role::customer, {"store-7"}, {})), "");

  // A courier sees no one, even with fleets and orders that would match.
  EXPECT_EQ(seen_by(viewer(role::courier, {"store-7", "store-9"}, {"A1", "B1", "D1"})), "");
}

TEST(Visibility, EmptyOrderIdNeverMatches) {
  const core::location odd = courier_at("6", "", {""});
  EXPECT_FALSE(may_see(viewer(role::customer, {}, {""}), odd));
  EXPECT_TRUE(visible_orders(viewer(role::customer, {}, {""}), odd).empty());
}

TEST(Visibility, VisibleOrdersAdminAndDispatcherSeeAll) {
  EXPECT_EQ(visible_orders(viewer(role::admin), c1), (strings{"A1", "A2"}));
  EXPECT_EQ(visible_orders(viewer(role::admin), c5), strings{});
  EXPECT_EQ(visible_orders(viewer(role::dispatcher, {"store-9"}), c3), (strings{"C1", "A2"}));
}

TEST(Visibility, VisibleOrdersCustomerSeesIntersectionInCourierOrder) {
  const core::location loc = courier_at("7", "store-7", {"X3", "X1", "X2", "X4"});
  EXPECT_EQ(visible_orders(viewer(role::customer, {}, {"X2", "X9", "X3"}), loc),
            (strings{"X3", "X2"}));
  EXPECT_EQ(visible_orders(viewer(role::customer, {}, {"X4"}), loc), strings{"X4"});
  EXPECT_EQ(visible_orders(viewer(role::customer, {}, {"X1", "X2", "X3", "X4", "X5"}), loc),
            (strings{"X3", "X1", "X2", "X4"}));
}

TEST(Visibility, VisibleOrdersEmptyWhenNotVisible) {
  EXPECT_TRUE(visible_orders(viewer(role::courier), c1).empty());
  EXPECT_TRUE(visible_orders(viewer(role::courier, {"store-7"}, {"A1"}), c1).empty());
  EXPECT_TRUE(visible_orders(viewer(role::customer, {}, {"B1"}), c1).empty());
  // A dispatcher of another fleet does not learn the orders either.
  EXPECT_TRUE(visible_orders(viewer(role::dispatcher, {"store-9"}), c1).empty());
}

TEST(Identity, RoleNames) {
  EXPECT_STREQ(to_string(role::courier), "courier");
  EXPECT_STREQ(to_string(role::admin), "admin");
  EXPECT_STREQ(to_string(role::dispatcher), "dispatcher");
  EXPECT_STREQ(to_string(role::customer), "customer");
}

}  // namespace
}  // namespace peyk::auth
