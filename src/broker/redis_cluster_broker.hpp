#pragma once
// The Redis Cluster broker: sharded pub/sub (SPUBLISH/SSUBSCRIBE, Redis 7) over
// partitioned channels (cluster_slots.hpp), so each master carries only its share of the
// messages and a gateway subscribes only to what its viewers need.
//
// Threading: one io_context thread owns every connection, the slot map and the
// subscriptions. publish() and need_*() may be called from any thread: commands are
// formatted on the caller's thread and handed over with one post. Subscribers are called
// on the broker thread.
// Topology: read with CLUSTER SLOTS from any reachable node (the seeds at first), again
// on MOVED, on a lost connection, on an unrequested sunsubscribe (the slot moved), and
// every 10 s; while a master is unreachable, every 500 ms until a replica took over.
// Delivery: a publish succeeds once every master concerned acknowledged its commands; a
// courier whose partition's master is unreachable gets an error at once (ingest: 503),
// the others are unaffected. MOVED is followed (and the map refreshed), ASK once with
// ASKING. A partition subscribed (or re-subscribed after a failover) is read back from
// its last-known keys, so every viewer recovers each courier's newest location.
// Forgetting: each partition's couriers silent for `courier_ttl` are swept out of its hash
// and GEO set by every process (courier_reaper.hpp). Order keys expire by themselves; a
// publish writes one per distinct order of the batch (the newest point naming it).

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "broker/broker.hpp"
#include "core/metrics.hpp"

namespace peyk::broker {

struct cluster_config {
  std::vector<std::pair<std::string, unsigned short>> seeds;
  std::string password;
  std::string channel = "dlchannel";
  std::size_t partitions = 64;
  std::chrono::milliseconds max_backoff{2000};
  std::chrono::milliseconds linger{30000};  // keep an unneeded subscription this long
  std::chrono::seconds order_ttl{21600};    // an order's last location expires after this
  std::chrono::seconds courier_ttl{86400};  // a silent courier is forgotten (0: never)
  bool write_last_known = true;             // ingest
  bool subscribe = true;                    // gateway
};

// Parses "host:port,host:port,..." (IPv6 as [addr]:port); throws std::invalid_argument.
std::vector<std::pair<std::string, unsigned short>> parse_cluster_seeds(const std::string& list);

class redis_cluster_broker final : public broker {
 public:
  redis_cluster_broker(cluster_config cfg, core::metrics& metrics);
  ~redis_cluster_broker() override;

  void publish(std::span<const location_ptr> batch, publish_handler done) override;
  void subscribe(message_handler handler) override;
  void start() override;
  void stop() override;
  bool ready() const override;
  bool can_publish() const override;
  const char* name() const override { return "redis-cluster"; }
  void need_all(int delta) override;
  void need_orders(std::span<const std::string> orders, int delta) override;
  // The control channel: <channel>:watch:{tag}, sharing partition 0's slot.
  void publish_control(std::string payload) override;
  void subscribe_control(control_handler handler) override;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
  std::thread thread_;
};

}  // namespace peyk::broker
