// libFuzzer target: the phone apps' requests (apps module, PROTOCOL.md §9). The first byte
// picks the parser: 'j' Traccar Client's JSON, 'o' OwnTracks, anything else the OsmAnd
// query/form parameters (and the head's token lookup). Properties checked beyond "no
// crash, no sanitizer report": every accepted point is inside the validated ranges, its
// time reads back as RFC 3339, and it survives the broker format's round trip.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "apps/apps.hpp"
#include "core/codec.hpp"
#include "core/timestamp.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const char mode = static_cast<char>(data[0]);
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  peyk::apps::limits lim;
  lim.ingest.max_points = 64;  // keeps one input cheap; the limit logic is the same
  peyk::core::expected<peyk::apps::parsed> r = peyk::apps::parsed{};
  if (mode == 'j') {
    r = peyk::apps::parse_traccar_json(body, peyk::apps::speed_unit::knots, lim);
  } else if (mode == 'o') {
    r = peyk::apps::parse_owntracks(body, lim);
  } else {
    (void)peyk::apps::token_in_params(body);
    r = peyk::apps::parse_osmand_params(body, peyk::apps::speed_unit::knots, lim);
  }
  if (!r) return 0;
  if (r->points.size() > lim.ingest.max_points) std::abort();
  if (r->token.size() > lim.max_token_bytes) std::abort();
  for (auto& p : r->points) {
    if (!(p.latitude >= -90 && p.latitude <= 90)) std::abort();
    if (!(p.longitude >= -180 && p.longitude <= 180)) std::abort();
    if (p.battery && !(*p.battery >= 0 && *p.battery <= 100)) std::abort();
    if (p.heading && !(*p.heading >= 0 && *p.heading <= 360)) std::abort();
    if (p.speed && !(*p.speed >= 0 && std::isfinite(*p.speed))) std::abort();
    if (p.source.empty()) std::abort();
    if (!p.recorded_at.empty() && !peyk::core::parse_rfc3339_us(p.recorded_at)) std::abort();
    p.courier_id = "42";
    p.ts_us = 1;
    auto back = peyk::core::decode_broker_message(peyk::core::encode_location(p));
    if (!back) std::abort();
    if (back->latitude != p.latitude || back->longitude != p.longitude) std::abort();
    if (back->recorded_at != p.recorded_at || back->battery.has_value() != p.battery.has_value()) {
      std::abort();
    }
  }
  return 0;
}
