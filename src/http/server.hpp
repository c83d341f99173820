#pragma once
// The HTTP front door of every role: one SO_REUSEPORT listener per io_context thread,
// keep-alive HTTP sessions, and the routes of PROTOCOL.md (ingest, /ws upgrade, health,
// metrics, config, the panel's static files).

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "apps/apps.hpp"
#include "auth/token_cache.hpp"
#include "broker/broker.hpp"
#include "core/codec.hpp"
#include "core/metrics.hpp"
#include "core/order_budget.hpp"
#include "core/rate_limiter.hpp"
#include "core/recent_points.hpp"
#include "gateway/gateway.hpp"
#include "history/history.hpp"
#include "http/limits.hpp"
#include "policy/interval.hpp"
#include "policy/watch_registry.hpp"

namespace peyk::http {

struct settings {
  std::size_t max_body = 64 * 1024;
  std::size_t max_header = 8 * 1024;
  // A new connection must send a whole request head within header_timeout of being
  // accepted, and every later head within header_timeout of its first byte (slowloris).
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};       // the body, once the head is read
  std::chrono::milliseconds keepalive_timeout{75'000};  // idle between keep-alive requests
  std::size_t max_connections = 10'000;  // open HTTP connections (viewers not counted)
  limit_settings limits;                 // viewers, per token, per address, descriptors
  // The update interval answered to couriers (PROTOCOL.md §10; interval.cpp).
  policy::interval_policy interval;
  std::vector<std::string> allowed_origins;  // empty: same host only
  std::string web_root;                      // the built panel; empty: none
  std::string tiles_url = "https://tile.openstreetmap.org/{z}/{x}/{y}.png";
  std::string tiles_attribution = "&copy; OpenStreetMap contributors";
  core::ingest_limits ingest;
  // Track queries (PROTOCOL.md §7) answered at once; one more gets 503 + Retry-After.
  std::size_t max_history_queries = 4;
  // --history-retention: no query answers a point measured longer ago than this, whenever
  // the store gets round to deleting it.
  std::chrono::seconds history_retention{30 * 86400};
  // The phone apps (PROTOCOL.md §9): the unit of an OsmAnd query/form `speed`, and whether
  // this server is the --osmand-listen one (OsmAnd protocol at `/`, as Traccar's port 5055).
  apps::speed_unit osmand_speed_unit = apps::speed_unit::knots;
  bool osmand_root = false;
};

struct services {
  auth::token_cache* tokens = nullptr;
  core::rate_limiter* limiter = nullptr;
  broker::broker* broker = nullptr;  // drives /readyz; publishes ingested points
  bool ingest = true;                // false: no ingest API (gateway role)
  gateway::gateway* gw = nullptr;    // null: no /ws (ingest role)
  core::metrics* metrics = nullptr;
  std::atomic<bool>* draining = nullptr;
  limits* conn_limits = nullptr;         // set by the server (its own)
  core::order_budget* orders = nullptr;  // null: no bound on the orders a courier names
  // Tracks (PROTOCOL.md §7). Null: none (no track queries; ingest records nothing). With
  // `ingest`, every point is appended and its 200 waits for the append too.
  history::store* history = nullptr;
  std::atomic<std::size_t>* history_queries = nullptr;  // in flight; set by the server
  // Points accepted lately per courier (an app's retry is kept once) and the interval last
  // told to each; null: no duplicate check.
  core::recent_points* recent = nullptr;
  // Who watches whom (PROTOCOL.md §10): this process's gateway's viewers, and those of the
  // gateways heard on the watch channel. Null: no courier is ever watched.
  const policy::watch_registry* watches = nullptr;
};

class server {
 public:
  server(settings s, services svc, std::vector<boost::asio::io_context*> contexts);
  ~server();

  // Binds one acceptor per context on `ep` (port 0 picks one port for all). Throws on
  // failure (a start-up error).
  void listen(const boost::asio::ip::tcp::endpoint& ep);
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  void stop_accepting();  // any thread
  // Requests in flight: read at least in part, not yet answered (any thread).
  std::size_t in_flight() const;
  // Destroys the acceptors; call once the io_contexts stopped, before they are destroyed
  // (each acceptor belongs to one context, while handlers of all contexts share them).
  void release();
  // The limits in force (figures derived at construction).
  const limits& connection_limits() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace peyk::http
