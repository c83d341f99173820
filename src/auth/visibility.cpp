#include "auth/visibility.hpp"

#include <algorithm>

namespace peyk::auth {
namespace {

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

// Empty ids never match: an empty fleet means "no fleet", and an empty order id is not
// an order anyone may claim.
bool customer_may_see(const identity& viewer, const core::location& loc) {
  return std::any_of(loc.orders.begin(), loc.orders.end(), [&](const std::string& o) {
    return !o.empty() && contains(viewer.orders, o);
  });
}

}  // namespace

bool may_watch(const identity& viewer) {
  return viewer.role != role::courier;
}

bool may_see(const identity& viewer, const core::location& loc) {
  switch (viewer.role) {
    case role::admin:
      return true;
    case role::dispatcher:
      return !loc.fleet.empty() && contains(viewer.fleets, loc.fleet);
    case role::customer:
      return customer_may_see(viewer, loc);
    case role::courier:
      return false;
  }
  return false;
}

std::vector<std::string> visible_orders(const identity& viewer, const core::location& loc) {
  // A viewer who may not see the location gets nothing, so a caller that forgets to
  // check may_see first still leaks no order ids.
  if (!may_see(viewer, loc)) return {};
  if (viewer.role != role::customer) return loc.orders;
  std::vector<std::string> out;
  for (const std::string& o : loc.orders) {
    if (!o.empty() && contains(viewer.orders, o)) out.push_back(o);
  }
  return out;
}

}  // namespace peyk::auth
