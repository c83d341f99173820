#pragma once
// The Redis Cluster broker's state, shared by its parts (internal to src/broker):
//   redis_cluster_topology.cpp       nodes, the slot map (CLUSTER SLOTS), readiness, the tick
//   redis_cluster_subscriptions.cpp  SSUBSCRIBE on demand, pushes, read-back of a partition
//   redis_cluster_publish.cpp        a publish's groups sent to their masters (MOVED, ASK)
//   redis_cluster_broker.cpp         the broker interface; a publish's commands formatted
// Everything here runs on the broker's io_context thread, except `ready` (atomic) and the
// immutable `cfg` and `names` (read by publish() on the caller's thread).

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker/cluster_slots.hpp"
#include "broker/courier_reaper.hpp"
#include "broker/redis_cluster_broker.hpp"
#include "broker/redis_link.hpp"
#include "core/log.hpp"

namespace peyk::broker {

namespace net = boost::asio;

struct redis_cluster_broker::impl : std::enable_shared_from_this<impl> {
  using clock = std::chrono::steady_clock;
  using family = cluster::family;

  struct node {
    std::string addr;
    std::shared_ptr<redis_link> cmd, sub;
  };
  // One sharded channel: family f, partition p.
  struct channel {
    family f;
    std::size_t p;
    std::string name;
    bool wanted = false;
    node* on = nullptr;  // where SSUBSCRIBE was sent
    bool confirmed = false;
    bool warmed = false;
    bool warming = false;
    clock::time_point unwanted_since{};
  };
  // The commands of one partition in one publish: they go to one master together.
  struct group {
    std::size_t p;
    std::string bytes;                // the commands, back to back
    std::vector<std::uint32_t> ends;  // where each one ends (ASK resends them one by one)
  };
  struct publish_state {
    std::size_t remaining;
    bool failed = false;
    publish_handler done;
  };

  impl(cluster_config c, core::metrics& m)
      : cfg(std::move(c)), metrics(m), names(cfg.channel, cfg.partitions), ticker(ioc) {
    for (auto f : {family::courier, family::order}) {
      for (std::size_t p = 0; p < names.partitions(); ++p) {
        channels.push_back({f, p, names.channel(f, p)});
      }
    }
    for (std::size_t i = 0; i < channels.size(); ++i) by_name[channels[i].name] = i;
    owner.assign(names.partitions(), nullptr);
    hold.assign(names.partitions(), 0);
    order_need.assign(names.partitions(), 0);
  }

  cluster_config cfg;
  core::metrics& metrics;
  cluster::naming names;
  net::io_context ioc{1};
  net::steady_timer ticker;
  std::vector<message_handler> handlers;
  std::shared_ptr<courier_reaper> reaper;
  // The control channel (broker.hpp), on partition 0's slot; its handlers are set before
  // start, and make every node keep a subscriber link even in an ingest process.
  std::vector<control_handler> control;
  std::string control_name = cfg.channel + ":watch:{" + names.tag(0) + "}";
  node* control_on = nullptr;  // where its SSUBSCRIBE was sent
  bool control_confirmed = false;
  bool listens() const { return cfg.subscribe || !control.empty(); }
  void reconcile_control();

  std::map<std::string, std::unique_ptr<node>> nodes;  // masters (and ASK targets)
  std::vector<node*> owner;                            // per partition
  std::vector<char> hold;         // per partition: subscribe only after the next slot map read
  std::vector<channel> channels;  // c partitions, then o partitions
  struct name_hash : std::hash<std::string_view> {
    using is_transparent = void;
  };
  // channel name -> index in channels; looked up by string_view for every message
  std::unordered_map<std::string, std::size_t, name_hash, std::equal_to<>> by_name;
  bool topology_ok = false;
  bool map_read = false;  // a slot map was read since start
  bool refreshing = false;
  bool refresh_needed = true;
  clock::time_point last_refresh{};
  std::shared_ptr<redis_link> probe;  // to a seed, while no master is reachable
  std::size_t next_seed = 0;
  clock::time_point probe_since{};
  std::size_t next_query = 0;

  int all_need = 0;
  std::unordered_map<std::string, int> order_count;
  std::vector<int> order_need;  // per partition: orders with a viewer

  std::atomic<bool> ready{false};
  std::atomic<bool> publishable{false};  // a slot map and a master to write to (ingest)
  core::log_limiter invalid_log{5};
  core::log_limiter refresh_log{1};
  static constexpr int max_warm_keys = 1'000'000;
  // A publish waits this many 10 ms steps for a master not reached yet (send_new).
  static constexpr int setup_wait_steps = 100;

  channel& chan(family f, std::size_t p) {
    return channels[(f == family::courier ? 0 : names.partitions()) + p];
  }

  // ---- nodes and topology (redis_cluster_topology.cpp)
  node* ensure_node(const std::string& host, unsigned short port);
  void drop_node(node* n);
  void refresh();
  void apply_slots(redisReply* r, const std::string& via_host);
  void update_ready();
  void tick();
  void stop_all();
  // One courier sweep per partition, sent to its master (skipped while it has none).
  void start_reaper();

  // ---- subscriptions and delivery (redis_cluster_subscriptions.cpp)
  void deliver(std::string_view payload, const channel* from);
  static void forget(channel& c);
  void forget_all_on(node* n);
  void set_wanted();
  void reconcile();
  void unsubscribe(channel& c);
  void sub_lost(node* n);
  bool on_push(node* n, redisReply* r);
  void warm(channel& c);
  bool still_warming(channel& ch, node* on, bool ok, redisReply* r);
  void warm_done(channel& ch);

  // ---- publishing (redis_cluster_publish.cpp)
  void send_new(std::shared_ptr<publish_state> st, std::shared_ptr<group> g, int waited);
  void send_group(std::shared_ptr<publish_state> st, std::shared_ptr<group> g, node* to,
                  bool asking, int hops);
  void send_when_up(std::shared_ptr<publish_state> st, std::shared_ptr<group> g, node* n,
                    bool asking, int hops, int waited);
  void finish(const std::shared_ptr<publish_state>& st, bool ok);
};

}  // namespace peyk::broker
