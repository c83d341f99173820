#pragma once
// Who watches which courier, for one io_context thread (a hub shard).
//
// Threading: single-threaded; every call happens on the owning shard's thread, so the
// per-viewer path takes no lock. Viewers are indexed by what they may see — admins in a
// list, dispatchers by fleet, customers by order id — so a message costs O(viewers who may
// see it), not O(all viewers). A dispatched batch pushes into the viewers' conflating
// queues, then flushes each touched viewer once: every frame pending for a socket leaves
// in one write (the cork).

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/update.hpp"
#include "gateway/viewer.hpp"

namespace peyk::gateway {

class hub {
 public:
  // Registers a viewer of a role that may watch; the hub shares its ownership until
  // remove(). Returns false (not added) for roles that may not watch.
  bool add(std::shared_ptr<viewer> v);
  void remove(viewer* v);

  // Fans a batch of updates out to the viewers allowed to see them, then flushes.
  void dispatch(std::span<const update_ptr> batch);

  void for_each(const std::function<void(viewer&)>& fn) const;
  std::size_t size() const { return all_.size(); }
  std::size_t customers() const { return customers_; }

 private:
  void deliver(viewer* v, const frame_ptr& f);
  static void erase_from(std::vector<viewer*>& list, viewer* v);

  std::vector<std::shared_ptr<viewer>> all_;
  std::vector<viewer*> admins_;
  std::unordered_map<std::string, std::vector<viewer*>> by_fleet_;
  std::unordered_map<std::string, std::vector<viewer*>> by_order_;
  std::vector<viewer*> dirty_;
  std::uint64_t seq_ = 0;
  std::size_t customers_ = 0;
};

}  // namespace peyk::gateway
