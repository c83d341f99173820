#include "options.hpp"

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string_view>

#include <boost/program_options.hpp>
#include <boost/url/parse.hpp>

namespace peyk::loadgen {

namespace po = boost::program_options;

namespace {

constexpr const char* usage =
    "usage: peyk-loadgen [options]\n"
    "\n"
    "Load generator for peyk: holds WebSocket viewers, publishes courier locations through\n"
    "the ingest API at a paced rate, and reports deliveries/s and end-to-end latency\n"
    "(viewer receipt time minus the `ts` the ingest stamped). Loopback only.";

struct endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string path;
};

std::optional<endpoint> parse_url(const std::string& text, std::string_view scheme,
                                  std::string& why) {
  auto u = boost::urls::parse_uri(text);
  if (!u) {
    why = "not a URL";
    return std::nullopt;
  }
  if (u->scheme() != scheme) {
    why = "scheme must be " + std::string(scheme);
    return std::nullopt;
  }
  endpoint e;
  e.host = u->host();
  if (e.host.empty()) {
    why = "no host";
    return std::nullopt;
  }
  e.port = u->has_port() ? u->port_number() : 80;
  if (e.port == 0) {
    why = "bad port";
    return std::nullopt;
  }
  e.path = u->encoded_path().empty() ? "/" : std::string(u->encoded_target());
  return e;
}

}  // namespace

bool parse_host_port(const std::string& text, std::string& host, std::uint16_t& port) {
  std::string_view t = text;
  if (t.starts_with("redis://")) t.remove_prefix(8);
  while (!t.empty() && t.back() == '/') t.remove_suffix(1);
  auto colon = t.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == t.size()) return false;
  unsigned long p = 0;
  for (char c : t.substr(colon + 1)) {
    if (c < '0' || c > '9') return false;
    p = p * 10 + static_cast<unsigned long>(c - '0');
    if (p > 65535) return false;
  }
  if (p == 0) return false;
  host = std::string(t.substr(0, colon));
  port = static_cast<std::uint16_t>(p);
  return true;
}

const char* to_string(viewer_role r) {
  switch (r) {
    case viewer_role::admin:
      return "admin";
    case viewer_role::dispatcher:
      return "dispatcher";
    case viewer_role::customer:
      return "customer";
  }
  return "?";
}

const char* to_string(ws_protocol p) {
  return p == ws_protocol::v1 ? "v1" : "echo";
}

std::optional<options> parse_options(int argc, const char* const* argv, std::ostream& out,
                                     std::ostream& err, int& exit_code) {
  options o;
  std::vector<std::string> urls;
  std::string ingest_url, role, protocol, secret_file, rate = "0", redis;
  std::vector<int> server_pids;
  int notify_pid = 0;
  po::options_description desc("Options", 100, 50);
  // clang-format off
  desc.add_options()
    ("help,h", "print this help and exit")
    ("url", po::value(&urls)->composing()->default_value({"ws://127.0.0.1:8082/ws"},
                                                         "ws://127.0.0.1:8082/ws"),
     "WebSocket endpoint of the gateway; repeat it for several gateways: viewers are "
     "spread over them round-robin")
    ("ingest-url", po::value(&ingest_url),
     "http://HOST:PORT of the ingest API (default: the --url host and port)")
    ("jwt-secret", po::value(&o.jwt_secret),
     "HS256 key to mint viewer and courier tokens (else --jwt-secret-file, else env "
     "PEYK_JWT_SECRET)")
    ("jwt-secret-file", po::value(&secret_file), "file holding the HS256 key")
    ("viewers", po::value(&o.viewers)->default_value(o.viewers), "WebSocket viewers to hold")
    ("role", po::value(&role)->default_value("admin"),
     "viewer role: admin (sees all couriers), dispatcher (one fleet of --fleets) or "
     "customer (one courier's order)")
    ("protocol", po::value(&protocol)->default_value("echo"),
     "subprotocol: echo (echo-protocol, one location per frame) or v1 (peyk.v1)")
    ("source-ips", po::value(&o.source_ips)->default_value(o.source_ips),
     "bind viewer sockets round-robin to N addresses from --source-base (127.0.0.1, "
     "127.0.0.2, ...) to pass the ephemeral port range; 1: no bind")
    ("source-base", po::value(&o.source_base)->default_value(o.source_base),
     "first source address for --source-ips")
    ("connect-concurrency", po::value(&o.connect_concurrency)->default_value(o.connect_concurrency),
     "viewer connections being opened at once (all threads together)")
    ("connect-timeout", po::value(&o.connect_timeout_s)->default_value(o.connect_timeout_s),
     "seconds for one viewer's TCP connect plus WebSocket handshake")
    ("publisher", po::value(&o.publisher)->default_value(o.publisher),
     "how locations enter the system: http (POST /api/v1/locations) or redis (PUBLISH the "
     "broker message, ts stamped at send time, on --channel of --redis)")
    ("ingest-format", po::value(&o.ingest_format)->default_value(o.ingest_format),
     "--publisher http: json (POST /api/v1/locations, Bearer token) or osmand (GET "
     "/api/v1/osmand?id=TOKEN&lat=..&lon=..&timestamp=.., as the OsmAnd app sends)")
    ("publish-rate", po::value(&rate)->default_value(rate),
     "locations per second, all threads together, evenly paced (0: publish nothing); max: "
     "closed loop, every connection sends its next request as soon as the last is answered "
     "(redis: keeps --pipeline in flight per connection)")
    ("redis", po::value(&redis), "HOST:PORT (or redis://HOST:PORT) for --publisher redis")
    ("channel", po::value(&o.channel)->default_value(o.channel), "Redis channel to publish on")
    ("redis-connections", po::value(&o.redis_connections)->default_value(o.redis_connections),
     "Redis connections for --publisher redis, each pipelined")
    ("pipeline", po::value(&o.pipeline)->default_value(o.pipeline),
     "PUBLISHes in flight per Redis connection at most (a connection with more is busy)")
    ("customers", po::value(&o.customers)->default_value(o.customers),
     "extra customer viewers beside the --viewers of --role; customer c tracks order "
     "o<1 + c % --couriers>")
    ("publish-count", po::value(&o.publish_count)->default_value(o.publish_count),
     "publish this many messages in all, then stop (the run ends once they are answered, "
     "or at --duration); e.g. every courier once: --publish-count = --couriers. 0: no limit")
    ("couriers", po::value(&o.couriers)->default_value(o.couriers),
     "distinct courier ids (1..N), used round-robin, one token each")
    ("http-connections", po::value(&o.http_connections)->default_value(o.http_connections),
     "keep-alive ingest connections, one request in flight on each")
    ("fleets", po::value(&o.fleets)->default_value(o.fleets),
     "couriers are spread over this many fleets (fleet-0..); a dispatcher watches one")
    ("duration", po::value(&o.duration_s)->default_value(o.duration_s),
     "measured seconds (with --idle: seconds to hold the viewers)")
    ("warmup", po::value(&o.warmup_s)->default_value(o.warmup_s),
     "seconds of publishing before the measured window, not counted")
    ("threads", po::value(&o.threads)->default_value(o.threads),
     "worker threads, one io_context each (pin with taskset)")
    ("idle", po::bool_switch(&o.idle),
     "only connect the viewers and hold them; report the server's RSS per connection")
    ("progress", po::bool_switch(&o.progress), "print a line every --interval")
    ("interval", po::value(&o.interval_s)->default_value(o.interval_s),
     "seconds per --progress line and per entry of the JSON timeline")
    ("snapshot-timeout", po::value(&o.snapshot_timeout_s)->default_value(o.snapshot_timeout_s),
     "peyk.v1: after the handshakes, wait up to this many seconds until every viewer has "
     "its first snapshot (reported as the time until all had it)")
    ("notify-pid", po::value(&notify_pid),
     "send SIGUSR1 to this process when connecting starts and again when every viewer has "
     "connected or failed (and, v1, has its snapshot): another peyk-loadgen run marks "
     "phases with it. SIGUSR1 to peyk-loadgen itself starts a new phase of its window")
    ("server-pid", po::value(&server_pids)->composing(),
     "server process to sample: CPU% over the window (utime+stime), VmRSS at start and end; "
     "repeat it for a server made of several processes (their sum is reported)")
    ("json", po::value(&o.json_path), "also write the results as JSON to this file");
  // clang-format on

  po::variables_map vm;
  try {
    po::store(po::command_line_parser(argc, argv).options(desc).run(), vm);
    if (vm.count("help")) {
      out << usage << "\n\n" << desc << "\n";
      exit_code = 0;
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const po::error& e) {
    err << "peyk-loadgen: " << e.what() << "\n(see --help)\n";
    exit_code = 2;
    return std::nullopt;
  }

  auto bad = [&](const std::string& message) -> std::optional<options> {
    err << "peyk-loadgen: " << message << "\n(see --help)\n";
    exit_code = 2;
    return std::nullopt;
  };

  std::string why;
  for (const auto& url : urls) {
    auto ws = parse_url(url, "ws", why);
    if (!ws) return bad("--url " + url + ": " + why);
    o.ws_targets.push_back({ws->host, ws->port, ws->path});
  }
  if (o.ws_targets.empty()) return bad("--url needs a value");
  o.ws_host = o.ws_targets.front().host;
  o.ws_port = o.ws_targets.front().port;
  o.ws_path = o.ws_targets.front().path;
  if (ingest_url.empty()) {
    o.ingest_host = o.ws_host;
    o.ingest_port = o.ws_port;
  } else {
    auto in = parse_url(ingest_url, "http", why);
    if (!in) return bad("--ingest-url " + ingest_url + ": " + why);
    o.ingest_host = in->host;
    o.ingest_port = in->port;
  }

  if (role == "admin") {
    o.role = viewer_role::admin;
  } else if (role == "dispatcher") {
    o.role = viewer_role::dispatcher;
  } else if (role == "customer") {
    o.role = viewer_role::customer;
  } else {
    return bad("--role must be admin, dispatcher or customer");
  }
  if (protocol == "echo" || protocol == "echo-protocol") {
    o.protocol = ws_protocol::echo;
  } else if (protocol == "v1" || protocol == "peyk.v1") {
    o.protocol = ws_protocol::v1;
  } else {
    return bad("--protocol must be echo or v1");
  }
  if (o.ingest_format != "json" && o.ingest_format != "osmand") {
    return bad("--ingest-format must be json or osmand");
  }
  if (o.publisher != "http" && o.publisher != "redis") {
    return bad("--publisher must be http or redis");
  }
  if (rate == "max") {
    o.closed_loop = true;
  } else {
    try {
      std::size_t used = 0;
      o.publish_rate = std::stod(rate, &used);
      if (used != rate.size()) throw std::invalid_argument(rate);
    } catch (const std::exception&) {
      return bad("--publish-rate must be a number or max");
    }
  }
  if (!redis.empty() && !parse_host_port(redis, o.redis_host, o.redis_port)) {
    return bad("--redis must be HOST:PORT");
  }
  if (o.publisher == "redis" && redis.empty()) return bad("--publisher redis needs --redis");
  if (o.publisher == "redis" && (o.redis_connections < 1 || o.pipeline < 1)) {
    return bad("--redis-connections and --pipeline must be at least 1");
  }

  if (o.jwt_secret.empty() && !secret_file.empty()) {
    std::ifstream in(secret_file, std::ios::binary);
    if (!in) return bad("cannot read --jwt-secret-file " + secret_file);
    std::stringstream ss;
    ss << in.rdbuf();
    o.jwt_secret = ss.str();
    while (!o.jwt_secret.empty() && (o.jwt_secret.back() == '\n' || o.jwt_secret.back() == '\r')) {
      o.jwt_secret.pop_back();
    }
  }
  if (o.jwt_secret.empty()) {
    if (const char* env = std::getenv("PEYK_JWT_SECRET")) o.jwt_secret = env;
  }
  if (o.jwt_secret.empty()) {
    return bad("no JWT secret: give --jwt-secret, --jwt-secret-file or PEYK_JWT_SECRET");
  }

  if (o.threads < 1 || o.threads > 256) return bad("--threads must be 1..256");
  if (o.source_ips < 1 || o.source_ips > 250) return bad("--source-ips must be 1..250");
  if (o.connect_concurrency < 1) return bad("--connect-concurrency must be at least 1");
  if (!(o.connect_timeout_s > 0)) return bad("--connect-timeout must be positive");
  if (!(o.duration_s > 0) || o.duration_s > 86400) return bad("--duration must be in (0, 86400]");
  if (!(o.warmup_s >= 0) || o.warmup_s > 3600) return bad("--warmup must be in [0, 3600]");
  if (!(o.publish_rate >= 0) || o.publish_rate > 1e8) return bad("--publish-rate must be >= 0");
  if ((o.publishing() || o.customers > 0) && o.couriers < 1) {
    return bad("--couriers must be at least 1");
  }
  if (o.publishing() && o.publisher == "http" && o.http_connections < 1) {
    return bad("--http-connections must be at least 1");
  }
  if (o.fleets < 1) return bad("--fleets must be at least 1");
  if (o.idle && o.total_viewers() == 0) return bad("--idle needs --viewers > 0");
  for (int pid : server_pids) {
    if (pid <= 0) return bad("--server-pid must be a process id");
  }
  if (!(o.interval_s >= 0.05) || o.interval_s > 3600)
    return bad("--interval must be in [0.05, 3600]");
  if (!(o.snapshot_timeout_s >= 0) || o.snapshot_timeout_s > 86400) {
    return bad("--snapshot-timeout must be in [0, 86400]");
  }
  if (vm.count("notify-pid")) {
    if (notify_pid <= 0) return bad("--notify-pid must be a process id");
    o.notify_pid = notify_pid;
  }
  if (!server_pids.empty()) {
    o.server_pid = server_pids.front();
    o.server_pids = server_pids;
  }
  return o;
}

}  // namespace peyk::loadgen
