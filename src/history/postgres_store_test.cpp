// The PostgreSQL history backend against a real PostgreSQL 15 (one server for the suite,
// fsync off: these tests are about behaviour, not durability; each test has its own
// database). Outage, concurrency and durability: postgres_outage_test.cpp.

#include <gtest/gtest.h>

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
constexpr std::int64_t hour_us = 3'600'000'000;

class PostgresStore : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new pg_server(false); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void SetUp() override {
    static int n = 0;
    db_ = "t" + std::to_string(++n);
    url_ = server_->create_database(db_);
  }
  std::unique_ptr<postgres_store> open(options o = {}, postgres_tuning t = {}) {
    auto s = std::make_unique<postgres_store>(url_, o, metrics_, t);
    s->start();
    EXPECT_TRUE(s->ready()) << server_->log_text();
    return s;
  }
  std::string sql1(const std::string& q) { return server_->scalar(db_, q); }
  std::set<std::int64_t> days() {
    std::set<std::int64_t> out;
    for (auto& r : server_->sql(db_,
                                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON "
                                "c.oid = i.inhrelid WHERE i.inhparent = 'peyk_points'::regclass")) {
      out.insert(*pg::partition_day(r[0]));
    }
    return out;
  }

  static pg_server* server_;
  core::metrics metrics_;
  std::string db_, url_;
  // Today's midnight plus 10 h: every test point stays within today and tomorrow.
  std::int64_t t0_ = pg::day_of(now_us()) * pg::day_us + 10 * hour_us;
};
pg_server* PostgresStore::server_ = nullptr;

query courier_q(std::string id, std::int64_t from, std::int64_t to, std::size_t limit = 50'000) {
  query q;
  q.what = query::kind::courier;
  q.id = std::move(id);
  q.from_us = from;
  q.to_us = to;
  q.limit = limit;
  return q;
}

TEST_F(PostgresStore, RoundTripsEveryField) {
  auto s = open();
  auto full = std::make_shared<core::location>();
  full->courier_id = "c-1";
  full->username = "Zoë Ğ";
  full->fleet = "north";
  full->orders = {"o-1", "o \"2\"\\x"};
  full->latitude = -33.123456;
  full->longitude = 151.000001;
  full->accuracy = 4.25;
  full->speed = 12.3456789;
  full->heading = 359.9;
  full->recorded_at = rfc3339(t0_ - 5 * hour_us + 123);
  full->ts_us = t0_ + 7;
  auto bare = loc("c-1", t0_ + 1, 90, -180);
  ASSERT_FALSE(append_sync(*s, {full, bare}));

  auto [ec, pg] = read_sync(*s, courier_q("c-1", t0_ - 6 * hour_us, t0_ + hour_us));
  ASSERT_FALSE(ec);
  ASSERT_EQ(pg.points.size(), 2u);
  EXPECT_FALSE(pg.next);
  const point& a = pg.points[0];
  EXPECT_EQ(a.courier_id, "c-1");
  EXPECT_EQ(a.name, "Zoë Ğ");
  EXPECT_EQ(a.fleet, "north");
  EXPECT_EQ(a.orders, (std::vector<std::string>{"o-1", "o \"2\"\\x"}));
  EXPECT_EQ(a.latitude, -33.123456);
  EXPECT_EQ(a.longitude, 151.000001);
  EXPECT_EQ(a.accuracy, 4.25);
  EXPECT_EQ(a.speed, 12.3456789);
  EXPECT_EQ(a.heading, 359.9);
  EXPECT_FALSE(a.battery);
  EXPECT_EQ(a.ts_us, t0_ + 7);
  EXPECT_EQ(a.recorded_us, t0_ - 5 * hour_us + 123);
  EXPECT_EQ(a.t_us, t0_ - 5 * hour_us + 123);  // its time in history is recorded_at
  const point& b = pg.points[1];
  EXPECT_EQ(b.name, "");
  EXPECT_EQ(b.fleet, "");
  EXPECT_TRUE(b.orders.empty());
  EXPECT_EQ(b.latitude, 90);
  EXPECT_EQ(b.longitude, -180);
  EXPECT_FALSE(b.accuracy || b.speed || b.heading || b.battery || b.recorded_us);
  EXPECT_EQ(b.t_us, t0_ + 1);
  // Compact: absent fields are NULL, coordinates integers.
  EXPECT_EQ(sql1("SELECT count(*) FROM peyk_points WHERE name IS NULL AND fleet IS NULL AND "
                 "orders IS NULL AND accuracy IS NULL AND lat = 90000000 AND lon = -180000000"),
            "1");
}

TEST_F(PostgresStore, CourierWindowIsHalfOpenAndPerCourier) {
  auto s = open();
  ASSERT_FALSE(append_sync(*s, {loc("a", t0_ - 1), loc("a", t0_), loc("b", t0_ + 5),
                                loc("a", t0_ + 99), loc("a", t0_ + 100)}));
  auto [ec, pg] = read_sync(*s, courier_q("a", t0_, t0_ + 100));
  ASSERT_FALSE(ec);
  ASSERT_EQ(pg.points.size(), 2u);
  EXPECT_EQ(pg.points[0].t_us, t0_);
  EXPECT_EQ(pg.points[1].t_us, t0_ + 99);
  auto [ec2, none] = read_sync(*s, courier_q("nobody", t0_ - hour_us, t0_ + hour_us));
  EXPECT_FALSE(ec2);
  EXPECT_TRUE(none.points.empty());
  EXPECT_FALSE(none.next);
}

TEST_F(PostgresStore, OrderQueryFindsThePointsThatCarriedIt) {
  auto s = open();
  auto with = [&](std::string c, std::int64_t t, std::vector<std::string> orders) {
    auto l = std::make_shared<core::location>(*loc(std::move(c), t));
    l->orders = std::move(orders);
    return location_ptr(l);
  };
  ASSERT_FALSE(append_sync(
      *s, {with("a", t0_ + 3, {"o1"}), with("a", t0_ + 1, {"o1", "o2"}), with("a", t0_ + 2, {"o2"}),
           with("b", t0_ + 2, {"o1"}), with("b", t0_ + 4, {}), with("b", t0_ + 9, {"o10"})}));
  query q;
  q.what = query::kind::order;
  q.id = "o1";
  q.from_us = t0_;
  q.to_us = t0_ + 100;
  auto [ec, pg] = read_sync(*s, q);
  ASSERT_FALSE(ec);
  ASSERT_EQ(pg.points.size(), 3u);
  EXPECT_EQ(pg.points[0].t_us, t0_ + 1);
  EXPECT_EQ(pg.points[1].courier_id, "b");
  EXPECT_EQ(pg.points[2].t_us, t0_ + 3);
  // One row per (order, day, courier), written once by a writer however many points.
  EXPECT_EQ(sql1("SELECT string_agg(order_id || ':' || courier, ',' ORDER BY order_id, courier) "
                 "FROM peyk_order_days"),
            "o1:a,o1:b,o10:b,o2:a");
  ASSERT_FALSE(append_sync(*s, {with("a", t0_ + 5, {"o1"})}));
  EXPECT_EQ(sql1("SELECT count(*) FROM peyk_order_days"), "4");

  // Carried across midnight (a buffered point of yesterday): found on both days.
  auto y = std::make_shared<core::location>(*with("c", t0_, {"o7"}));
  y->recorded_at = rfc3339(t0_ - pg::day_us);
  ASSERT_FALSE(append_sync(*s, {y, with("c", t0_ + 1, {"o7"})}));
  q.id = "o7";
  q.from_us = t0_ - pg::day_us - 1;
  q.to_us = t0_ + 100;
  auto [ec2, two] = read_sync(*s, q);
  ASSERT_FALSE(ec2);
  ASSERT_EQ(two.points.size(), 2u);
  EXPECT_EQ(two.points[0].t_us, t0_ - pg::day_us);
  q.from_us = t0_;  // today only
  EXPECT_EQ(read_sync(*s, q).second.points.size(), 1u);
}

TEST_F(PostgresStore, WindowIsOrderedByCourierThenTimeAndFilteredByFleet) {
  auto s = open();
  auto in = [&](std::string c, std::int64_t t, std::string fleet) {
    auto l = std::make_shared<core::location>(*loc(std::move(c), t));
    l->fleet = std::move(fleet);
    return location_ptr(l);
  };
  ASSERT_FALSE(append_sync(*s, {in("z", t0_ + 1, "n"), in("a", t0_ + 5, "s"), in("m", t0_ + 2, ""),
                                in("a", t0_ + 3, "n"), in("z", t0_ + 0, "s")}));
  query q;
  q.what = query::kind::window;
  q.from_us = t0_;
  q.to_us = t0_ + 10;
  auto [ec, all] = read_sync(*s, q);
  ASSERT_FALSE(ec);
  std::vector<std::pair<std::string, std::int64_t>> got;
  for (auto& p : all.points) got.emplace_back(p.courier_id, p.t_us - t0_);
  EXPECT_EQ(got, (decltype(got){{"a", 3}, {"a", 5}, {"m", 2}, {"z", 0}, {"z", 1}}));

  q.fleets = {"n"};
  auto [ec2, north] = read_sync(*s, q);
  ASSERT_FALSE(ec2);
  got.clear();
  for (auto& p : north.points) got.emplace_back(p.courier_id, p.t_us - t0_);
  EXPECT_EQ(got, (decltype(got){{"a", 3}, {"z", 1}}));  // the fleet at the time of the point

  q.fleets.clear();
  q.fleets_filter = true;  // a dispatcher without fleets sees nothing
  auto [ec3, none] = read_sync(*s, q);
  EXPECT_FALSE(ec3);
  EXPECT_TRUE(none.points.empty());
}

// Pages of `q` until no `next`; every page but the last is full.
std::vector<point> all_pages(store& s, query q, int* pages = nullptr) {
  std::vector<point> out;
  for (int n = 1;; ++n) {
    auto [ec, pg] = read_sync(s, q);
    EXPECT_FALSE(ec);
    if (ec) return out;
    out.insert(out.end(), pg.points.begin(), pg.points.end());
    if (!pg.next) {
      if (pages) *pages = n;
      return out;
    }
    EXPECT_EQ(pg.points.size(), q.limit);
    EXPECT_TRUE(std::all_of(pg.next->begin(), pg.next->end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    })) << *pg.next;
    q.cursor = *pg.next;
  }
}

TEST_F(PostgresStore, CursorPagesKeepArrivalOrderAmongEqualTimes) {
  auto s = open();
  // 24 points in 8 groups of equal t, appended in several batches, newest groups first.
  for (int g = 7; g >= 0; --g) {
    std::vector<location_ptr> b;
    for (int k = 0; k < 3; ++k) b.push_back(loc("c", t0_ + g * 1000, 10 + g, k));  // lon = arrival
    ASSERT_FALSE(append_sync(*s, b));
  }
  for (std::size_t limit : {1u, 4u, 5u, 24u, 100u}) {
    int pages = 0;
    auto pts = all_pages(*s, courier_q("c", t0_, t0_ + hour_us, limit), &pages);
    ASSERT_EQ(pts.size(), 24u) << "limit " << limit;
    EXPECT_EQ(pages, static_cast<int>((24 + limit - 1) / limit)) << "no empty last page";
    for (std::size_t i = 0; i < pts.size(); ++i) {
      EXPECT_EQ(pts[i].t_us, t0_ + static_cast<std::int64_t>(i / 3) * 1000);
      EXPECT_EQ(pts[i].longitude, static_cast<double>(i % 3)) << "arrival order, limit " << limit;
    }
  }
}

TEST_F(PostgresStore, WindowCursorCrossesCouriers) {
  auto s = open();
  std::vector<location_ptr> b;
  for (std::string c : {"b", "a", "c"}) {
    for (int i = 0; i < 5; ++i) b.push_back(loc(c, t0_ + (i % 2), 1, i));  // equal t too
  }
  ASSERT_FALSE(append_sync(*s, b));
  query q;
  q.what = query::kind::window;
  q.from_us = t0_;
  q.to_us = t0_ + 10;
  q.limit = 4;
  auto pts = all_pages(*s, q);
  ASSERT_EQ(pts.size(), 15u);
  for (std::size_t i = 0; i < pts.size(); ++i) {
    EXPECT_EQ(pts[i].courier_id, std::string(1, static_cast<char>('a' + i / 5)));
    // t: 0,0,0,1,1 (i = 0,2,4 then 1,3) within each courier
    static const double arrival[] = {0, 2, 4, 1, 3};
    EXPECT_EQ(pts[i].longitude, arrival[i % 5]);
  }
}

TEST_F(PostgresStore, InvalidCursorIsInvalidArgument) {
  auto s = open();
  ASSERT_FALSE(append_sync(*s, {loc("c", t0_), loc("c", t0_ + 1)}));
  auto q = courier_q("c", t0_, t0_ + 10, 1);
  auto [ec, first] = read_sync(*s, q);
  ASSERT_FALSE(ec);
  ASSERT_TRUE(first.next);
  query w = q;
  w.what = query::kind::window;
  for (std::string bad : std::vector<std::string>{
           "x", "c.", "c.1", "c.1.2.3", "c.a.2", "c.1.2x", "o" + first.next->substr(1), "w.1.2.!!",
           std::string(600, 'c'), "c.99999999999999999999.1"}) {
    q.cursor = bad;
    EXPECT_EQ(read_sync(*s, q).first, boost::system::errc::invalid_argument) << bad;
  }
  w.cursor = *first.next;  // a courier cursor given to a window
  EXPECT_EQ(read_sync(*s, w).first, boost::system::errc::invalid_argument);
  q.cursor = *first.next;
  auto [ec2, second] = read_sync(*s, q);
  ASSERT_FALSE(ec2);
  ASSERT_EQ(second.points.size(), 1u);
  EXPECT_EQ(second.points[0].t_us, t0_ + 1);
}

TEST_F(PostgresStore, OutOfOrderPointsComeBackInTimeOrder) {
  auto s = open();
  for (int t : {5, 3, 4, 1}) ASSERT_FALSE(append_sync(*s, {loc("c", t0_ + t)}));
  auto [ec, pg] = read_sync(*s, courier_q("c", t0_, t0_ + 10));
  ASSERT_FALSE(ec);
  std::vector<std::int64_t> ts;
  for (auto& p : pg.points) ts.push_back(p.t_us - t0_);
  EXPECT_EQ(ts, (std::vector<std::int64_t>{1, 3, 4, 5}));
}

TEST_F(PostgresStore, ConcurrentAppendsShareTransactions) {
  auto s = open();
  constexpr int n = 2000;
  std::atomic<int> ok{0}, done{0};
  for (int i = 0; i < n; ++i) {
    std::vector<location_ptr> b{loc("g" + std::to_string(i % 7), t0_ + i)};
    s->append(b, [&](boost::system::error_code ec) {
      ok += !ec;
      ++done;
    });
  }
  ASSERT_TRUE(eventually([&] { return done == n; }));
  EXPECT_EQ(ok, n);
  auto st = s->stats();
  EXPECT_EQ(st.points, static_cast<std::uint64_t>(n));
  EXPECT_LT(st.transactions, static_cast<std::uint64_t>(n / 4)) << "group commit";
  EXPECT_EQ(metrics_.history_points.value(), static_cast<std::uint64_t>(n));
  EXPECT_EQ(metrics_.history_commits.value(), st.transactions);
  EXPECT_EQ(metrics_.history_commit_latency.count(), st.transactions);
  EXPECT_EQ(metrics_.history_pending.value(), 0);
  EXPECT_EQ(sql1("SELECT count(*) FROM peyk_points"), std::to_string(n));
}

TEST_F(PostgresStore, BatchBoundAndPendingBound) {
  options o;
  o.max_batch_points = 10;
  o.max_pending_points = 500;
  auto s = open(o);
  std::atomic<int> ok{0}, done{0};
  for (int i = 0; i < 200; ++i) {
    std::vector<location_ptr> b{loc("c", t0_ + i)};
    s->append(b, [&](boost::system::error_code ec) {
      ok += !ec;
      ++done;
    });
  }
  ASSERT_TRUE(eventually([&] { return done == 200; }));
  EXPECT_EQ(ok, 200);
  EXPECT_GE(s->stats().transactions, 20u) << "at most 10 points a transaction";

  std::vector<location_ptr> big(501, loc("c", t0_));
  bool refused_inline = false;
  s->append(big, [&](boost::system::error_code ec) {
    refused_inline = ec == boost::system::errc::no_buffer_space;
  });
  EXPECT_TRUE(refused_inline) << "past max_pending_points: refused at once";
  EXPECT_EQ(metrics_.history_refused.value(), 1u);
}

TEST_F(PostgresStore, BadTextFailsAloneNotItsGroup) {
  auto s = open();
  auto bad = std::make_shared<core::location>(*loc("c", t0_));
  bad->username = std::string("nul\0byte", 8);
  EXPECT_EQ(append_sync(*s, {bad}), boost::system::errc::invalid_argument);
  bad->username = "\xff\xfe";
  EXPECT_EQ(append_sync(*s, {bad}), boost::system::errc::invalid_argument);
  EXPECT_FALSE(append_sync(*s, {loc("c", t0_ + 1)}));
  EXPECT_EQ(sql1("SELECT count(*) FROM peyk_points"), "1");
}

TEST_F(PostgresStore, PartitionsAreMadeAheadAndForOldPoints) {
  auto s = open();
  auto today = pg::day_of(now_us());
  EXPECT_TRUE(days().contains(today));
  EXPECT_TRUE(days().contains(today + 1));
  auto old = std::make_shared<core::location>(*loc("c", t0_));
  old->recorded_at = rfc3339(t0_ - 3 * pg::day_us);  // a buffered batch from 3 days ago
  auto older = std::make_shared<core::location>(*old);
  older->recorded_at = rfc3339(t0_ - 10 * pg::day_us);
  ASSERT_FALSE(append_sync(*s, {old, older}));
  EXPECT_TRUE(days().contains(today - 3));
  EXPECT_TRUE(days().contains(today - 10));
  EXPECT_EQ(sql1("SELECT count(*) FROM " + pg::partition_name(today - 3)), "1");
  auto [ec, pg] = read_sync(*s, courier_q("c", t0_ - 11 * pg::day_us, t0_));
  ASSERT_FALSE(ec);
  EXPECT_EQ(pg.points.size(), 2u);
}

TEST_F(PostgresStore, RetentionDropsWholeDays) {
  auto writer = open();  // 30 days
  auto today = pg::day_of(now_us());
  std::vector<location_ptr> b;
  for (int back : {20, 10, 4, 1, 0}) {
    auto l = std::make_shared<core::location>(*loc("c", t0_));
    l->recorded_at = rfc3339(t0_ - back * pg::day_us);
    l->orders = {"o"};
    b.push_back(l);
  }
  ASSERT_FALSE(append_sync(*writer, b));
  ASSERT_TRUE(days().contains(today - 20));

  options o;
  o.retention = std::chrono::hours(24 * 5);
  postgres_tuning t;
  t.maintenance_period = 100ms;
  auto keeper = open(o, t);
  ASSERT_TRUE(eventually([&] { return !days().contains(today - 10); }));
  auto left = days();
  EXPECT_FALSE(left.contains(today - 20));
  EXPECT_TRUE(left.contains(today - 4));
  EXPECT_TRUE(left.contains(today - 1));
  EXPECT_EQ(keeper->stats().partitions_dropped, 2u);
  EXPECT_EQ(sql1("SELECT count(*) FROM peyk_points"), "3");
  EXPECT_EQ(sql1("SELECT count(*) FROM peyk_order_days"), "3") << "order days go with them";
  EXPECT_EQ(sql1("SELECT count(*) FROM pg_class WHERE relname = '" +
                 pg::partition_name(today - 20) + "'"),
            "0")
      << "dropped, not only detached";
  // A point already past retention is not written (it would be dropped anyway).
  auto stale = std::make_shared<core::location>(*loc("c", t0_));
  stale->recorded_at = rfc3339(t0_ - 8 * pg::day_us);
  EXPECT_FALSE(append_sync(*keeper, {stale}));
  EXPECT_EQ(keeper->stats().expired, 1u);
  EXPECT_FALSE(days().contains(today - 8));
}

TEST_F(PostgresStore, MigratesOnceWhenManyStartAtOnce) {
  std::vector<std::unique_ptr<postgres_store>> stores;
  for (int i = 0; i < 4; ++i)
    stores.push_back(std::make_unique<postgres_store>(url_, options{}, metrics_));
  std::vector<std::thread> th;
  for (auto& s : stores) th.emplace_back([&s] { s->start(); });
  for (auto& t : th) t.join();
  for (auto& s : stores) EXPECT_TRUE(s->ready());
  stores.clear();
  auto again = open();  // and again, on a migrated database
  EXPECT_EQ(sql1("SELECT string_agg(version::text, ',') FROM peyk_schema"),
            std::to_string(pg::latest_version()));
  EXPECT_FALSE(append_sync(*again, {loc("c", t0_)}));
}

TEST_F(PostgresStore, SpecIsCheckedAndThePasswordNeverLogged) {
  for (std::string bad : {"postgres://", "postgres://u:hunter2@/db", "postgres://u:hunter2@h:5432",
                          "mysql://u:hunter2@h/db", "postgres://u:hunter2@h:5432/db?bogus=1",
                          "postgres://u:hunter2@h:5432/db?password=x"}) {
    try {
      postgres_store s(bad, options{}, metrics_);
      ADD_FAILURE() << bad << " accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    }
  }
  EXPECT_EQ(pg::redact("postgres://peyk:hunter2@h:1/db"), "postgres://peyk:***@h:1/db");
  EXPECT_EQ(pg::redact("postgresql://peyk:a@b@h:1/db?sslmode=require&sslpassword=hunter2&x=1"),
            "postgresql://peyk:***@h:1/db?sslmode=require&sslpassword=***&x=1");
  EXPECT_EQ(pg::redact("postgres://peyk@h/db"), "postgres://peyk@h/db");
  // A percent-escaped password reaches the server decoded.
  server_->sql("postgres", "CREATE ROLE odd LOGIN PASSWORD 'p@ss:w/rd'");
  server_->sql("postgres", "GRANT ALL ON DATABASE " + db_ + " TO odd");
  server_->sql(db_, "GRANT ALL ON SCHEMA public TO odd");
  auto odd =
      "postgres://odd:p%40ss%3Aw%2Frd@127.0.0.1:" + std::to_string(server_->port()) + "/" + db_;
  EXPECT_STREQ(open_store(odd, options{}, metrics_)->name(), "postgres");
  EXPECT_THROW(open_store("postgres://odd:x@127.0.0.1/", options{}, metrics_),
               std::invalid_argument);
  postgres_store good(odd, options{}, metrics_);
  good.start();
  EXPECT_TRUE(good.ready());
  good.stop();

  auto wrong = "postgres://peyk:hunter2@127.0.0.1:" + std::to_string(server_->port()) + "/" + db_;
  postgres_tuning t;
  t.start_wait = 3s;
  ::testing::internal::CaptureStderr();
  {
    postgres_store s(wrong, options{}, metrics_, t);
    s.start();
    EXPECT_FALSE(s.ready());
    EXPECT_EQ(append_sync(s, {loc("c", t0_)}), boost::system::errc::not_connected);
    EXPECT_EQ(s.redacted_spec(),
              "postgres://peyk:***@127.0.0.1:" + std::to_string(server_->port()) + "/" + db_);
  }
  auto err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("peyk:***@"), std::string::npos) << err;
  EXPECT_NE(err.find("password authentication failed"), std::string::npos) << err;
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;
}

}  // namespace
}  // namespace peyk::history
