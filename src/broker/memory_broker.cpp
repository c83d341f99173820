#include "broker/memory_broker.hpp"

namespace peyk::broker {

void memory_broker::publish(std::span<const location_ptr> batch, publish_handler done) {
  for (const auto& loc : batch)
    for (const auto& h : handlers_) h(loc);
  done({});
}

void memory_broker::subscribe(message_handler handler) {
  handlers_.push_back(std::move(handler));
}

void memory_broker::publish_control(std::string payload) {
  for (const auto& h : control_) h(payload);
}

void memory_broker::subscribe_control(control_handler handler) {
  control_.push_back(std::move(handler));
}

}  // namespace peyk::broker
