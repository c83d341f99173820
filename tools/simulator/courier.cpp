#include "simulator/courier.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace peyk::simulator {

namespace {

constexpr double kmh = 1 / 3.6;    // km/h -> m/s
constexpr double crawl_mps = 1.0;  // the last metres before a stop, so it is reached

double draw(rng& r, span_s s) {
  return r.uniform(s.lo, s.hi);
}

}  // namespace

courier::courier(const street_graph& g, node_id store, order_ids& ids, std::uint64_t seed,
                 const courier_options& o)
    : g_(&g), ids_(&ids), rng_(seed), o_(o), store_(store), at_(store) {
  temperament_ = rng_.uniform(0.8, 1.2);
  route_ = {at_};
  dwell_ = rng_.uniform(1, std::max(1.0, o_.pickup_s.hi));
}

vec2 courier::position() const {
  if (leg_ + 1 >= route_.size()) return g_->position(route_[leg_]);
  vec2 a = g_->position(route_[leg_]), b = g_->position(route_[leg_ + 1]);
  double len = edge_length(leg_);
  return len > 0 ? a + (b - a) * (std::min(along_, len) / len) : a;
}

double courier::edge_length(std::size_t k) const {
  return distance(g_->position(route_[k]), g_->position(route_[k + 1]));
}

void courier::advance(double seconds, double step_len) {
  double dt = step_len > 0 ? step_len : o_.step_s;
  while (seconds > 1e-9) {
    double d = std::min(dt, seconds);
    step(d);
    seconds -= d;
  }
}

double courier::node_limit(std::size_t k) const {
  if (k + 1 >= route_.size() || red_[k]) return 0;
  vec2 in = g_->position(route_[k]) - g_->position(route_[k - 1]);
  vec2 out = g_->position(route_[k + 1]) - g_->position(route_[k]);
  double c = dot(in, out) / std::max(1e-9, length(in) * length(out));
  double straight = std::min(edge_speed_[k - 1], edge_speed_[k]);
  double turn = std::min(o_.turn_kmh * kmh, straight);
  // cos^2: a 90-degree corner slows to turn speed, a slight bend barely at all.
  double k2 = std::max(0.0, c) * std::max(0.0, c);
  return turn + (straight - turn) * k2;
}

double courier::limit_ahead(double dt) const {
  const double vmax = o_.max_cruise_kmh * kmh;
  const double horizon = vmax * vmax / (2 * o_.decel) + 1;  // no need to look further
  double dist = edge_length(leg_) - along_;
  double allowed = std::numeric_limits<double>::infinity();
  for (std::size_t k = leg_ + 1; k < route_.size(); ++k) {
    double lim = node_limit(k);
    // The constant speed for this step after which braking at `decel` still reaches `lim`
    // by the node: v^2 = lim^2 + 2 decel (dist - v dt), so it does not lag a step behind.
    double adt = o_.decel * dt;
    double v = -adt + std::sqrt(adt * adt + lim * lim + 2 * o_.decel * std::max(0.0, dist));
    if (lim == 0) v = std::max(v, crawl_mps);
    allowed = std::min(allowed, v);
    if (k + 1 >= route_.size()) break;
    dist += edge_length(k);
    if (dist > horizon) break;
  }
  return allowed;
}

void courier::step(double dt) {
  if (dwell_ > 0) {
    v_ = 0;
    dwell_ -= dt;
    if (dwell_ <= 0) depart();
    return;
  }
  if (leg_ + 1 >= route_.size()) return arrive();

  wander_ = std::clamp(wander_ + rng_.normal() * 0.01 * std::sqrt(dt), 0.94, 1.06);
  double cruise = std::min(edge_speed_[leg_] * wander_, o_.max_cruise_kmh * kmh);
  double target = std::min(cruise, limit_ahead(dt));
  v_ = v_ < target ? std::min(target, v_ + o_.accel * dt) : std::max(target, v_ - o_.decel * dt);

  vec2 before = position();
  along_ += v_ * dt;
  while (along_ >= edge_length(leg_)) {
    along_ -= edge_length(leg_);
    ++leg_;
    at_ = route_[leg_];
    if (leg_ + 1 >= route_.size()) {
      along_ = 0;
      heading_ = bearing_deg(position() - before);
      return arrive();
    }
    if (red_[leg_]) {
      along_ = 0;
      v_ = 0;
      dwell_ = draw(rng_, o_.red_light_s);
      break;
    }
  }
  vec2 moved = position() - before;
  if (length(moved) > 1e-3) heading_ = bearing_deg(moved);
}

void courier::arrive() {
  v_ = 0;
  along_ = 0;
  at_ = route_.back();
  route_ = {at_};
  leg_ = 0;
  if (phase_ == phase::to_customer) {
    phase_ = phase::at_customer;
    dwell_ = draw(rng_, o_.delivery_s);
  } else if (phase_ == phase::to_store) {
    phase_ = phase::at_store;
    dwell_ = draw(rng_, o_.pickup_s);
  } else {
    depart();  // standing at a stop whose wait is over
  }
}

void courier::depart() {
  switch (phase_) {
    case phase::to_customer:
    case phase::to_store:
      return;  // the light turned green
    case phase::at_customer:
      orders_.erase(orders_.begin());
      drops_.erase(drops_.begin());
      ++delivered_;
      if (!drops_.empty()) {
        phase_ = phase::to_customer;
        return start_leg(drops_.front());
      }
      phase_ = phase::to_store;
      return start_leg(store_);
    case phase::at_store:
      pick_up();
      phase_ = phase::to_customer;
      return start_leg(drops_.front());
  }
}

void courier::pick_up() {
  auto n = static_cast<int>(rng_.between(1, static_cast<std::uint64_t>(o_.max_orders)));
  std::vector<std::pair<std::string, node_id>> todo;
  for (int i = 0; i < n; ++i) {
    todo.emplace_back(ids_->next(),
                      g_->random_node_near(store_, o_.drop_radius_m.lo, o_.drop_radius_m.hi, rng_));
  }
  // Nearest customer next, as a courier plans a round by eye.
  orders_.clear();
  drops_.clear();
  vec2 here = g_->position(store_);
  while (!todo.empty()) {
    auto it = std::min_element(todo.begin(), todo.end(), [&](const auto& a, const auto& b) {
      return distance(here, g_->position(a.second)) < distance(here, g_->position(b.second));
    });
    orders_.push_back(std::move(it->first));
    drops_.push_back(it->second);
    here = g_->position(it->second);
    todo.erase(it);
  }
}

void courier::start_leg(node_id to) {
  route_ = g_->route(at_, to);
  if (route_.empty()) route_ = {at_};  // unreachable: deliver where we stand
  leg_ = 0;
  along_ = 0;
  edge_speed_.assign(route_.size(), 0);
  red_.assign(route_.size(), false);
  for (std::size_t k = 0; k + 1 < route_.size(); ++k) {
    double base =
        g_->road_between(route_[k], route_[k + 1]) == road::avenue ? o_.avenue_kmh : o_.street_kmh;
    double v = base * temperament_ * rng_.uniform(0.9, 1.1);
    edge_speed_[k] = std::clamp(v, o_.min_cruise_kmh, o_.max_cruise_kmh) * kmh;
    if (k > 0) red_[k] = rng_.chance(o_.red_light_p);
  }
}

fix courier::report() {
  fix f;
  double u = rng_.unit();
  f.accuracy_m = 3 + 12 * u * u;  // mostly good fixes, a few poor ones
  vec2 noise{rng_.normal() * f.accuracy_m / 2.5, rng_.normal() * f.accuracy_m / 2.5};
  if (double n = length(noise); n > f.accuracy_m) noise = noise * (f.accuracy_m / n);
  f.where = g_->box().clamp(g_->to_geo(position() + noise));
  f.speed_mps = v_;
  f.heading_deg = heading_;
  f.orders = orders_;
  return f;
}

}  // namespace peyk::simulator
