#pragma once
// The visibility rule of PROTOCOL.md §5: which viewer may see which courier location.
//   admin      every courier
//   dispatcher couriers whose fleet is in its fleets
//   customer   a courier whose current orders intersect its orders; it sees only its own
//              order ids in the `orders` field
//   courier    may not watch

#include <string>
#include <vector>

#include "auth/identity.hpp"
#include "core/location.hpp"

namespace peyk::auth {

bool may_watch(const identity& viewer);  // false for couriers

bool may_see(const identity& viewer, const core::location& loc);

// The order ids of `loc` that `viewer` may see: all of them for admin and dispatcher,
// the intersection for a customer (in the courier's order).
std::vector<std::string> visible_orders(const identity& viewer, const core::location& loc);

}  // namespace peyk::auth
