// The SQLite backend: the conformance suite (three move policies, so reads see rows in
// `points`, in `recent`, and moving between them), then what only this backend does:
// durability across kill -9, group commit, reopening, retention, readiness.
#include "history/sqlite_store.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <semaphore>
#include <set>

#include "core/metrics.hpp"
#include "history/store_conformance.hpp"

namespace peyk::history {
namespace {

using namespace testing;
namespace fs = std::filesystem;
using std::chrono::milliseconds;

// One temporary directory for the whole run, removed at the end.
class temp_dir_env : public ::testing::Environment {
 public:
  void SetUp() override {
    char tmpl[] = "/tmp/peyk-history-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
  }
  void TearDown() override { fs::remove_all(dir); }
  static inline fs::path dir;
};
[[maybe_unused]] auto* const env = ::testing::AddGlobalTestEnvironment(new temp_dir_env);

std::string fresh_path(const std::string& stem) {
  static std::atomic<int> n{0};
  return (temp_dir_env::dir / (stem + "-" + std::to_string(++n) + ".sqlite")).string();
}

// Metrics outlive every store (a store keeps a reference).
core::metrics& test_metrics() {
  static core::metrics m;
  return m;
}

sqlite_tuning moving_often() {
  sqlite_tuning t;
  t.writer.move_min_rows = 1;
  t.writer.move_rows_per_courier = 0;
  t.writer.move_interval = milliseconds(0);
  return t;
}

sqlite_tuning never_moving() {
  sqlite_tuning t;
  t.writer.move_min_rows = 1'000'000'000;
  t.writer.move_max_rows = 1'000'000'000;
  t.writer.move_interval = std::chrono::hours(24);
  return t;
}

conformance_backend backend(std::string name, sqlite_tuning t) {
  return {name, [t](const options& o) {
            return make_sqlite_store(fresh_path("conformance"), o, test_metrics(), t);
          }};
}

INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
                         ::testing::Values(backend("defaults", {}),
                                           backend("moving_often", moving_often()),
                                           backend("never_moving", never_moving())),
                         conformance_name);

bool wait_for(const std::function<bool()>& cond, milliseconds limit = milliseconds(10'000)) {
  for (auto end = std::chrono::steady_clock::now() + limit;
       std::chrono::steady_clock::now() < end;) {
    if (cond()) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return cond();
}

std::unique_ptr<store> started(const std::string& path, options o = {}, sqlite_tuning t = {},
                               core::metrics& m = test_metrics()) {
  auto s = make_sqlite_store(path, o, m, t);
  s->start();
  return s;
}

// A child process appends batches (10 points each, courier k<i % 8>, latitude i) with up to
// 64 in flight and writes each completed batch number to `fd`; it never stops by itself.
[[noreturn]] void appending_child(const std::string& path, int fd, int batches,
                                  bool exit_when_done) {
  auto s = make_sqlite_store(path, {}, test_metrics());
  s->start();
  std::counting_semaphore<64> in_flight(64);
  std::atomic<int> completed{0};
  auto t0 = base_time();
  for (int i = 0; i < batches; ++i) {
    in_flight.acquire();
    std::vector<location_ptr> b;
    for (int k = 0; k < 10; ++k) b.push_back(at("k" + std::to_string(i % 8), t0 + i * 10 + k, i));
    s->append(b, [&, fd, i](boost::system::error_code ec) {
      if (!ec && write(fd, &i, sizeof i) != sizeof i) _exit(3);
      ++completed;
      in_flight.release();
    });
  }
  while (completed < batches) std::this_thread::sleep_for(milliseconds(1));
  if (exit_when_done) _exit(0);  // no stop(), no destructor: as abrupt as a crash
  for (;;) pause();
}

// Every batch the child reported complete is in the file, whole.
void expect_reported_batches_present(const std::string& path, const std::set<int>& done) {
  auto s = started(path);
  std::map<int, int> count;
  auto t0 = base_time();
  for (int c = 0; c < 8; ++c) {
    for (const auto& p :
         read_all(*s, courier_q("k" + std::to_string(c), t0 - 3600 * sec, t0 + 3600 * sec))) {
      ++count[static_cast<int>(p.latitude)];
    }
  }
  for (int i : done) ASSERT_EQ(count[i], 10) << "batch " << i << " was answered, then lost";
}

std::set<int> read_reports(int fd, std::size_t kill_after, pid_t child) {
  std::set<int> done;
  int v;
  while (read(fd, &v, sizeof v) == sizeof v) {
    done.insert(v);
    if (done.size() == kill_after) kill(child, SIGKILL);  // the rest of the pipe is still read
  }
  return done;
}

TEST(SqliteStore, EveryCompletedAppendSurvivesKill9) {
  auto path = fresh_path("kill9");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    appending_child(path, fds[1], 1'000'000, false);
  }
  close(fds[1]);
  auto done = read_reports(fds[0], 2000, pid);  // killed with appends in flight
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  ASSERT_GE(done.size(), 2000u);
  expect_reported_batches_present(path, done);
}

TEST(SqliteStore, ExitWithoutStopKeepsEverythingCompleted) {
  auto path = fresh_path("exit");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    appending_child(path, fds[1], 500, true);
  }
  close(fds[1]);
  auto done = read_reports(fds[0], 0, pid);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(done.size(), 500u);
  expect_reported_batches_present(path, done);
}

TEST(SqliteStore, GroupsConcurrentAppendsIntoFewerTransactions) {
  core::metrics m;
  auto s = started(fresh_path("group"), {}, {}, m);
  constexpr int threads = 16, appends = 40, per = 20;
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  auto t0 = base_time();
  for (int i = 0; i < threads; ++i) {
    ts.emplace_back([&, i] {
      for (int j = 0; j < appends; ++j) {
        std::vector<location_ptr> b;
        for (int k = 0; k < per; ++k) b.push_back(at("g" + std::to_string(i), t0 + j * per + k));
        if (!append_sync(*s, b)) ++ok;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok, threads * appends);
  EXPECT_EQ(m.history_points.value(), std::uint64_t{threads * appends * per});
  // One fsync per transaction: with 16 appends in flight most commits carry several.
  EXPECT_LT(m.history_commits.value(), std::uint64_t{threads * appends / 2});
  EXPECT_EQ(m.history_commit_latency.count(), m.history_commits.value());
  EXPECT_EQ(m.history_pending.value(), 0);
  EXPECT_NE(m.render().find("peyk_history_commits_total"), std::string::npos);
}

TEST(SqliteStore, ReopeningKeepsPointsAndArrivalOrder) {
  auto path = fresh_path("reopen");
  auto t0 = base_time();
  {
    auto s = started(path);  // defaults: the rows are still in `recent` at stop
    ASSERT_FALSE(append_sync(*s, {at("r", t0 + 20 * sec, 1), late("r", t0 + 10 * sec, 2)}));
    ASSERT_FALSE(append_sync(*s, {at("o", t0 + 5 * sec, 9, "", {"x"})}));
    s->stop();
  }
  auto s = started(path);
  ASSERT_TRUE(s->ready());
  ASSERT_FALSE(append_sync(
      *s, {at("r", t0 + 20 * sec, 3), late("r", t0 + 20 * sec, 4), late("r", t0 + 10 * sec, 5)}));
  EXPECT_EQ(lats(read_all(*s, courier_q("r", t0, t0 + 60 * sec))),
            (std::vector<double>{2, 5, 1, 3, 4}));
  // The order's span was computed from `recent` when the file was opened again.
  EXPECT_EQ(lats(read_all(*s, order_q("x", t0, t0 + 60 * sec))), std::vector<double>{9});
}

TEST(SqliteStore, WindowOrdersCourierIdsAsTextAndRefusesOtherCursors) {
  auto s = started(fresh_path("text"));
  auto t0 = base_time();
  ASSERT_FALSE(append_sync(*s, {at("9", t0, 1), at("10", t0, 2), at("100", t0, 3), at("10", t0)}));
  EXPECT_EQ(ids(read_all(*s, window_q(t0, t0 + sec))),
            (std::vector<std::string>{"10", "10", "100", "9"}));
  auto q = courier_q("10", t0, t0 + sec);
  q.limit = 1;
  auto [ec, pg] = read_sync(*s, q);
  ASSERT_FALSE(ec);
  ASSERT_TRUE(pg.next);
  auto w = window_q(t0, t0 + sec);
  w.cursor = *pg.next;  // a courier cursor on a window query
  EXPECT_EQ(read_sync(*s, w).first, boost::system::errc::invalid_argument);
}

TEST(SqliteStore, ReadsStayWholeWhileRowsMove) {
  auto t = moving_often();
  t.writer.move_min_rows = 40;
  auto s = started(fresh_path("moving"), {}, t);
  auto t0 = base_time();
  std::atomic<bool> writing{true};
  std::thread w([&] {
    for (int i = 0; i < 300; ++i) {
      std::vector<location_ptr> b;
      for (int k = 0; k < 10; ++k)
        b.push_back(at("x", t0 + (i * 10 + k) * 1000, i * 10 + k, "", {"o"}));
      EXPECT_FALSE(append_sync(*s, b));
    }
    writing = false;
  });
  std::size_t last = 0;
  int reads = 0;
  bool whole = true;
  while (whole && (writing || reads < 3)) {
    for (auto q : {courier_q("x", t0, t0 + 60 * sec), order_q("o", t0, t0 + 60 * sec),
                   window_q(t0, t0 + 60 * sec)}) {
      auto all = read_all(*s, q);
      EXPECT_GE(all.size(), last) << "fewer points than an earlier read saw";
      for (std::size_t k = 0; k < all.size(); ++k) {
        if (all[k].latitude != static_cast<double>(k)) {
          ADD_FAILURE() << "point " << k << " is " << all[k].latitude;
          break;
        }
      }
      whole = !HasFailure();
      last = all.size();
      ++reads;
    }
  }
  w.join();
  EXPECT_EQ(read_all(*s, courier_q("x", t0, t0 + 60 * sec)).size(), 3000u);
}

TEST(SqliteStore, RetentionDeletesOldPoints) {
  options o;
  o.retention = std::chrono::seconds(30);  // retention runs every 3 s
  auto s = started(fresh_path("retention"), o, moving_often());
  auto now = core::now_us();
  auto old = loc([&](core::location& l) {
    l.courier_id = "r";
    l.latitude = 1;
    l.recorded_at = rfc3339(now - 3600 * sec);
    l.orders = {"o"};
    l.ts_us = now;
  });
  ASSERT_FALSE(append_sync(*s, {old, at("r", now, 2, "", {"o"})}));
  auto fresh_only = [&](query q) {
    auto pts = read_all(*s, q);
    return lats(pts) == std::vector<double>{2};
  };
  EXPECT_EQ(read_all(*s, courier_q("r", now - 7200 * sec, now + sec)).size(), 2u);
  EXPECT_TRUE(wait_for([&] { return fresh_only(courier_q("r", now - 7200 * sec, now + sec)); }));
  EXPECT_TRUE(fresh_only(order_q("o", now - 7200 * sec, now + sec)));
  EXPECT_TRUE(fresh_only(window_q(now - 7200 * sec, now + sec)));
}

TEST(SqliteStore, NotReadyWhileTheDirectoryIsMissingThenRecovers) {
  auto dir = temp_dir_env::dir / "later";
  fs::remove_all(dir);  // --gtest_repeat runs it again in the same directory
  sqlite_tuning t;
  t.retry_interval = milliseconds(100);
  auto s = started((dir / "h.sqlite").string(), {}, t);
  EXPECT_FALSE(s->ready());
  auto t0 = base_time();
  bool inline_refusal = false;
  s->append(std::vector<location_ptr>{at("m", t0)},
            [&](boost::system::error_code ec) { inline_refusal = ec.failed(); });
  EXPECT_TRUE(inline_refusal);
  fs::create_directory(dir);
  ASSERT_TRUE(wait_for([&] { return s->ready(); }));
  ASSERT_FALSE(append_sync(*s, {at("m", t0, 7)}));
  EXPECT_EQ(lats(read_all(*s, courier_q("m", t0, t0 + sec))), std::vector<double>{7});
}

// As root, permissions do not stop writes; a file size limit (RLIMIT_FSIZE, as a full disk
// would) does: every write past byte 1 of any file fails with EFBIG.
TEST(SqliteStore, NotReadyWhileWritesFailThenRecovers) {
  signal(SIGXFSZ, SIG_IGN);
  sqlite_tuning t;
  t.retry_interval = milliseconds(100);
  auto s = started(fresh_path("full"), {}, t);
  auto t0 = base_time();
  ASSERT_FALSE(append_sync(*s, {at("f", t0, 1)}));
  ASSERT_EQ(read_all(*s, courier_q("f", t0, t0 + sec)).size(), 1u);  // readers open
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit tiny = old;
  tiny.rlim_cur = 1;
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &tiny), 0);
  auto failed = append_sync(*s, {at("f", t0 + 1, 2)});
  bool was_ready = s->ready();
  auto refused = append_sync(*s, {at("f", t0 + 2, 3)});
  auto [read_ec, pg] = read_sync(*s, courier_q("f", t0, t0 + sec));
  setrlimit(RLIMIT_FSIZE, &old);
  EXPECT_TRUE(failed.failed());
  EXPECT_FALSE(was_ready);
  EXPECT_TRUE(refused.failed());
  EXPECT_FALSE(read_ec) << "reads go on while writes fail";
  EXPECT_EQ(pg.points.size(), 1u);
  ASSERT_TRUE(wait_for([&] { return s->ready(); }));
  ASSERT_FALSE(append_sync(*s, {at("f", t0 + 3, 4)}));
  EXPECT_EQ(lats(read_all(*s, courier_q("f", t0, t0 + sec))), (std::vector<double>{1, 4}));
}

TEST(RecentIndex, KnowsWhenASnapshotPredatesTwoMoves) {
  sqlite::recent_index idx;
  idx.reset(0);
  idx.add({{1, {1, 10, 0, 1}}, {1, {2, 20, 0, 1}}, {2, {3, 10, 0, 2}}});
  std::vector<sqlite::recent_row> out;
  EXPECT_TRUE(idx.rows(1, 0, 0, 100, out));
  EXPECT_EQ(out.size(), 2u);
  idx.moved(3);  // rows 1..3 now in points for new snapshots; kept for old ones
  out.clear();
  EXPECT_TRUE(idx.rows(1, 0, 0, 100, out));
  EXPECT_EQ(out.size(), 2u);
  out.clear();
  EXPECT_TRUE(idx.rows(1, 3, 0, 100, out));
  EXPECT_TRUE(out.empty());
  idx.add({{1, {4, 30, 0, 1}}});
  idx.moved(4);
  EXPECT_FALSE(idx.rows(1, 0, 0, 100, out));  // rows 1..3 are gone from the index
  EXPECT_TRUE(idx.rows(1, 3, 0, 100, out));
  EXPECT_EQ(idx.max_seq(1, 30), 0);
  EXPECT_EQ(idx.max_seq(1, 10), -1);
}

TEST(History, OpenStoreReadsTheSpec) {
  options o;
  auto& m = test_metrics();
  EXPECT_THROW(open_store("sqlite:", o, m), std::invalid_argument);
  EXPECT_THROW(open_store("off", o, m), std::invalid_argument);
  try {
    open_store("mysql://user:secret@host/db", o, m);
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << e.what();
  }
#if !__has_include("history/postgres_store.hpp")
  EXPECT_THROW(open_store("postgres://u@h:5432/d", o, m), std::invalid_argument);
#endif
  auto s = open_store("sqlite:" + fresh_path("spec"), o, m);
  EXPECT_STREQ(s->name(), "sqlite");
}

TEST(History, ToPointTakesRecordedAtAsItsTime) {
  auto l = loc([](core::location& x) {
    x.courier_id = "a";
    x.username = "n";
    x.recorded_at = "2026-11-28T12:00:00.5Z";
    x.fleet = "f";
    x.orders = {"o"};
    x.ts_us = 1'900'000'000'000'000;
  });
  auto p = to_point(*l);
  EXPECT_EQ(p.recorded_us, 1'795'867'200'500'000);
  EXPECT_EQ(p.t_us, 1'795'867'200'500'000);
  EXPECT_EQ(p.ts_us, 1'900'000'000'000'000);
  EXPECT_EQ(p.name, "n");
  auto q = to_point(*at("a", 42));
  EXPECT_FALSE(q.recorded_us);
  EXPECT_EQ(q.t_us, 42);
}

}  // namespace
}  // namespace peyk::history
