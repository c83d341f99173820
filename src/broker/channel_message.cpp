#include "broker/channel_message.hpp"

#include <memory>
#include <string>

#include "core/clock.hpp"
#include "core/codec.hpp"

namespace peyk::broker {

location_ptr decode_channel_message(std::string_view payload, std::string_view channel,
                                    core::metrics& metrics, core::log_limiter& limit) {
  auto loc = core::decode_broker_message(payload);
  if (!loc) {
    metrics.broker_invalid.inc();
    if (limit.allow()) {
      core::log(core::log_level::warn, "invalid message on channel " + std::string(channel) + " (" +
                                           loc.error().message + "), dropped");
    }
    return nullptr;
  }
  if (loc->ts_us == 0) loc->ts_us = core::now_us();
  return std::make_shared<const core::location>(std::move(*loc));
}

}  // namespace peyk::broker
