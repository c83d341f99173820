// The SQLite history backend under load: points/s written (appends of 100 points, and of 1,
// many in flight), one courier-day read as a page (p50/p99), bytes per point on disk.
// Run: build/peyk-history-bench [DIR] [--couriers N] [--points N] [--quick] [--keep] [--phases 123]
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "history/sqlite_store.hpp"

namespace {

using namespace peyk;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;
constexpr std::int64_t sec = 1'000'000;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

history::location_ptr point(int courier, std::int64_t t, int i) {
  auto l = std::make_shared<core::location>();
  l->courier_id = std::to_string(100000 + courier);
  l->username = "courier " + std::to_string(courier);
  l->fleet = "fleet-" + std::to_string(courier % 20);
  l->orders = {"A" + std::to_string(courier * 7 + i / 600)};  // a new order every 10 min
  l->latitude = 35.7 + (i % 1000) * 1e-5;
  l->longitude = 51.4 + (courier % 1000) * 1e-5;
  l->accuracy = 5 + i % 20;
  l->speed = (i % 150) / 10.0;
  l->heading = i % 360;
  l->ts_us = t;
  return l;
}

// Appends `total` points as batches of `per` (round robin over couriers, each courier's
// points one `step` apart), with at most `in_flight` points not yet completed.
double write(history::store& s, int couriers, std::int64_t total, int per, std::int64_t t0,
             std::int64_t step, std::int64_t in_flight, std::int64_t& courier_points) {
  std::mutex mu;
  std::condition_variable cv;
  std::int64_t flying = 0, failed = 0, done = 0;
  std::int64_t appends = total / per;
  auto start = clock_type::now();
  for (std::int64_t a = 0; a < appends; ++a) {
    int c = static_cast<int>(a % couriers);
    std::int64_t round = a / couriers;
    std::vector<history::location_ptr> b;
    for (int k = 0; k < per; ++k) {
      auto i = static_cast<int>(round * per + k);
      b.push_back(point(c, t0 + i * step, i));
    }
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return flying + per <= in_flight; });
      flying += per;
    }
    s.append(b, [&, per](boost::system::error_code ec) {
      std::lock_guard lock(mu);
      flying -= per;
      ++done;
      if (ec) ++failed;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done == appends; });
  double secs = seconds_since(start);
  if (failed) std::printf("  !! %lld appends failed\n", static_cast<long long>(failed));
  courier_points = appends / couriers * per;
  return static_cast<double>(appends * per) / secs;
}

history::page read_page(history::store& s, const history::query& q) {
  std::promise<history::page> p;
  auto f = p.get_future();
  s.read(q, [&](boost::system::error_code ec, history::page pg) {
    if (ec) std::printf("  !! read: %s\n", ec.message().c_str());
    p.set_value(std::move(pg));
  });
  return f.get();
}

void disk_usage(const std::string& path, std::int64_t points) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", nullptr, nullptr, nullptr);
  auto one = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    std::int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
  };
  auto pages = one("PRAGMA page_count"), free_pages = one("PRAGMA freelist_count"),
       size = one("PRAGMA page_size");
  auto used = (pages - free_pages) * size;
  std::printf("  disk: %.1f MiB used (%lld free pages) for %lld points = %.1f B/point\n",
              static_cast<double>(used) / 1048576, static_cast<long long>(free_pages),
              static_cast<long long>(points),
              static_cast<double>(used) / static_cast<double>(points));
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db,
                         "SELECT name, sum(pgsize), sum(ncell) FROM dbstat GROUP BY name "
                         "ORDER BY 2 DESC",
                         -1, &st, nullptr) == SQLITE_OK) {
    while (sqlite3_step(st) == SQLITE_ROW) {
      std::printf("    %-34s %10.1f KiB\n",
                  reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                  static_cast<double>(sqlite3_column_int64(st, 1)) / 1024);
    }
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/peyk-history-bench";
  int couriers = 10'000;
  std::int64_t points = 3'000'000;
  bool quick = false, keep = false;
  std::string phases = "123";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--couriers" && i + 1 < argc) {
      couriers = std::stoi(argv[++i]);
    } else if (a == "--points" && i + 1 < argc) {
      points = std::stoll(argv[++i]);
    } else if (a == "--quick") {
      quick = true;
    } else if (a == "--phases" && i + 1 < argc) {
      phases = argv[++i];
    } else if (a == "--keep") {
      keep = true;
    } else {
      dir = a;
    }
  }
  if (std::getenv("PEYK_BENCH_VERBOSE")) core::set_log_level(core::log_level::debug);
  if (quick) points = std::min<std::int64_t>(points, 500'000);
  fs::remove_all(dir);
  fs::create_directories(dir);
  history::options opt;
  auto t0 = (core::now_us() / sec - 20 * 3600) * sec;
  std::printf("peyk-history-bench: %u hardware threads, SQLite %s\n",
              std::thread::hardware_concurrency(), sqlite3_libversion());

  if (phases.find('1') !=
      std::string::npos) {  // 1. appends of 100 points, many in flight; the database keeps growing
    auto path = dir + "/write100.sqlite";
    core::metrics m;
    auto s = history::make_sqlite_store(path, opt, m);
    s->start();
    std::int64_t per_courier = 0;
    double rate = write(*s, couriers, points, 100, t0, sec, 100'000, per_courier);
    std::printf(
        "write, appends of 100: %d couriers, %lld points: %.0f points/s (%llu commits, "
        "%.0f points each)\n",
        couriers, static_cast<long long>(points), rate,
        static_cast<unsigned long long>(m.history_commits.value()),
        static_cast<double>(m.history_points.value()) /
            static_cast<double>(std::max<std::uint64_t>(1, m.history_commits.value())));
    s->stop();
    disk_usage(path, points);
  }
  if (phases.find('2') !=
      std::string::npos) {  // 2. appends of 1 point (one courier each), many in flight
    auto path = dir + "/write1.sqlite";
    core::metrics m;
    auto s = history::make_sqlite_store(path, opt, m);
    s->start();
    std::int64_t n = quick ? 100'000 : 300'000, per_courier = 0;
    double rate = write(*s, couriers, n, 1, t0, sec, 4'000, per_courier);
    std::printf("write, appends of 1: %d couriers, %lld points: %.0f points/s (%llu commits)\n",
                couriers, static_cast<long long>(n), rate,
                static_cast<unsigned long long>(m.history_commits.value()));
    s->stop();
  }
  if (phases.find('3') !=
      std::string::npos) {  // 3. a courier-day (43,200 points, one per 2 s) read as one page
    auto path = dir + "/day.sqlite";
    core::metrics m;
    auto s = history::make_sqlite_store(path, opt, m);
    s->start();
    int day_couriers = quick ? 10 : 40;
    std::int64_t per_courier = 0;
    auto day0 = (core::now_us() / sec - 25 * 3600) * sec;
    write(*s, day_couriers, std::int64_t{day_couriers} * 43'200, 100, day0, 2 * sec, 100'000,
          per_courier);
    std::vector<double> ms;
    for (int rep = 0; rep < (quick ? 3 : 5); ++rep) {
      for (int c = 0; c < day_couriers; ++c) {
        history::query q;
        q.id = std::to_string(100000 + c);
        q.from_us = day0;
        q.to_us = day0 + 24 * 3600 * sec;
        auto start = clock_type::now();
        auto pg = read_page(*s, q);
        ms.push_back(seconds_since(start) * 1000);
        if (pg.points.size() != 43'200 || pg.next) {
          std::printf("  !! courier %d: %zu points\n", c, pg.points.size());
        }
      }
    }
    if (std::getenv("PEYK_BENCH_VERBOSE")) {
      for (double v : ms) std::printf(" %.1f", v);
      std::printf("\n");
    }
    std::sort(ms.begin(), ms.end());
    auto pct = [&](double p) { return ms[static_cast<std::size_t>(p * (ms.size() - 1))]; };
    std::printf(
        "read, courier-day of 43,200 points as one page (%d couriers in the file, %zu "
        "reads): p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
        day_couriers, ms.size(), pct(0.5), pct(0.99), ms.back());
    s->stop();
    disk_usage(path, std::int64_t{day_couriers} * 43'200);
  }
  if (!keep) fs::remove_all(dir);
}
