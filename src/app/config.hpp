#pragma once
// Command-line configuration of every subcommand (program_options), kept apart from the
// wiring so that it can be unit-tested.

#include <chrono>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/options.hpp"
#include "http/server.hpp"

namespace boost::program_options {
class options_description;
}

namespace peyk::app {

struct settings_report;

// What a caller adds to a command's parsing: more options of its own (`peyk demo`'s) and
// where to put the effective settings (`peyk config check`).
struct parse_extras {
  const boost::program_options::options_description* options = nullptr;
  settings_report* report = nullptr;
};

struct serve_config {
  std::string listen = "127.0.0.1:8082";
  unsigned threads = 0;             // 0: one per core
  std::string redis;                // empty: in-process broker
  std::string redis_cluster;        // seed nodes host:port,...; exclusive with redis
  std::string redis_password_file;  // the AUTH password of --redis or --redis-cluster
  std::size_t cluster_partitions = 64;
  double cluster_order_ttl_s = 21600;  // how long an order's last location is kept
  // With --redis-cluster (ingest): distinct order ids a courier may name within the order
  // TTL (each gets a key in Redis); 0: no bound.
  std::size_t max_orders_per_courier = 100;
  // A courier silent this long is forgotten everywhere: memory, Redis (PROTOCOL.md §12).
  std::int64_t courier_ttl_s = 86400;
  std::string channel = "dlchannel";
  std::string jwt_secret_file;
  std::string jwt_previous_secret_file;  // key rotation: the key being retired
  double jwt_leeway_s = 2;
  double rate_limit = 1;
  double rate_burst = 10;
  double drain_timeout_s = 3;
  // SIGTERM: seconds over which viewers are closed with 1001, spread evenly (PROTOCOL.md §6).
  // parse_serve's default depends on the command: default_drain_window_s().
  double drain_window_s = 0;
  std::string log_level = "info";
  bool allow_short_secret = false;  // `peyk demo` only: a key under 32 bytes is warned about
  // Tracks (PROTOCOL.md §7): "sqlite:PATH", "postgres://USER[:PASS]@HOST:PORT/DB" or "off".
  // parse_serve fills in the command's default: SQLite in --data-dir for serve and demo,
  // off for ingest and gateway (they record / answer queries only when given one).
  std::string history = "off";
  std::string data_dir = "./peyk-data";
  std::int64_t history_retention_s = 30 * 86400;
  // The phone apps (PROTOCOL.md §9): a second HTTP listener answering the OsmAnd protocol
  // at `/` (empty: none; Traccar's port is 5055).
  std::string osmand_listen;
  http::settings http;
  gateway::options gateway;
};

struct token_config {
  std::string role;
  std::string sub;
  std::string name;
  std::string fleet;
  std::vector<std::string> fleets;
  std::vector<std::string> orders;
  std::int64_t ttl_s = 3600;
  std::string jwt_secret_file;
};

// The default --drain-window of a command: 5 s for `gateway` (many of them behind a load
// balancer: viewers move to the others without a thundering herd), 0 for `serve` (one
// process, nowhere else to go: close at once) and `ingest` (no viewers).
double default_drain_window_s(std::string_view command);

// Parses "30s", "10m", "1h", "2d" or plain seconds; nullopt when malformed or <= 0.
std::optional<std::int64_t> parse_duration_s(std::string_view text);

// Checks a --history value; returns an error message (empty: fine). Never echoes what
// follows the scheme (a PostgreSQL URL may carry a password).
std::string check_history_spec(std::string_view spec);

// The --history value fit for a log line: the password of a postgres:// URL (and any
// password= parameter) replaced by "***".
std::string redact_history_spec(std::string_view spec);

// "a,b,,c" -> {"a","b","c"}
std::vector<std::string> split_list(std::string_view text);

// Each returns nullopt after printing help (to `out`, exit 0) or an error (to `err`,
// exit 2); `exit_code` says which. Besides the command line, every option is read from
// PEYK_<OPTION> and from --config FILE (app/settings.hpp): flag > env > file > default.
std::optional<serve_config> parse_serve(int argc, const char* const* argv, std::ostream& out,
                                        std::ostream& err, int& exit_code,
                                        const char* command = "serve",
                                        const parse_extras& extras = {});
std::optional<token_config> parse_token(int argc, const char* const* argv, std::ostream& out,
                                        std::ostream& err, int& exit_code,
                                        const parse_extras& extras = {});

// What `peyk ingest` and `peyk gateway` need beyond their flags' own checks (a broker);
// empty: fine.
std::string role_problem(std::string_view command, const serve_config& cfg);

// The HS256 key: --jwt-secret-file (trailing newline stripped) or PEYK_JWT_SECRET.
// Throws std::runtime_error with a clear message when neither is set or both are empty.
std::string load_secret(const std::string& file);

// The key being retired during a rotation: --jwt-previous-secret-file, else
// PEYK_JWT_PREVIOUS_SECRET, else empty (no rotation). Throws like load_secret on an
// unreadable or empty file.
std::string load_previous_secret(const std::string& file);

// The Redis password from --redis-password-file (empty: none). Throws on an
// unreadable or empty file.
std::string load_redis_password(const std::string& file);

}  // namespace peyk::app
