#pragma once
// Who a verified token speaks for (PROTOCOL.md §2).

#include <cstdint>
#include <string>
#include <vector>

namespace peyk::auth {

enum class role { courier, admin, dispatcher, customer };

struct identity {
  auth::role role = role::courier;
  std::string sub;                  // user id; for couriers the courier id
  std::string name;                 // display name (couriers: becomes user.username)
  std::string fleet;                // courier: its fleet (may be empty)
  std::vector<std::string> fleets;  // dispatcher: fleets it may watch
  std::vector<std::string> orders;  // customer: orders it may track
  std::int64_t exp = 0;             // seconds since the epoch
};

// "courier", "admin", ...
const char* to_string(role r);

}  // namespace peyk::auth
