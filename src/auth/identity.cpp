#include "auth/identity.hpp"

namespace peyk::auth {

const char* to_string(role r) {
  switch (r) {
    case role::courier:
      return "courier";
    case role::admin:
      return "admin";
    case role::dispatcher:
      return "dispatcher";
    case role::customer:
      return "customer";
  }
  return "unknown";  // unreachable for valid enumerators; keeps -Wreturn-type quiet
}

}  // namespace peyk::auth
