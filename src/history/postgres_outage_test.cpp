// The PostgreSQL history backend when things go wrong: the server stops and comes back,
// backends are terminated, two stores write at once, and a process is killed -9 right
// after its completions. Each test has its own server with fsync on (what a 200 promises
// is that the point is in the database, and these tests check it is).

#include <gtest/gtest.h>

#include <sys/wait.h>

#include <atomic>
#include <set>

#include "core/metrics.hpp"
#include "history/postgres_schema.hpp"
#include "history/postgres_store.hpp"
#include "history/postgres_test_support.hpp"

namespace peyk::history {
namespace {

using namespace test_support;
using namespace std::chrono_literals;
namespace errc = boost::system::errc;

class PostgresOutage : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<pg_server>(true);
    url_ = server_->create_database("peyk");
  }
  postgres_tuning quick() {
    postgres_tuning t;
    t.max_backoff = 200ms;
    t.idle_check = 50ms;
    return t;
  }
  std::int64_t count(const std::string& where = "true") {
    return std::stoll(server_->scalar("peyk", "SELECT count(*) FROM peyk_points WHERE " + where));
  }

  core::metrics metrics_;
  std::unique_ptr<pg_server> server_;
  std::string url_;
  std::int64_t t0_ = now_us();
};

TEST_F(PostgresOutage, ServerStopsThenComesBackWithoutRestartingTheStore) {
  postgres_store s(url_, options{}, metrics_, quick());
  s.start();
  ASSERT_TRUE(s.ready());
  ASSERT_FALSE(append_sync(s, {loc("c", t0_)}));

  server_->stop();
  ASSERT_TRUE(eventually([&] { return !s.ready(); })) << "an idle store notices the loss";
  bool inline_failure = false;
  std::vector<location_ptr> b{loc("c", t0_ + 1)};
  s.append(b, [&](boost::system::error_code ec) { inline_failure = ec == errc::not_connected; });
  EXPECT_TRUE(inline_failure) << "refused at once while down (the caller answers 503)";
  query q;
  q.id = "c";
  q.from_us = t0_;
  q.to_us = t0_ + 1'000'000;
  EXPECT_TRUE(read_sync(s, q).first) << "a read fails while down";

  server_->start();
  ASSERT_TRUE(eventually([&] { return s.ready(); })) << "reconnected by itself";
  ASSERT_FALSE(append_sync(s, {loc("c", t0_ + 2)}));
  auto [ec, pg] = read_sync(s, q);  // its dead connection replaced on the way
  ASSERT_FALSE(ec);
  ASSERT_EQ(pg.points.size(), 2u);
  EXPECT_EQ(pg.points[1].t_us, t0_ + 2);
  EXPECT_GE(s.stats().connects, 2u);
}

TEST_F(PostgresOutage, StartsWhileTheDatabaseIsDownAndBecomesReady) {
  server_->stop();
  auto t = quick();
  t.start_wait = 2s;
  postgres_store s(url_, options{}, metrics_, t);
  s.start();
  EXPECT_FALSE(s.ready());
  EXPECT_EQ(append_sync(s, {loc("c", t0_)}), errc::not_connected);
  server_->start();
  ASSERT_TRUE(eventually([&] { return s.ready(); }));
  EXPECT_FALSE(append_sync(s, {loc("c", t0_)}));
  EXPECT_EQ(count(), 1);
}

TEST_F(PostgresOutage, TerminatedBackendsAreReplaced) {
  postgres_store s(url_, options{}, metrics_, quick());
  s.start();
  ASSERT_TRUE(s.ready());
  ASSERT_FALSE(append_sync(s, {loc("c", t0_)}));
  query q;
  q.id = "c";
  q.from_us = t0_;
  q.to_us = t0_ + 10;
  ASSERT_FALSE(read_sync(s, q).first);
  auto sessions = [&] {
    return std::stoi(server_->scalar(
        "postgres", "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'peyk'"));
  };
  ASSERT_TRUE(eventually([&] { return sessions() >= 3; })) << "writer, reader, maintenance";
  auto killed = server_->scalar("postgres",
                                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                "WHERE application_name = 'peyk'");
  EXPECT_GE(std::stoi(killed), 3);
  ASSERT_TRUE(eventually([&] { return s.stats().connects >= 2 && s.ready(); }));
  EXPECT_FALSE(append_sync(s, {loc("c", t0_ + 1)}));
  EXPECT_EQ(count(), 2);
  // The reader finds its connection dead, opens another and answers the same read.
  auto [ec, pg] = read_sync(s, q);
  EXPECT_FALSE(ec);
  EXPECT_EQ(pg.points.size(), 2u);
}

TEST_F(PostgresOutage, AppendsInFlightWhenTheServerDiesFailAndNoneIsLost) {
  postgres_store s(url_, options{}, metrics_, quick());
  s.start();
  ASSERT_TRUE(s.ready());
  std::mutex mu;
  std::set<std::int64_t> acknowledged;
  std::atomic<int> done{0};
  std::atomic<bool> go{true};
  std::thread producer([&] {
    for (int i = 0; go; ++i) {
      std::vector<location_ptr> b{loc("c", t0_ + i)};
      s.append(b, [&, i](boost::system::error_code ec) {
        if (!ec) {
          std::lock_guard l(mu);
          acknowledged.insert(t0_ + i);
        }
        ++done;
      });
      if (i % 50 == 0) std::this_thread::sleep_for(1ms);
    }
  });
  ASSERT_TRUE(eventually([&] { return done > 500; }));
  server_->crash();  // immediate shutdown, mid-stream
  std::this_thread::sleep_for(300ms);
  server_->start();  // recovers from the WAL
  ASSERT_TRUE(eventually([&] { return s.ready(); }));
  std::this_thread::sleep_for(200ms);
  go = false;
  producer.join();
  s.stop();
  std::set<std::int64_t> stored;
  for (auto& r : server_->sql("peyk", "SELECT ts FROM peyk_points"))
    stored.insert(std::stoll(r[0]));
  for (auto t : acknowledged) ASSERT_TRUE(stored.contains(t)) << "acknowledged but lost: " << t;
  EXPECT_GT(acknowledged.size(), 500u);
}

TEST_F(PostgresOutage, TwoStoresWriteToOneDatabaseAtOnce) {
  postgres_store a(url_, options{}, metrics_), b(url_, options{}, metrics_);
  std::thread sa([&] { a.start(); }), sb([&] { b.start(); });
  sa.join();
  sb.join();
  ASSERT_TRUE(a.ready() && b.ready());
  constexpr int per_thread = 1500;
  std::atomic<int> ok{0}, done{0};
  std::vector<std::thread> th;
  for (int k = 0; k < 4; ++k) {
    th.emplace_back([&, k] {
      store& s = k % 2 ? static_cast<store&>(b) : static_cast<store&>(a);
      for (int i = 0; i < per_thread; ++i) {
        // Old and new days, so both create partitions while the other writes.
        auto l = std::make_shared<core::location>(*loc("k" + std::to_string(k), t0_ + i));
        if (i % 100 == 0) l->recorded_at = rfc3339(t0_ - (i / 100 + 1) * pg::day_us);
        std::vector<location_ptr> batch{l};
        s.append(batch, [&](boost::system::error_code ec) {
          ok += !ec;
          ++done;
        });
      }
    });
  }
  for (auto& t : th) t.join();
  ASSERT_TRUE(eventually([&] { return done == 4 * per_thread; }));
  EXPECT_EQ(ok, 4 * per_thread);
  EXPECT_EQ(count(), 4 * per_thread);
  for (int k = 0; k < 4; ++k) {
    query q;
    q.id = "k" + std::to_string(k);
    q.from_us = t0_ - 30 * pg::day_us;
    q.to_us = t0_ + per_thread;
    auto [ec, pg] = read_sync(a, q);
    ASSERT_FALSE(ec);
    EXPECT_EQ(pg.points.size(), static_cast<std::size_t>(per_thread)) << q.id;
  }
}

// A child process appends and reports every completed point on a pipe; it is killed -9
// while appends are in flight. Every point it reported must be in the database.
TEST_F(PostgresOutage, EveryCompletedPointSurvivesKill9) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    core::metrics m;
    postgres_store s(url_, options{}, m);
    s.start();
    if (!s.ready()) ::_exit(3);
    std::atomic<int> in_flight{0};
    auto start = std::chrono::steady_clock::now();
    for (std::int64_t i = 0; std::chrono::steady_clock::now() - start < 60s; ++i) {
      while (in_flight > 64) std::this_thread::sleep_for(100us);
      ++in_flight;
      std::vector<location_ptr> b{loc("dur", t0_ + i)};
      s.append(b, [&, i](boost::system::error_code ec) {
        if (!ec) [[maybe_unused]]
          auto n = ::write(fds[1], &i, sizeof i);  // after COMMIT
        --in_flight;
      });
    }
    ::_exit(4);  // never reached in time: the parent kills first
  }
  ::close(fds[1]);
  std::vector<std::int64_t> completed;
  std::int64_t v;
  while (completed.size() < 3000 && ::read(fds[0], &v, sizeof v) == sizeof v)
    completed.push_back(v);
  ::kill(child, SIGKILL);
  while (::read(fds[0], &v, sizeof v) == sizeof v)
    completed.push_back(v);  // written before the kill
  int status = 0;
  ::waitpid(child, &status, 0);
  ::close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_GE(completed.size(), 3000u);
  std::set<std::int64_t> stored;
  for (auto& r : server_->sql("peyk", "SELECT ts FROM peyk_points WHERE courier = 'dur'")) {
    stored.insert(std::stoll(r[0]) - t0_);
  }
  for (auto i : completed) ASSERT_TRUE(stored.contains(i)) << "completed but missing: " << i;
}

}  // namespace
}  // namespace peyk::history
