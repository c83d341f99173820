#pragma once
// Process-wide counters, gauges and histograms rendered in the Prometheus text format.
// Lock-free on the hot path (relaxed atomics); the registry is built at start-up.

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace peyk::core {

class counter {
 public:
  void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class gauge {
 public:
  void add(std::int64_t n) { v_.fetch_add(n, std::memory_order_relaxed); }
  void set(std::int64_t n) { v_.store(n, std::memory_order_relaxed); }
  std::int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> v_{0};
};

// Fixed buckets in seconds, from 100 µs to 10 s.
class histogram {
 public:
  static constexpr std::array<double, 15> bounds{
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
  void observe_us(std::int64_t us);
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::atomic<std::uint64_t>, bounds.size()> buckets_{};
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> sum_us_{0};
};

// Every metric of the process (PROTOCOL.md §6). One instance, shared by all modules.
struct metrics {
  gauge ws_connections;
  gauge http_connections;
  counter http_refused;   // connections closed at accept: over --max-http-connections
  counter http_timeouts;  // connections closed: head or body not received in time
  counter ws_accepted;
  counter ws_rejected_401;
  counter ws_rejected_403;
  counter messages_in;      // broker messages taken by the gateway
  counter deliveries;       // locations written to viewers
  counter frames_out;       // WebSocket frames written
  counter writes;           // socket writes (each may carry many frames)
  counter conflated;        // locations replaced by a newer one before being sent
  counter catch_ups;        // writes of a viewer too far behind the shard's feed
  counter dropped_stall;    // viewers closed: socket accepted nothing for too long
  counter dropped_queue;    // viewers closed: queue over its limits
  counter dropped_idle;     // viewers closed: no pong / no data
  counter dropped_expired;  // viewers closed with 4001 at token exp
  counter dropped_drain;    // viewers closed with 1001 by the SIGTERM drain
  counter broker_invalid;   // invalid messages seen on the channel
  counter broker_reconnects;
  gauge broker_connected;
  gauge cluster_nodes;                  // Redis Cluster masters in the slot map
  counter cluster_refreshes;            // CLUSTER SLOTS reads
  counter cluster_redirects;            // MOVED / ASK replies followed
  gauge cluster_partitions_subscribed;  // sharded channels subscribed here
  counter publish_errors;
  counter history_unavailable;      // ingest requests answered 503 history_unavailable
  counter ingest_duplicates;        // points answered 200 but not kept: already accepted (§9)
  counter history_queries_refused;  // track queries refused: --max-history-queries reached
  std::array<counter, 600> history_queries_by_status;  // track queries; index = HTTP status
  histogram history_query_latency;                     // a track query, request to answer
  gauge couriers;                                      // couriers in the last-known store
  counter couriers_offline;    // couriers reported offline (silent past --offline-after)
  counter couriers_forgotten;  // couriers forgotten (silent past --courier-ttl)
  counter ts_clamped;          // channel messages whose ts was in the future
  gauge watched_couriers;      // couriers focused by a viewer (here, or a gateway heard from)
  gauge watched_orders;        // orders whose customer is connected (idem)
  counter watch_published;     // watch channel messages sent by this process
  counter watch_received;      // watch channel messages applied (other processes')
  counter watch_invalid;       // invalid watch channel messages (dropped)
  counter focus_refused;       // peyk.v1 focus frames without effect (not visible, too many)
  counter history_points;      // points committed to history (tracks)
  counter history_commits;     // history transactions (group commit: many appends each)
  counter history_refused;     // appends refused: history not writable, or its queue full
  gauge history_pending;       // points queued for history, not yet committed
  std::array<counter, 600> ingest_by_status;  // index = HTTP status
  histogram delivery_latency;                 // ts -> handed to the socket
  histogram ingest_latency;                   // request read -> answered
  histogram history_commit_latency;           // one history transaction, begin -> durable

  std::string render() const;
};

}  // namespace peyk::core
