#pragma once
// The WebSocket gateway: one hub shard per io_context thread, fed by broker messages.
//
// Threading: on_message() may be called from any thread (the broker's). Each message is
// stored as the courier's last known location, encoded once per view, and posted to
// every shard once through a mutex-guarded inbox that is drained in batches, so a burst
// of messages costs one wake-up per shard, not one per message. A drained batch keeps
// only the newest location of each courier before it reaches any viewer, so under
// overload the work per batch is O(viewers x couriers), not O(viewers x messages).
// Everything after that runs on the shard's own thread without locks.
// Delivery: at most once, latest wins per courier for a viewer that falls behind.

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "auth/identity.hpp"
#include "broker/broker.hpp"
#include "core/metrics.hpp"
#include "gateway/hub.hpp"
#include "gateway/options.hpp"
#include "policy/watch_registry.hpp"
#include "store/last_known.hpp"

namespace peyk::gateway {

class ws_session;

class shard {
 public:
  shard(boost::asio::io_context& ioc, const options& opts, store::last_known& store,
        core::metrics& metrics);

  boost::asio::io_context& ioc() { return ioc_; }
  hub& viewers() { return hub_; }
  const options& opts() const { return opts_; }
  store::last_known& store() { return store_; }
  core::metrics& metrics() { return metrics_; }
  // Where viewers' reads land (and are dropped): shared, as they are all on this thread.
  std::span<char> scratch() { return scratch_; }

  void post(update_ptr u);  // any thread
  void start();             // starts the sweep timer (on the shard's thread)
  void stop();
  void close_all(std::uint16_t code);  // on the shard's thread
  // One step of a drain of `steps_left` steps (on the shard's thread): closes with 1001
  // this step's share of the viewers still open, so that they are spread evenly over the
  // steps; the last step (steps_left <= 1) closes them all.
  void drain_step(std::size_t steps_left);

  // Bounded snapshot work (on the shard's thread): true when `s` may stream its snapshot
  // now; otherwise it waits its turn, and s->start_snapshot() runs when a slot frees.
  bool acquire_snapshot(const std::shared_ptr<ws_session>& s);
  void release_snapshot();

 private:
  void drain();
  void conflate();
  void sweep();

  boost::asio::io_context& ioc_;
  const options& opts_;
  store::last_known& store_;
  core::metrics& metrics_;
  hub hub_;
  std::array<char, 4096> scratch_{};
  boost::asio::steady_timer sweep_timer_;
  bool stopped_ = false;
  double drain_share_ = 0;  // viewers owed by past drain steps, fractional
  std::size_t snapshots_active_ = 0;
  std::deque<std::weak_ptr<ws_session>> snapshots_waiting_;

  std::mutex inbox_mu_;
  std::vector<update_ptr> inbox_;
  bool scheduled_ = false;
  std::vector<update_ptr> batch_;                             // drained inbox, reused
  std::unordered_map<std::string_view, std::size_t> newest_;  // courier -> index in batch_
  std::vector<update_ptr> superseded_;
};

class gateway {
 public:
  gateway(options opts, store::last_known& store, core::metrics& metrics,
          const std::vector<boost::asio::io_context*>& contexts);
  ~gateway();

  // Broker subscriber: any thread.
  void on_message(const broker::location_ptr& loc);

  // Completes the upgrade of `socket` (which belongs to shard `index`'s io_context) for a
  // viewer already authorized by the HTTP layer.
  void accept(std::size_t index, boost::asio::ip::tcp::socket socket,
              boost::beast::http::request<boost::beast::http::string_body> req,
              std::shared_ptr<const auth::identity> who, subprotocol proto);

  // The broker told what viewers need (subscription on demand); before start().
  void set_broker(broker::broker* b) { broker_ = b; }
  // A viewer joins (+1) or leaves (-1): any thread.
  void need(const auth::identity& who, int delta);
  // Who watches whom (PROTOCOL.md §10): customers' orders and focused couriers are
  // reported here; before start(). Null: not tracked.
  void set_watches(policy::watch_registry* w) { watches_ = w; }
  // A viewer starts (+1) or stops (-1) focusing a courier: any thread.
  void focus(std::string_view courier, int delta);

  void start();
  // Closes every viewer with `code` (1001 on shutdown); any thread.
  void close_all(std::uint16_t code);
  // A step of the SIGTERM drain window on every shard (see shard::drain_step); any thread.
  void drain_step(std::size_t steps_left);
  void stop();
  std::size_t viewers() const;

  // Liveness, every sweep_period on the first shard's thread: a slice of the store's
  // stripes is swept (all of them every 2 s); couriers silent for offline_after are sent
  // as offline to the viewers who may see them, those silent for courier_ttl forgotten.
  void sweep_couriers();

 private:
  std::unique_ptr<boost::asio::steady_timer> liveness_timer_;
  std::size_t next_stripe_ = 0;
  bool trim_ = false;  // many couriers were forgotten: give the memory back
  bool liveness_stopped_ = false;
  options opts_;
  store::last_known& store_;
  core::metrics& metrics_;
  std::vector<std::unique_ptr<shard>> shards_;
  std::atomic<std::size_t> customers_{0};
  broker::broker* broker_ = nullptr;
  policy::watch_registry* watches_ = nullptr;
  friend class ws_session;
};

}  // namespace peyk::gateway
