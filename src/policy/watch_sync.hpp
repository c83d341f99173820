#pragma once
// Carries watch state between processes over the broker's watch channel
// (watch_message.hpp): a gateway publishes its viewers' watches, an ingest process
// applies every other gateway's to its registry.
//
//   publishing: the local changes at once (at most one message per `debounce`), and the
//     whole local state every `refresh`, each entry valid for `ttl` at the receiver;
//   receiving: assertions from other sources (its own are skipped), expired by tick().
//
// With refresh 1 s and ttl 3 s, a change shows at the receivers within debounce + the
// broker's hop, and a gateway that died stops counting within 3 s. No I/O: `publish` is
// the broker's, tick() is driven by a timer of the caller. tick() and stop() must not
// run concurrently with each other; on_message() may run on any thread.

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/metrics.hpp"
#include "policy/watch_registry.hpp"

namespace peyk::policy {

struct sync_options {
  std::string source;                       // this process's id on the channel
  std::chrono::milliseconds refresh{1000};  // whole state re-sent this often
  std::chrono::milliseconds ttl{3000};      // an assertion's life at the receiver
  std::chrono::milliseconds debounce{100};  // changes sent at most this often
  std::size_t max_message_bytes = 64 * 1024;
  bool publish = true;  // a gateway; an ingest process only receives
};

// A fresh id for this process: "gw-" and 16 random hex digits.
std::string make_source_id();

class watch_sync {
 public:
  watch_sync(watch_registry& reg, sync_options opts, core::metrics& metrics,
             std::function<void(std::string)> publish);

  void tick(clock::time_point now);
  // A message from the channel; false when invalid (counted) or our own.
  bool on_message(std::string_view payload, clock::time_point now);
  // Tells the receivers this source is gone (a clean shutdown).
  void stop();

  const sync_options& options() const { return opts_; }

 private:
  void send_all(clock::time_point now, std::vector<watch_registry::entry> all);

  watch_registry& reg_;
  sync_options opts_;
  core::metrics& metrics_;
  std::function<void(std::string)> publish_;
  clock::time_point last_full_{};
  clock::time_point last_change_{};
  clock::time_point last_expire_{};
  bool sent_any_ = false;
};

}  // namespace peyk::policy
