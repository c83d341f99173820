#include "broker/redis_broker.hpp"

#include <chrono>
#include <thread>

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

}  // namespace
}  // namespace peyk::broker
