#include "tokens.hpp"

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

}  // namespace
}  // namespace peyk::loadgen
