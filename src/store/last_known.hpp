#pragma once
// The last known location of every courier, for the snapshot a viewer gets on connect.
// Thread-safe: written by the broker's message thread, read by gateway threads taking
// snapshots. Latest wins by `ts`: an older message never replaces a newer one.

#include <cstddef>
#include <functional>
#include <memory>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/location.hpp"

namespace peyk::store {

using location_ptr = std::shared_ptr<const core::location>;
using json_ptr = std::shared_ptr<const std::string>;

// A location and its broker-format encoding, kept together so snapshots are not
// re-encoded per viewer.
struct entry {
  location_ptr loc;
  json_ptr json;
};

class last_known {
 public:
  explicit last_known(std::size_t max_couriers = 1'000'000) : max_couriers_(max_couriers) {}

  // Returns false when `loc` is not newer than what is stored (older, or the same `ts`:
  // a replay after a broker reconnect); it is then not kept. A new courier past
  // max_couriers is not kept either, but is not stale.
  bool update(const location_ptr& loc, json_ptr json = nullptr);

  // Calls `fn` for every stored location (under a shared lock: keep it cheap).
  void for_each(const std::function<void(const entry&)>& fn) const;

  entry find(const std::string& courier_id) const;
  std::size_t size() const;

 private:
  std::size_t max_couriers_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, entry> by_courier_;
};

}  // namespace peyk::store
