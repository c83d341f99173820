#pragma once
#include <chrono>
#include <cstddef>

#include "gateway/conflating_queue.hpp"
#include "gateway/feed.hpp"
#include "gateway/viewer.hpp"

namespace peyk::gateway {

// Gateway limits; each is a flag of `peyk serve` (see --help).
struct options {
  conflating_queue::limits queue;
  std::chrono::milliseconds stall_timeout{15'000};             // a write making no progress
  std::chrono::milliseconds idle_timeout{40'000};              // nothing received (ping at half)
  std::chrono::milliseconds handshake_timeout{10'000};         // upgrade and close handshakes
  std::size_t max_read_message = 4096;                         // viewers send little or nothing
  std::size_t feed_retain_bytes = feed::default_retain_bytes;  // shared log per shard
  std::size_t snapshot_concurrency = 16;         // admin/dispatcher snapshots streaming per shard
  std::size_t snapshot_chunk_bytes = 256 << 10;  // a streamed snapshot's fragments, about
  std::chrono::seconds offline_after{120};       // a silent courier is reported offline
  std::chrono::seconds courier_ttl{86'400};      // a courier silent this long is forgotten
};

}  // namespace peyk::gateway
