#include "simulator/street_graph.hpp"

#include <limits>
#include <queue>
#include <set>

#include <gtest/gtest.h>

namespace peyk::simulator {
namespace {

const bbox tehran{35.60, 51.20, 35.80, 51.55};

// Plain Dijkstra with the same costs, to check A* against.
double best_cost(const street_graph& g, node_id from, node_id to) {
  std::vector<double> d(g.size(), std::numeric_limits<double>::infinity());
  using item = std::pair<double, node_id>;
  std::priority_queue<item, std::vector<item>, std::greater<>> q;
  d[from] = 0;
  q.push({0, from});
  while (!q.empty()) {
    auto [c, n] = q.top();
    q.pop();
    if (c > d[n]) continue;
    for (const auto& e : g.edges(n)) {
      double nc = c + e.length_m * (e.kind == road::avenue ? 0.75 : 1.0);
      if (nc < d[e.to]) {
        d[e.to] = nc;
        q.push({nc, e.to});
      }
    }
  }
  return d[to];
}

double path_cost(const street_graph& g, const std::vector<node_id>& p) {
  double c = 0;
  for (std::size_t i = 0; i + 1 < p.size(); ++i) {
    bool found = false;
    for (const auto& e : g.edges(p[i])) {
      if (e.to == p[i + 1]) {
        c += e.length_m * (e.kind == road::avenue ? 0.75 : 1.0);
        found = true;
      }
    }
    EXPECT_TRUE(found) << "route jumps between nodes that are not adjacent";
  }
  return c;
}

TEST(street_graph, tehran_grid_is_street_like_and_inside_the_box) {
  auto g = street_graph::generate(tehran, 1);
  // ~31 x 22 km at ~350 m blocks: thousands of intersections.
  EXPECT_GT(g.size(), 3000u);
  EXPECT_LT(g.size(), 20000u);
  std::size_t avenues = 0, streets = 0;
  for (node_id n = 0; n < g.size(); ++n) {
    auto p = g.to_geo(g.position(n));
    ASSERT_TRUE(tehran.contains(p)) << p.lat << "," << p.lon;
    ASSERT_FALSE(g.edges(n).empty());
    EXPECT_LE(g.edges(n).size(), 8u);
    for (const auto& e : g.edges(n)) {
      (e.kind == road::avenue ? avenues : streets)++;
      // Blocks, not highways: no edge longer than a stretched diagonal of a block.
      EXPECT_LT(e.length_m, 350 * 1.4 * 1.5);
      EXPECT_GT(e.length_m, 100);
    }
  }
  EXPECT_GT(avenues, 0u);
  EXPECT_GT(streets, avenues);
}

TEST(street_graph, same_seed_same_city_other_seed_other_city) {
  auto a = street_graph::generate(tehran, 7), b = street_graph::generate(tehran, 7),
       c = street_graph::generate(tehran, 8);
  ASSERT_EQ(a.size(), b.size());
  for (node_id n = 0; n < a.size(); n += 97) {
    EXPECT_EQ(a.position(n).x, b.position(n).x);
    EXPECT_EQ(a.position(n).y, b.position(n).y);
  }
  bool differs = a.size() != c.size();
  for (node_id n = 0; !differs && n < a.size(); ++n) differs = a.position(n).x != c.position(n).x;
  EXPECT_TRUE(differs);
}

TEST(street_graph, routes_connect_any_two_nodes_along_edges_at_least_cost) {
  auto g = street_graph::generate(tehran, 3);
  rng r(42);
  for (int i = 0; i < 30; ++i) {
    node_id a = g.random_node(r), b = g.random_node(r);
    auto p = g.route(a, b);
    ASSERT_FALSE(p.empty()) << "graph must be connected";
    EXPECT_EQ(p.front(), a);
    EXPECT_EQ(p.back(), b);
    EXPECT_NEAR(path_cost(g, p), best_cost(g, a, b), 1e-3);
  }
  EXPECT_EQ(g.route(5, 5), std::vector<node_id>{5});
}

TEST(street_graph, tiny_box_still_gives_a_connected_network) {
  bbox small{35.7000, 51.4000, 35.7030, 51.4030};  // ~330 x 270 m
  auto g = street_graph::generate(small, 1);
  ASSERT_GE(g.size(), 9u);
  rng r(1);
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(g.route(g.random_node(r), g.random_node(r)).empty());
  }
  for (node_id n = 0; n < g.size(); ++n) EXPECT_TRUE(small.contains(g.to_geo(g.position(n))));
}

TEST(street_graph, random_node_near_lands_in_the_ring) {
  auto g = street_graph::generate(tehran, 1);
  rng r(9);
  node_id center = g.random_node(r);
  int inside = 0;
  for (int i = 0; i < 200; ++i) {
    auto n = g.random_node_near(center, 500, 4000, r);
    double d = distance(g.position(center), g.position(n));
    inside += (d >= 500 && d <= 4000);
  }
  EXPECT_GE(inside, 195);
}

TEST(street_graph, explicit_network_for_tests) {
  std::vector<vec2> nodes{{0, 0}, {100, 0}, {100, 100}};
  std::vector<street_graph::link> links{{0, 1, road::street}, {1, 2, road::avenue}};
  street_graph g(tehran, nodes, links);
  EXPECT_EQ(g.route(0, 2), (std::vector<node_id>{0, 1, 2}));
  EXPECT_EQ(g.road_between(1, 2), road::avenue);
  EXPECT_EQ(g.road_between(0, 2), road::street);
  EXPECT_FLOAT_EQ(g.edges(0)[0].length_m, 100);
}

}  // namespace
}  // namespace peyk::simulator
