#include "simulator/street_graph.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <numbers>
#include <queue>

namespace peyk::simulator {

namespace {

constexpr node_id none = std::numeric_limits<node_id>::max();
// Avenues are faster, so routes prefer them: a metre of avenue costs this much street.
constexpr double avenue_cost = 0.75;

double cost(const edge& e) {
  return e.length_m * (e.kind == road::avenue ? avenue_cost : 1.0);
}

// Positions of the parallel lines of one direction: evenly spaced with jitter, so blocks
// differ in size as real ones do, but never so much that two lines swap places.
std::vector<double> line_offsets(double half, double spacing, rng& r) {
  std::vector<double> out;
  auto n = static_cast<std::size_t>(std::ceil(2 * half / spacing)) + 1;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(-half + static_cast<double>(i) * spacing + r.uniform(-0.2, 0.2) * spacing);
  }
  return out;
}

}  // namespace

street_graph::street_graph(const bbox& box, std::vector<vec2> nodes, std::span<const link> links)
    : box_(box), proj_(box), nodes_(std::move(nodes)), adj_(nodes_.size()) {
  for (const auto& l : links) add_link(l.a, l.b, l.kind);
}

void street_graph::add_link(node_id a, node_id b, road kind) {
  if (a == b) return;
  for (auto& e : adj_[a]) {
    if (e.to == b) return;
  }
  auto len = static_cast<float>(distance(nodes_[a], nodes_[b]));
  adj_[a].push_back({b, len, kind});
  adj_[b].push_back({a, len, kind});
}

street_graph street_graph::generate(const bbox& box, std::uint64_t seed, const graph_options& o) {
  street_graph full(box);
  rng r(seed * 0x2545f4914f6cdd1dull + 17);
  vec2 lo = full.proj_.to_xy({box.min_lat, box.min_lon});
  vec2 hi = full.proj_.to_xy({box.max_lat, box.max_lon});
  double w = hi.x - lo.x, h = hi.y - lo.y;
  // At least a handful of streets across a small box, at most a few hundred across a big one.
  double spacing = std::min(o.spacing_m, std::min(w, h) / 6);
  spacing = std::max({spacing, std::max(w, h) / 300, 5.0});
  double theta = r.uniform(-o.max_rotation_deg, o.max_rotation_deg) * std::numbers::pi / 180;
  double c = std::cos(theta), s = std::sin(theta);
  // Lines over the box's circumscribed circle still cover the box once rotated.
  double half = 0.5 * std::hypot(w, h) + spacing;
  auto us = line_offsets(half, spacing, r);
  auto vs = line_offsets(half, spacing, r);
  int every = std::max(1, o.avenue_every);
  auto u_avenue = r.between(0, every - 1), v_avenue = r.between(0, every - 1);

  vec2 mid = (lo + hi) * 0.5;
  std::vector<node_id> grid(us.size() * vs.size(), none);
  auto at = [&](std::size_t i, std::size_t j) -> node_id& { return grid[i * vs.size() + j]; };
  for (std::size_t i = 0; i < us.size(); ++i) {
    for (std::size_t j = 0; j < vs.size(); ++j) {
      vec2 p = mid + vec2{us[i] * c - vs[j] * s, us[i] * s + vs[j] * c};
      if (p.x < lo.x || p.x > hi.x || p.y < lo.y || p.y > hi.y) continue;
      at(i, j) = static_cast<node_id>(full.nodes_.size());
      full.nodes_.push_back(p);
    }
  }
  full.adj_.resize(full.nodes_.size());
  for (std::size_t i = 0; i < us.size(); ++i) {
    for (std::size_t j = 0; j < vs.size(); ++j) {
      node_id a = at(i, j);
      if (a == none) continue;
      // Along line i (constant u) and along line j (constant v).
      if (j + 1 < vs.size() && at(i, j + 1) != none) {
        full.add_link(a, at(i, j + 1), i % every == u_avenue ? road::avenue : road::street);
      }
      if (i + 1 < us.size() && at(i + 1, j) != none) {
        full.add_link(a, at(i + 1, j), j % every == v_avenue ? road::avenue : road::street);
      }
    }
  }
  // Diagonal avenues through the intersections, both ways from a random one.
  for (int d = 0; d < o.diagonals && !full.nodes_.empty(); ++d) {
    std::size_t i0 = 0, j0 = 0;
    for (int tries = 0; tries < 100; ++tries) {
      i0 = r.between(0, us.size() - 1);
      j0 = r.between(0, vs.size() - 1);
      if (at(i0, j0) != none) break;
    }
    if (at(i0, j0) == none) continue;
    long dj = r.chance(0.5) ? 1 : -1;
    for (long dir : {1L, -1L}) {
      long i = static_cast<long>(i0), j = static_cast<long>(j0);
      while (true) {
        long ni = i + dir, nj = j + dir * dj;
        if (ni < 0 || nj < 0 || ni >= static_cast<long>(us.size()) ||
            nj >= static_cast<long>(vs.size()) || at(ni, nj) == none) {
          break;
        }
        full.add_link(at(i, j), at(ni, nj), road::avenue);
        i = ni;
        j = nj;
      }
    }
  }

  // Keep the largest connected piece: clipping a rotated grid can strand a corner node.
  std::vector<int> comp(full.nodes_.size(), -1);
  int best = -1;
  std::size_t best_size = 0;
  for (node_id start = 0; start < full.nodes_.size(); ++start) {
    if (comp[start] >= 0) continue;
    int id = static_cast<int>(start);
    std::size_t count = 0;
    std::deque<node_id> q{start};
    comp[start] = id;
    while (!q.empty()) {
      auto n = q.front();
      q.pop_front();
      ++count;
      for (const auto& e : full.adj_[n]) {
        if (comp[e.to] < 0) {
          comp[e.to] = id;
          q.push_back(e.to);
        }
      }
    }
    if (count > best_size) {
      best_size = count;
      best = id;
    }
  }
  std::vector<node_id> remap(full.nodes_.size(), none);
  std::vector<vec2> nodes;
  for (node_id n = 0; n < full.nodes_.size(); ++n) {
    if (comp[n] != best) continue;
    remap[n] = static_cast<node_id>(nodes.size());
    nodes.push_back(full.nodes_[n]);
  }
  std::vector<link> links;
  for (node_id n = 0; n < full.nodes_.size(); ++n) {
    if (remap[n] == none) continue;
    for (const auto& e : full.adj_[n]) {
      if (n < e.to) links.push_back({remap[n], remap[e.to], e.kind});
    }
  }
  return street_graph(box, std::move(nodes), links);
}

std::vector<node_id> street_graph::route(node_id from, node_id to) const {
  if (from >= size() || to >= size()) return {};
  if (from == to) return {from};
  const vec2 goal = nodes_[to];
  std::vector<double> g(size(), std::numeric_limits<double>::infinity());
  std::vector<node_id> prev(size(), none);
  using item = std::pair<double, node_id>;  // (g + h, node)
  std::priority_queue<item, std::vector<item>, std::greater<>> open;
  g[from] = 0;
  open.push({distance(nodes_[from], goal) * avenue_cost, from});
  while (!open.empty()) {
    auto [f, n] = open.top();
    open.pop();
    if (n == to) break;
    if (f > g[n] + distance(nodes_[n], goal) * avenue_cost + 1e-6) continue;  // stale entry
    for (const auto& e : adj_[n]) {
      double cand = g[n] + cost(e);
      if (cand < g[e.to]) {
        g[e.to] = cand;
        prev[e.to] = n;
        open.push({cand + distance(nodes_[e.to], goal) * avenue_cost, e.to});
      }
    }
  }
  if (prev[to] == none) return {};
  std::vector<node_id> path;
  for (node_id n = to; n != none; n = prev[n]) path.push_back(n);
  std::reverse(path.begin(), path.end());
  return path;
}

road street_graph::road_between(node_id a, node_id b) const {
  for (const auto& e : adj_[a]) {
    if (e.to == b) return e.kind;
  }
  return road::street;
}

node_id street_graph::random_node(rng& r) const {
  return static_cast<node_id>(r.between(0, size() - 1));
}

node_id street_graph::random_node_near(node_id center, double min_m, double max_m, rng& r) const {
  const vec2 c = nodes_[center];
  // Random draws first: cheap, and uniform over the ring's nodes.
  for (int i = 0; i < 64; ++i) {
    node_id n = random_node(r);
    double d = distance(c, nodes_[n]);
    if (d >= min_m && d <= max_m) return n;
  }
  // A small or lopsided box: settle for the node nearest the ring's middle.
  const double mid = (min_m + max_m) / 2;
  node_id best = center;
  double best_miss = std::numeric_limits<double>::infinity();
  for (node_id n = 0; n < size(); ++n) {
    double miss = std::abs(distance(c, nodes_[n]) - mid);
    if (n != center && miss < best_miss) {
      best_miss = miss;
      best = n;
    }
  }
  return best;
}

}  // namespace peyk::simulator
