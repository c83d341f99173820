#pragma once
// A message read from a Redis channel, on its way to the subscribers: shared by the Redis
// and Redis Cluster brokers.

#include <string_view>

#include "broker/broker.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"

namespace peyk::broker {

// Decodes `payload` (the broker format, PROTOCOL.md §4) and stamps it with the arrival
// time when it has no `ts`, or one more than 5 s in the future (clamped, counted). An invalid
// message is counted, logged at `limit`'s rate with the channel it came from, and yields null.
location_ptr decode_channel_message(std::string_view payload, std::string_view channel,
                                    core::metrics& metrics, core::log_limiter& limit);

}  // namespace peyk::broker
