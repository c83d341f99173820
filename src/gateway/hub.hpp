#pragma once
// Who watches which courier, for one io_context thread (a hub shard).
//
// Threading: single-threaded; every call happens on the owning shard's thread, so the
// per-viewer path takes no lock. Admins see every courier: a dispatched batch is encoded
// once into the shard's feed, and each admin is flushed once to write what it has not
// sent yet, so a message costs O(1) for all of them together. Dispatchers (by fleet) and
// customers (by order id) see subsets: a message is pushed into the conflating queue of
// each viewer who may see it, O(those viewers), then each touched viewer is flushed once
// (the cork: every frame pending for a socket leaves in one write).

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/feed.hpp"
#include "gateway/update.hpp"
#include "gateway/viewer.hpp"

namespace peyk::gateway {

// A peyk.v1 `status` frame, {"type":"status","couriers":[...]}, of the entries that
// append_offline() added to `ids` (each comma-led: {"id":10,"state":"offline"}).
std::shared_ptr<const std::string> status_frame(const std::string& ids);
void append_offline(std::string& ids, const std::string& courier);

class hub {
 public:
  explicit hub(std::size_t feed_retain_bytes = feed::default_retain_bytes)
      : feed_(feed_retain_bytes) {}

  // Registers a viewer of a role that may watch; the hub shares its ownership until
  // remove(). Returns false (not added) for roles that may not watch.
  bool add(std::shared_ptr<viewer> v);
  void remove(viewer* v);

  // Fans a batch of updates out to the viewers allowed to see them, then flushes.
  void dispatch(std::span<const update_ptr> batch);

  // Tells the peyk.v1 viewers allowed to see them that these couriers went silent
  // (PROTOCOL.md §12): one `status` frame per viewer, shared by viewers of one view.
  void offline(std::span<const store::location_ptr> couriers);
  // The couriers were forgotten (the courier TTL): nothing of them is kept here.
  void forget(std::span<const store::location_ptr> couriers);

  void for_each(const std::function<void(viewer&)>& fn) const;
  std::size_t size() const { return all_.size(); }
  std::size_t customers() const { return customers_; }
  const feed& shared_feed() const { return feed_; }

 private:
  void deliver(viewer* v, const frame_ptr& f);
  static void erase_from(std::vector<viewer*>& list, viewer* v);

  feed feed_;
  std::size_t echo_admins_ = 0;  // which encodings the feed must build
  std::size_t v1_admins_ = 0;
  std::vector<std::shared_ptr<viewer>> all_;
  std::vector<viewer*> admins_;
  std::unordered_map<std::string, std::vector<viewer*>> by_fleet_;
  std::unordered_map<std::string, std::vector<viewer*>> by_order_;
  std::vector<viewer*> dirty_;
  std::uint64_t seq_ = 0;
  std::size_t customers_ = 0;
};

}  // namespace peyk::gateway
