#pragma once
// What a peyk.v1 viewer that sent a message keeps (client_message.cpp): allocated at its
// first message, so a viewer that never speaks pays one pointer.

#include <string>

#include "gateway/ws_session.hpp"

namespace peyk::gateway {

struct ws_session::client_state {
  static constexpr double burst = 10;  // messages at once, then 2 a second
  std::string focus;                   // the focused courier; empty: none
  double budget = burst;
  clock::time_point refilled = clock::now();
};

}  // namespace peyk::gateway
