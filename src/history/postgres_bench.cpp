// Figures of the PostgreSQL history backend (docs): points/s written with appends of 1
// and of 100 points and many appends in flight, the read of one courier-day (43,200
// points, one every 2 s), and bytes on disk per point. Starts its own PostgreSQL 15
// (postgres_test_support.hpp; fsync on, as in production) unless given --url.
//
//   build/src/history/peyk-history-pg-bench [--points N] [--fsync off] [--url postgres://...]

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <semaphore>
#include <thread>

#include "core/metrics.hpp"
#include "history/postgres_schema.hpp"
#include "history/postgres_store.hpp"
#include "history/postgres_test_support.hpp"

using namespace peyk;
using namespace peyk::history;
using namespace std::chrono_literals;
using test_support::now_us;
using clock_type = std::chrono::steady_clock;

namespace {

// A realistic row: name, fleet, one or two orders, accuracy, speed, heading.
location_ptr sample(int courier, std::int64_t t) {
  auto l = std::make_shared<core::location>();
  l->courier_id = std::to_string(100000 + courier);
  l->username = "Courier " + std::to_string(courier);
  l->fleet = "fleet-" + std::to_string(courier % 10);
  l->orders = {"ord-" + std::to_string(courier * 7)};
  if (courier % 3 == 0) l->orders.push_back("ord-" + std::to_string(courier * 7 + 1));
  l->latitude = 35.7 + (t % 100000) * 1e-6;
  l->longitude = 51.4 - (t % 77777) * 1e-6;
  l->accuracy = 5 + (t % 20);
  l->speed = (t % 1500) / 100.0;
  l->heading = static_cast<double>(t % 360);
  l->ts_us = t;
  return l;
}

// Appends `total` points in appends of `per_append`, with at most `in_flight` appends
// outstanding; returns points/s.
double write_rate(postgres_store& s, std::size_t total, std::size_t per_append,
                  std::size_t in_flight) {
  std::atomic<std::size_t> failed{0};
  std::counting_semaphore<1 << 20> slots(static_cast<std::ptrdiff_t>(in_flight));
  auto t_base = now_us();
  std::size_t appends = total / per_append;
  auto before = s.stats();
  auto start = clock_type::now();
  for (std::size_t a = 0; a < appends; ++a) {
    slots.acquire();  // blocks (no spinning: the producer shares 2 cores with PostgreSQL)
    std::vector<location_ptr> batch;
    batch.reserve(per_append);
    for (std::size_t k = 0; k < per_append; ++k) {
      auto i = a * per_append + k;
      batch.push_back(sample(static_cast<int>(i % 1000), t_base + static_cast<std::int64_t>(i)));
    }
    s.append(batch, [&](boost::system::error_code ec) {
      if (ec) ++failed;
      slots.release();
    });
  }
  for (std::size_t k = 0; k < in_flight; ++k) slots.acquire();  // every append completed
  double secs = std::chrono::duration<double>(clock_type::now() - start).count();
  auto after = s.stats();
  auto tx = after.transactions - before.transactions;
  std::printf(
      "  %zu points in appends of %zu, %zu in flight: %.2f s, %.0f points/s, %llu "
      "transactions (%.0f points each), %zu failed\n",
      total, per_append, in_flight, secs, static_cast<double>(total) / secs,
      static_cast<unsigned long long>(tx),
      tx ? static_cast<double>(after.points - before.points) / static_cast<double>(tx) : 0,
      failed.load());
  return static_cast<double>(total) / secs;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t points = 1'000'000;
  bool fsync = true;
  std::string url;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--points")) points = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--fsync")) fsync = std::strcmp(argv[i + 1], "off") != 0;
    if (!std::strcmp(argv[i], "--url")) url = argv[i + 1];
  }
  std::unique_ptr<test_support::pg_server> server;
  if (url.empty()) {
    // PostgreSQL's default shared_buffers (the tests' servers take 32 MB).
    server = std::make_unique<test_support::pg_server>(
        fsync, std::vector<std::string>{"shared_buffers=128MB"});
    url = server->create_database("bench");
    std::printf("PostgreSQL 15 of our own, fsync %s, port %d\n", fsync ? "on" : "off",
                server->port());
  }
  core::metrics metrics;
  postgres_store s(url, options{}, metrics);
  s.start();
  if (!s.ready()) {
    std::fprintf(stderr, "store not ready\n");
    return 1;
  }
  std::printf("writes (one store, one producer thread):\n");
  write_rate(s, std::max<std::size_t>(points / 5, 1000), 1, 1024);
  write_rate(s, points, 100, 64);

  // One courier-day: 43,200 points, one every 2 s, in yesterday's partition.
  auto day = pg::day_of(now_us()) - 1;
  auto day_start = day * pg::day_us;
  {
    std::vector<location_ptr> batch;
    for (int i = 0; i < 43'200; ++i) {
      auto l = std::make_shared<core::location>(*sample(7, now_us()));
      l->courier_id = "courier-day";
      l->recorded_at = test_support::rfc3339(day_start + i * 2'000'000LL);
      batch.push_back(l);
    }
    if (test_support::append_sync(s, batch)) return 1;
  }
  query q;
  q.id = "courier-day";
  q.from_us = day_start;
  q.to_us = day_start + pg::day_us;
  std::vector<double> ms;
  for (int run = 0; run < 7; ++run) {
    auto start = clock_type::now();
    auto [ec, pg] = test_support::read_sync(s, q);
    ms.push_back(std::chrono::duration<double, std::milli>(clock_type::now() - start).count());
    if (ec || pg.points.size() != 43'200) {
      std::fprintf(stderr, "read failed: %s, %zu points\n", ec.message().c_str(), pg.points.size());
      return 1;
    }
  }
  std::sort(ms.begin(), ms.end());
  std::printf("read one courier-day (43,200 points): median %.1f ms, best %.1f ms, worst %.1f ms\n",
              ms[ms.size() / 2], ms.front(), ms.back());
  s.stop();

  if (server) {
    auto count = std::stod(server->scalar("bench", "SELECT count(*) FROM peyk_points"));
    auto sizes =
        server->sql("bench",
                    "SELECT sum(pg_total_relation_size(relid)), sum(pg_relation_size(relid)) "
                    "FROM pg_partition_tree('peyk_points') WHERE isleaf");
    auto total = std::stod(sizes[0][0]);
    auto heap = std::stod(sizes[0][1]);
    std::printf(
        "on disk: %.0f points, %.1f bytes/point in all (table %.1f, indexes and the rest "
        "%.1f)\n",
        count, total / count, heap / count, (total - heap) / count);
  }
  return 0;
}
