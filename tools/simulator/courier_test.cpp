#include "simulator/courier.hpp"

#include <algorithm>
#include <cmath>
#include <set>

#include <gtest/gtest.h>

namespace peyk::simulator {
namespace {

const bbox tehran{35.60, 51.20, 35.80, 51.55};
constexpr double kmh = 1 / 3.6;

double angle_diff(double a, double b) {
  double d = std::fmod(std::abs(a - b), 360.0);
  return d > 180 ? 360 - d : d;
}

TEST(courier, drives_at_realistic_speeds_inside_the_box_without_jumps) {
  auto g = street_graph::generate(tehran, 1);
  order_ids ids;
  rng r(5);
  const double dt = 0.5;
  double moving_sum = 0, top = 0;
  long moving = 0, steps = 0;
  for (int k = 0; k < 12; ++k) {
    courier c(g, g.random_node(r), ids, 100 + k);
    vec2 prev = c.position();
    double v_prev = 0;
    for (int s = 0; s < 3 * 3600 / dt; ++s) {  // three hours of driving
      c.advance(dt);
      ++steps;
      double v = c.speed_mps();
      ASSERT_GE(v, 0);
      ASSERT_LE(v, 45 * kmh + 1e-9) << "over 45 km/h";
      // Accelerates and brakes smoothly, and rolls into a stop instead of slamming into it.
      ASSERT_LE(v - v_prev, 1.5 * dt + 1e-9);
      if (v > 0) {
        ASSERT_LE(v_prev - v, 2.5 * dt + 1e-9);
      } else {
        ASSERT_LE(v_prev, 2.0) << "stopped dead from " << v_prev * 3.6 << " km/h";
      }
      vec2 pos = c.position();
      double moved = distance(prev, pos);
      ASSERT_LE(moved, 45 * kmh * dt + 1e-6) << "teleported";
      ASSERT_TRUE(tehran.contains(g.to_geo(pos)));
      auto f = c.report();
      ASSERT_TRUE(tehran.contains(f.where));
      ASSERT_GE(f.accuracy_m, 3);
      ASSERT_LE(f.accuracy_m, 15);
      ASSERT_GE(f.heading_deg, 0);
      ASSERT_LT(f.heading_deg, 360);
      // The reported point is the true one plus noise within the accuracy.
      ASSERT_LE(distance(g.proj().to_xy(f.where), pos), f.accuracy_m + 1e-6);
      if (moved > 1) {
        // Heading comes from the movement (exact on a straight, near it across a corner).
        EXPECT_LT(angle_diff(c.heading_deg(), bearing_deg(pos - prev)), 1.0);
      }
      if (v > 0) {
        moving_sum += v;
        ++moving;
      }
      top = std::max(top, v);
      prev = pos;
      v_prev = v;
    }
  }
  double mean_kmh = moving_sum / static_cast<double>(moving) / kmh;
  EXPECT_GT(mean_kmh, 12);   // city traffic with corners and lights, not a crawl ...
  EXPECT_LT(mean_kmh, 40);   // ... nor a motorway
  EXPECT_GT(top, 35 * kmh);  // avenues are driven fast
  // They do stop: at stores, customers, red lights.
  EXPECT_LT(static_cast<double>(moving) / static_cast<double>(steps), 0.95);
  EXPECT_GT(static_cast<double>(moving) / static_cast<double>(steps), 0.3);
}

TEST(courier, picks_up_delivers_one_by_one_and_returns_for_more) {
  auto g = street_graph::generate(tehran, 2);
  order_ids ids;
  rng r(1);
  std::set<std::string> seen;
  for (int k = 0; k < 6; ++k) {
    node_id store = g.random_node(r);
    courier c(g, store, ids, 7 + k);
    std::vector<std::string> before = c.orders();
    phase last = c.current_phase();
    int pickups = 0, deliveries = 0;
    for (int s = 0; s < 6 * 3600 * 2; ++s) {
      c.advance(0.5);
      const auto& now = c.orders();
      if (now != before) {
        if (before.empty()) {
          // A pickup at the store: 1-3 new ids never used by anyone before.
          ++pickups;
          EXPECT_GE(now.size(), 1u);
          EXPECT_LE(now.size(), 3u);
          EXPECT_EQ(distance(c.position(), g.position(store)), 0);
          for (const auto& id : now) {
            EXPECT_EQ(id[0], 'A');
            EXPECT_TRUE(seen.insert(id).second) << "order id reused: " << id;
          }
        } else {
          // A delivery: exactly the first order on board leaves.
          ++deliveries;
          ASSERT_EQ(now.size() + 1, before.size());
          EXPECT_TRUE(std::equal(now.begin(), now.end(), before.begin() + 1));
          EXPECT_EQ(last, phase::at_customer);
        }
        before = now;
      }
      auto p = c.current_phase();
      if (p == phase::to_store || p == phase::at_store) {
        EXPECT_TRUE(now.empty());
      } else {
        EXPECT_FALSE(now.empty());
      }
      last = p;
    }
    EXPECT_GE(pickups, 3) << "a six-hour shift holds several rounds";
    EXPECT_GE(deliveries, pickups);
    EXPECT_EQ(static_cast<std::uint64_t>(deliveries), c.delivered());
  }
}

TEST(courier, slows_for_a_corner_but_not_on_a_straight) {
  courier_options o;
  o.red_light_p = 0;
  o.drop_radius_m = {1300, 2500};  // only the far node qualifies
  o.pickup_s = {1, 1};
  auto run = [&](vec2 far, double& at_middle, double& top) {
    std::vector<vec2> nodes{{0, 0}, {1000, 0}, far};
    std::vector<street_graph::link> links{{0, 1, road::avenue}, {1, 2, road::avenue}};
    street_graph g(tehran, nodes, links);
    order_ids ids;
    courier c(g, 0, ids, 3, o);
    at_middle = 1e9;
    top = 0;
    for (int s = 0; s < 6000 && c.current_phase() != phase::at_customer; ++s) {
      c.advance(0.1);
      if (distance(c.position(), g.position(1)) < 2) at_middle = std::min(at_middle, c.speed_mps());
      top = std::max(top, c.speed_mps());
    }
    EXPECT_EQ(c.current_phase(), phase::at_customer);
  };
  double corner = 0, corner_top = 0, straight = 0, straight_top = 0;
  run({1000, 1000}, corner, corner_top);   // a right-angle turn at (1000, 0)
  run({2400, 0}, straight, straight_top);  // straight on through it
  EXPECT_GT(corner_top, 20 * kmh);
  EXPECT_LE(corner, 10 * kmh + 0.1);  // turn speed, give or take a step
  EXPECT_GT(straight, 20 * kmh);      // no reason to brake
}

}  // namespace
}  // namespace peyk::simulator
