#include "app/config.hpp"

#include <cstdlib>
#include <sstream>

#include <gtest/gtest.h>

namespace peyk::app {
namespace {

TEST(Duration, Units) {
  EXPECT_EQ(parse_duration_s("30s"), 30);
  EXPECT_EQ(parse_duration_s("10m"), 600);
  EXPECT_EQ(parse_duration_s("1h"), 3600);
  EXPECT_EQ(parse_duration_s("2d"), 172800);
  EXPECT_EQ(parse_duration_s("45"), 45);
  EXPECT_EQ(parse_duration_s("0s"), std::nullopt);
  EXPECT_EQ(parse_duration_s("h"), std::nullopt);
  EXPECT_EQ(parse_duration_s("-1h"), std::nullopt);
  EXPECT_EQ(parse_duration_s("1y"), std::nullopt);
}

TEST(SplitList, TrimsAndSkipsEmpty) {
  EXPECT_EQ(split_list("a, b,,c "), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(split_list("").empty());
}

std::optional<serve_config> serve(std::vector<const char*> args, int& code, std::string& err) {
  args.insert(args.begin(), "serve");
  std::ostringstream o, e;
  auto c = parse_serve(static_cast<int>(args.size()), args.data(), o, e, code);
  err = e.str() + o.str();
  return c;
}

TEST(ServeFlags, DefaultsAndOverrides) {
  int code = -1;
  std::string msg;
  auto c = serve({}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->listen, "127.0.0.1:8082");
  EXPECT_EQ(c->http.max_body, 65536u);
  EXPECT_EQ(c->http.interval.idle_s, 60);
  EXPECT_EQ(c->http.interval.watched_s, 2);
  EXPECT_EQ(c->http.interval.active_s, 10);
  EXPECT_EQ(c->http.interval.low_battery, 2);
  c = serve({"--listen", "0.0.0.0:9000", "--update-interval", "2", "--allowed-origin", "http://a",
             "--allowed-origin", "http://b", "--stall-timeout", "2.5"},
            code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->listen, "0.0.0.0:9000");
  EXPECT_EQ(c->http.interval.idle_s, 2);
  EXPECT_EQ(c->http.allowed_origins.size(), 2u);
  EXPECT_EQ(c->gateway.stall_timeout.count(), 2500);
  EXPECT_NE(c->http.tiles_attribution.find("OpenStreetMap"), std::string::npos);
  c = serve({"--tiles", "https://tiles.example/{z}/{x}/{y}.png"}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_TRUE(c->http.tiles_attribution.empty());  // not credited to OSM
  c = serve({"--tiles", "https://t.example/{z}/{x}/{y}.png", "--tiles-attribution", "Cedar"}, code,
            msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->http.tiles_attribution, "Cedar");
}

TEST(ServeFlags, IntervalPolicy) {
  int code = -1;
  std::string msg;
  auto c = serve({"--interval-watched", "1s", "--interval-active", "30", "--interval-idle", "5m",
                  "--interval-low-battery", "1.5"},
                 code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->http.interval.watched_s, 1);
  EXPECT_EQ(c->http.interval.active_s, 30);
  EXPECT_EQ(c->http.interval.idle_s, 300);
  EXPECT_EQ(c->http.interval.low_battery, 1.5);
  c = serve({"--update-interval", "2m"}, code, msg);  // the old name takes durations too
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->http.interval.idle_s, 120);
  EXPECT_FALSE(serve({"--update-interval", "5", "--interval-idle", "5"}, code, msg));
  EXPECT_NE(msg.find("old name"), std::string::npos) << msg;
  EXPECT_FALSE(serve({"--update-interval", "0"}, code, msg));
  EXPECT_NE(msg.find("--update-interval"), std::string::npos) << msg;
  EXPECT_FALSE(serve({"--interval-watched", "2x"}, code, msg));
  EXPECT_NE(msg.find("--interval-watched"), std::string::npos) << msg;
  EXPECT_FALSE(serve({"--interval-active", "2d"}, code, msg));
  EXPECT_FALSE(serve({"--interval-low-battery", "0.5"}, code, msg));
}

TEST(ServeFlags, ErrorsAndHelp) {
  int code = -1;
  std::string msg;
  EXPECT_FALSE(serve({"--nope"}, code, msg));
  EXPECT_EQ(code, 2);
  EXPECT_NE(msg.find("nope"), std::string::npos);
  EXPECT_FALSE(serve({"--jwt-leeway", "9"}, code, msg));
  EXPECT_EQ(code, 2);
  EXPECT_FALSE(serve({"--help"}, code, msg));
  EXPECT_EQ(code, 0);
  for (const char* flag : {"--listen", "--jwt-secret-file", "--rate-limit", "--rate-burst",
                           "--max-body", "--stall-timeout", "--queue-max-bytes", "--drain-timeout",
                           "--update-interval", "--ws-idle-timeout", "--allowed-origin"}) {
    EXPECT_NE(msg.find(flag), std::string::npos) << flag;
  }
}

TEST(ServeFlags, PhoneApps) {
  int code = -1;
  std::string msg;
  auto c = serve({}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_TRUE(c->osmand_listen.empty());  // off by default
  EXPECT_EQ(c->http.osmand_speed_unit, apps::speed_unit::knots);
  EXPECT_FALSE(c->http.osmand_root);
  c = serve({"--osmand-listen", "0.0.0.0:5055", "--osmand-speed-unit", "mps"}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->osmand_listen, "0.0.0.0:5055");
  EXPECT_EQ(c->http.osmand_speed_unit, apps::speed_unit::mps);
  EXPECT_FALSE(serve({"--osmand-speed-unit", "furlongs"}, code, msg));
  EXPECT_EQ(code, 2);
  EXPECT_NE(msg.find("--osmand-speed-unit"), std::string::npos);
  EXPECT_FALSE(serve({"--osmand-listen", "5055"}, code, msg));
  EXPECT_NE(msg.find("--osmand-listen"), std::string::npos);
  EXPECT_FALSE(serve({"--help"}, code, msg));
  EXPECT_EQ(code, 0);
  EXPECT_NE(msg.find("--osmand-listen"), std::string::npos);
  EXPECT_NE(msg.find("--osmand-speed-unit"), std::string::npos);
}

TEST(ServeFlags, DrainWindow) {
  int code = -1;
  std::string msg;
  auto c = serve({}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->drain_window_s, 0);  // serve: one process, nowhere else to reconnect to
  const char* gw_args[] = {"gateway"};
  std::ostringstream o, e;
  auto g = parse_serve(1, gw_args, o, e, code, "gateway");
  ASSERT_TRUE(g) << e.str();
  EXPECT_EQ(g->drain_window_s, 5);
  EXPECT_EQ(default_drain_window_s("ingest"), 0);
  c = serve({"--drain-window", "2.5"}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->drain_window_s, 2.5);
  EXPECT_FALSE(serve({"--drain-window", "-1"}, code, msg));
  EXPECT_EQ(code, 2);
  EXPECT_NE(msg.find("--drain-window"), std::string::npos) << msg;
  EXPECT_FALSE(serve({"--drain-window", "nan"}, code, msg));
  EXPECT_EQ(code, 2);
}

TEST(ServeFlags, FeedRetention) {
  int code = -1;
  std::string msg;
  auto c = serve({}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->gateway.feed_retain_bytes, gateway::feed::default_retain_bytes);
  c = serve({"--feed-retain-bytes", "65536"}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->gateway.feed_retain_bytes, 65536u);
  EXPECT_FALSE(serve({"--feed-retain-bytes", "100"}, code, msg));
  EXPECT_EQ(code, 2);
  EXPECT_NE(msg.find("--feed-retain-bytes"), std::string::npos) << msg;
}

TEST(ServeFlags, HttpTimeoutsAndConnectionLimit) {
  int code = -1;
  std::string msg;
  auto c = serve({}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->http.header_timeout.count(), 10'000);
  EXPECT_EQ(c->http.body_timeout.count(), 30'000);
  EXPECT_EQ(c->http.keepalive_timeout.count(), 75'000);
  EXPECT_EQ(c->http.max_connections, 10'000u);
  EXPECT_EQ(c->http.max_header, 8192u);
  c = serve({"--header-timeout", "0.5", "--body-timeout", "2", "--keepalive-timeout", "5",
             "--max-http-connections", "50", "--max-header", "4096"},
            code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->http.header_timeout.count(), 500);
  EXPECT_EQ(c->http.body_timeout.count(), 2000);
  EXPECT_EQ(c->http.keepalive_timeout.count(), 5000);
  EXPECT_EQ(c->http.max_connections, 50u);
  EXPECT_EQ(c->http.max_header, 4096u);
  for (std::vector<const char*> bad : {std::vector<const char*>{"--header-timeout", "0"},
                                       {"--body-timeout", "-1"},
                                       {"--keepalive-timeout", "4000"},
                                       {"--max-http-connections", "0"},
                                       {"--max-header", "100"},
                                       {"--max-header", "99999999"}}) {
    EXPECT_FALSE(serve(bad, code, msg)) << bad[0] << " " << bad[1];
    EXPECT_EQ(code, 2);
  }
  EXPECT_FALSE(serve({"--help"}, code, msg));
  for (const char* flag : {"--header-timeout", "--body-timeout", "--keepalive-timeout",
                           "--max-http-connections", "--max-header"}) {
    EXPECT_NE(msg.find(flag), std::string::npos) << flag;
  }
}

TEST(TokenFlags, RequiresRoleAndClaims) {
  std::ostringstream o, e;
  int code = -1;
  const char* a1[] = {"token", "--role", "customer", "--sub", "7"};
  EXPECT_FALSE(parse_token(5, a1, o, e, code));
  EXPECT_EQ(code, 2);
  const char* a2[] = {"token",    "--role", "customer", "--sub", "7",
                      "--orders", "A1,B2",  "--ttl",    "10m"};
  auto t = parse_token(9, a2, o, e, code);
  ASSERT_TRUE(t);
  EXPECT_EQ(t->orders, (std::vector<std::string>{"A1", "B2"}));
  EXPECT_EQ(t->ttl_s, 600);
  const char* a3[] = {"token", "--role", "root", "--sub", "1"};
  EXPECT_FALSE(parse_token(5, a3, o, e, code));
}

TEST(Secret, FromEnvOrFileNeverDefault) {
  ::unsetenv("PEYK_JWT_SECRET");
  EXPECT_THROW(load_secret(""), std::runtime_error);
  ::setenv("PEYK_JWT_SECRET", "s3cret", 1);
  EXPECT_EQ(load_secret(""), "s3cret");
  EXPECT_THROW(load_secret("/nonexistent/file"), std::runtime_error);
  ::unsetenv("PEYK_JWT_SECRET");
}

TEST(Secret, PreviousKeyIsOptional) {
  ::unsetenv("PEYK_JWT_PREVIOUS_SECRET");
  EXPECT_EQ(load_previous_secret(""), "");
  ::setenv("PEYK_JWT_PREVIOUS_SECRET", "old", 1);
  EXPECT_EQ(load_previous_secret(""), "old");
  ::unsetenv("PEYK_JWT_PREVIOUS_SECRET");
  EXPECT_THROW(load_previous_secret("/nonexistent/file"), std::runtime_error);
  int code = -1;
  std::string msg;
  auto c = serve({"--jwt-previous-secret-file", "/tmp/k"}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->jwt_previous_secret_file, "/tmp/k");
}

TEST(ServeFlags, RedisCluster) {
  int code = -1;
  std::string msg;
  auto c = serve({"--redis-cluster", "10.0.0.1:7000,10.0.0.2:7000"}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->redis_cluster, "10.0.0.1:7000,10.0.0.2:7000");
  EXPECT_EQ(c->cluster_partitions, 64u);
  EXPECT_EQ(c->cluster_order_ttl_s, 21600);
  EXPECT_FALSE(serve({"--redis-cluster", "h:2", "--cluster-order-ttl", "0"}, code, msg));
  EXPECT_NE(msg.find("--cluster-order-ttl"), std::string::npos) << msg;
  EXPECT_FALSE(serve({"--redis", "redis://h:1", "--redis-cluster", "h:2"}, code, msg));
  EXPECT_EQ(code, 2);
  EXPECT_NE(msg.find("exclude each other"), std::string::npos) << msg;
  EXPECT_FALSE(serve({"--redis-cluster", "h:2", "--cluster-partitions", "0"}, code, msg));
  EXPECT_NE(msg.find("--cluster-partitions"), std::string::npos) << msg;
  EXPECT_FALSE(serve({"--redis-password-file", "/tmp/p"}, code, msg));
  EXPECT_NE(msg.find("--redis-password-file goes with --redis or --redis-cluster"),
            std::string::npos)
      << msg;
  auto single = serve({"--redis", "redis://h:1", "--redis-password-file", "/tmp/p"}, code, msg);
  ASSERT_TRUE(single) << msg;  // a single Redis takes it too (not only in its URL)
  EXPECT_EQ(single->redis_password_file, "/tmp/p");
  EXPECT_EQ(load_redis_password(""), "");
  EXPECT_THROW(load_redis_password("/nonexistent/file"), std::runtime_error);
}

TEST(ServeFlags, CourierTtlAndOrderBudget) {
  int code = -1;
  std::string msg;
  auto c = serve({}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->courier_ttl_s, 86400);
  EXPECT_EQ(c->max_orders_per_courier, 100u);
  c = serve({"--courier-ttl", "2s", "--max-orders-per-courier", "0"}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->courier_ttl_s, 2);
  EXPECT_EQ(c->max_orders_per_courier, 0u);
  EXPECT_EQ(c->gateway.courier_ttl, std::chrono::seconds(2));
  EXPECT_EQ(c->gateway.offline_after, std::chrono::seconds(1));  // half a short TTL
  EXPECT_FALSE(serve({"--courier-ttl", "2s", "--offline-after", "5s"}, code, msg));
  EXPECT_NE(msg.find("longer than --offline-after"), std::string::npos) << msg;
  EXPECT_EQ(serve({"--courier-ttl", "90m"}, code, msg)->courier_ttl_s, 5400);
  for (const char* bad : {"0", "-1s", "1y", "366d", "soon"}) {
    EXPECT_FALSE(serve({"--courier-ttl", bad}, code, msg)) << bad;
    EXPECT_EQ(code, 2);
    EXPECT_NE(msg.find("--courier-ttl"), std::string::npos) << msg;
  }
  std::ostringstream o, e;
  const char* help[] = {"serve", "--help"};
  parse_serve(2, help, o, e, code);
  EXPECT_NE(o.str().find("everywhere (memory, Redis)"), std::string::npos);
  EXPECT_NE(o.str().find("(=24h)"), std::string::npos);
}

std::optional<serve_config> command(const char* cmd, std::vector<const char*> args, int& code,
                                    std::string& err) {
  args.insert(args.begin(), cmd);
  std::ostringstream o, e;
  auto c = parse_serve(static_cast<int>(args.size()), args.data(), o, e, code, cmd);
  err = e.str() + o.str();
  return c;
}

TEST(HistoryFlags, DefaultsPerCommand) {
  int code = -1;
  std::string msg;
  auto c = command("serve", {}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->history, "sqlite:./peyk-data/history.sqlite");
  EXPECT_EQ(c->history_retention_s, 30 * 86400);
  c = command("demo", {"--data-dir", "/tmp/x"}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->history, "sqlite:/tmp/x/history.sqlite");
  for (const char* cmd : {"ingest", "gateway"}) {
    c = command(cmd, {"--data-dir", "/tmp/x"}, code, msg);
    ASSERT_TRUE(c) << msg;
    EXPECT_EQ(c->history, "off") << cmd;
  }
  c = command("ingest", {"--history", "postgres://u:p@h:5432/db", "--history-retention", "2s"},
              code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->history, "postgres://u:p@h:5432/db");
  EXPECT_EQ(c->history_retention_s, 2);
  c = command("serve", {"--history", "off"}, code, msg);
  ASSERT_TRUE(c) << msg;
  EXPECT_EQ(c->history, "off");
}

TEST(HistoryFlags, BadValuesAreClearAndNeverEchoAPassword) {
  int code = -1;
  std::string msg;
  for (auto bad :
       std::vector<std::vector<const char*>>{{"--history", "mysql://root:hunter2@db/x"},
                                             {"--history", "sqlite:"},
                                             {"--history", "postgres://hunter2"},
                                             {"--history", "postgresql://u:hunter2@h:1/"},
                                             {"--history-retention", "0"},
                                             {"--history-retention", "10y"},
                                             {"--history-retention", "3651d"},
                                             {"--max-history-queries", "0"},
                                             {"--data-dir", ""}}) {
    EXPECT_FALSE(command("serve", bad, code, msg)) << bad[1];
    EXPECT_EQ(code, 2);
    EXPECT_EQ(msg.find("hunter2"), std::string::npos) << msg;
    EXPECT_NE(msg.find(bad[0]), std::string::npos) << msg;
  }
}

TEST(HistoryFlags, Redaction) {
  EXPECT_EQ(redact_history_spec("postgres://peyk:s3cret@db:5432/peyk"),
            "postgres://peyk:***@db:5432/peyk");
  EXPECT_EQ(redact_history_spec("postgres://peyk:p@ss@db:5432/peyk"),
            "postgres://peyk:***@db:5432/peyk");
  EXPECT_EQ(redact_history_spec("postgres://peyk@db/peyk?password=x&sslmode=require"),
            "postgres://peyk@db/peyk?password=***&sslmode=require");
  EXPECT_EQ(redact_history_spec("postgresql://db/peyk"), "postgresql://db/peyk");
  EXPECT_EQ(redact_history_spec("sqlite:/var/lib/peyk/h.sqlite"), "sqlite:/var/lib/peyk/h.sqlite");
  EXPECT_EQ(check_history_spec("off"), "");
  EXPECT_EQ(check_history_spec("sqlite:h.sqlite"), "");
  EXPECT_EQ(check_history_spec("postgres://u@h/db"), "");
  EXPECT_NE(check_history_spec("postgres://u@h"), "");
}

}  // namespace
}  // namespace peyk::app
