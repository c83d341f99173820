// Wiring by config: one io_context per thread, the broker, the gateway, the HTTP server,
// and the SIGTERM drain (PROTOCOL.md §6).
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <limits>
#include <optional>
#include <sstream>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "app/commands.hpp"
#include "auth/jwt.hpp"
#include "auth/token_cache.hpp"
#include "broker/memory_broker.hpp"
#include "broker/redis_broker.hpp"
#include "broker/redis_cluster_broker.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "core/order_budget.hpp"
#include "core/rate_limiter.hpp"
#include "core/recent_points.hpp"
#include "gateway/gateway.hpp"
#include "history/history.hpp"
#include "http/server.hpp"
#include "policy/watch_registry.hpp"
#include "policy/watch_sync.hpp"
#include "store/last_known.hpp"

namespace peyk::app {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

std::string default_web_root() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (auto dir = exe.parent_path(); !dir.empty() && dir != dir.root_path();
       dir = dir.parent_path()) {
    auto candidate = dir / "web" / "dist";
    if (std::filesystem::is_regular_file(candidate / "index.html", ec)) return candidate.string();
  }
  return {};
}

core::log_level parse_level(const std::string& s) {
  if (s == "debug") return core::log_level::debug;
  if (s == "warn") return core::log_level::warn;
  if (s == "error") return core::log_level::error;
  if (s == "off") return core::log_level::off;
  return core::log_level::info;
}

tcp::endpoint parse_endpoint(const std::string& listen) {
  auto colon = listen.rfind(':');
  auto host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty() || host == "localhost") host = "127.0.0.1";
  auto port = std::stoi(listen.substr(colon + 1));
  if (port < 0 || port > 65535) throw std::runtime_error("--listen: bad port");
  return {net::ip::make_address(host), static_cast<unsigned short>(port)};
}

// `sqlite:PATH`: creates PATH's directory when missing (the default --data-dir), readable
// by this user only (tracks are where people were).
void make_history_dir(const std::string& spec) {
  if (!spec.starts_with("sqlite:")) return;
  auto dir = std::filesystem::path(spec.substr(7)).parent_path();
  if (dir.empty()) return;
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return;
  if (!std::filesystem::create_directories(dir, ec) && ec) {
    throw std::runtime_error("cannot create the history directory " + dir.string() + ": " +
                             ec.message());
  }
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
}

std::string duration_text(std::int64_t s) {
  if (s % 86400 == 0) return std::to_string(s / 86400) + "d";
  if (s % 3600 == 0) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

// The keys, the address and the broker settings: everything run_serve resolves before it
// starts. Throws std::runtime_error with the message it exits with.
struct startup {
  std::string secret, previous_secret;
  tcp::endpoint ep;
  std::optional<broker::redis_config> redis;
  std::optional<broker::cluster_config> cluster;
  std::vector<std::string> warnings;  // a short key `peyk demo` accepts
};

startup resolve_startup(const serve_config& cfg, role r) {
  startup st;
  auto& secret = st.secret;
  auto& previous_secret = st.previous_secret;
  auto& ep = st.ep;
  auto& redis = st.redis;
  auto& cluster = st.cluster;
  secret = load_secret(cfg.jwt_secret_file);
  previous_secret = load_previous_secret(cfg.jwt_previous_secret_file);
  ep = parse_endpoint(cfg.listen);
  if (!cfg.redis.empty()) {
    redis = broker::parse_redis_url(cfg.redis);
    if (auto pw = load_redis_password(cfg.redis_password_file); !pw.empty()) {
      if (!redis->password.empty()) {
        throw std::runtime_error(
            "--redis carries a password and --redis-password-file another: give one");
      }
      redis->password = std::move(pw);
    }
    redis->channel = cfg.channel;
    redis->write_last_known = r != role::gateway;
    redis->subscribe = r != role::ingest;
    redis->courier_ttl = std::chrono::seconds(cfg.courier_ttl_s);
  }
  if (!cfg.redis_cluster.empty()) {
    cluster.emplace();
    cluster->seeds = broker::parse_cluster_seeds(cfg.redis_cluster);
    cluster->password = load_redis_password(cfg.redis_password_file);
    cluster->channel = cfg.channel;
    cluster->partitions = cfg.cluster_partitions;
    cluster->order_ttl = std::chrono::seconds(static_cast<long>(cfg.cluster_order_ttl_s));
    cluster->write_last_known = r != role::gateway;
    cluster->subscribe = r != role::ingest;
    cluster->courier_ttl = std::chrono::seconds(cfg.courier_ttl_s);
  }
  for (auto [key, what] : {std::pair<const std::string*, const char*>{&secret, "the JWT secret"},
                           {&previous_secret, "the previous JWT secret"}}) {
    if (key->empty()) continue;
    auto problem = auth::secret_length_error(*key, what);
    if (problem.empty()) continue;
    if (!cfg.allow_short_secret) throw std::runtime_error(problem);
    st.warnings.push_back(problem);
  }
  return st;
}

}  // namespace

std::string startup_problem(const serve_config& cfg, role r) {
  try {
    (void)resolve_startup(cfg, r);
  } catch (const std::exception& e) {
    return e.what();
  }
  return {};
}

int run_serve(serve_config cfg, role r, const std::function<void(const std::string&)>& on_ready) {
  core::set_log_level(parse_level(cfg.log_level));
  ::signal(SIGPIPE, SIG_IGN);
  // A file size limit (RLIMIT_FSIZE) reached by the history file is a write error (503
  // history_unavailable until there is room), not the end of the process.
  ::signal(SIGXFSZ, SIG_IGN);
  const char* role_name = r == role::all ? "serve" : r == role::ingest ? "ingest" : "gateway";
  startup st;
  try {
    st = resolve_startup(cfg, r);
  } catch (const std::exception& e) {
    std::cerr << "peyk: " << e.what() << "\n";
    return 2;
  }
  for (const auto& w : st.warnings) core::log(core::log_level::warn, w);
  auto& secret = st.secret;
  auto& previous_secret = st.previous_secret;
  auto& ep = st.ep;
  auto& redis = st.redis;
  auto& cluster = st.cluster;
  {
    std::size_t before = 0;
    cfg.http.limits.fd_limit = http::raise_fd_limit(before);
    core::log(core::log_level::info,
              "RLIMIT_NOFILE: soft limit " + std::to_string(cfg.http.limits.fd_limit) +
                  (before != cfg.http.limits.fd_limit
                       ? " (raised from " + std::to_string(before) + " to the hard limit)"
                       : " (the hard limit)"));
  }
  if (r == role::ingest) {
    cfg.http.web_root.clear();  // the API only; the panel lives with the gateway
  } else if (cfg.http.web_root.empty()) {
    cfg.http.web_root = default_web_root();
  }

  if (!previous_secret.empty()) {
    core::log(core::log_level::info,
              "key rotation: tokens signed with the previous key are accepted");
  }
  auth::jwt_verifier verifier(
      secret, {static_cast<std::int64_t>(cfg.jwt_leeway_s), std::move(previous_secret)});
  auth::token_cache tokens(verifier);
  core::rate_limiter limiter(cfg.rate_limit, cfg.rate_burst);
  // Redis Cluster writes a key per order named: each courier's distinct orders are bounded.
  std::optional<core::order_budget> order_budget;
  if (cluster && r != role::gateway && cfg.max_orders_per_courier > 0) {
    order_budget.emplace(cfg.max_orders_per_courier,
                         static_cast<std::int64_t>(cfg.cluster_order_ttl_s * 1e6));
  }
  core::metrics metrics;
  // An app's retry of a point it already sent is kept once (PROTOCOL.md §9); forgotten with
  // the courier (--courier-ttl).
  core::recent_points recent(64, 100'000, cfg.courier_ttl_s * 1'000'000);
  store::last_known store;
  std::atomic<bool> draining{false};

  // Tracks (PROTOCOL.md §7): opened before the port, so that no point is taken unrecorded.
  std::unique_ptr<history::store> hist;
  if (cfg.history != "off") {
    const auto shown = redact_history_spec(cfg.history);
    try {
      make_history_dir(cfg.history);
      history::options opt;
      opt.retention = std::chrono::seconds(cfg.history_retention_s);
      hist = history::open_store(cfg.history, opt, metrics);
      hist->start();
    } catch (const std::exception& e) {
      std::cerr << "peyk: history " << shown << ": " << e.what() << "\n";
      return 2;
    }
    core::log(core::log_level::info,
              "history: " + shown + ", retention " + duration_text(cfg.history_retention_s) +
                  (r == role::gateway ? " (track queries only)" : "") +
                  (hist->ready() ? "" : "; not writable yet: ingest answers 503 until it is"));
  }

  unsigned n = cfg.threads ? cfg.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::unique_ptr<net::io_context>> owned;
  std::vector<net::io_context*> contexts;
  for (unsigned i = 0; i < n; ++i) {
    owned.push_back(std::make_unique<net::io_context>(1));
    contexts.push_back(owned.back().get());
  }

  // Who watches whom (PROTOCOL.md §10). The gateway reports its viewers into the registry,
  // ingest reads it for each answer. Apart (ingest + gateway over Redis), the gateways
  // publish their part on the broker's watch channel and ingest processes apply it:
  // changes within ~100 ms, the whole state every second, lapsing 3 s after a gateway's
  // last word (docs/architecture.md, "Who watches whom"). Declared before the broker:
  // its thread calls into them until it stops.
  const bool over_redis = cluster || redis;
  policy::watch_registry watches;
  broker::broker* control_bus = nullptr;
  policy::sync_options sync_opts;
  sync_opts.source = policy::make_source_id();
  sync_opts.publish = over_redis && r != role::ingest;
  policy::watch_sync watch_sync(watches, sync_opts, metrics, [&control_bus](std::string m) {
    if (control_bus) control_bus->publish_control(std::move(m));
  });

  std::unique_ptr<broker::broker> owned_bus;
  if (cluster) {
    owned_bus = std::make_unique<broker::redis_cluster_broker>(*cluster, metrics);
  } else if (redis) {
    owned_bus = std::make_unique<broker::redis_broker>(*redis, metrics);
  } else {
    owned_bus = std::make_unique<broker::memory_broker>();
  }
  auto& bus = *owned_bus;
  control_bus = &bus;
  gateway::gateway gw(cfg.gateway, store, metrics, contexts);
  if (r != role::ingest) {
    bus.subscribe([&gw](const broker::location_ptr& loc) { gw.on_message(loc); });
    gw.set_broker(&bus);  // viewers tell it what they need
    gw.set_watches(&watches);
  }
  if (over_redis && r != role::gateway) {
    bus.subscribe_control(
        [&watch_sync](std::string_view m) { watch_sync.on_message(m, policy::clock::now()); });
  }
  bus.start();
  metrics.broker_connected.set(bus.ready() ? 1 : 0);

  http::services svc{
      &tokens,  &limiter, &bus, r != role::gateway, r != role::ingest ? &gw : nullptr,
      &metrics, &draining};
  if (order_budget) svc.orders = &*order_budget;
  svc.history = hist.get();
  if (r != role::gateway) svc.recent = &recent;
  svc.watches = &watches;
  http::server srv(cfg.http, svc, contexts);
  try {
    srv.listen(ep);
  } catch (const boost::system::system_error& e) {
    std::cerr << "peyk: cannot listen on " << cfg.listen << ": " << e.code().message() << "\n";
    if (hist) hist->stop();
    return 2;
  }
  // --osmand-listen: the same services, the OsmAnd protocol at `/` (the apps' default URL).
  std::optional<http::server> osmand_srv;
  if (!cfg.osmand_listen.empty() && r != role::gateway) {
    auto osmand_cfg = cfg.http;
    osmand_cfg.osmand_root = true;
    osmand_srv.emplace(osmand_cfg, svc, contexts);
    try {
      osmand_srv->listen(parse_endpoint(cfg.osmand_listen));
    } catch (const std::exception& e) {
      std::cerr << "peyk: cannot listen on " << cfg.osmand_listen
                << " (--osmand-listen): " << e.what() << "\n";
      srv.release();
      if (hist) hist->stop();
      return 2;
    }
    auto b = osmand_srv->local_endpoint();
    core::log(core::log_level::info, "OsmAnd protocol (OsmAnd, Traccar Client) at http://" +
                                         b.address().to_string() + ":" + std::to_string(b.port()) +
                                         "/");
  }
  auto in_flight = [&] { return srv.in_flight() + (osmand_srv ? osmand_srv->in_flight() : 0); };
  gw.start();
  {
    const auto& fig = srv.connection_limits().figures();
    const auto& lim = cfg.http.limits;
    const auto text = [](std::size_t v) {
      return v == std::numeric_limits<std::size_t>::max() ? std::string("no limit")
                                                          : std::to_string(v);
    };
    core::log(core::log_level::info,
              "limits: viewers " + text(fig.max_viewers) + (lim.max_viewers ? "" : " (derived)") +
                  ", per token " +
                  (lim.max_viewers_per_token ? std::to_string(lim.max_viewers_per_token)
                                             : std::string("no limit")) +
                  ", connections per address " +
                  (lim.max_connections_per_ip ? std::to_string(lim.max_connections_per_ip)
                                              : std::string("no limit")) +
                  "; descriptors: " + text(fig.reserve) + " reserved, viewers refused at " +
                  text(fig.viewer_sockets) + " open sockets, new connections at " +
                  text(fig.accept_sockets));
  }
  auto bound = srv.local_endpoint();
  std::string url = "http://" + bound.address().to_string() + ":" + std::to_string(bound.port());
  core::log(core::log_level::info,
            std::string("peyk ") + role_name + " listening on " + url + " (" + std::to_string(n) +
                " threads, broker " + bus.name() + ", panel " +
                (cfg.http.web_root.empty() ? "not built" : cfg.http.web_root) + ")");
  if (on_ready) on_ready(url);

  std::vector<net::executor_work_guard<net::io_context::executor_type>> guards;
  for (auto* c : contexts) guards.push_back(net::make_work_guard(*c));

  // The SIGTERM drain (PROTOCOL.md §6), on the first thread. At the signal /readyz turns
  // 503 and new upgrades are refused, while the port keeps answering; over the drain window
  // the viewers are closed with 1001 in even steps (each shard closes its share on its own
  // thread); then the listener closes and the process exits once the viewers are gone and
  // the requests in flight answered, or after --drain-timeout. A second signal ends the
  // window at once; one more after it exits at once.
  auto& main_ctx = *contexts[0];
  // The watch state's clock: expiry, gauges, and (a gateway over Redis) its publishing.
  net::steady_timer watch_timer(main_ctx);
  std::function<void()> watch_tick = [&] {
    watch_sync.tick(policy::clock::now());
    watch_timer.expires_after(std::chrono::milliseconds(50));
    watch_timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) watch_tick();
    });
  };
  net::post(main_ctx, [&] { watch_tick(); });
  net::signal_set signals(main_ctx, SIGINT, SIGTERM);
  net::steady_timer drain_timer(main_ctx);
  enum class phase { serving, window, closing, stopped } state = phase::serving;
  constexpr auto step_period = std::chrono::milliseconds(100);
  const bool has_viewers = r != role::ingest;
  const auto window =
      std::chrono::milliseconds(has_viewers ? static_cast<long>(cfg.drain_window_s * 1000) : 0);
  const auto steps = static_cast<std::size_t>(std::max<long>(1, window / step_period));
  std::size_t step = 0;
  auto drain_started = std::chrono::steady_clock::now();
  auto deadline = drain_started;
  std::size_t viewers_at_signal = 0;
  auto stop_all = [&] {
    if (state == phase::stopped) return;
    state = phase::stopped;
    drain_timer.cancel();
    signals.cancel();
    auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - drain_started);
    std::ostringstream line;
    line.precision(2);
    line << std::fixed << "drain done in " << took.count() << "s: " << metrics.dropped_drain.value()
         << " of " << viewers_at_signal << " viewers closed with 1001, " << gw.viewers()
         << " still open, " << in_flight() << " requests in flight";
    core::log(core::log_level::info, line.str());
    gw.stop();
    watch_timer.cancel();
    watch_sync.stop();  // tells the ingest processes at once, rather than in 3 s
    bus.stop();
    guards.clear();
    for (auto* c : contexts) c->stop();
  };
  std::function<void()> wait_drained = [&] {
    if ((gw.viewers() == 0 && in_flight() == 0) || std::chrono::steady_clock::now() >= deadline) {
      return stop_all();
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([&](boost::system::error_code ec) {
      if (!ec) wait_drained();
    });
  };
  // The window is over (or cut short): close what is left, stop accepting, wait.
  auto end_window = [&] {
    state = phase::closing;
    drain_timer.cancel();
    srv.stop_accepting();
    if (osmand_srv) osmand_srv->stop_accepting();
    gw.close_all(1001);
    deadline = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(static_cast<long>(cfg.drain_timeout_s * 1000));
    wait_drained();
  };
  // Step k of the window runs at k/steps of it, the last one at its end.
  std::function<void()> next_step = [&] {
    if (gw.viewers() == 0) return end_window();  // nobody left to spread
    drain_timer.expires_at(drain_started +
                           window * static_cast<long>(step + 1) / static_cast<long>(steps));
    drain_timer.async_wait([&](boost::system::error_code ec) {
      if (ec || state != phase::window) return;
      gw.drain_step(steps - step);
      if (++step >= steps) return end_window();
      next_step();
    });
  };
  std::function<void()> on_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      const char* name = sig == SIGTERM ? "SIGTERM" : "SIGINT";
      if (state == phase::serving) {
        draining = true;  // /readyz and new upgrades: 503 from now on
        drain_started = std::chrono::steady_clock::now();
        viewers_at_signal = gw.viewers();
        const bool spread = window.count() > 0 && viewers_at_signal > 0;
        std::ostringstream line;
        line << "received " << name << ": draining " << viewers_at_signal << " viewers";
        if (spread) {
          line << " over " << cfg.drain_window_s << "s (a second signal closes them at once)";
        }
        line << ", then up to " << cfg.drain_timeout_s << "s for the rest and " << in_flight()
             << " requests in flight";
        core::log(core::log_level::info, line.str());
        if (spread) {
          state = phase::window;
          next_step();
        } else {
          end_window();
        }
      } else if (state == phase::window) {
        core::log(core::log_level::info, std::string("received ") + name +
                                             " again: closing the remaining " +
                                             std::to_string(gw.viewers()) + " viewers now");
        end_window();
      } else if (state == phase::closing) {
        core::log(core::log_level::info, std::string("received ") + name + " again: exiting now");
        return stop_all();
      }
      if (state != phase::stopped) on_signal();
    });
  };
  on_signal();

  std::vector<std::thread> threads;
  for (unsigned i = 1; i < n; ++i) threads.emplace_back([c = contexts[i]] { c->run(); });
  main_ctx.run();
  for (auto& t : threads) t.join();
  srv.release();
  if (osmand_srv) osmand_srv->release();
  // Every answer is written: what is still queued is committed, then the store's threads end.
  if (hist) hist->stop();
  core::log(core::log_level::info, std::string("peyk ") + role_name + " stopped");
  return 0;
}

}  // namespace peyk::app
