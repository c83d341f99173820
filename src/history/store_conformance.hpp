#pragma once
// The backend-independent cases of history::store (history.hpp's contract), as a
// value-parameterized GoogleTest suite. A backend's test file includes this header once and
// instantiates the suite with a factory:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreConformance,
//       ::testing::Values(conformance_backend{"sqlite", [](const options& o) {...}}),
//       conformance_name);
//
// The factory returns a new store, not started, over a fresh and empty database.

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <future>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "core/clock.hpp"
#include "history/history.hpp"

namespace peyk::history::testing {

struct conformance_backend {
  std::string name;
  std::function<std::unique_ptr<store>(const options&)> make;
};

// What ctest shows for a parameter (else its bytes).
inline void PrintTo(const conformance_backend& b, std::ostream* os) {
  *os << b.name;
}

inline std::string conformance_name(const ::testing::TestParamInfo<conformance_backend>& i) {
  return i.param.name;
}

inline constexpr std::int64_t sec = 1'000'000;

// A whole second an hour ago: inside any retention, and in the past for every check.
inline std::int64_t base_time() {
  return (core::now_us() / sec - 3600) * sec;
}

// RFC 3339 with microseconds, UTC.
inline std::string rfc3339(std::int64_t us) {
  std::time_t s = static_cast<std::time_t>(us / sec);
  std::tm tm{};
  gmtime_r(&s, &tm);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us % sec));
  return buf;
}

// A location filled in by `fill` (GCC warns on designated initializers that skip fields).
template <class Fill>
location_ptr loc(Fill fill) {
  auto l = std::make_shared<core::location>();
  fill(*l);
  return l;
}

// A point of `courier` at history time `t` (as its ts), `lat` telling points apart.
inline location_ptr at(std::string courier, std::int64_t t, double lat = 1, std::string fleet = "",
                       std::vector<std::string> orders = {}) {
  return loc([&](core::location& l) {
    l.courier_id = std::move(courier);
    l.latitude = lat;
    l.longitude = 2;
    l.fleet = std::move(fleet);
    l.orders = std::move(orders);
    l.ts_us = t;
  });
}

// A point whose history time `t` is its recorded_at (sent late: ts = t + delay).
inline location_ptr late(std::string courier, std::int64_t t, double lat,
                         std::int64_t delay = 600 * sec) {
  return loc([&](core::location& l) {
    l.courier_id = std::move(courier);
    l.latitude = lat;
    l.longitude = 2;
    l.recorded_at = rfc3339(t);
    l.ts_us = t + delay;
  });
}

inline boost::system::error_code append_sync(store& s, std::vector<location_ptr> batch) {
  std::promise<boost::system::error_code> p;
  auto f = p.get_future();
  s.append(batch, [&p](boost::system::error_code ec) { p.set_value(ec); });
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    ADD_FAILURE() << "append did not complete";
    return make_error_code(boost::system::errc::timed_out);
  }
  return f.get();
}

inline std::pair<boost::system::error_code, page> read_sync(store& s, const query& q) {
  std::promise<std::pair<boost::system::error_code, page>> p;
  auto f = p.get_future();
  s.read(q, [&p](boost::system::error_code ec, page pg) { p.set_value({ec, std::move(pg)}); });
  if (f.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    ADD_FAILURE() << "read did not complete";
    return {make_error_code(boost::system::errc::timed_out), {}};
  }
  return f.get();
}

inline query courier_q(std::string id, std::int64_t from, std::int64_t to) {
  query q;
  q.what = query::kind::courier;
  q.id = std::move(id);
  q.from_us = from;
  q.to_us = to;
  return q;
}

inline query order_q(std::string id, std::int64_t from, std::int64_t to) {
  auto q = courier_q(std::move(id), from, to);
  q.what = query::kind::order;
  return q;
}

inline query window_q(std::int64_t from, std::int64_t to) {
  auto q = courier_q("", from, to);
  q.what = query::kind::window;
  return q;
}

// Every page of `q` (following `next`), concatenated; fails on an error.
inline std::vector<point> read_all(store& s, query q, int* pages = nullptr) {
  std::vector<point> all;
  for (int n = 1; n < 10'000; ++n) {
    auto [ec, pg] = read_sync(s, q);
    EXPECT_FALSE(ec) << ec.message();
    if (ec) break;
    EXPECT_LE(pg.points.size(), q.limit);
    all.insert(all.end(), pg.points.begin(), pg.points.end());
    if (pages) *pages = n;
    if (!pg.next) break;
    EXPECT_FALSE(pg.points.empty()) << "a page with a next must hold points";
    q.cursor = *pg.next;
  }
  return all;
}

// The latitudes of `pts`, in order: the tests tell points apart by latitude.
inline std::vector<double> lats(const std::vector<point>& pts) {
  std::vector<double> v;
  for (const auto& p : pts) v.push_back(p.latitude);
  return v;
}

inline std::vector<std::string> ids(const std::vector<point>& pts) {
  std::vector<std::string> v;
  for (const auto& p : pts) v.push_back(p.courier_id);
  return v;
}

class StoreConformance : public ::testing::TestWithParam<conformance_backend> {
 protected:
  void open(options o = {}) {
    s_ = GetParam().make(o);
    s_->start();
    for (int i = 0; i < 100 && !s_->ready(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_TRUE(s_->ready());
  }
  void SetUp() override { open(); }
  void TearDown() override {
    if (s_) s_->stop();
  }
  void put(std::vector<location_ptr> batch) { ASSERT_FALSE(append_sync(*s_, std::move(batch))); }

  std::unique_ptr<store> s_;
  std::int64_t t0_ = base_time();
};

TEST_P(StoreConformance, RoundTripsEveryField) {
  auto full = loc([&](core::location& l) {
    l.courier_id = "c-1";
    l.username = "Ali";
    l.latitude = 35.700123;
    l.longitude = -51.401145;
    l.accuracy = 6.5;
    l.speed = 8.25;
    l.heading = 270.5;
    l.battery = 42.5;
    l.recorded_at = rfc3339(t0_ + 123'456);
    l.fleet = "store-7";
    l.orders = {"A123", "o \"2\"\\\n", "\xd8\xa8"};
    l.ts_us = t0_ + 2 * sec + 7;
  });
  auto bare = loc([&](core::location& l) {
    l.courier_id = "c-1";
    l.latitude = -90;
    l.longitude = 180;
    l.ts_us = t0_ + sec;
  });
  put({full, bare});
  auto [ec, pg] = read_sync(*s_, courier_q("c-1", t0_, t0_ + 10 * sec));
  ASSERT_FALSE(ec);
  ASSERT_EQ(pg.points.size(), 2u);
  EXPECT_FALSE(pg.next);
  const auto& a = pg.points[0];  // t = recorded_at = t0 + 0.123456 s
  EXPECT_EQ(a.courier_id, "c-1");
  EXPECT_EQ(a.name, "Ali");
  EXPECT_EQ(a.fleet, "store-7");
  EXPECT_EQ(a.orders, full->orders);
  EXPECT_EQ(a.latitude, 35.700123);
  EXPECT_EQ(a.longitude, -51.401145);
  EXPECT_EQ(a.accuracy, 6.5);
  EXPECT_EQ(a.speed, 8.25);
  EXPECT_EQ(a.heading, 270.5);
  EXPECT_EQ(a.battery, 42.5);
  EXPECT_EQ(a.ts_us, t0_ + 2 * sec + 7);
  EXPECT_EQ(a.recorded_us, t0_ + 123'456);
  EXPECT_EQ(a.t_us, t0_ + 123'456);
  const auto& b = pg.points[1];
  EXPECT_EQ(b.courier_id, "c-1");
  EXPECT_EQ(b.name, "");
  EXPECT_EQ(b.fleet, "");
  EXPECT_TRUE(b.orders.empty());
  EXPECT_EQ(b.latitude, -90);
  EXPECT_EQ(b.longitude, 180);
  EXPECT_FALSE(b.accuracy);
  EXPECT_FALSE(b.speed);
  EXPECT_FALSE(b.heading);
  EXPECT_FALSE(b.battery);
  EXPECT_FALSE(b.recorded_us);
  EXPECT_EQ(b.ts_us, t0_ + sec);
  EXPECT_EQ(b.t_us, t0_ + sec);
}

TEST_P(StoreConformance, OrdersByTimeThenArrivalIncludingLatePoints) {
  put({at("c", t0_ + 10 * sec, 1), at("c", t0_ + 20 * sec, 2), at("c", t0_ + 20 * sec, 3)});
  put({at("c", t0_ + 20 * sec, 4)});
  // A buffered batch sent later: its recorded_at puts it among (and before) the others.
  put({late("c", t0_ + 15 * sec, 5), late("c", t0_ + 5 * sec, 6), late("c", t0_ + 20 * sec, 7),
       late("c", t0_ + 5 * sec, 8)});
  auto all = read_all(*s_, courier_q("c", t0_, t0_ + 60 * sec));
  EXPECT_EQ(lats(all), (std::vector<double>{6, 8, 1, 5, 2, 3, 4, 7}));
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LE(all[i - 1].t_us, all[i].t_us);
}

TEST_P(StoreConformance, CourierWindowIsHalfOpenAndUnknownIdsAreEmpty) {
  std::vector<location_ptr> b;
  for (int i = 0; i < 10; ++i) b.push_back(at("c", t0_ + i * sec, i));
  put(b);
  EXPECT_EQ(lats(read_all(*s_, courier_q("c", t0_ + 2 * sec, t0_ + 5 * sec))),
            (std::vector<double>{2, 3, 4}));
  EXPECT_TRUE(read_all(*s_, courier_q("c", t0_ + 20 * sec, t0_ + 30 * sec)).empty());
  for (auto q : {courier_q("nobody", t0_, t0_ + 60 * sec), order_q("none", t0_, t0_ + 60 * sec),
                 window_q(t0_ - 60 * sec, t0_)}) {
    auto [ec, pg] = read_sync(*s_, q);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(pg.points.empty());
    EXPECT_FALSE(pg.next);
  }
}

TEST_P(StoreConformance, OrderQueryFindsThePointsThatCarriedIt) {
  put({at("a", t0_ + 1 * sec, 1, "", {"o1"}), at("a", t0_ + 2 * sec, 2, "", {"o1", "o2"}),
       at("a", t0_ + 4 * sec, 3, "", {"o2"}), at("a", t0_ + 6 * sec, 4, "", {"o1"})});
  put({at("b", t0_ + 3 * sec, 5, "", {"o1"}), at("b", t0_ + 5 * sec, 6)});
  EXPECT_EQ(lats(read_all(*s_, order_q("o1", t0_, t0_ + 60 * sec))),
            (std::vector<double>{1, 2, 5, 4}));
  EXPECT_EQ(lats(read_all(*s_, order_q("o2", t0_, t0_ + 60 * sec))), (std::vector<double>{2, 3}));
  EXPECT_EQ(lats(read_all(*s_, order_q("o1", t0_ + 2 * sec, t0_ + 6 * sec))),
            (std::vector<double>{2, 5}));
  EXPECT_TRUE(read_all(*s_, order_q("o3", t0_, t0_ + 60 * sec)).empty());
}

TEST_P(StoreConformance, WindowQueryGroupsByCourierThenTime) {
  put({at("b", t0_ + 1 * sec, 1), at("a", t0_ + 2 * sec, 2), at("c", t0_ + 1 * sec, 3)});
  put({at("a", t0_ + 1 * sec, 4), at("b", t0_ + 3 * sec, 5), at("c", t0_ + 9 * sec, 6)});
  auto all = read_all(*s_, window_q(t0_, t0_ + 5 * sec));
  EXPECT_EQ(ids(all), (std::vector<std::string>{"a", "a", "b", "b", "c"}));
  EXPECT_EQ(lats(all), (std::vector<double>{4, 2, 1, 5, 3}));
}

TEST_P(StoreConformance, FleetFilterUsesTheFleetAtThePointsTime) {
  put({at("a", t0_ + 1 * sec, 1, "f1", {"o"}), at("a", t0_ + 2 * sec, 2, "f1", {"o"}),
       at("a", t0_ + 3 * sec, 3, "f2", {"o"}), at("b", t0_ + 1 * sec, 4, "f2", {"o"}),
       at("c", t0_ + 1 * sec, 5)});
  auto with = [](query q, std::vector<std::string> fleets) {
    q.fleets = std::move(fleets);
    q.fleets_filter = true;
    return q;
  };
  auto w = window_q(t0_, t0_ + 10 * sec);
  EXPECT_EQ(lats(read_all(*s_, with(w, {"f1"}))), (std::vector<double>{1, 2}));
  EXPECT_EQ(lats(read_all(*s_, with(w, {"f2"}))), (std::vector<double>{3, 4}));
  EXPECT_EQ(lats(read_all(*s_, with(w, {"f1", "f2"}))), (std::vector<double>{1, 2, 3, 4}));
  EXPECT_TRUE(read_all(*s_, with(w, {})).empty());
  EXPECT_EQ(read_all(*s_, w).size(), 5u);  // no filter: an admin
  EXPECT_EQ(lats(read_all(*s_, with(courier_q("a", t0_, t0_ + 10 * sec), {"f2"}))),
            (std::vector<double>{3}));
  EXPECT_EQ(lats(read_all(*s_, with(order_q("o", t0_, t0_ + 10 * sec), {"f2"}))),
            (std::vector<double>{4, 3}));
}

TEST_P(StoreConformance, CursorPagesCoverEverythingOnceAcrossEqualTimes) {
  // Courier: 10 points, runs of equal t straddling the page boundaries.
  std::vector<location_ptr> b;
  for (int i = 0; i < 10; ++i) b.push_back(at("a", t0_ + (i / 4) * sec, i, "", {"o"}));
  b.push_back(at("b", t0_ + 1 * sec, 10, "", {"o"}));
  b.push_back(at("b", t0_ + 1 * sec, 11, "", {"o"}));
  put(b);
  auto q = courier_q("a", t0_, t0_ + 60 * sec);
  q.limit = 3;
  int pages = 0;
  EXPECT_EQ(lats(read_all(*s_, q, &pages)), (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(pages, 4);
  q.limit = 5;  // exactly two pages: no third, empty one
  EXPECT_EQ(read_all(*s_, q, &pages).size(), 10u);
  EXPECT_EQ(pages, 2);

  auto o = order_q("o", t0_, t0_ + 60 * sec);
  o.limit = 2;  // at t0+1s: a's 4..7, then b's 10, 11
  EXPECT_EQ(lats(read_all(*s_, o)), (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 8, 9}));

  auto w = window_q(t0_, t0_ + 60 * sec);
  for (std::size_t limit : {1u, 4u, 7u, 11u, 12u, 50u}) {
    w.limit = limit;
    EXPECT_EQ(lats(read_all(*s_, w)), (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}))
        << "limit " << limit;
  }
}

TEST_P(StoreConformance, InvalidCursorIsRefused) {
  put({at("a", t0_, 1)});
  for (auto q :
       {courier_q("a", t0_, t0_ + sec), order_q("o", t0_, t0_ + sec), window_q(t0_, t0_ + sec)}) {
    for (const char* c : {"not a cursor", "%%%", "\x01"}) {
      q.cursor = c;
      auto [ec, pg] = read_sync(*s_, q);
      EXPECT_EQ(ec, boost::system::errc::invalid_argument) << c;
      EXPECT_TRUE(pg.points.empty());
    }
  }
}

TEST_P(StoreConformance, ConcurrentAppendsAllLand) {
  constexpr int threads = 6, appends = 60, per = 5;
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int i = 0; i < threads; ++i) {
    ts.emplace_back([&, i] {
      for (int j = 0; j < appends; ++j) {
        std::vector<location_ptr> b;
        for (int k = 0; k < per; ++k) {
          b.push_back(at("t" + std::to_string(i), t0_ + (j * per + k) * 1000, j * per + k));
        }
        if (!append_sync(*s_, b)) ++ok;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok, threads * appends);
  for (int i = 0; i < threads; ++i) {
    auto all = read_all(*s_, courier_q("t" + std::to_string(i), t0_, t0_ + 60 * sec));
    ASSERT_EQ(all.size(), std::size_t{appends * per});
    for (int k = 0; k < appends * per; ++k) EXPECT_EQ(all[k].latitude, k);
  }
}

TEST_P(StoreConformance, RefusesAtOnceOverThePendingBound) {
  s_->stop();
  options o;
  o.max_pending_points = 10;
  open(o);
  // Many appends in flight: while one commits, the next ones queue and pass the bound.
  // A refusal runs its handler at once, on the caller's thread.
  std::atomic<int> done_ok{0}, done_err{0}, refused_inline{0};
  auto caller = std::this_thread::get_id();
  for (int i = 0; i < 200; ++i) {
    s_->append(std::vector<location_ptr>{at("q", t0_ + i, i), at("q", t0_ + i, i)},
               [&, caller](boost::system::error_code ec) {
                 if (!ec) {
                   ++done_ok;
                   return;
                 }
                 ++done_err;
                 if (std::this_thread::get_id() == caller) ++refused_inline;
               });
  }
  for (int i = 0; i < 200 && done_ok + done_err < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GT(refused_inline, 0);
  EXPECT_EQ(done_ok + done_err, 200);
  EXPECT_EQ(done_err, refused_inline);  // every accepted append succeeded
  EXPECT_TRUE(s_->ready());
  EXPECT_EQ(read_all(*s_, courier_q("q", t0_, t0_ + sec)).size(),
            static_cast<std::size_t>(2 * done_ok));
}

TEST_P(StoreConformance, StopCompletesEveryQueuedAppend) {
  std::atomic<int> ok{0}, calls{0};
  for (int i = 0; i < 100; ++i) {
    s_->append(std::vector<location_ptr>{at("s", t0_ + i, i)}, [&](boost::system::error_code ec) {
      ++calls;
      if (!ec) ++ok;
    });
  }
  s_->stop();
  EXPECT_EQ(calls, 100);
  EXPECT_EQ(ok, 100);
  bool called = false;
  s_->append(std::vector<location_ptr>{at("s", t0_, 1)}, [&](boost::system::error_code ec) {
    called = true;
    EXPECT_TRUE(ec);
  });
  EXPECT_TRUE(called);  // refused at once after stop
}

}  // namespace peyk::history::testing
