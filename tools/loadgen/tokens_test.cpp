#include "tokens.hpp"

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "auth/jwt.hpp"

namespace peyk::loadgen {
namespace {

// Viewers past --viewers are customers, each of one courier's order, so that a mixed
// audience (admins and customers) runs in one load generator.
TEST(loadgen_tokens, customers_follow_the_role_viewers) {
  options o;
  o.jwt_secret = "secret";
  o.role = viewer_role::admin;
  o.viewers = 3;
  o.customers = 5;
  o.couriers = 4;
  token_book book(o, 3600);
  auth::jwt_verifier verify("secret");
  auto now = std::int64_t{1};
  auto admin = verify.verify(book.viewer(2), now);
  ASSERT_TRUE(admin.has_value());
  EXPECT_EQ(admin->role, auth::role::admin);
  for (std::size_t c = 0; c < 5; ++c) {
    auto id = verify.verify(book.viewer(3 + c), now);
    ASSERT_TRUE(id.has_value());
    EXPECT_EQ(id->role, auth::role::customer);
    ASSERT_EQ(id->orders.size(), 1u);
    EXPECT_EQ(id->orders[0], courier_order(1 + c % 4));
  }
}

// peyk admits 16 viewers per identity by default: every admin and dispatcher viewer is
// its own user.
TEST(loadgen_tokens, every_admin_and_dispatcher_is_its_own_identity) {
  for (auto role : {viewer_role::admin, viewer_role::dispatcher}) {
    options o;
    o.jwt_secret = "secret";
    o.role = role;
    o.viewers = 40;
    o.fleets = 3;
    token_book book(o, 3600);
    auth::jwt_verifier verify("secret");
    std::set<std::string> subs;
    for (std::size_t v = 0; v < 40; ++v) {
      auto id = verify.verify(book.viewer(v), 1);
      ASSERT_TRUE(id.has_value());
      subs.insert(id->sub);
      if (role == viewer_role::dispatcher) {
        ASSERT_EQ(id->fleets.size(), 1u);
        EXPECT_EQ(id->fleets[0], "fleet-" + std::to_string(v % 3));
      }
    }
    EXPECT_EQ(subs.size(), 40u);
  }
}

}  // namespace
}  // namespace peyk::loadgen
