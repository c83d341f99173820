#include "broker/channel_message.hpp"

#include <memory>
#include <string>

#include "core/clock.hpp"
#include "core/codec.hpp"
#include "core/timestamp.hpp"

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
  // A `ts` far in the future would make every later point of that courier look older
  // (latest wins by ts): it is clamped to the arrival time (PROTOCOL.md §12).
  auto now = core::now_us();
  if (loc->ts_us == 0) {
    loc->ts_us = now;
  } else if (loc->ts_us > now + core::max_future_us) {
    metrics.ts_clamped.inc();
    loc->ts_us = now;
  }
  return std::make_shared<const core::location>(std::move(*loc));
}

}  // namespace peyk::broker
