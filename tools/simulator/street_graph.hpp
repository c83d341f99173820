#pragma once
// A street-like road network for a bounding box, so simulated couriers drive along streets
// (straight runs, right-angle corners, a few avenues cutting across) instead of jittering
// randomly: what a dispatcher expects to see on the panel. Pure: no I/O, no clocks.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "simulator/geo.hpp"
#include "simulator/random.hpp"

namespace peyk::simulator {

using node_id = std::uint32_t;

enum class road : std::uint8_t { street, avenue };

struct edge {
  node_id to = 0;
  float length_m = 0;
  road kind = road::street;
};

struct graph_options {
  double spacing_m = 350;        // between parallel streets, before jitter
  double max_rotation_deg = 12;  // the grid is turned by up to this, so it is not lat/lon-aligned
  int avenue_every = 6;          // every n-th street of the grid is an avenue
  int diagonals = 4;             // avenues that cut across the grid at about 45 degrees
};

class street_graph {
 public:
  // The grid covering `box` (streets jittered and rotated by `seed`), reduced to its largest
  // connected piece so that every node can reach every other.
  static street_graph generate(const bbox& box, std::uint64_t seed, const graph_options& o = {});

  // An explicit network (tests): node positions in metres of `box`'s projection and
  // undirected edges {a, b, kind}.
  struct link {
    node_id a, b;
    road kind = road::street;
  };
  street_graph(const bbox& box, std::vector<vec2> nodes, std::span<const link> links);

  std::size_t size() const { return nodes_.size(); }
  vec2 position(node_id n) const { return nodes_[n]; }
  std::span<const edge> edges(node_id n) const { return adj_[n]; }
  const bbox& box() const { return box_; }
  const projection& proj() const { return proj_; }
  lat_lon to_geo(vec2 v) const { return proj_.to_geo(v); }

  // The quickest path (avenues count as shorter, being faster), `from` and `to` included;
  // empty when `to` cannot be reached. A* on straight-line distance.
  std::vector<node_id> route(node_id from, node_id to) const;

  // The kind of the road between two adjacent nodes (street when not adjacent).
  road road_between(node_id a, node_id b) const;

  node_id random_node(rng& r) const;
  // A node between min_m and max_m (straight line) from `center` when one is found in a
  // few tries; otherwise the closest candidate to that ring.
  node_id random_node_near(node_id center, double min_m, double max_m, rng& r) const;

 private:
  explicit street_graph(const bbox& box) : box_(box), proj_(box) {}
  void add_link(node_id a, node_id b, road kind);

  bbox box_;
  projection proj_;
  std::vector<vec2> nodes_;
  std::vector<std::vector<edge>> adj_;
};

}  // namespace peyk::simulator
