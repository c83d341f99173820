#include "app/config.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include <boost/program_options.hpp>

#include "app/settings.hpp"

namespace peyk::app {

namespace po = boost::program_options;

std::optional<std::int64_t> parse_duration_s(std::string_view t) {
  if (t.empty()) return std::nullopt;
  std::int64_t mult = 1;
  switch (t.back()) {
    case 's':
      mult = 1;
      t.remove_suffix(1);
      break;
    case 'm':
      mult = 60;
      t.remove_suffix(1);
      break;
    case 'h':
      mult = 3600;
      t.remove_suffix(1);
      break;
    case 'd':
      mult = 86400;
      t.remove_suffix(1);
      break;
    default:
      break;
  }
  if (t.empty() || t.size() > 9) return std::nullopt;
  std::int64_t v = 0;
  for (char c : t) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (v <= 0) return std::nullopt;
  return v * mult;
}

double default_drain_window_s(std::string_view command) {
  return command == "gateway" ? 5 : 0;
}

std::vector<std::string> split_list(std::string_view t) {
  std::vector<std::string> out;
  while (!t.empty()) {
    auto comma = t.find(',');
    auto item = t.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    t.remove_prefix(comma + 1);
  }
  return out;
}

std::string check_history_spec(std::string_view spec) {
  if (spec == "off") return {};
  if (spec.starts_with("sqlite:")) {
    if (spec.size() == 7) return "--history sqlite:PATH needs a file path";
    return {};
  }
  for (std::string_view scheme : {"postgres://", "postgresql://"}) {
    if (!spec.starts_with(scheme)) continue;
    auto rest = spec.substr(scheme.size());
    auto slash = rest.find('/');
    if (rest.empty() || slash == 0 || slash == std::string_view::npos || slash + 1 == rest.size()) {
      return "--history postgres:// takes postgres://USER[:PASS]@HOST:PORT/DB";
    }
    return {};
  }
  auto colon = spec.find(':');
  return "--history takes sqlite:PATH, postgres://USER[:PASS]@HOST:PORT/DB or off, not '" +
         std::string(colon == std::string_view::npos ? spec : spec.substr(0, colon + 1)) +
         (colon == std::string_view::npos ? "'" : "...'");
}

std::string redact_history_spec(std::string_view spec) {
  std::string out(spec);
  auto scheme = out.find("://");
  if (scheme == std::string::npos) return out;
  auto auth_start = scheme + 3;
  auto auth_end = out.find_first_of("/?#", auth_start);
  if (auth_end == std::string::npos) auth_end = out.size();
  // The userinfo ends at the last '@' of the authority (a password may hold '@').
  auto at = out.rfind('@', auth_end);
  if (at != std::string::npos && at >= auth_start) {
    auto colon = out.find(':', auth_start);
    if (colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // libpq also takes ?password=...
  for (std::size_t pos = out.find_first_of("?&"); pos != std::string::npos;
       pos = out.find_first_of("?&", pos + 1)) {
    if (out.compare(pos + 1, 9, "password=") != 0) continue;
    auto v = pos + 10;
    auto end = out.find_first_of("&#", v);
    out.replace(v, (end == std::string::npos ? out.size() : end) - v, "***");
  }
  return out;
}

namespace {

template <class Config>
std::optional<Config> finish(
    const po::options_description& desc, int argc, const char* const* argv, std::ostream& out,
    std::ostream& err, int& exit_code, const char* usage, Config& cfg,
    const std::function<std::string(const po::variables_map&, Config&)>& post,
    const std::string& command, const parse_extras& extras) {
  po::options_description all;
  all.add(desc);
  if (extras.options) all.add(*extras.options);
  po::options_description files("Configuration");
  files.add_options()("config", po::value<std::string>(),
                      "INI file of further options (`option = value`, [command] sections; else "
                      "env PEYK_CONFIG). Every option is also read from PEYK_<OPTION> "
                      "(--max-body: PEYK_MAX_BODY); a flag wins over the environment, which "
                      "wins over the file. `peyk config check` shows the result.");
  all.add(files);
  po::variables_map vm;
  std::map<std::string, std::string> sources;
  std::string config_file;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).run(), vm);
    if (vm.count("help")) {
      out << usage << "\n\n" << all << "\n";
      exit_code = 0;
      return std::nullopt;
    }
    store_env_and_file(all, command, vm, sources, config_file);
    po::notify(vm);
  } catch (const std::exception& e) {
    err << "peyk: " << e.what() << "\n(see --help)\n";
    exit_code = 2;
    return std::nullopt;
  }
  if (auto msg = post(vm, cfg); !msg.empty()) {
    err << "peyk: " << msg << "\n(see --help)\n";
    exit_code = 2;
    return std::nullopt;
  }
  if (extras.report) {
    extras.report->command = command;
    extras.report->config_file = config_file;
    extras.report->settings = describe_settings(all, vm, sources);
  }
  return cfg;
}

}  // namespace

std::optional<serve_config> parse_serve(int argc, const char* const* argv, std::ostream& out,
                                        std::ostream& err, int& exit_code, const char* command,
                                        const parse_extras& extras) {
  serve_config c;
  c.drain_window_s = default_drain_window_s(command);
  std::vector<std::string> origins;
  double stall = 15, idle = 40;
  std::string update_interval = "60", interval_watched = "2s", interval_active = "10s",
              interval_idle = "1m";
  double header_timeout = 10, body_timeout = 30, keepalive_timeout = 75;
  std::size_t qentries = c.gateway.queue.max_entries, qbytes = c.gateway.queue.max_bytes;
  std::string offline_after = "2m", courier_ttl = "24h";
  std::string history, history_retention = "30d";
  std::string osmand_speed_unit = "kn";
  const std::string cmd = command;
  const bool records_by_default = cmd == "serve" || cmd == "demo";
  if (cmd == "demo") interval_idle = "2s";  // the demo's couriers move while one watches
  po::options_description d("Options");
  // clang-format off
  d.add_options()
    ("help,h", "print this help and exit")
    ("listen", po::value(&c.listen)->default_value(c.listen), "HOST:PORT to serve HTTP and WebSocket on")
    ("threads", po::value(&c.threads)->default_value(0), "io threads (0: one per core)")
    ("redis", po::value(&c.redis), "redis://[:password@]host:port[/db]: required by ingest and gateway; serve without it uses the in-process broker")
    ("redis-cluster", po::value(&c.redis_cluster), "host:port[,host:port...]: seed nodes of a Redis Cluster (7+); sharded pub/sub over partitioned channels instead of --redis")
    ("redis-password-file", po::value(&c.redis_password_file), "file holding the Redis password (AUTH), for --redis or every --redis-cluster node; unlike a password in the --redis URL it never shows in `ps`")
    ("cluster-partitions", po::value(&c.cluster_partitions)->default_value(c.cluster_partitions), "with --redis-cluster: partitions per channel family; the same on every ingest and gateway")
    ("cluster-order-ttl", po::value(&c.cluster_order_ttl_s)->default_value(c.cluster_order_ttl_s), "with --redis-cluster (ingest): seconds an order's last location is kept for a late customer")
    ("max-orders-per-courier", po::value(&c.max_orders_per_courier)->default_value(c.max_orders_per_courier), "with --redis-cluster (ingest): distinct order ids one courier may name within --cluster-order-ttl (each gets a Redis key); a request naming more is refused with 422 (0: no bound)")
    ("courier-ttl", po::value(&courier_ttl)->default_value(courier_ttl), "a courier silent this long is forgotten everywhere (memory, Redis): 30s, 10m, 24h, 2d or seconds; no other cap on the couriers kept")
    ("channel", po::value(&c.channel)->default_value(c.channel), "Redis pub/sub channel (with --redis-cluster: the prefix of the partitioned channels)")
    ("jwt-secret-file", po::value(&c.jwt_secret_file), "file holding the HS256 key (else env PEYK_JWT_SECRET)")
    ("jwt-previous-secret-file", po::value(&c.jwt_previous_secret_file), "key rotation: file holding the key being retired, still accepted (else env PEYK_JWT_PREVIOUS_SECRET; default: none)")
    ("jwt-leeway", po::value(&c.jwt_leeway_s)->default_value(2), "clock skew allowed on exp/nbf, seconds (0..5)")
    ("update-interval", po::value(&update_interval)->default_value(update_interval), "the old name of --interval-idle (before the interval policy, the one answer to every courier); give one of the two")
    ("interval-watched", po::value(&interval_watched)->default_value(interval_watched), "update interval told to a courier while it is watched: a customer of one of its orders is connected, or a peyk.v1 viewer focuses it (2s, 1m or seconds)")
    ("interval-active", po::value(&interval_active)->default_value(interval_active), "update interval told to a courier carrying orders (those named in the points it posts) and not watched")
    ("interval-idle", po::value(&interval_idle)->default_value(interval_idle), "update interval told to a courier without orders")
    ("interval-low-battery", po::value(&c.http.interval.low_battery)->default_value(c.http.interval.low_battery), "factor stretching the update interval while the courier's battery is below 20 % and not charging (1: off)")
    ("osmand-listen", po::value(&c.osmand_listen), "HOST:PORT of a second listener that answers the OsmAnd protocol (OsmAnd, Traccar Client) at `/`, so that an app's default URL works (Traccar's port is 5055, e.g. 0.0.0.0:5055); the same is always served at /api/v1/osmand on --listen; default: off (no ingest on gateway)")
    ("osmand-speed-unit", po::value(&osmand_speed_unit)->default_value(osmand_speed_unit), "unit of `speed` in OsmAnd query/form requests: kn (knots, as Traccar reads them and Traccar Client sends), kmh, mps (the OsmAnd app's {5}) or mph; a request's own speed_unit parameter wins; JSON bodies are unaffected")
    ("rate-limit", po::value(&c.rate_limit)->default_value(1), "ingest requests per second per courier (0: unlimited)")
    ("rate-burst", po::value(&c.rate_burst)->default_value(10), "ingest burst per courier")
    ("max-body", po::value(&c.http.max_body)->default_value(c.http.max_body), "largest ingest body, bytes")
    ("max-header", po::value(&c.http.max_header)->default_value(c.http.max_header), "largest request head (request line and headers), bytes; over it: 431")
    ("header-timeout", po::value(&header_timeout)->default_value(header_timeout), "seconds a client has to send a whole request head (from the accept, or from a keep-alive request's first byte)")
    ("body-timeout", po::value(&body_timeout)->default_value(body_timeout), "seconds a client has to send a request body once its head is read (and to take the answer)")
    ("keepalive-timeout", po::value(&keepalive_timeout)->default_value(keepalive_timeout), "seconds an idle keep-alive HTTP connection is kept")
    ("max-http-connections", po::value(&c.http.max_connections)->default_value(c.http.max_connections), "open HTTP connections (WebSocket viewers not counted); one more is closed at accept")
    ("max-viewers", po::value(&c.http.limits.max_viewers)->default_value(c.http.limits.max_viewers), "viewers (WebSockets) in this process; one more is refused with 503 (0: derived from RLIMIT_NOFILE: its soft limit, raised to the hard limit at start, less the descriptors open at start and a reserve)")
    ("max-viewers-per-token", po::value(&c.http.limits.max_viewers_per_token)->default_value(c.http.limits.max_viewers_per_token), "viewers open at once per token identity (role and sub); one more is refused with 429 (0: no limit)")
    ("max-connections-per-ip", po::value(&c.http.limits.max_connections_per_ip)->default_value(c.http.limits.max_connections_per_ip), "open connections per client address, HTTP and WebSocket together; a request on one more is answered 429 and closed (0: no limit; behind a proxy every client shares its address)")
    ("fd-reserve", po::value(&c.http.limits.fd_reserve)->default_value(c.http.limits.fd_reserve), "descriptors viewers may never take, kept for /healthz, /metrics, ingest and the broker (0: max(64, 2% of RLIMIT_NOFILE)); new connections may use half of it")
    ("allowed-origin", po::value(&origins)->composing(), "browser Origin allowed on /ws (repeatable, * for any: then the peyk_token cookie is not accepted, only a header or ?token=); default: same host")
    ("ws-idle-timeout", po::value(&idle)->default_value(40), "drop a viewer that sends nothing (not even a pong) for this long, seconds; a ping goes out at half")
    ("stall-timeout", po::value(&stall)->default_value(15), "close a viewer whose socket accepts no data for this long, seconds")
    ("queue-max-entries", po::value(&qentries)->default_value(qentries), "dispatcher and customer viewers: couriers pending per slow viewer before it is closed")
    ("queue-max-bytes", po::value(&qbytes)->default_value(qbytes), "dispatcher and customer viewers: bytes pending per slow viewer before it is closed")
    ("feed-retain-bytes", po::value(&c.gateway.feed_retain_bytes)->default_value(c.gateway.feed_retain_bytes), "admin viewers: recent updates kept per io thread, bytes; an admin further behind gets the newest location of each courier instead")
    ("snapshot-concurrency", po::value(&c.gateway.snapshot_concurrency)->default_value(c.gateway.snapshot_concurrency), "peyk.v1 admins and dispatchers: snapshots streamed at once per io thread; more wait their turn (a reconnect storm costs live delivery nothing)")
    ("snapshot-chunk-bytes", po::value(&c.gateway.snapshot_chunk_bytes)->default_value(c.gateway.snapshot_chunk_bytes), "peyk.v1: a large snapshot is sent as one message in fragments of about this many bytes, each read from the store when the last was written")
    ("offline-after", po::value(&offline_after)->default_value(offline_after), "a courier silent this long is sent to peyk.v1 viewers as {\"type\":\"status\",...\"state\":\"offline\"} (30s, 2m, 1h...)")
    ("drain-window", po::value(&c.drain_window_s)->default_value(c.drain_window_s), "on SIGTERM (or SIGINT), seconds over which viewers are closed with 1001, spread evenly, so that they reconnect to other gateways without a thundering herd; meanwhile /readyz and new upgrades answer 503 and the port keeps answering; a second signal closes the rest at once (0: all at once; default 5 for gateway, 0 for serve; ingest has no viewers)")
    ("drain-timeout", po::value(&c.drain_timeout_s)->default_value(3), "on SIGTERM, after the drain window: seconds to let viewers finish closing and requests in flight be answered before exit")
    ("web-root", po::value(&c.http.web_root), "directory of the built panel (default: web/dist beside the binary's source tree, if present)")
    ("tiles", po::value(&c.http.tiles_url)->default_value(c.http.tiles_url), "map tile URL template for the panel")
    ("tiles-attribution", po::value(&c.http.tiles_attribution)->default_value(c.http.tiles_attribution), "attribution shown under the tiles")
    ("history", po::value(&history), records_by_default
        ? "tracks (every accepted point, for the track queries): sqlite:PATH, postgres://USER[:PASS]@HOST:PORT/DB (the password is never logged; or use PGPASSWORD / ~/.pgpass) or off; default: sqlite:<--data-dir>/history.sqlite"
        : cmd == "ingest" ? "record every accepted point (tracks) in sqlite:PATH or postgres://USER[:PASS]@HOST:PORT/DB before answering 200 (the password is never logged); default: off (nothing recorded)"
                          : "answer the track queries (/api/v1/couriers/ID/track, ...) from sqlite:PATH or postgres://USER[:PASS]@HOST:PORT/DB (the password is never logged); default: off (no track queries)")
    ("data-dir", po::value(&c.data_dir)->default_value(c.data_dir), records_by_default
        ? "directory of the default history file (history.sqlite), created if missing"
        : "directory for local data (unused by this command unless --history names a file in it)")
    ("history-retention", po::value(&history_retention)->default_value(history_retention), "with --history: points older than this (by the time they were measured) are dropped: 90s, 15m, 2h, 30d or seconds")
    ("max-history-queries", po::value(&c.http.max_history_queries)->default_value(c.http.max_history_queries), "with --history: track queries answered at once by this process; one more is refused with 503 and Retry-After")
    ("log-level", po::value(&c.log_level)->default_value(c.log_level), "debug, info, warn, error or off");
  // clang-format on
  std::string usage = std::string("usage: peyk ") + command + " [options]";
  return finish<serve_config>(
      d, argc, argv, out, err, exit_code, usage.c_str(), c,
      [&](const po::variables_map& vm, serve_config& cfg) -> std::string {
        cfg.http.allowed_origins = origins;
        // OpenStreetMap's credit belongs to OpenStreetMap's tiles only.
        if (!vm["tiles"].defaulted() && vm["tiles-attribution"].defaulted()) {
          cfg.http.tiles_attribution.clear();
        }
        if (cfg.jwt_leeway_s < 0 || cfg.jwt_leeway_s > 5) return "--jwt-leeway must be 0..5";
        if (!vm["update-interval"].defaulted() && !vm["interval-idle"].defaulted()) {
          return "--update-interval is the old name of --interval-idle: give one of them";
        }
        for (auto [flag, text, dest] :
             {std::tuple{"--interval-watched", &interval_watched, &cfg.http.interval.watched_s},
              std::tuple{"--interval-active", &interval_active, &cfg.http.interval.active_s},
              std::tuple{"--interval-idle",
                         vm["update-interval"].defaulted() ? &interval_idle : &update_interval,
                         &cfg.http.interval.idle_s}}) {
          auto v = parse_duration_s(*text);
          if (!v || *v > 86400) {
            return std::string(flag == std::string_view("--interval-idle") &&
                                       !vm["update-interval"].defaulted()
                                   ? "--update-interval"
                                   : flag) +
                   " takes a duration of 1s..1d such as 2s, 10s, 1m or seconds";
          }
          *dest = static_cast<int>(*v);
        }
        if (!(cfg.http.interval.low_battery >= 1 && cfg.http.interval.low_battery <= 10)) {
          return "--interval-low-battery must be 1..10";
        }
        if (stall <= 0 || idle <= 0 || header_timeout <= 0 || body_timeout <= 0 ||
            keepalive_timeout <= 0) {
          return "timeouts must be positive";
        }
        if (header_timeout > 3600 || body_timeout > 3600 || keepalive_timeout > 3600) {
          return "HTTP timeouts must be at most 3600 seconds";
        }
        const auto ms = [](double s) {
          return std::chrono::milliseconds(static_cast<long>(s * 1000));
        };
        cfg.http.header_timeout = ms(header_timeout);
        cfg.http.body_timeout = ms(body_timeout);
        cfg.http.keepalive_timeout = ms(keepalive_timeout);
        if (cfg.http.max_connections < 1) return "--max-http-connections must be at least 1";
        if (cfg.http.max_header < 1024 || cfg.http.max_header > (1u << 20)) {
          return "--max-header must be 1 KiB..1 MiB";
        }
        if (cfg.rate_limit < 0 || cfg.rate_burst < 1) return "--rate-limit >= 0, --rate-burst >= 1";
        if (cfg.http.max_body < 1024 || cfg.http.max_body > (16u << 20)) {
          return "--max-body must be 1 KiB..16 MiB";
        }
        if (qentries < 1 || qbytes < 1024) return "queue limits too small";
        if (cfg.gateway.feed_retain_bytes < 4096 || cfg.gateway.feed_retain_bytes > (1ull << 32)) {
          return "--feed-retain-bytes must be 4 KiB..4 GiB";
        }
        cfg.gateway.stall_timeout = std::chrono::milliseconds(static_cast<long>(stall * 1000));
        cfg.gateway.idle_timeout = std::chrono::milliseconds(static_cast<long>(idle * 1000));
        cfg.gateway.queue = {qentries, qbytes};
        if (cfg.gateway.snapshot_concurrency < 1 || cfg.gateway.snapshot_concurrency > 10000) {
          return "--snapshot-concurrency must be 1..10000";
        }
        if (cfg.gateway.snapshot_chunk_bytes < 4096 ||
            cfg.gateway.snapshot_chunk_bytes > (64u << 20)) {
          return "--snapshot-chunk-bytes must be 4 KiB..64 MiB";
        }
        auto offline = parse_duration_s(offline_after);
        if (!offline) return "--offline-after takes a duration such as 90s, 2m or 1h";
        if (auto t = parse_duration_s(courier_ttl); t && *t <= *offline) {
          // A short TTL alone (tests, demos): report offline at half of it.
          if (!vm["offline-after"].defaulted()) {
            return "--courier-ttl must be longer than --offline-after";
          }
          offline = std::max<std::int64_t>(1, *t / 2);
        }
        cfg.gateway.offline_after = std::chrono::seconds(*offline);
        if (cfg.drain_timeout_s < 0 || cfg.drain_timeout_s > 600) return "--drain-timeout 0..600";
        if (!(cfg.drain_window_s >= 0 && cfg.drain_window_s <= 3600)) {
          return "--drain-window must be 0..3600 seconds";
        }
        if (cfg.listen.rfind(':') == std::string::npos) return "--listen takes HOST:PORT";
        if (!cfg.osmand_listen.empty() && cfg.osmand_listen.rfind(':') == std::string::npos) {
          return "--osmand-listen takes HOST:PORT";
        }
        if (!cfg.osmand_listen.empty() && cmd == "gateway") {
          return "--osmand-listen takes points: give it to serve or ingest, not gateway";
        }
        if (auto u = apps::parse_speed_unit(osmand_speed_unit)) {
          cfg.http.osmand_speed_unit = *u;
        } else {
          return "--osmand-speed-unit takes kn, kmh, mps or mph";
        }
        if (!cfg.redis.empty() && !cfg.redis_cluster.empty()) {
          return "--redis and --redis-cluster exclude each other";
        }
        if (!cfg.redis_password_file.empty() && cfg.redis_cluster.empty() && cfg.redis.empty()) {
          return "--redis-password-file goes with --redis or --redis-cluster";
        }
        if (!(cfg.cluster_order_ttl_s >= 1 && cfg.cluster_order_ttl_s <= 30 * 86400)) {
          return "--cluster-order-ttl must be 1..2592000 seconds";
        }
        auto ttl = parse_duration_s(courier_ttl);
        if (!ttl || *ttl > 365 * 86400) {
          return "--courier-ttl takes a duration of 1s..365d such as 30s, 10m, 24h or 2d";
        }
        cfg.courier_ttl_s = *ttl;
        cfg.gateway.courier_ttl = std::chrono::seconds(*ttl);
        if (cfg.max_orders_per_courier > 1'000'000) {
          return "--max-orders-per-courier must be 0..1000000";
        }
        if (cfg.cluster_partitions < 1 || cfg.cluster_partitions > 4096) {
          return "--cluster-partitions must be 1..4096";
        }
        if (cfg.data_dir.empty()) return "--data-dir must not be empty";
        if (vm.count("history")) {
          cfg.history = history;
        } else if (records_by_default) {
          cfg.history =
              "sqlite:" + (std::filesystem::path(cfg.data_dir) / "history.sqlite").string();
        } else {
          cfg.history = "off";
        }
        if (auto problem = check_history_spec(cfg.history); !problem.empty()) return problem;
        auto retention = parse_duration_s(history_retention);
        if (!retention || *retention > 3650 * 86400) {
          return "--history-retention takes a duration of 1s..3650d such as 90s, 15m, 2h or 30d";
        }
        cfg.history_retention_s = *retention;
        cfg.http.history_retention = std::chrono::seconds(*retention);
        if (cfg.http.max_history_queries < 1 || cfg.http.max_history_queries > 1024) {
          return "--max-history-queries must be 1..1024";
        }
        return {};
      },
      cmd, extras);
}

std::optional<token_config> parse_token(int argc, const char* const* argv, std::ostream& out,
                                        std::ostream& err, int& exit_code,
                                        const parse_extras& extras) {
  token_config c;
  std::string ttl = "1h", fleets, orders;
  po::options_description d("Options");
  // clang-format off
  d.add_options()
    ("help,h", "print this help and exit")
    ("role", po::value(&c.role)->required(), "courier, admin, dispatcher or customer")
    ("sub", po::value(&c.sub)->required(), "user id (for couriers: the courier id)")
    ("ttl", po::value(&ttl)->default_value(ttl), "lifetime: 30s, 10m, 1h, 2d")
    ("name", po::value(&c.name), "display name (couriers: user.username)")
    ("fleet", po::value(&c.fleet), "courier: its fleet")
    ("fleets", po::value(&fleets), "dispatcher: fleets it may watch, comma-separated")
    ("orders", po::value(&orders), "customer: order ids it may track, comma-separated")
    ("jwt-secret-file", po::value(&c.jwt_secret_file), "file holding the HS256 key (else env PEYK_JWT_SECRET)");
  // clang-format on
  return finish<token_config>(
      d, argc, argv, out, err, exit_code,
      "usage: peyk token --role ROLE --sub ID [options]\nPrints a JWT "
      "signed with the configured key.",
      c,
      [&](const po::variables_map&, token_config& cfg) -> std::string {
        if (cfg.role != "courier" && cfg.role != "admin" && cfg.role != "dispatcher" &&
            cfg.role != "customer") {
          return "--role must be courier, admin, dispatcher or customer";
        }
        auto t = parse_duration_s(ttl);
        if (!t) return "--ttl takes a duration such as 30s, 10m, 1h or 2d";
        cfg.ttl_s = *t;
        cfg.fleets = split_list(fleets);
        cfg.orders = split_list(orders);
        if (cfg.role == "customer" && cfg.orders.empty()) return "a customer token needs --orders";
        if (cfg.role == "dispatcher" && cfg.fleets.empty()) {
          return "a dispatcher token needs --fleets";
        }
        return {};
      },
      "token", extras);
}

std::string role_problem(std::string_view command, const serve_config& cfg) {
  if ((command == "ingest" || command == "gateway") && cfg.redis.empty() &&
      cfg.redis_cluster.empty()) {
    return "`peyk " + std::string(command) +
           "` needs --redis redis://HOST:PORT or --redis-cluster HOST:PORT,... (the roles meet "
           "there); `peyk serve` runs both in one process";
  }
  return {};
}

namespace {
std::string read_secret_file(const std::string& file, const char* flag) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw std::runtime_error(std::string("cannot read ") + flag + " " + file);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string secret = ss.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) throw std::runtime_error(std::string(flag) + " " + file + " is empty");
  return secret;
}
}  // namespace

std::string load_redis_password(const std::string& file) {
  return file.empty() ? std::string() : read_secret_file(file, "--redis-password-file");
}

std::string load_previous_secret(const std::string& file) {
  if (!file.empty()) return read_secret_file(file, "--jwt-previous-secret-file");
  if (const char* env = std::getenv("PEYK_JWT_PREVIOUS_SECRET"); env && *env) return env;
  return {};
}

std::string load_secret(const std::string& file) {
  std::string secret;
  if (!file.empty()) {
    std::ifstream in(file, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read --jwt-secret-file " + file);
    std::ostringstream ss;
    ss << in.rdbuf();
    secret = ss.str();
    while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
    if (secret.empty()) throw std::runtime_error("--jwt-secret-file " + file + " is empty");
    return secret;
  }
  if (const char* env = std::getenv("PEYK_JWT_SECRET"); env && *env) return env;
  throw std::runtime_error(
      "no JWT secret: set PEYK_JWT_SECRET or pass --jwt-secret-file (there is no default)");
}

}  // namespace peyk::app
