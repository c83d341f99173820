#pragma once
// One simulated courier's day: pick up 1-3 orders at its store, drive the street graph to
// each customer (delivering them one by one, so `orders` shrinks), drive back, repeat.
// Speeds follow the road (streets slower than avenues), with acceleration, braking before
// corners, red lights and stops. Pure: time comes in through advance(), randomness from the
// courier's own seeded rng, so tests replay exactly.

#include <cstdint>
#include <string>
#include <vector>

#include "simulator/geo.hpp"
#include "simulator/random.hpp"
#include "simulator/street_graph.hpp"

namespace peyk::simulator {

struct span_s {
  double lo, hi;
};

struct courier_options {
  double min_cruise_kmh = 15;  // cruise speeds are drawn inside this band
  double max_cruise_kmh = 45;
  double street_kmh = 22;  // typical cruise by road kind, before the driver's temperament
  double avenue_kmh = 36;
  double turn_kmh = 10;  // through a right-angle corner
  double accel = 1.5;    // m/s^2
  double decel = 2.5;    // m/s^2
  span_s pickup_s{30, 120};
  span_s delivery_s{20, 90};
  span_s drop_radius_m{500, 4000};  // customers live this far from the store
  int max_orders = 3;
  double red_light_p = 0.05;  // chance of a red light at an intersection
  span_s red_light_s{5, 25};
  double step_s = 0.5;  // integration step
};

// Order ids unique across a run ("A1001", "A1002", ...): one source serves every courier.
class order_ids {
 public:
  explicit order_ids(std::uint64_t first = 1001) : next_(first) {}
  std::string next() { return "A" + std::to_string(next_++); }

 private:
  std::uint64_t next_;
};

// What the courier's phone reports.
struct fix {
  lat_lon where;
  double speed_mps = 0;
  double heading_deg = 0;
  double accuracy_m = 0;
  std::vector<std::string> orders;
};

enum class phase { at_store, to_customer, at_customer, to_store };

class courier {
 public:
  // Starts at `store`, about to pick up orders (after a random part of a pickup's wait).
  // `g` and `ids` must outlive the courier.
  courier(const street_graph& g, node_id store, order_ids& ids, std::uint64_t seed,
          const courier_options& o = {});

  // Moves the simulated clock on by `seconds`, in steps of at most `step_s` (or `step` when
  // given: warm-up uses coarse steps to place thousands of couriers quickly).
  void advance(double seconds, double step = 0);

  // A GPS fix of the current state: position with noise inside the reported accuracy
  // (3-15 m) and clamped to the box, speed in m/s, heading from the last movement.
  fix report();

  phase current_phase() const { return phase_; }
  const std::vector<std::string>& orders() const { return orders_; }
  vec2 position() const;
  double speed_mps() const { return v_; }
  double heading_deg() const { return heading_; }
  std::uint64_t delivered() const { return delivered_; }

 private:
  void step(double dt);
  void arrive();
  void depart();
  void pick_up();
  void start_leg(node_id to);
  double edge_length(std::size_t k) const;
  double node_limit(std::size_t k) const;  // the speed allowed through route_[k]
  double limit_ahead(double dt) const;     // what braking for the nodes ahead allows now

  const street_graph* g_;
  order_ids* ids_;
  rng rng_;
  courier_options o_;
  node_id store_;
  node_id at_;  // the last node reached
  phase phase_ = phase::at_store;
  std::vector<node_id> route_;      // the current leg, at_ first
  std::vector<double> edge_speed_;  // cruise on route_[k] -> route_[k+1], m/s
  std::vector<bool> red_;           // a red light at route_[k]
  std::size_t leg_ = 0;             // on the edge route_[leg_] -> route_[leg_ + 1]
  double along_ = 0;                // metres along that edge
  double v_ = 0;
  double heading_ = 0;
  double temperament_;               // scales every cruise speed of this driver
  double wander_ = 1;                // slow drift of the speed around the cruise
  double dwell_ = 0;                 // seconds left standing still
  std::vector<std::string> orders_;  // on board, in delivery order
  std::vector<node_id> drops_;       // where each of orders_ goes
  std::uint64_t delivered_ = 0;
};

}  // namespace peyk::simulator
