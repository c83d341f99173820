#include "broker/redis_cluster_broker.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <sstream>

#include <gtest/gtest.h>

#include "broker/cluster_slots.hpp"
#include "broker/redis_test_support.hpp"

namespace peyk::broker {
namespace {
using namespace test_support;

std::string run(const std::string& cmd) {
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    while (auto n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
    ::pclose(f);
  }
  return out;
}

std::string cli(int port, const std::string& args, const std::string& password = {}) {
  auto auth = password.empty() ? std::string() : " -a " + password + " --no-auth-warning";
  return run("redis-cli -p " + std::to_string(port) + auth + " " + args + " 2>&1");
}

bool port_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A free port below the kernel's ephemeral range (32768 and up on Linux), so that no
// outgoing connection of a test running in parallel can take it between this check and
// redis-server's bind; none of `taken`.
int free_cluster_port(const std::vector<int>& taken) {
  static std::minstd_rand rng{std::random_device{}()};
  for (;;) {
    int p = 10000 + static_cast<int>(rng() % 22000);
    if (std::find(taken.begin(), taken.end(), p) == taken.end() && port_free(p)) return p;
  }
}

// Three masters on free loopback ports, slots split evenly by `redis-cli --cluster create`.
// Setting the cluster up is the test's scaffolding, not peyk: an attempt that does not
// reach cluster_state:ok everywhere is reported on stderr (create's output, each node's
// state and log) and made again on fresh ports, three times at most; `ok` says whether
// one succeeded.
struct cluster3 {
  explicit cluster3(std::string pass = {}) : password(std::move(pass)) {
    for (int attempt = 1; attempt <= 3 && !ok; ++attempt) ok = create(attempt);
  }
  bool create(int attempt) {
    nodes.clear();  // a failed attempt's servers are killed
    std::string create = "redis-cli --cluster create";
    if (!password.empty())
      create = "redis-cli -a " + password + " --no-auth-warning --cluster create";
    std::vector<int> taken;
    for (int i = 0; i < 3; ++i) {
      int port = free_cluster_port(taken);
      taken.push_back(port);
      int bus = free_cluster_port(taken);
      taken.push_back(bus);
      auto dir = "/tmp/peyk-cluster-" + std::to_string(port);
      std::system(("rm -rf " + dir + " && mkdir -p " + dir).c_str());
      nodes.push_back(std::make_unique<redis_server>(
          port, password,
          "--cluster-enabled yes --cluster-port " + std::to_string(bus) +
              " --cluster-node-timeout 1000 --dir " + dir + " --logfile " + dir +
              "/redis.log --cluster-config-file nodes.conf --cluster-require-full-coverage no"));
      create += " 127.0.0.1:" + std::to_string(port);
    }
    auto created = run(create + " --cluster-replicas 0 --cluster-yes 2>&1");
    auto state_ok = [&](int port) {
      return cli(port, "cluster info", password).find("cluster_state:ok") != std::string::npos;
    };
    if (eventually(
            [&] {
              for (auto& n : nodes) {
                if (!state_ok(n->port)) return false;
              }
              return true;
            },
            20s)) {
      return true;
    }
    std::fprintf(stderr, "cluster3: attempt %d did not reach cluster_state:ok\n%s\n", attempt,
                 created.c_str());
    for (auto& n : nodes) {
      auto dir = "/tmp/peyk-cluster-" + std::to_string(n->port);
      std::fprintf(stderr, "-- node %d: %s\n%s\n", n->port, state_ok(n->port) ? "ok" : "not ok",
                   run("tail -n 15 " + dir + "/redis.log").c_str());
    }
    return false;
  }
  ~cluster3() {
    for (auto& n : nodes) {
      n->kill();
      // The nodes' logs and cluster files are kept when the test failed.
      if (!::testing::Test::HasFailure())
        std::system(("rm -rf /tmp/peyk-cluster-" + std::to_string(n->port)).c_str());
    }
  }
  std::string seeds() const { return "127.0.0.1:" + std::to_string(nodes[0]->port); }
  int port_of_slot(int slot) {
    auto out = cli(nodes[0]->port, "cluster nodes");
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("master") == std::string::npos) continue;
      std::istringstream f(line);
      std::string id, addr, flags, master, ping, pong, epoch, state, range;
      f >> id >> addr >> flags >> master >> ping >> pong >> epoch >> state;
      while (f >> range) {
        auto dash = range.find('-');
        int lo = std::stoi(range.substr(0, dash));
        int hi = dash == std::string::npos ? lo : std::stoi(range.substr(dash + 1));
        if (slot >= lo && slot <= hi) return std::stoi(addr.substr(addr.find(':') + 1));
      }
    }
    return 0;
  }
  std::string id_of(int port) {
    return run("redis-cli -p " + std::to_string(port) + " cluster myid | tr -d '\\n'");
  }
  // Sharded channels subscribed on each master.
  std::vector<int> shard_channels() {
    std::vector<int> per;
    for (auto& n : nodes) {
      auto out = cli(n->port, "pubsub shardchannels");
      std::istringstream in(out);
      std::string line;
      int lines = 0;
      while (std::getline(in, line)) lines += !line.empty();
      per.push_back(lines);
    }
    return per;
  }
  std::string password;
  std::vector<std::unique_ptr<redis_server>> nodes;
  bool ok = false;
};

cluster_config config(const cluster3& c, bool ingest) {
  cluster_config cfg;
  cfg.seeds = parse_cluster_seeds(c.seeds());
  cfg.channel = "test";
  cfg.partitions = 64;
  cfg.max_backoff = 200ms;
  cfg.linger = 0ms;
  cfg.order_ttl = std::chrono::seconds(3600);
  cfg.write_last_known = ingest;
  cfg.subscribe = !ingest;
  return cfg;
}

// An ingest-side and a gateway-side broker on one cluster, the gateway's messages
// collected (the collector is declared first: it must outlive the brokers' threads).
struct brokers {
  explicit brokers(const cluster3& c) : ingest(config(c, true), im), gateway(config(c, false), gm) {
    gateway.subscribe(std::ref(got));
  }
  void start() {
    ingest.start();
    gateway.start();
  }
  bool start_and_wait() {
    start();
    return eventually([&] { return ingest.connected() && gateway.connected(); });
  }
  core::metrics im, gm;
  collector got;
  redis_cluster_broker ingest, gateway;
};

location_ptr with_orders(std::string id, double lat, std::vector<std::string> orders) {
  auto l = std::make_shared<core::location>(*loc(std::move(id), lat));
  l->orders = std::move(orders);
  return l;
}

bool has(collector& c, const std::string& id, double lat) {
  std::lock_guard g(c.mu);
  for (auto& l : c.got) {
    if (l->courier_id == id && l->latitude == lat) return true;
  }
  return false;
}

TEST(ClusterSeeds, Parse) {
  auto s = parse_cluster_seeds("10.0.0.1:7000,[::1]:7001,redis-a:6379");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].first, "10.0.0.1");
  EXPECT_EQ(s[0].second, 7000);
  EXPECT_EQ(s[1].first, "::1");
  EXPECT_EQ(s[2].second, 6379);
  EXPECT_THROW(parse_cluster_seeds(""), std::invalid_argument);
  EXPECT_THROW(parse_cluster_seeds("host"), std::invalid_argument);
  EXPECT_THROW(parse_cluster_seeds("host:0"), std::invalid_argument);
  EXPECT_THROW(parse_cluster_seeds("host:99999"), std::invalid_argument);
  EXPECT_THROW(parse_cluster_seeds("host:12x"), std::invalid_argument);
}

TEST(RedisClusterBroker, AdminsGetEveryPartitionSpreadOverTheMasters) {
  cluster3 c;
  ASSERT_TRUE(c.ok);
  brokers b(c);
  ASSERT_TRUE(b.start_and_wait());
  EXPECT_EQ(b.gm.cluster_nodes.value(), 3);
  EXPECT_EQ(b.gm.cluster_partitions_subscribed.value(), 0);  // no viewer yet: nothing
  b.gateway.need_all(+1);
  ASSERT_TRUE(eventually([&] { return b.gm.cluster_partitions_subscribed.value() == 64; }));
  ASSERT_TRUE(eventually([&] { return b.gateway.connected(); }));
  auto per = c.shard_channels();
  ASSERT_EQ(per.size(), 3u);
  EXPECT_EQ(per[0] + per[1] + per[2], 64);
  for (int n : per) EXPECT_TRUE(n == 21 || n == 22) << n;  // 64 over 3 evenly
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(publish_sync(b.ingest, loc("c" + std::to_string(i), 35.0 + i / 1000.0)), true);
  }
  ASSERT_TRUE(eventually([&] { return b.got.size() == 100; })) << b.got.size();
  // The last-known hashes are spread too: every master holds some couriers.
  for (auto& n : c.nodes) EXPECT_NE(cli(n->port, "dbsize"), "0\n");
}

TEST(RedisClusterBroker, CustomersSubscribeOnlyTheirOrdersPartitions) {
  cluster3 c;
  ASSERT_TRUE(c.ok);
  brokers b(c);
  ASSERT_TRUE(b.start_and_wait());
  // Published before any viewer: recovered from the order's key in its partition.
  ASSERT_EQ(publish_sync(b.ingest, with_orders("early", 35.5, {"A1"})), true);
  std::vector<std::string> orders{"A1"};
  b.gateway.need_orders(orders, +1);
  ASSERT_TRUE(eventually([&] { return b.gm.cluster_partitions_subscribed.value() == 1; }));
  auto per = c.shard_channels();
  EXPECT_EQ(per[0] + per[1] + per[2], 1);
  ASSERT_TRUE(eventually([&] { return has(b.got, "early", 35.5); }));
  // The order's last location is a key of its own that expires (orders end).
  cluster::naming names("test", 64);
  auto q = cluster::partition_of("A1", 64);
  auto ttl = cli(c.port_of_slot(names.slot(q)), "ttl " + names.order_key(q, "A1"));
  EXPECT_GT(std::stoi(ttl), 3500) << ttl;
  EXPECT_LE(std::stoi(ttl), 3600) << ttl;
  ASSERT_EQ(publish_sync(b.ingest, with_orders("mine", 35.6, {"B7", "A1"})), true);
  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(publish_sync(b.ingest, with_orders("other" + std::to_string(i), 35.7, {"Z9"})), true);
  }
  ASSERT_TRUE(eventually([&] { return has(b.got, "mine", 35.6); }));
  std::this_thread::sleep_for(200ms);
  {
    std::lock_guard g(b.got.mu);
    for (auto& l : b.got.got) {
      bool carries = false;
      for (auto& o : l->orders) carries = carries || o == "A1";
      // Another order in the same partition may come along; never one without A1
      // from a partition that A1 is not in.
      if (!carries) {
        ASSERT_EQ(cluster::partition_of(l->orders.at(0), 64), cluster::partition_of("A1", 64));
      }
    }
  }
  b.gateway.need_orders(orders, -1);
  ASSERT_TRUE(eventually([&] { return b.gm.cluster_partitions_subscribed.value() == 0; }));
  EXPECT_TRUE(eventually([&] {
    auto p = c.shard_channels();
    return p[0] + p[1] + p[2] == 0;
  }));
}

TEST(RedisClusterBroker, FollowsAMovedSlotForPublishAndSubscription) {
  cluster3 c;
  ASSERT_TRUE(c.ok);
  brokers b(c);
  b.start();
  b.gateway.need_all(+1);
  ASSERT_TRUE(eventually([&] { return b.gm.cluster_partitions_subscribed.value() == 64; }));
  // Move courier "m"'s slot (no key in it yet) to another master behind peyk's back.
  cluster::naming names("test", 64);
  int slot = names.slot(cluster::partition_of("m", 64));
  int from = c.port_of_slot(slot);
  int to = 0;
  for (auto& n : c.nodes) {
    if (n->port != from) to = n->port;
  }
  auto to_id = c.id_of(to);
  ASSERT_EQ(cli(to, "cluster setslot " + std::to_string(slot) + " node " + to_id), "OK\n");
  ASSERT_EQ(cli(from, "cluster setslot " + std::to_string(slot) + " node " + to_id), "OK\n");
  for (auto& n : c.nodes)
    cli(n->port, "cluster setslot " + std::to_string(slot) + " node " + to_id);
  ASSERT_EQ(publish_sync(b.ingest, loc("m", 36.0)), true);
  EXPECT_GE(b.im.cluster_redirects.value(), 1);
  EXPECT_NE(cli(to, "hget " + names.courier_hash(cluster::partition_of("m", 64)) + " m"), "\n");
  // The old owner dropped the b.gateway's subscription; it re-subscribes on the new one.
  ASSERT_TRUE(eventually([&] {
    publish_sync(b.ingest, loc("m", 36.5));
    return has(b.got, "m", 36.5);
  }));
}

TEST(RedisClusterBroker, FollowsAskDuringASlotMigration) {
  cluster3 c;
  ASSERT_TRUE(c.ok);
  core::metrics im;
  redis_cluster_broker ingest(config(c, true), im);
  ingest.start();
  ASSERT_TRUE(eventually([&] { return ingest.connected(); }));
  // Courier "k"'s slot is half-way through a migration: keys not yet on the source are
  // answered with ASK, and must be written on the target after ASKING.
  cluster::naming names("test", 64);
  auto p = cluster::partition_of("k", 64);
  int slot = names.slot(p);
  int from = c.port_of_slot(slot);
  int to = 0;
  for (auto& n : c.nodes) {
    if (n->port != from) to = n->port;
  }
  auto s = std::to_string(slot);
  ASSERT_EQ(cli(to, "cluster setslot " + s + " importing " + c.id_of(from)), "OK\n");
  ASSERT_EQ(cli(from, "cluster setslot " + s + " migrating " + c.id_of(to)), "OK\n");
  ASSERT_EQ(publish_sync(ingest, loc("k", 37.0)), true);
  EXPECT_GE(im.cluster_redirects.value(), 1);
  auto key = names.courier_hash(p);
  EXPECT_EQ(run("printf 'ASKING\\nHEXISTS " + key + " k\\n' | redis-cli -p " + std::to_string(to)),
            "OK\n1\n");
  // Not on the source: it sends the reader to the target.
  EXPECT_EQ(cli(from, "hexists " + key + " k").rfind("ASK ", 0), 0u);
}

TEST(RedisClusterBroker, AuthenticatesOnEveryNode) {
  cluster3 c("cluster-pass-1");
  ASSERT_TRUE(c.ok);
  core::metrics im, gm, bad_m;
  auto icfg = config(c, true), gcfg = config(c, false), bad = config(c, true);
  icfg.password = gcfg.password = "cluster-pass-1";
  collector got;  // declared first: it must outlive the brokers' threads
  redis_cluster_broker ingest(icfg, im), gateway(gcfg, gm), stranger(bad, bad_m);
  gateway.subscribe(std::ref(got));
  ingest.start();
  gateway.start();
  stranger.start();
  gateway.need_all(+1);
  ASSERT_TRUE(eventually([&] { return gm.cluster_partitions_subscribed.value() == 64; }));
  // Subscribed is not yet read back: a partition's hash read after these publishes would
  // hand their locations over a second time.
  ASSERT_TRUE(eventually([&] { return gateway.connected(); }));
  // The ingest broker is not waited for: its publishes wait for its masters (finding 8).
  for (int i = 0; i < 30; ++i)
    ASSERT_EQ(publish_sync(ingest, loc("a" + std::to_string(i), 35.1)), true);
  ASSERT_TRUE(eventually([&] { return got.size() == 30; })) << got.size();
  // Without the password nothing is learnt, and nothing is published.
  EXPECT_FALSE(stranger.connected());
  EXPECT_EQ(bad_m.cluster_nodes.value(), 0);
  EXPECT_NE(publish_sync(stranger, loc("x", 35.2)), std::optional<bool>(true));
}

// Issue #12, finding 8: a publish issued right after start(), before the slot map is read
// and while the masters' connections (each with its AUTH) are being set up, waits for them
// rather than failing: it failed at once, which made AuthenticatesOnEveryNode flaky.
TEST(RedisClusterBroker, PublishRightAfterStartWaitsForTheMasters) {
  cluster3 c("cluster-pass-2");
  ASSERT_TRUE(c.ok);
  for (int round = 0; round < 3; ++round) {
    core::metrics m;
    auto cfg = config(c, true);
    cfg.password = "cluster-pass-2";
    redis_cluster_broker ingest(cfg, m);
    ingest.start();
    // 12 couriers: partitions on every master, each master's connection new
    for (int i = 0; i < 12; ++i) {
      ASSERT_EQ(publish_sync(ingest, loc("s" + std::to_string(i), 35.3)), std::optional<bool>(true))
          << "round " << round << ", courier " << i;
    }
    EXPECT_EQ(m.cluster_nodes.value(), 3);
  }
}

// Issue #12 finding 5, cluster: every partition's silent couriers are forgotten (hash,
// GEO set, seen set) by a process that only subscribes; an active courier stays.
TEST(RedisClusterBroker, ForgetsSilentCouriersOnEveryPartition) {
  cluster3 c;
  ASSERT_TRUE(c.ok);
  auto icfg = config(c, true), gcfg = config(c, false);
  icfg.courier_ttl = 0s;  // the ingest only writes; the gateway sweeps
  gcfg.courier_ttl = 2s;
  core::metrics im, gm;
  redis_cluster_broker ingest(icfg, im);
  ingest.start();
  ASSERT_TRUE(eventually([&] { return ingest.connected(); }));
  std::vector<location_ptr> batch;  // enough couriers for every partition to hold some
  for (int i = 0; i < 2000; ++i) batch.push_back(loc("s" + std::to_string(i), 35.0 + i / 1e4));
  ASSERT_EQ(publish_batch_sync(ingest, batch), true);
  auto keys = [&] {
    long long n = 0;
    for (auto& node : c.nodes) n += std::atoll(cli(node->port, "dbsize").c_str());
    return n;
  };
  EXPECT_EQ(keys(), 3 * 64);  // hash, GEO set and seen set of every partition
  redis_cluster_broker gateway(gcfg, gm);
  gateway.start();
  cluster::naming names("test", 64);
  auto p = cluster::partition_of("active", 64);
  int port = c.port_of_slot(names.slot(p));
  bool forgotten = false;
  for (int i = 0; i < 100 && !forgotten; ++i) {  // 30 s at most
    ASSERT_EQ(publish_sync(ingest, loc("active", 36.0)), true);
    std::this_thread::sleep_for(300ms);
    forgotten = keys() == 3;  // what is left: "active"'s partition
  }
  ASSERT_TRUE(forgotten) << keys();
  EXPECT_EQ(cli(port, "hlen " + names.courier_hash(p)), "1\n");
  EXPECT_NE(cli(port, "hget " + names.courier_hash(p) + " active"), "\n");
  EXPECT_NE(cli(port, "zscore " + names.geo(p) + " active"), "\n");
  EXPECT_EQ(cli(port, "zcard " + names.seen(p)), "1\n");
}

// Issue #12 finding 3, cluster: a batch whose points all name the same orders writes one
// key per distinct order, once (the newest point naming it), not one per point.
TEST(RedisClusterBroker, WritesEachOrderKeyOncePerBatch) {
  cluster3 c;
  ASSERT_TRUE(c.ok);
  core::metrics im;
  redis_cluster_broker ingest(config(c, true), im);
  ingest.start();
  ASSERT_TRUE(eventually([&] { return ingest.connected(); }));
  for (auto& n : c.nodes) cli(n->port, "config resetstat");
  std::vector<location_ptr> batch;
  for (int i = 0; i < 200; ++i) batch.push_back(with_orders("b", 35.0 + i / 1000.0, {"X1", "X2"}));
  ASSERT_EQ(publish_batch_sync(ingest, batch), true);
  long long sets = 0;
  for (auto& n : c.nodes) {
    auto stats = cli(n->port, "info commandstats");
    auto at = stats.find("cmdstat_set:calls=");
    if (at != std::string::npos) sets += std::atoll(stats.c_str() + at + 18);
  }
  EXPECT_EQ(sets, 2);
  // Each key holds the newest point.
  cluster::naming names("test", 64);
  auto q = cluster::partition_of("X1", 64);
  auto v = cli(c.port_of_slot(names.slot(q)), "get " + names.order_key(q, "X1"));
  EXPECT_NE(v.find("35.199"), std::string::npos) << v;
}

}  // namespace
}  // namespace peyk::broker
