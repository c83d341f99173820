#include "options.hpp"

#include <gtest/gtest.h>

#include <sstream>
#include <vector>

namespace peyk::loadgen {
namespace {

struct parsed {
  std::optional<options> o;
  int code = -1;
  std::string err;
};

parsed parse(std::vector<const char*> args) {
  args.insert(args.begin(), "peyk-loadgen");
  args.push_back("--jwt-secret");
  args.push_back("k");
  std::ostringstream out, err;
  parsed p;
  p.o = parse_options(static_cast<int>(args.size()), args.data(), out, err, p.code);
  p.err = err.str();
  return p;
}

TEST(loadgen_options, publish_rate_max_is_closed_loop) {
  auto p = parse({"--publish-rate", "max", "--viewers", "0"});
  ASSERT_TRUE(p.o) << p.err;
  EXPECT_TRUE(p.o->closed_loop);
  EXPECT_TRUE(p.o->publishing());
  auto q = parse({"--publish-rate", "250.5"});
  ASSERT_TRUE(q.o) << q.err;
  EXPECT_FALSE(q.o->closed_loop);
  EXPECT_DOUBLE_EQ(q.o->publish_rate, 250.5);
  EXPECT_FALSE(parse({"--viewers", "5"}).o->publishing());
}

TEST(loadgen_options, url_repeated_for_several_gateways) {
  auto one = parse({});
  ASSERT_TRUE(one.o) << one.err;
  ASSERT_EQ(one.o->ws_targets.size(), 1u);
  EXPECT_EQ(one.o->ws_targets[0].port, 8082);
  EXPECT_EQ(one.o->ws_port, 8082);

  auto p = parse({"--url", "ws://127.0.0.1:9001/ws", "--url", "ws://127.0.0.2:9002/x", "--url",
                  "ws://localhost:9003/ws"});
  ASSERT_TRUE(p.o) << p.err;
  ASSERT_EQ(p.o->ws_targets.size(), 3u);
  EXPECT_EQ(p.o->ws_targets[1].host, "127.0.0.2");
  EXPECT_EQ(p.o->ws_targets[1].port, 9002);
  EXPECT_EQ(p.o->ws_targets[1].path, "/x");
  EXPECT_EQ(p.o->ws_targets[2].port, 9003);
  // the first is the default ingest address, as with one --url
  EXPECT_EQ(p.o->ws_port, 9001);
  EXPECT_EQ(p.o->ingest_port, 9001);

  EXPECT_FALSE(parse({"--url", "ws://127.0.0.1:9001/ws", "--url", "http://x:1/"}).o);
}

TEST(loadgen_options, server_pid_repeated) {
  auto p = parse({"--server-pid", "10", "--server-pid", "11"});
  ASSERT_TRUE(p.o) << p.err;
  EXPECT_EQ(p.o->server_pid, 10);
  EXPECT_EQ(p.o->server_pids, (std::vector<int>{10, 11}));
  EXPECT_FALSE(parse({}).o->server_pid);
  EXPECT_FALSE(parse({"--server-pid", "10", "--server-pid", "0"}).o);
}

TEST(loadgen_options, bad_publish_rate_is_a_usage_error) {
  for (const char* bad : {"fast", "12x", "-1"}) {
    auto p = parse({"--publish-rate", bad});
    EXPECT_FALSE(p.o) << bad;
    EXPECT_EQ(p.code, 2) << bad;
  }
}

TEST(loadgen_options, redis_publisher_needs_an_address) {
  auto p = parse({"--publisher", "redis", "--publish-rate", "10"});
  EXPECT_FALSE(p.o);
  EXPECT_EQ(p.code, 2);
  EXPECT_NE(p.err.find("--redis"), std::string::npos);

  auto q = parse({"--publisher", "redis", "--redis", "redis://127.0.0.1:6390/", "--channel", "c2",
                  "--publish-rate", "10"});
  ASSERT_TRUE(q.o) << q.err;
  EXPECT_EQ(q.o->redis_host, "127.0.0.1");
  EXPECT_EQ(q.o->redis_port, 6390);
  EXPECT_EQ(q.o->channel, "c2");
  EXPECT_FALSE(parse({"--publisher", "kafka"}).o);
}

TEST(loadgen_options, ingest_format_json_or_osmand) {
  EXPECT_EQ(parse({"--publish-rate", "10"}).o->ingest_format, "json");
  auto p = parse({"--publish-rate", "10", "--ingest-format", "osmand"});
  ASSERT_TRUE(p.o);
  EXPECT_EQ(p.o->ingest_format, "osmand");
  EXPECT_FALSE(parse({"--publish-rate", "10", "--ingest-format", "owntracks"}).o);
}

TEST(loadgen_options, host_port) {
  std::string host;
  std::uint16_t port = 0;
  EXPECT_TRUE(parse_host_port("localhost:6379", host, port));
  EXPECT_EQ(host, "localhost");
  EXPECT_EQ(port, 6379);
  EXPECT_FALSE(parse_host_port("localhost", host, port));
  EXPECT_FALSE(parse_host_port(":6379", host, port));
  EXPECT_FALSE(parse_host_port("h:0", host, port));
  EXPECT_FALSE(parse_host_port("h:70000", host, port));
  EXPECT_FALSE(parse_host_port("h:6a", host, port));
}

TEST(loadgen_options, customers_add_to_the_viewers) {
  auto p = parse({"--viewers", "100", "--customers", "1000", "--couriers", "10000"});
  ASSERT_TRUE(p.o) << p.err;
  EXPECT_EQ(p.o->total_viewers(), 1100u);
}

}  // namespace
}  // namespace peyk::loadgen
