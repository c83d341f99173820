#pragma once
// Who watches whom (PROTOCOL.md §10): the watches on each order id and each courier id,
// per source gateway, so that ingest can answer a watched courier a short update interval.
//
// A watch on an order comes from a connected customer whose token names it; a watch on a
// courier from a peyk.v1 viewer focusing it. This process's own gateway reports its
// viewers here directly (`local`, counted, never expires). Other gateways' watches arrive
// through the broker's watch channel (watch_sync.hpp) as assertions that hold until an
// expiry: each gateway re-asserts its whole state every second, so the watches of a
// gateway that crashed lapse by themselves.
//
// Pure and thread-safe: a shared mutex; `watched` (every ingest request) takes it shared.
// Bounded: at most `max_remote` watches are held for other gateways and `max_sources` gateways;
// past that, assertions are dropped (counted), never the process's own viewers.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace peyk::policy {

using clock = std::chrono::steady_clock;

enum class kind : std::uint8_t { order, courier };

struct watch_limits {
  std::size_t max_remote = 1'000'000;  // watches held for other gateways (id x gateway)
  std::size_t max_sources = 4096;      // gateways heard from and not yet lapsed
  std::size_t max_changes = 100'000;   // local changes pending before a full refresh instead
};

class watch_registry {
 public:
  explicit watch_registry(watch_limits limits = {});

  // This process's viewers: `delta` +1 when one starts watching `id`, -1 when it stops.
  void local(kind k, std::string_view id, int delta);

  // Another gateway (`source`) says `count` of its viewers watch `id`, until `expires`
  // (a later assertion replaces it); count 0: none any more. False when dropped (limits).
  bool remote(std::string_view source, kind k, std::string_view id, std::uint32_t count,
              clock::time_point expires);
  // Everything `source` asserted, at once (a gateway that stopped cleanly).
  void forget_source(std::string_view source);
  // Removes the assertions that expired by `now` (and sources left with none).
  void expire(clock::time_point now);

  // True while the courier is watched: focused by a viewer, or one of `orders` (those it
  // carries) is watched by a connected customer, here or on a gateway whose assertion
  // has not expired.
  bool watched(std::string_view courier, std::span<const std::string> orders,
               clock::time_point now) const;

  // Ids with a watch (gauges), both local and remote, expired ones swept by expire().
  std::size_t count(kind k) const;
  std::uint64_t dropped() const;

  // This process's watches, for publishing them to other processes.
  struct entry {
    kind k;
    std::string id;
    std::uint32_t count;  // 0: no longer watched here
  };
  // Calls `fn` with every local watch.
  void for_each_local(const std::function<void(const entry&)>& fn) const;
  // Turns on change tracking (only a process that publishes needs it).
  void track_changes(bool on);
  // The local ids whose count changed since the last call, with their count now. Sets
  // `overflow` (and returns nothing) when more than max_changes piled up: then the caller
  // sends the whole state instead.
  std::vector<entry> take_changes(bool& overflow);

 private:
  struct watch {
    std::uint32_t source;  // 0: local
    std::uint32_t count;
    clock::time_point expires;
  };
  struct hash : std::hash<std::string_view> {
    using is_transparent = void;
  };
  using table = std::unordered_map<std::string, std::vector<watch>, hash, std::equal_to<>>;
  struct source_info {
    std::string name;
    std::size_t watches = 0;
    clock::time_point last{};  // when its latest assertion expires
    bool used = false;
  };

  table& of(kind k) { return k == kind::order ? orders_ : couriers_; }
  const table& of(kind k) const { return k == kind::order ? orders_ : couriers_; }
  static bool live(const std::vector<watch>& ws, clock::time_point now);
  std::uint32_t source_index(std::string_view name, clock::time_point heard);  // 0: refused
  void remove_watch(table& t, table::iterator it, std::size_t i);
  void note_change(kind k, std::string_view id);

  watch_limits limits_;
  mutable std::shared_mutex mu_;
  table orders_, couriers_;
  std::vector<source_info> sources_;  // [0] is local
  std::unordered_map<std::string, std::uint32_t, hash, std::equal_to<>> source_by_name_;
  std::vector<std::uint32_t> free_sources_;
  std::size_t remote_ = 0;  // watches of other gateways held (bounded by max_remote)
  std::uint64_t dropped_ = 0;
  bool tracking_ = false;
  bool overflow_ = false;
  std::unordered_set<std::string> changed_orders_, changed_couriers_;
};

}  // namespace peyk::policy
