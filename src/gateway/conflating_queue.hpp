#pragma once
// The per-viewer send queue: bounded, and conflating — while a viewer's socket is busy, a
// newer location of a courier replaces the queued one in place (Lightstreamer's MERGE),
// so a slow viewer gets the newest position of every courier instead of a backlog.
//
// Single-threaded (owned by one session on one io_context). Entries are shared frames;
// the queue holds pointers, so its own memory is O(entries), never O(bytes).
// Lookup is a linear scan while small (the common case: a fast viewer has 0-2 entries
// pending) and an open-addressing index keyed by the frame's precomputed hash past
// `index_threshold`: no allocation and no string hashing per push, O(1) for slow viewers.
// (A node-based map keyed by the id string took two thirds of a core under overload.)

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "gateway/frame.hpp"

namespace peyk::gateway {

struct queue_limits {
  std::size_t max_entries = 65'536;
  std::size_t max_bytes = 16u << 20;  // sum of queued frame sizes
};

class conflating_queue {
 public:
  using limits = queue_limits;
  enum class result { queued, conflated, overflow };

  conflating_queue() = default;
  explicit conflating_queue(limits lim) : lim_(lim) {}

  // Adds `f`, replacing a queued frame of the same courier. `overflow` means the limits
  // would be exceeded: nothing was added, and the viewer should be closed.
  result push(frame_ptr f);

  // Moves every queued frame into `out` (appending, oldest courier first) and empties.
  void drain(std::vector<frame_ptr>& out);

  std::size_t size() const { return entries_.size(); }
  std::size_t bytes() const { return bytes_; }
  bool empty() const { return entries_.empty(); }
  void clear();

  static constexpr std::size_t index_threshold = 32;

 private:
  limits lim_{};
  std::vector<frame_ptr> entries_;
  std::size_t bytes_ = 0;
  // courier -> position in entries_, built only past index_threshold entries. Entries
  // are never removed one by one (only all at once by drain), so no tombstones; a slot
  // is live when its generation is the current one, so clearing is O(1).
  struct slot {
    std::uint64_t key = 0;
    std::uint32_t pos = 0;
    std::uint32_t gen = 0;
  };
  std::size_t find(const frame& f) const;  // position, or entries_.size()
  void index(std::size_t pos);
  void rebuild(std::size_t capacity);
  std::vector<slot> table_;
  std::uint32_t gen_ = 1;
  bool indexed_ = false;
};

}  // namespace peyk::gateway
