#pragma once
// The shard's shared outgoing log for viewers that see every courier (admins).
//
// A dispatched batch of updates is encoded once into wire bytes — back-to-back WebSocket
// frames for echo-protocol, comma-joined location objects for peyk.v1 — and appended to
// a log that every such viewer reads from its own cursor. A viewer's write is then a
// few slices of shared, immutable buffers (one per batch it has not sent yet), whatever
// the number of locations in them: no per-viewer push, copy or allocation per message,
// and a handful of iovecs per syscall instead of two per frame.
//
// The log keeps the most recent `retain_bytes`. A viewer whose cursor falls behind that
// (a slow socket) catches up from the courier table instead: the newest location of
// each courier updated since its cursor (conflation, latest wins), then resumes from the
// end of the log. So the memory a slow viewer costs is bounded by the shard, not by it.
//
// Single-threaded: owned by one hub shard and used only on its thread.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/frame.hpp"
#include "gateway/update.hpp"

namespace peyk::gateway {

class feed {
 public:
  struct batch {
    std::uint64_t seq = 0;
    std::string echo;  // echo-protocol: one text frame (header + object) per location
    std::string v1;    // peyk.v1: the location objects, each preceded by ',' (so batches
                       // concatenate; a frame skips the first byte of its first batch)
    std::size_t count = 0;
    std::int64_t oldest_ts_us = 0;
  };
  using batch_ptr = std::shared_ptr<const batch>;

  static constexpr std::size_t default_retain_bytes = 8u << 20;

  explicit feed(std::size_t retain_bytes = default_retain_bytes) : retain_bytes_(retain_bytes) {}

  // Appends one batch (non-empty), encoded for the subprotocols asked for.
  void append(std::span<const update_ptr> updates, bool echo, bool v1);

  // The sequence number the next batch will get: a new viewer's cursor.
  std::uint64_t end() const { return next_seq_; }
  // The oldest batch still held; a cursor below it must catch up.
  std::uint64_t begin() const { return log_.empty() ? next_seq_ : log_.front()->seq; }

  // Appends batches [from, end()) to `out`, at most `max_batches` of them or until they
  // hold `max_bytes` of the given encoding (at least one). Returns the next cursor.
  // Requires begin() <= from.
  std::uint64_t collect(std::uint64_t from, bool echo, std::size_t max_batches,
                        std::size_t max_bytes, std::vector<batch_ptr>& out) const;

  // Appends the newest frame of every courier updated in a batch >= `from`, in the order
  // couriers first appeared. Returns end().
  std::uint64_t latest_since(std::uint64_t from, std::vector<frame_ptr>& out) const;

  std::size_t retained_bytes() const { return log_bytes_; }
  std::size_t couriers() const { return slots_.size(); }

  // Drops couriers forgotten everywhere (the courier TTL) from the courier table.
  void forget(std::span<const std::string_view> couriers);

  // A WebSocket frame header (unmasked) for `payload` bytes, appended to `out`: by
  // default a whole text frame; a streamed message is a text frame without FIN, then
  // continuation frames (opcode 0), the last with FIN.
  static void append_frame_header(std::string& out, std::size_t payload, std::uint8_t opcode = 0x1,
                                  bool fin = true);

 private:
  struct slot {
    frame_ptr latest;
    std::uint64_t seq = 0;
  };
  std::size_t retain_bytes_;
  std::uint64_t next_seq_ = 1;
  std::deque<batch_ptr> log_;
  std::size_t log_bytes_ = 0;
  std::unordered_map<std::string, std::uint32_t> slot_of_;  // courier id -> slots_ index
  std::vector<slot> slots_;
};

}  // namespace peyk::gateway
