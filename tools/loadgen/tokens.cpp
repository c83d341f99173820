#include "tokens.hpp"

#include <algorithm>
#include <ctime>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "auth/jwt.hpp"

namespace peyk::loadgen {

namespace json = boost::json;

std::string courier_fleet(std::size_t courier_id, std::size_t fleets) {
  return "fleet-" + std::to_string(courier_id % fleets);
}

std::string courier_order(std::size_t courier_id) {
  return "o" + std::to_string(courier_id);
}

token_book::token_book(const options& o, std::int64_t ttl_s)
    : fleets_(o.fleets),
      couriers_n_(std::max<std::size_t>(o.couriers, 1)),
      role_viewers_(o.viewers) {
  auto exp = static_cast<std::int64_t>(std::time(nullptr)) + ttl_s;
  auto viewer_claims = [&](std::string sub, viewer_role role) {
    json::object c;
    c["sub"] = std::move(sub);
    c["role"] = to_string(role);
    c["exp"] = exp;
    return c;
  };
  // One identity per viewer (peyk admits at most --max-viewers-per-token viewers per
  // identity, 16 by default), as many distinct users would connect.
  switch (o.role) {
    case viewer_role::admin:
      viewers_.reserve(std::max<std::size_t>(o.viewers, 1));
      for (std::size_t v = 0; v < std::max<std::size_t>(o.viewers, 1); ++v) {
        viewers_.push_back(auth::sign_hs256(
            viewer_claims("loadgen-admin-" + std::to_string(v), o.role), o.jwt_secret));
      }
      break;
    case viewer_role::dispatcher:
      viewers_.reserve(std::max<std::size_t>(o.viewers, 1));
      for (std::size_t v = 0; v < std::max<std::size_t>(o.viewers, 1); ++v) {
        auto c = viewer_claims("loadgen-dispatcher-" + std::to_string(v), o.role);
        c["fleets"] = json::array{json::string("fleet-" + std::to_string(v % fleets_))};
        viewers_.push_back(auth::sign_hs256(c, o.jwt_secret));
      }
      break;
    case viewer_role::customer:
      // One token per order a customer can watch; viewers beyond that share them.
      for (std::size_t i = 1; i <= std::min(couriers_n_, o.viewers); ++i) {
        auto c = viewer_claims("loadgen-customer-" + std::to_string(i), o.role);
        c["orders"] = json::array{json::string(courier_order(i))};
        viewers_.push_back(auth::sign_hs256(c, o.jwt_secret));
      }
      break;
  }
  for (std::size_t i = 1; i <= std::min(couriers_n_, o.customers); ++i) {
    auto c = viewer_claims("loadgen-customer-" + std::to_string(i), viewer_role::customer);
    c["orders"] = json::array{json::string(courier_order(i))};
    customers_.push_back(auth::sign_hs256(c, o.jwt_secret));
  }
  // Only the ingest API needs courier tokens; a Redis publisher speaks for the couriers.
  if (o.publishing() && o.publisher == "http") {
    couriers_.reserve(o.couriers);
    for (std::size_t i = 1; i <= o.couriers; ++i) {
      json::object c;
      c["sub"] = std::to_string(i);
      c["role"] = "courier";
      c["name"] = "c" + std::to_string(i);
      c["fleet"] = courier_fleet(i, fleets_);
      c["exp"] = exp;
      couriers_.push_back(auth::sign_hs256(c, o.jwt_secret));
    }
  }
}

const std::string& token_book::viewer(std::size_t v) const {
  if (v >= role_viewers_) return customers_[(v - role_viewers_) % customers_.size()];
  return viewers_[v % viewers_.size()];
}

}  // namespace peyk::loadgen
