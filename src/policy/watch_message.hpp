#pragma once
// The watch channel's messages (`<channel>:watch` on Redis; docs/protocol.md): what a
// gateway tells the ingest processes about its viewers. JSON, so that any program may
// read (or write) them:
//
//   {"v":1,"source":"gw-1f3a…","ttl_ms":3000,"orders":{"A123":2},"couriers":{"10":1}}
//   {"v":1,"source":"gw-1f3a…","gone":true}
//
// Each listed id is watched by `count` viewers of that gateway for ttl_ms from receipt
// (the receiver's clock: no clock agreement needed); 0 means no longer. A gateway sends
// its changes at once and its whole state every second, split into messages of at most
// max_bytes; "gone" drops everything it asserted (a clean shutdown).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/watch_registry.hpp"

namespace peyk::policy {

inline constexpr std::size_t max_watch_message_bytes = 256 * 1024;  // larger ones are refused
inline constexpr std::size_t max_watch_id_bytes = 256;              // longer ids are skipped
inline constexpr std::size_t max_source_bytes = 128;

struct watch_message {
  std::string source;
  bool gone = false;
  std::chrono::milliseconds ttl{3000};
  std::vector<watch_registry::entry> entries;
};

// `entries` as messages of at most `max_bytes` each (at least one entry each).
std::vector<std::string> encode_watch(std::string_view source, std::chrono::milliseconds ttl,
                                      std::span<const watch_registry::entry> entries,
                                      std::size_t max_bytes);
std::string encode_gone(std::string_view source);

// nullopt: not a valid watch message (too large, not JSON, wrong shape or version).
std::optional<watch_message> decode_watch(std::string_view payload);

}  // namespace peyk::policy
