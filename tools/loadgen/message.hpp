#pragma once
// What the publishers send: a courier's position (varied from one message to the next,
// so no layer can treat two as duplicates), the broker message of PROTOCOL.md §4 as
// peyk's ingest publishes it, and its RESP encoding as a PUBLISH command.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace peyk::loadgen {

struct position {
  double latitude;
  double longitude;
};

// Courier `courier_id` (1-based) wandering around Tehran, at its `seq`-th message.
position courier_position(std::size_t courier_id, std::uint64_t seq);

// Appends a number with 6 decimals (the precision the ingest rounds to).
void append_fixed6(std::string& out, double v);

// The broker message (§4) of courier `courier_id` at `p`, stamped `ts_us`: user id and
// name ("c<id>"), fleet and order as tokens.hpp assigns them, and the optional fields
// the HTTP publisher sends, so both publishers cost the gateway the same decode.
std::string broker_message(std::size_t courier_id, position p, std::int64_t ts_us,
                           std::size_t fleets);

// Appends `PUBLISH channel message` in RESP, formatted by hiredis.
void append_publish(std::string& out, std::string_view channel, std::string_view message);

}  // namespace peyk::loadgen
