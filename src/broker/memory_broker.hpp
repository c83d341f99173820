#pragma once
// The in-process broker of `peyk serve` without --redis: publish hands each location
// straight to the subscribers, on the publisher's thread. Always connected.

#include <vector>

#include "broker/broker.hpp"

namespace peyk::broker {

class memory_broker final : public broker {
 public:
  void publish(std::span<const location_ptr> batch, publish_handler done) override;
  void subscribe(message_handler handler) override;
  void start() override {}
  void stop() override {}
  bool ready() const override { return true; }
  bool can_publish() const override { return true; }
  const char* name() const override { return "memory"; }
  // Hands each control message to the subscribers at once, on the caller's thread.
  void publish_control(std::string payload) override;
  void subscribe_control(control_handler handler) override;

 private:
  std::vector<message_handler> handlers_;
  std::vector<control_handler> control_;
};

}  // namespace peyk::broker
