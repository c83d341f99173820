#include "broker/redis_broker.hpp"

#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker/redis_test_support.hpp"

namespace peyk::broker {
namespace {
using namespace test_support;

using namespace std::chrono_literals;

TEST(RedisUrl, Parses) {
  auto c = parse_redis_url("redis://127.0.0.1:6380");
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 6380);
  EXPECT_EQ(c.db, 0);
  c = parse_redis_url("redis://:s3cret@redis.internal/2");
  EXPECT_EQ(c.host, "redis.internal");
  EXPECT_EQ(c.port, 6379);
  EXPECT_EQ(c.password, "s3cret");
  EXPECT_EQ(c.db, 2);
  EXPECT_THROW(parse_redis_url("http://x:1"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("redis://h:1/abc"), std::invalid_argument);
  EXPECT_THROW(parse_redis_url("not a url"), std::invalid_argument);
}

TEST(RedisBroker, PublishesSubscribesAndSurvivesARestart) {
  redis_server redis(free_port());
  core::metrics m;
  redis_config cfg;
  cfg.port = static_cast<unsigned short>(redis.port);
  cfg.channel = "test-channel";
  cfg.max_backoff = 300ms;
  collector c;
  redis_broker b(cfg, m);
  b.subscribe(std::ref(c));
  b.start();
  ASSERT_TRUE(eventually([&] { return b.connected(); }));
  EXPECT_EQ(m.broker_connected.value(), 1);

  EXPECT_EQ(publish_sync(b, loc("7", 35.1)), true);
  ASSERT_TRUE(eventually([&] { return c.size() == 1; }));
  EXPECT_EQ(c.at(0)->courier_id, "7");
  EXPECT_EQ(c.at(0)->latitude, 35.1);

  // A third party publishing the original format, and junk that must be dropped.
  std::system(("redis-cli -p " + std::to_string(redis.port) +
               " publish test-channel '{\"latitude\": 35.0001, \"longitude\": 53.12111, "
               "\"user\": {\"id\": 10, \"username\": \"test_driver1\"}}' >/dev/null")
                  .c_str());
  std::system(
      ("redis-cli -p " + std::to_string(redis.port) + " publish test-channel 'not json' >/dev/null")
          .c_str());
  ASSERT_TRUE(eventually([&] { return c.size() == 2 && m.broker_invalid.value() == 1; }));
  EXPECT_EQ(c.at(1)->courier_id, "10");
  EXPECT_GT(c.at(1)->ts_us, 0);  // stamped on receipt

  redis.kill();
  ASSERT_TRUE(eventually([&] { return !b.connected(); }));
  EXPECT_EQ(publish_sync(b, loc("7", 35.2)), false);  // never a false success
  EXPECT_EQ(m.broker_connected.value(), 0);

  redis.start();
  ASSERT_TRUE(eventually([&] { return b.connected(); }, 15s));
  EXPECT_GE(m.broker_reconnects.value(), 1u);
  EXPECT_EQ(publish_sync(b, loc("8", 35.3)), true);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard g(c.mu);
    return !c.got.empty() && c.got.back()->courier_id == "8";
  }));
  b.stop();
}

// The control channel (<channel>:watch): an ingest (no location subscription) hears what a
// gateway publishes there, never on the location channel, and nothing of the locations.
TEST(RedisBroker, ControlChannelBetweenAGatewayAndAnIngest) {
  redis_server redis(free_port());
  core::metrics m;
  redis_config gw_cfg;
  gw_cfg.port = static_cast<unsigned short>(redis.port);
  gw_cfg.channel = "ctl-test";
  gw_cfg.write_last_known = false;
  auto ing_cfg = gw_cfg;
  ing_cfg.subscribe = false;
  ing_cfg.write_last_known = true;
  collector gw_locations;
  std::mutex mu;
  std::vector<std::string> heard;
  redis_broker gw(gw_cfg, m), ing(ing_cfg, m);
  gw.subscribe(std::ref(gw_locations));
  ing.subscribe_control([&](std::string_view msg) {
    std::lock_guard g(mu);
    heard.emplace_back(msg);
  });
  gw.start();
  ing.start();
  ASSERT_TRUE(eventually([&] { return gw.connected() && ing.connected(); }));
  // The ingest's subscription is confirmed asynchronously: publish until heard.
  ASSERT_TRUE(eventually([&] {
    gw.publish_control(R"({"v":1,"source":"gw-x","couriers":{"1":1}})");
    std::lock_guard g(mu);
    return !heard.empty();
  }));
  {
    std::lock_guard g(mu);
    EXPECT_EQ(heard.front(), R"({"v":1,"source":"gw-x","couriers":{"1":1}})");
  }
  EXPECT_EQ(std::system(("redis-cli -p " + std::to_string(redis.port) +
                         " pubsub channels | grep -qx ctl-test:watch")
                            .c_str()),
            0);
  // Locations stay on their channel: the gateway gets them, the control handler does not.
  std::size_t before = 0;
  {
    std::lock_guard g(mu);
    before = heard.size();
  }
  EXPECT_EQ(publish_sync(ing, loc("5", 1.0)), true);
  ASSERT_TRUE(eventually([&] { return gw_locations.size() == 1; }));
  {
    std::lock_guard g(mu);
    EXPECT_EQ(heard.size(), before);
  }
  EXPECT_EQ(m.broker_invalid.value(), 0u);
  ing.stop();
  gw.stop();
}

TEST(RedisBroker, AuthenticatesAndSelectsTheDatabase) {
  redis_server redis(free_port(), "s3cret-pass");
  core::metrics m;
  auto cfg = parse_redis_url("redis://:s3cret-pass@127.0.0.1:" + std::to_string(redis.port) + "/3");
  collector c;
  redis_broker b(cfg, m);
  b.subscribe(std::ref(c));
  b.start();
  ASSERT_TRUE(eventually([&] { return b.connected(); }));
  EXPECT_EQ(publish_sync(b, loc("5", 35.5)), true);
  ASSERT_TRUE(eventually([&] { return c.size() == 1; }));
  // The last-known hash went to database 3.
  auto cmd = "redis-cli -p " + std::to_string(redis.port) +
             " -a s3cret-pass --no-auth-warning -n 3 hexists peyk:last:dlchannel 5 | grep -q 1";
  EXPECT_EQ(std::system(cmd.c_str()), 0);
  b.stop();

  cfg.password = "wrong";
  redis_broker bad(cfg, m);
  bad.start();
  std::this_thread::sleep_for(500ms);
  EXPECT_FALSE(bad.connected());  // a refused AUTH never reports ready
  EXPECT_EQ(publish_sync(bad, loc("5", 35.6)), false);
  bad.stop();
}

// can_publish() is what ingest answers 503 on; ready() is what /readyz and viewers wait
// for. A `peyk serve --redis` whose subscription is refused still publishes (other
// gateways deliver), and is never ready (issue #12, finding 7: one connected() meant both).
TEST(RedisBroker, PublishesWhileItsSubscriptionIsRefused) {
  redis_server redis(free_port());
  ASSERT_EQ(std::system(("redis-cli -p " + std::to_string(redis.port) +
                         " ACL SETUSER default -subscribe >/dev/null")
                            .c_str()),
            0);
  core::metrics m;
  redis_config cfg;
  cfg.port = static_cast<unsigned short>(redis.port);
  cfg.max_backoff = 200ms;
  collector c;
  redis_broker b(cfg, m);
  b.subscribe(std::ref(c));
  b.start();
  ASSERT_TRUE(eventually([&] { return b.can_publish(); }));
  EXPECT_EQ(publish_sync(b, loc("3", 35.3)), true);
  std::this_thread::sleep_for(1s);  // a few subscription attempts, each refused
  EXPECT_FALSE(b.ready());
  EXPECT_TRUE(b.can_publish());
  EXPECT_EQ(m.broker_connected.value(), 0);
  EXPECT_EQ(c.size(), 0u);
  b.stop();
}

TEST(RedisBroker, NewSubscriberWarmsFromTheLastKnownHash) {
  redis_server redis(free_port());
  core::metrics m;
  redis_config cfg;
  cfg.port = static_cast<unsigned short>(redis.port);
  {
    redis_config ingest = cfg;
    ingest.subscribe = false;
    redis_broker pub(ingest, m);
    pub.start();
    ASSERT_TRUE(eventually([&] { return pub.connected(); }));
    EXPECT_EQ(publish_sync(pub, loc("1", 35.1)), true);
    EXPECT_EQ(publish_sync(pub, loc("2", 35.2)), true);
    EXPECT_EQ(publish_sync(pub, loc("1", 35.3)), true);
    pub.stop();
  }
  collector c;
  redis_broker gw(cfg, m);
  gw.subscribe(std::ref(c));
  gw.start();
  ASSERT_TRUE(eventually([&] { return c.size() == 2; }));
  std::lock_guard g(c.mu);
  for (auto& l : c.got) EXPECT_EQ(l->latitude, l->courier_id == "1" ? 35.3 : 35.2);
  gw.stop();
}

std::string cli_out(int port, const std::string& args) {
  std::string out;
  if (FILE* f = ::popen(("redis-cli -p " + std::to_string(port) + " " + args).c_str(), "r")) {
    char buf[4096];
    while (auto n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
    ::pclose(f);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

long long cli_int(int port, const std::string& args) {
  auto out = cli_out(port, args);
  try {
    return std::stoll(out);
  } catch (...) {
    return -1;
  }
}

long long used_memory(int port) {
  auto out = cli_out(port, "info memory");
  auto at = out.find("used_memory:");
  return at == std::string::npos ? -1 : std::stoll(out.substr(at + 12));
}

// Issue #12 finding 5: a courier silent for the TTL leaves the hash, the GEO set and the
// seen set; one that keeps posting stays.
TEST(RedisBroker, ForgetsCouriersSilentForTheTtl) {
  redis_server redis(free_port());
  core::metrics m;
  redis_config cfg;
  cfg.port = static_cast<unsigned short>(redis.port);
  cfg.subscribe = false;
  cfg.courier_ttl = 2s;
  redis_broker b(cfg, m);
  b.start();
  ASSERT_TRUE(eventually([&] { return b.connected(); }));
  ASSERT_EQ(publish_sync(b, loc("gone", 35.1)), true);
  ASSERT_EQ(publish_sync(b, loc("active", 35.2)), true);
  const auto p = redis.port;
  EXPECT_EQ(cli_int(p, "hexists peyk:last:dlchannel gone"), 1);
  EXPECT_NE(cli_out(p, "zscore peyk:geo:dlchannel gone"), "");
  EXPECT_NE(cli_out(p, "zscore peyk:seen:dlchannel gone"), "");
  // "active" posts every 300 ms; "gone" is silent.
  auto forgotten = [&] {
    return cli_int(p, "hexists peyk:last:dlchannel gone") == 0 &&
           cli_int(p, "zcard peyk:geo:dlchannel") == 1 &&
           cli_int(p, "zcard peyk:seen:dlchannel") == 1;
  };
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {  // 30 s at most
    ASSERT_EQ(publish_sync(b, loc("active", 35.2)), true);
    std::this_thread::sleep_for(300ms);
    gone = forgotten();
  }
  ASSERT_TRUE(gone);
  EXPECT_EQ(cli_int(p, "hexists peyk:last:dlchannel active"), 1);
  EXPECT_NE(cli_out(p, "zscore peyk:geo:dlchannel active"), "");
  EXPECT_EQ(cli_out(p, "zscore peyk:geo:dlchannel gone"), "");
  b.stop();
}

// Churn: 200,000 distinct couriers, each posting once, written by one process (an ingest
// with no TTL) and forgotten by another (a gateway with a 2 s TTL): Redis's memory comes
// back to its baseline and the keys are gone.
TEST(RedisBroker, ChurnOfCouriersReturnsRedisToItsBaseline) {
  redis_server redis(free_port());
  const auto p = redis.port;
  core::metrics m;
  redis_config cfg;
  cfg.port = static_cast<unsigned short>(p);
  cfg.subscribe = false;
  cfg.courier_ttl = 0s;
  redis_broker ingest(cfg, m);
  ingest.start();
  ASSERT_TRUE(eventually([&] { return ingest.connected(); }));
  auto baseline = used_memory(p);
  ASSERT_GT(baseline, 0);
  constexpr int couriers = 200'000, per_batch = 1000;
  for (int start = 0; start < couriers; start += per_batch) {
    std::vector<location_ptr> batch;
    for (int i = start; i < start + per_batch; ++i) {
      batch.push_back(loc("churn-" + std::to_string(i), 35.0 + (i % 1000) / 1000.0));
    }
    ASSERT_EQ(publish_batch_sync(ingest, batch), true);
  }
  ASSERT_EQ(cli_int(p, "hlen peyk:last:dlchannel"), couriers);
  auto full = used_memory(p);
  ingest.stop();

  cfg.write_last_known = false;  // a gateway: it only sweeps
  cfg.courier_ttl = 2s;
  redis_broker gateway(cfg, m);
  auto sweep_start = std::chrono::steady_clock::now();
  gateway.start();
  ASSERT_TRUE(eventually(
      [&] {
        return cli_int(p, "hlen peyk:last:dlchannel") == 0 &&
               cli_int(p, "zcard peyk:geo:dlchannel") == 0 &&
               cli_int(p, "zcard peyk:seen:dlchannel") == 0;
      },
      120s));
  EXPECT_EQ(cli_int(p, "exists peyk:last:dlchannel peyk:geo:dlchannel peyk:seen:dlchannel"), 0);
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - sweep_start);
  auto after = used_memory(p);
  std::fprintf(stderr,
               "churn of %d couriers: used_memory baseline %lld, full %lld, after %lld; "
               "forgotten %.1f s after the sweeper started (TTL 2 s)\n",
               couriers, baseline, full, after, took.count());
  EXPECT_GT(full - baseline, 20ll << 20);               // the couriers did take room
  EXPECT_LT(after - baseline, (full - baseline) / 50);  // and it came back
  gateway.stop();
}

}  // namespace
}  // namespace peyk::broker
