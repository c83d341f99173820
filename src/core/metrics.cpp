#include "core/metrics.hpp"

#include <algorithm>

namespace peyk::core {

void histogram::observe_us(std::int64_t us) {
  if (us < 0) us = 0;
  double s = static_cast<double>(us) / 1e6;
  auto it = std::lower_bound(bounds.begin(), bounds.end(), s);
  if (it != bounds.end()) {
    buckets_[static_cast<std::size_t>(it - bounds.begin())].fetch_add(1, std::memory_order_relaxed);
  }
  count_.fetch_add(1, std::memory_order_relaxed);
  sum_us_.fetch_add(static_cast<std::uint64_t>(us), std::memory_order_relaxed);
}

void histogram::render(std::string& out, const std::string& name, const std::string& labels) const {
  std::uint64_t cumulative = 0;
  std::string sep = labels.empty() ? "" : labels + ",";
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    char le[32];
    std::snprintf(le, sizeof le, "%g", bounds[i]);
    out += name + "_bucket{" + sep + "le=\"" + le + "\"} " + std::to_string(cumulative) + "\n";
  }
  auto n = count_.load(std::memory_order_relaxed);
  out += name + "_bucket{" + sep + "le=\"+Inf\"} " + std::to_string(n) + "\n";
  char sum[64];
  std::snprintf(sum, sizeof sum, "%.6f",
                static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6);
  std::string l = labels.empty() ? "" : "{" + labels + "}";
  out += name + "_sum" + l + " " + sum + "\n";
  out += name + "_count" + l + " " + std::to_string(n) + "\n";
}

namespace {
void header(std::string& out, const char* name, const char* type, const char* help) {
  out += "# HELP ";
  out += name;
  out += ' ';
  out += help;
  out += "\n# TYPE ";
  out += name;
  out += ' ';
  out += type;
  out += '\n';
}
template <class M>
void simple(std::string& out, const char* name, const char* type, const char* help, const M& m) {
  header(out, name, type, help);
  out += name;
  out += ' ';
  out += std::to_string(m.value());
  out += '\n';
}
}  // namespace

std::string metrics::render() const {
  std::string out;
  out.reserve(8192);
  simple(out, "peyk_ws_connections", "gauge", "Open viewer WebSocket connections.", ws_connections);
  simple(out, "peyk_http_connections", "gauge", "Open HTTP connections.", http_connections);
  simple(out, "peyk_http_refused_total", "counter",
         "Connections closed at accept: over --max-http-connections.", http_refused);
  simple(out, "peyk_http_timeouts_total", "counter",
         "HTTP connections closed: request head or body not received in time.", http_timeouts);
  simple(out, "peyk_ws_accepted_total", "counter", "WebSocket upgrades accepted.", ws_accepted);
  header(out, "peyk_ws_rejected_total", "counter", "WebSocket upgrades refused, by status.");
  out += "peyk_ws_rejected_total{status=\"401\"} " + std::to_string(ws_rejected_401.value()) + "\n";
  out += "peyk_ws_rejected_total{status=\"403\"} " + std::to_string(ws_rejected_403.value()) + "\n";
  simple(out, "peyk_messages_in_total", "counter", "Broker messages taken by the gateway.",
         messages_in);
  simple(out, "peyk_deliveries_total", "counter", "Locations written to viewers.", deliveries);
  simple(out, "peyk_frames_out_total", "counter", "WebSocket frames written.", frames_out);
  simple(out, "peyk_socket_writes_total", "counter", "Socket writes (each carries many frames).",
         writes);
  simple(out, "peyk_conflated_total", "counter",
         "Locations replaced by a newer one of the same courier before being sent.", conflated);
  simple(out, "peyk_viewer_catch_ups_total", "counter",
         "Writes of the newest location per courier to a viewer too far behind the feed.",
         catch_ups);
  header(out, "peyk_viewers_dropped_total", "counter", "Viewers closed by the server, by reason.");
  out += "peyk_viewers_dropped_total{reason=\"stall\"} " + std::to_string(dropped_stall.value()) +
         "\n";
  out += "peyk_viewers_dropped_total{reason=\"queue\"} " + std::to_string(dropped_queue.value()) +
         "\n";
  out +=
      "peyk_viewers_dropped_total{reason=\"idle\"} " + std::to_string(dropped_idle.value()) + "\n";
  out += "peyk_viewers_dropped_total{reason=\"expired\"} " +
         std::to_string(dropped_expired.value()) + "\n";
  out += "peyk_viewers_dropped_total{reason=\"drain\"} " + std::to_string(dropped_drain.value()) +
         "\n";
  simple(out, "peyk_broker_connected", "gauge", "1 while the broker is connected.",
         broker_connected);
  simple(out, "peyk_broker_reconnects_total", "counter", "Broker reconnections.",
         broker_reconnects);
  simple(out, "peyk_broker_invalid_messages_total", "counter",
         "Invalid messages seen on the channel (dropped).", broker_invalid);
  simple(out, "peyk_cluster_nodes", "gauge", "Redis Cluster masters in the slot map.",
         cluster_nodes);
  simple(out, "peyk_cluster_topology_refreshes_total", "counter",
         "Redis Cluster topology reads (CLUSTER SLOTS).", cluster_refreshes);
  simple(out, "peyk_cluster_redirects_total", "counter",
         "Redis Cluster MOVED/ASK replies followed.", cluster_redirects);
  simple(out, "peyk_cluster_partitions_subscribed", "gauge",
         "Sharded channels (partitions) subscribed by this process.",
         cluster_partitions_subscribed);
  simple(out, "peyk_publish_errors_total", "counter", "Publishes the broker refused.",
         publish_errors);
  simple(out, "peyk_history_unavailable_total", "counter",
         "Ingest requests answered 503 history_unavailable (the point was not recorded).",
         history_unavailable);
  simple(out, "peyk_ingest_duplicates_total", "counter",
         "Points answered 200 without being recorded or published again: the courier's app "
         "sent a point with the same measuring time as one accepted lately (a retry).",
         ingest_duplicates);
  simple(out, "peyk_history_queries_refused_total", "counter",
         "Track queries refused with 503 history_busy (--max-history-queries at once).",
         history_queries_refused);
  header(out, "peyk_history_queries_total", "counter", "Track queries, by HTTP status.");
  for (std::size_t s = 0; s < history_queries_by_status.size(); ++s) {
    auto v = history_queries_by_status[s].value();
    if (v == 0) continue;
    out += "peyk_history_queries_total{status=\"" + std::to_string(s) + "\"} " + std::to_string(v) +
           "\n";
  }
  header(out, "peyk_history_query_latency_seconds", "histogram",
         "From a track query's request to its answer (every page of a summary).");
  history_query_latency.render(out, "peyk_history_query_latency_seconds", "");
  simple(out, "peyk_couriers", "gauge", "Couriers whose last location is kept here.", couriers);
  simple(out, "peyk_couriers_offline_total", "counter",
         "Couriers reported offline: silent for --offline-after.", couriers_offline);
  simple(out, "peyk_couriers_forgotten_total", "counter",
         "Couriers forgotten: silent for --courier-ttl.", couriers_forgotten);
  simple(out, "peyk_ts_clamped_total", "counter",
         "Channel messages whose ts was more than 5 s in the future, clamped to now.", ts_clamped);
  simple(out, "peyk_watched_couriers", "gauge",
         "Couriers focused by a peyk.v1 viewer (here or on a gateway heard from).",
         watched_couriers);
  simple(out, "peyk_watched_orders", "gauge",
         "Orders whose customer is connected (here or on a gateway heard from).", watched_orders);
  simple(out, "peyk_watch_messages_published_total", "counter",
         "Watch channel messages this process published.", watch_published);
  simple(out, "peyk_watch_messages_received_total", "counter",
         "Watch channel messages from other processes applied.", watch_received);
  simple(out, "peyk_watch_messages_invalid_total", "counter",
         "Invalid watch channel messages (dropped).", watch_invalid);
  simple(out, "peyk_focus_refused_total", "counter",
         "peyk.v1 focus frames without effect: a courier the viewer may not see, or too many.",
         focus_refused);
  simple(out, "peyk_history_points_total", "counter", "Points committed to history (tracks).",
         history_points);
  simple(out, "peyk_history_commits_total", "counter",
         "History transactions committed (each groups the appends that waited for it).",
         history_commits);
  simple(out, "peyk_history_refused_total", "counter",
         "History appends refused: history not writable, or too many points queued.",
         history_refused);
  simple(out, "peyk_history_pending_points", "gauge",
         "Points queued for history and not yet committed.", history_pending);
  header(out, "peyk_ingest_requests_total", "counter", "Ingest API requests, by HTTP status.");
  for (std::size_t s = 0; s < ingest_by_status.size(); ++s) {
    auto v = ingest_by_status[s].value();
    if (v == 0) continue;
    out += "peyk_ingest_requests_total{status=\"" + std::to_string(s) + "\"} " + std::to_string(v) +
           "\n";
  }
  header(out, "peyk_delivery_latency_seconds", "histogram",
         "From a location entering peyk (ts) to its write to a viewer socket.");
  delivery_latency.render(out, "peyk_delivery_latency_seconds", "");
  header(out, "peyk_ingest_latency_seconds", "histogram",
         "From an ingest request read to its answer.");
  ingest_latency.render(out, "peyk_ingest_latency_seconds", "");
  header(out, "peyk_history_commit_seconds", "histogram",
         "One history transaction, from its start to durable (group commit).");
  history_commit_latency.render(out, "peyk_history_commit_seconds", "");
  return out;
}

}  // namespace peyk::core
