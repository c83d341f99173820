#pragma once
// A courier's points not yet accepted by the server, as a phone keeps them while the
// network or the server is down. Bounded: past `capacity` the oldest point goes (the newest
// matter most to a dispatcher), and every such drop is counted, never silent. Pure.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>

namespace peyk::simulator {

class outbox {
 public:
  static constexpr std::size_t max_batch = 1000;  // PROTOCOL.md §3: a batch holds 1..1000

  explicit outbox(std::size_t capacity = max_batch) : capacity_(capacity) {}

  // Adds an encoded point; returns true when the oldest point was dropped to make room.
  bool push(std::string point);

  // The body of the next request, oldest points first: one point as a plain object, more
  // as {"points":[...]}; at most max_batch points and, when more are waiting, no more than
  // `max_bytes` (the server's body limit) unless a single point is larger. Returns how
  // many points the body holds; pop(that) once the server took them.
  std::size_t build_body(std::size_t max_bytes, std::string& body) const;
  void pop(std::size_t n);
  void clear() { points_.clear(); }

  std::size_t size() const { return points_.size(); }
  bool empty() const { return points_.empty(); }
  std::uint64_t dropped() const { return dropped_; }
  const std::string& front() const { return points_.front(); }
  const std::string& back() const { return points_.back(); }

 private:
  std::size_t capacity_;
  std::deque<std::string> points_;
  std::uint64_t dropped_ = 0;
};

}  // namespace peyk::simulator
