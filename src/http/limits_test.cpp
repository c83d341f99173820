#include "http/limits.hpp"

#include <gtest/gtest.h>

namespace peyk::http {
namespace {

auth::identity customer(const std::string& sub) {
  auth::identity id;
  id.role = auth::role::customer;
  id.sub = sub;
  return id;
}

const auto loopback = boost::asio::ip::make_address("127.0.0.1");

TEST(Limits, PerTokenShareIsGivenBackWithTheLease) {
  limits l({0, 2, 0, 0, 0, 0});
  auto a = l.admit_viewer(customer("c1"));
  auto b = l.admit_viewer(customer("c1"));
  ASSERT_TRUE(a.lease && b.lease);
  auto c = l.admit_viewer(customer("c1"));
  EXPECT_EQ(c.why, limits::verdict::per_token);
  EXPECT_TRUE(l.admit_viewer(customer("c2")).lease);  // another identity has its own share
  a.lease.reset();
  EXPECT_TRUE(l.admit_viewer(customer("c1")).lease);
}

TEST(Limits, MaxViewersIsProcessWide) {
  limits l({2, 0, 0, 0, 0, 0});
  auto a = l.admit_viewer(customer("a"));
  auto b = l.admit_viewer(customer("b"));
  EXPECT_EQ(l.admit_viewer(customer("c")).why, limits::verdict::max_viewers);
  EXPECT_EQ(l.viewers(), 2u);
}

TEST(Limits, PerAddressCountsEverySocketUntilReleased) {
  limits l({0, 0, 2, 0, 0, 0});
  auto a = l.enter(loopback);
  auto b = l.enter(loopback);
  auto c = l.enter(loopback);
  EXPECT_FALSE(a.over_ip);
  EXPECT_FALSE(b.over_ip);
  EXPECT_TRUE(c.over_ip);
  EXPECT_FALSE(l.enter(boost::asio::ip::make_address("10.0.0.1")).over_ip);
  a.lease.reset();
  c.lease.reset();
  EXPECT_FALSE(l.enter(boost::asio::ip::make_address("::ffff:127.0.0.1")).over_ip);
}

TEST(Limits, DescriptorReserveRefusesViewersFirstThenConnections) {
  // 100 descriptors, 10 open at start, a reserve of 20: viewers up to 70 sockets, new
  // connections up to 80.
  limits l({0, 0, 0, 100, 10, 20});
  EXPECT_EQ(l.figures().viewer_sockets, 70u);
  EXPECT_EQ(l.figures().accept_sockets, 80u);
  EXPECT_EQ(l.figures().max_viewers, 70u);
  std::vector<limits::connection> conns;
  for (int i = 0; i < 70; ++i) conns.push_back(l.enter(loopback));
  auto v = l.admit_viewer(customer("x"));
  EXPECT_TRUE(v.lease);
  conns.push_back(l.enter(loopback));  // a 71st socket: viewers are refused now
  EXPECT_EQ(l.admit_viewer(customer("y")).why, limits::verdict::descriptors);
  for (int i = 0; i < 9; ++i) conns.push_back(l.enter(loopback));
  EXPECT_TRUE(conns.back().lease);
  EXPECT_FALSE(l.enter(loopback).lease);  // the 81st is closed at accept
}

TEST(Limits, DerivedReserveIsAtLeast64) {
  EXPECT_EQ(derive_limits({0, 16, 1000, 1024, 20, 0}).reserve, 64u);
  EXPECT_EQ(derive_limits({0, 16, 1000, 100000, 20, 0}).reserve, 2000u);
  EXPECT_EQ(derive_limits({5, 16, 1000, 1024, 20, 0}).max_viewers, 5u);
}

TEST(Limits, ViewerKeyIsRoleAndSubNotTheToken) {
  auto a = customer("7");
  auto b = a;
  b.role = auth::role::admin;
  EXPECT_NE(viewer_key(a), viewer_key(b));
  EXPECT_EQ(viewer_key(a), viewer_key(customer("7")));
}

}  // namespace
}  // namespace peyk::http
