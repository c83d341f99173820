#pragma once
// What the hub needs of a connected viewer; ws_session implements it, tests fake it.

#include <cstdint>
#include <memory>

#include "auth/identity.hpp"
#include "gateway/frame.hpp"

namespace peyk::gateway {

class viewer {
 public:
  virtual ~viewer() = default;
  virtual const auth::identity& who() const = 0;
  // Queues `f`; returns true when the viewer had nothing pending and must be flushed.
  virtual bool push(const frame_ptr& f) = 0;
  // Starts writing what is queued (called once per dispatched batch: the cork).
  virtual void flush() = 0;

 private:
  friend class hub;
  std::uint64_t stamp_ = 0;  // last dispatch that reached this viewer (dedupe)
  std::size_t slot_ = 0;     // position in hub::all_
};

}  // namespace peyk::gateway
