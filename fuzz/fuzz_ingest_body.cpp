// libFuzzer target: the body of POST /api/v1/locations (core::parse_ingest_body).
// Properties checked beyond "no crash, no sanitizer report": every accepted point is
// inside the validated ranges and survives an encode/decode round trip through the
// broker format.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  peyk::core::ingest_limits limits;
  limits.max_points = 64;  // keeps one input cheap; the limit logic is the same
  auto points = peyk::core::parse_ingest_body(body, limits);
  if (!points) return 0;
  if (points->empty() || points->size() > limits.max_points) std::abort();
  for (auto& p : *points) {
    if (!(p.latitude >= -90 && p.latitude <= 90)) std::abort();
    if (!(p.longitude >= -180 && p.longitude <= 180)) std::abort();
    if (p.orders.size() > limits.max_orders) std::abort();
    p.courier_id = "42";
    p.ts_us = 1;
    auto back = peyk::core::decode_broker_message(peyk::core::encode_location(p));
    if (!back) std::abort();
    if (back->latitude != p.latitude || back->longitude != p.longitude) std::abort();
    if (back->orders != p.orders || back->recorded_at != p.recorded_at) std::abort();
  }
  return 0;
}
