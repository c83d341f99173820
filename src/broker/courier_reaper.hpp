#pragma once
// Forgets silent couriers in Redis (PROTOCOL.md §12): a courier that posted nothing for
// the TTL loses its last-known hash field, its GEO member and its "seen" entry.
//
// Every publish writes `ZADD <seen> <now_ms> <courier>` ahead of the HSET and GEOADD of the
// same location, in the same pipeline and slot. The reaper runs one Lua script per
// partition (its seen, hash and GEO keys share a slot): it takes up to `batch` couriers
// seen before now - ttl and removes them from the three keys. A script is atomic and the
// ZADD comes first, so a courier posting during a sweep is either removed before its ZADD
// (and written again by the HSET that follows) or kept: never left half-forgotten.
// Idempotent: every ingest and gateway process runs it, and they only repeat each other's
// work. A partition whose sweep found `batch` couriers is swept again at once, so a large
// backlog drains in steps that each block Redis for about a millisecond.
// Threading: created, started, stopped and run on the broker's io_context thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker/redis_link.hpp"

namespace peyk::broker {

// The keys of one partition (single Redis: the one and only).
struct reaper_keys {
  std::string seen, hash, geo;
};

// The script's command: EVAL <script> 3 seen hash geo <cutoff_ms> <batch>. Its reply is the
// number of couriers forgotten.
void append_reap_command(std::string& out, const reaper_keys& keys, std::int64_t cutoff_ms,
                         std::size_t batch);

// The time a publish records as a courier's last sign of life (ms since the epoch).
std::int64_t seen_now_ms();

class courier_reaper : public std::enable_shared_from_this<courier_reaper> {
 public:
  // Sends one command for partition p and calls `done` once with its reply (ok=false and
  // a null reply when the partition's node is unreachable).
  using send_fn =
      std::function<void(std::size_t p, const std::string& cmd, redis_link::done_fn done)>;

  courier_reaper(boost::asio::io_context& ioc, std::chrono::seconds ttl,
                 std::vector<reaper_keys> keys, send_fn send, std::size_t batch = 500);

  void start();
  void stop();

  // Time between sweeps: a quarter of the TTL, within 250 ms .. 60 s, so a courier is
  // forgotten at most ttl + 60 s after its last post.
  static std::chrono::milliseconds interval_for(std::chrono::seconds ttl);

  std::uint64_t forgotten() const { return forgotten_; }

 private:
  void schedule();
  void sweep();
  void run(std::size_t p, std::int64_t cutoff_ms);
  void log_progress(bool force);

  boost::asio::steady_timer timer_;
  std::chrono::seconds ttl_;
  std::vector<reaper_keys> keys_;
  send_fn send_;
  std::size_t batch_;
  bool stopped_ = false;
  std::uint64_t forgotten_ = 0;
  std::uint64_t unlogged_ = 0;
  std::chrono::steady_clock::time_point last_log_{};
};

}  // namespace peyk::broker
