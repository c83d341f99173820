#pragma once
// Command line of peyk-loadgen; `--help` lists every flag with its default.

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace peyk::loadgen {

enum class viewer_role { admin, dispatcher, customer };
enum class ws_protocol { echo, v1 };

struct ws_target {
  std::string host;
  std::uint16_t port = 0;
  std::string path;
};

struct options {
  // Target. ws_host/ws_port/ws_path: the first --url; ws_targets: every --url given, in
  // order (viewer i connects to ws_targets[i % size], e.g. several gateways).
  std::string ws_host = "127.0.0.1";
  std::uint16_t ws_port = 8082;
  std::string ws_path = "/ws";
  std::vector<ws_target> ws_targets;
  std::string ingest_host;  // defaults to the WebSocket URL's host and port
  std::uint16_t ingest_port = 0;
  std::string jwt_secret;

  // Viewers.
  std::size_t viewers = 1000;
  viewer_role role = viewer_role::admin;
  ws_protocol protocol = ws_protocol::echo;
  std::size_t source_ips = 1;  // bind 127.0.0.1 .. 127.0.0.N round-robin (1: let the kernel pick)
  std::string source_base = "127.0.0.1";
  std::size_t connect_concurrency = 200;
  double connect_timeout_s = 10;

  // Publishers.
  std::string publisher = "http";  // http (ingest API) or redis (PUBLISH on the channel)
  // --publisher http: json (POST /api/v1/locations) or osmand (GET /api/v1/osmand, the
  // OsmAnd app's request, the token as the device id).
  std::string ingest_format = "json";
  double publish_rate = 0;   // messages per second, all threads together
  bool closed_loop = false;  // --publish-rate max: each free connection sends at once
  std::size_t couriers = 1000;
  std::size_t http_connections = 64;
  std::size_t fleets = 10;
  std::size_t customers = 0;        // extra customer viewers beside --viewers of --role
  std::uint64_t publish_count = 0;  // stop after this many messages (0: no limit)

  // Redis publisher.
  std::string redis_host = "127.0.0.1";
  std::uint16_t redis_port = 6379;
  std::string channel = "dlchannel";
  std::size_t redis_connections = 1;
  std::size_t pipeline = 1024;  // PUBLISHes awaiting their reply, per connection

  bool publishing() const { return closed_loop || publish_rate > 0; }
  std::size_t total_viewers() const { return viewers + customers; }

  // Run.
  double duration_s = 10;
  double warmup_s = 2;
  std::size_t threads = 1;
  bool idle = false;
  bool progress = false;
  double interval_s = 1;           // --progress lines and the JSON timeline, one per interval
  double snapshot_timeout_s = 60;  // v1: how long to wait for every viewer's first snapshot
  std::optional<int> notify_pid;   // SIGUSR1 to it when connecting starts and when it is done
  std::optional<int> server_pid;   // the first --server-pid
  std::vector<int> server_pids;    // every --server-pid: sampled together, as one server
  std::string json_path;
};

// Parses argv. Returns nullopt when the program should exit with `exit_code` (0 after
// --help, 2 on a usage error, reported on `err`).
// "HOST:PORT", "redis://HOST:PORT" or "redis://HOST:PORT/"; false when malformed.
bool parse_host_port(const std::string& text, std::string& host, std::uint16_t& port);

std::optional<options> parse_options(int argc, const char* const* argv, std::ostream& out,
                                     std::ostream& err, int& exit_code);

const char* to_string(viewer_role r);
const char* to_string(ws_protocol p);

}  // namespace peyk::loadgen
