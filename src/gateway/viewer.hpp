#pragma once
// What the hub needs of a connected viewer; ws_session implements it, tests fake it.

#include <cstdint>
#include <memory>
#include <string>

#include "auth/identity.hpp"
#include "gateway/frame.hpp"

namespace peyk::gateway {

class feed;

enum class subprotocol { echo, v1 };

class viewer {
 public:
  virtual ~viewer() = default;
  virtual const auth::identity& who() const = 0;
  virtual subprotocol protocol() const = 0;
  // Queues `f` (viewers that do not read the shared feed); returns true when the viewer
  // had nothing pending and must be flushed.
  virtual bool push(const frame_ptr& f) = 0;
  // Starts writing what is pending — queued frames, or the shared feed past the cursor —
  // unless a write is in flight (called once per dispatched batch: the cork).
  virtual void flush() = 0;
  // Queues a whole peyk.v1 frame of its own (a `status` frame), sent between batches.
  virtual void push_status(const std::shared_ptr<const std::string>& payload) = 0;

  // Set by the hub for viewers that see every courier: they read the shard's feed from
  // their cursor instead of having frames pushed to them.
  feed* shared_feed() const { return feed_; }
  std::uint64_t cursor() const { return cursor_; }
  void set_cursor(std::uint64_t c) { cursor_ = c; }

 private:
  friend class hub;
  std::uint64_t stamp_ = 0;  // last dispatch that reached this viewer (dedupe)
  std::size_t slot_ = 0;     // position in hub::all_
  feed* feed_ = nullptr;
  std::uint64_t cursor_ = 0;
};

}  // namespace peyk::gateway
