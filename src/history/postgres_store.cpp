#include "history/postgres_store.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <unordered_set>

#include <boost/system/errc.hpp>

#include "core/log.hpp"
#include "core/metrics.hpp"
#include "history/postgres_conn.hpp"
#include "history/postgres_rows.hpp"
#include "history/postgres_schema.hpp"

namespace peyk::history {

namespace {
namespace errc = boost::system::errc;
using clock = std::chrono::steady_clock;
using boost::system::error_code;

constexpr std::size_t max_page = 1'000'000;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

struct postgres_store::impl {
  impl(const std::string& spec, const options& o, core::metrics& m, postgres_tuning t)
      : target(pg::parse_spec(spec)), opt(o), tun(t), metrics(m) {}

  struct pending {
    pg::encoded rows;
    append_handler done;
  };
  struct read_job {
    query q;
    query_handler done;
  };

  pg::target target;
  options opt;
  postgres_tuning tun;
  core::metrics& metrics;

  std::mutex mu;  // the write queue, `up` transitions, stopping, first_attempt
  std::condition_variable cv;
  std::deque<pending> queue;
  std::size_t queued_points = 0;
  bool stopping = false;
  bool started = false;
  bool first_attempt = false;
  std::condition_variable first_cv;
  std::atomic<bool> up{false};
  std::atomic<bool> migrated{false};

  std::mutex rmu;
  std::condition_variable rcv;
  std::deque<read_job> reads;
  bool rstopping = false;
  bool rstarted = false;
  std::condition_variable mcv;  // maintenance's wake-up (stop), on mu

  std::atomic<std::uint64_t> transactions{0}, points{0}, appends{0}, refused{0}, expired{0},
      created{0}, dropped{0}, connects{0};
  std::mt19937_64 rng{std::random_device{}()};
  // (order, day, courier) already in peyk_order_days: the writer thread's own.
  std::unordered_set<std::string> order_days_known;
  static constexpr std::size_t max_known_order_days = 200'000;

  std::int64_t horizon() const {
    if (opt.retention.count() <= 0) return std::numeric_limits<std::int64_t>::min();
    return now_us() - std::chrono::duration_cast<std::chrono::microseconds>(opt.retention).count();
  }

  void log(core::log_level l, const std::string& what) {
    core::log(l, "history: postgres " + target.redacted + ": " + what);
  }

  // ---- writer

  // Takes the whole queue (under mu) and fails it (outside).
  void fail_queue(std::unique_lock<std::mutex>& l, error_code ec) {
    auto q = std::move(queue);
    queue.clear();
    queued_points = 0;
    metrics.history_pending.set(0);
    l.unlock();
    for (auto& p : q) p.done(ec);
    l.lock();
  }

  void set_up(bool v) {
    std::unique_lock l(mu);
    up = v;
    if (!v) fail_queue(l, errc::make_error_code(errc::not_connected));
    first_attempt = true;
    first_cv.notify_all();
  }

  // Sleeps the backoff of `attempt`; false when stopping.
  bool backoff(int attempt) {
    auto cap = std::min<std::int64_t>(tun.max_backoff.count(), 100LL << std::min(attempt, 10));
    std::uniform_int_distribution<std::int64_t> d(0, std::max<std::int64_t>(cap, 1));
    std::unique_lock l(mu);
    return !cv.wait_for(l, std::chrono::milliseconds(d(rng)), [&] { return stopping; });
  }

  std::unique_ptr<pg::connection> connect_writer(std::set<std::int64_t>& days) {
    auto c = std::make_unique<pg::connection>(target);
    order_days_known.clear();  // the database may not be the one we knew (a restore)
    // A 200 means durable: a database (or role) configured with synchronous_commit off
    // would acknowledge COMMITs it may still lose.
    auto sc = c->exec("SHOW synchronous_commit");
    if (std::string_view(PQgetvalue(sc.get(), 0, 0)) == "off") {
      c->exec("SET synchronous_commit = on");
    }
    pg::migrate(*c);
    migrated = true;
    days = pg::attached_days(*c);
    ensure_days(*c, days, {pg::day_of(now_us()), pg::day_of(now_us()) + 1});
    return c;
  }

  void ensure_days(pg::connection& c, std::set<std::int64_t>& days,
                   const std::vector<std::int64_t>& want) {
    std::vector<std::int64_t> missing;
    for (auto d : want) {
      if (!days.contains(d)) missing.push_back(d);
    }
    if (missing.empty()) return;
    created += pg::ensure_partitions(c, missing);
    days.insert(missing.begin(), missing.end());
  }

  static std::vector<std::int64_t> days_of(std::span<pending> batch) {
    std::vector<std::int64_t> want;
    for (auto& p : batch) want.insert(want.end(), p.rows.days.begin(), p.rows.days.end());
    std::sort(want.begin(), want.end());
    want.erase(std::unique(want.begin(), want.end()), want.end());
    return want;
  }

  // One transaction for `batch`: its points, and the order days this writer has not
  // recorded yet. Throws pg::error.
  void transaction(pg::connection& c, std::span<pending> batch) {
    std::vector<std::string_view> pieces{pg::copy_header()};
    std::vector<std::string> new_order_days;
    for (auto& p : batch) {
      pieces.push_back(p.rows.tuples);
      for (auto& k : p.rows.order_days) {
        if (!order_days_known.contains(k)) new_order_days.push_back(k);
      }
    }
    pieces.push_back(pg::copy_trailer());
    std::sort(new_order_days.begin(), new_order_days.end());  // one lock order for all writers
    new_order_days.erase(std::unique(new_order_days.begin(), new_order_days.end()),
                         new_order_days.end());
    try {
      c.exec("BEGIN");
      c.copy_in(pg::copy_sql, pieces);
      if (!new_order_days.empty()) {
        c.exec(pg::order_days_sql, pg::order_days_params(new_order_days), false);
      }
      c.exec("COMMIT");  // acknowledged: durable (synchronous_commit is not off)
    } catch (...) {
      c.rollback_if_open();
      throw;
    }
    if (order_days_known.size() + new_order_days.size() > max_known_order_days) {
      order_days_known.clear();  // re-adding one costs an ON CONFLICT DO NOTHING
    }
    order_days_known.insert(new_order_days.begin(), new_order_days.end());
  }

  // Fails every append of `batch`; false when the connection is lost.
  bool failed(std::span<pending> batch, const pg::error& e, const char* what) {
    log(core::log_level::warn, std::string(what) + ": " + e.what());
    for (auto& p : batch) p.done(errc::make_error_code(errc::io_error));
    return !e.lost;
  }

  // Writes `batch` and completes it; false when the connection was lost.
  bool write(pg::connection& c, std::set<std::int64_t>& days, std::vector<pending>& batch) {
    auto want = days_of(batch);
    try {
      ensure_days(c, days, want);
    } catch (const pg::error& e) {
      return failed(batch, e, "partitions could not be created");
    }
    for (int attempt = 0;; ++attempt) {
      try {
        auto began = clock::now();
        transaction(c, batch);
        metrics.history_commit_latency.observe_us(
            std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - began).count());
        metrics.history_commits.inc();
        for (auto& p : batch) metrics.history_points.inc(p.rows.points);
        ++transactions;
        for (auto& p : batch) points += p.rows.points;
        appends += batch.size();
        for (auto& p : batch) p.done({});
        return true;
      } catch (const pg::error& e) {
        if (e.lost) return failed(batch, e, "connection lost while writing");
        // 23514: no partition for a row (another process's retention dropped a day we
        // knew, or someone dropped one by hand): read the partitions again, once.
        if (e.sqlstate == "23514" && attempt == 0) {
          try {
            days = pg::attached_days(c);
            ensure_days(c, days, want);
          } catch (const pg::error& e2) {
            return failed(batch, e2, "partitions could not be created");
          }
          continue;
        }
        if (batch.size() > 1) return write_one_by_one(c, days, batch);
        return failed(batch, e, "append refused");
      }
    }
  }

  bool write_one_by_one(pg::connection& c, std::set<std::int64_t>& days,
                        std::vector<pending>& batch) {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      std::vector<pending> one;
      one.push_back(std::move(batch[i]));
      if (!write(c, days, one)) {
        for (std::size_t k = i + 1; k < batch.size(); ++k) {
          batch[k].done(errc::make_error_code(errc::io_error));
        }
        return false;
      }
    }
    return true;
  }

  void writer_loop() {
    std::unique_ptr<pg::connection> c;
    std::set<std::int64_t> days;
    int attempt = 0;
    auto last_fail_log = clock::time_point{};
    for (;;) {
      if (!c) {
        {
          std::unique_lock l(mu);
          if (stopping) {
            fail_queue(l, errc::make_error_code(errc::operation_canceled));
            break;
          }
        }
        try {
          c = connect_writer(days);
          ++connects;
          log(core::log_level::info, connects > 1 ? "reconnected" : "connected");
          attempt = 0;
          set_up(true);
        } catch (const pg::error& e) {
          c.reset();
          set_up(false);
          if (clock::now() - last_fail_log > std::chrono::seconds(10)) {
            log(core::log_level::warn, std::string("unavailable: ") + e.what());
            last_fail_log = clock::now();
          }
          backoff(attempt++);  // returns early when stopping; the loop's top sees it
          continue;
        }
      }
      std::vector<pending> batch;
      {
        std::unique_lock l(mu);
        cv.wait_for(l, tun.idle_check, [&] { return stopping || !queue.empty(); });
        if (queue.empty()) {
          if (stopping) break;
          l.unlock();
          if (!c->alive()) {
            log(core::log_level::warn, "connection closed by the server");
            c.reset();
            set_up(false);
            attempt = 1;
          }
          continue;
        }
        std::size_t n = 0;
        while (!queue.empty() &&
               (batch.empty() || n + queue.front().rows.points <= opt.max_batch_points)) {
          n += queue.front().rows.points;
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        queued_points -= n;
        metrics.history_pending.set(static_cast<std::int64_t>(queued_points));
      }
      if (!write(*c, days, batch)) {
        c.reset();
        set_up(false);
        attempt = 1;
      }
    }
    up = false;
  }

  // ---- readers

  void reader_loop() {
    std::unique_ptr<pg::connection> c;
    auto retry_after = clock::time_point{};
    for (;;) {
      read_job j;
      {
        std::unique_lock l(rmu);
        rcv.wait(l, [&] { return rstopping || !reads.empty(); });
        if (reads.empty()) break;
        j = std::move(reads.front());
        reads.pop_front();
        if (rstopping) {
          l.unlock();
          j.done(errc::make_error_code(errc::operation_canceled), {});
          continue;
        }
      }
      run(c, retry_after, j);
    }
  }

  void run(std::unique_ptr<pg::connection>& c, clock::time_point& retry_after, read_job& j) {
    const query& q = j.q;
    auto limit = std::clamp<std::size_t>(q.limit, 1, max_page);
    auto stmt = pg::build_select(q, limit);
    if (!stmt) return j.done(errc::make_error_code(errc::invalid_argument), {});
    if (q.from_us >= q.to_us || (q.fleets_filter && q.fleets.empty())) return j.done({}, {});
    // A connection found dead (a restarted server, a terminated backend) is replaced and
    // the read tried once more: reads are idempotent.
    for (int attempt = 0;; ++attempt) {
      bool fresh = !c;
      if (!c) {
        if (clock::now() < retry_after) {
          return j.done(errc::make_error_code(errc::not_connected), {});
        }
        try {
          c = std::make_unique<pg::connection>(target);
          c->exec("SET statement_timeout = '30s'");
        } catch (const pg::error& e) {
          c.reset();
          retry_after = clock::now() + std::chrono::seconds(1);
          log(core::log_level::warn, std::string("read connection failed: ") + e.what());
          return j.done(errc::make_error_code(errc::not_connected), {});
        }
      }
      page out;
      try {
        auto r = c->exec(stmt->sql, stmt->params, true);
        auto rows = pg::decode_rows(r.get());
        if (rows.points.size() > limit) {
          rows.points.resize(limit);
          out.next = pg::make_cursor(q.what, rows.points.back(), rows.seqs[limit - 1]);
        }
        out.points = std::move(rows.points);
      } catch (const pg::error& e) {
        if (e.lost) c.reset();
        if (e.lost && !fresh && attempt == 0) continue;
        log(core::log_level::warn, std::string("read failed: ") + e.what());
        return j.done(errc::make_error_code(e.lost ? errc::not_connected : errc::io_error), {});
      }
      return j.done({}, std::move(out));
    }
  }

  // ---- maintenance

  void maintenance_loop() {
    std::unique_ptr<pg::connection> c;
    auto next = clock::now();
    for (;;) {
      {
        std::unique_lock l(mu);
        if (mcv.wait_until(l, next, [&] { return stopping; })) break;
      }
      if (!migrated) {
        next = clock::now() + std::chrono::milliseconds(200);
        continue;
      }
      try {
        if (!c) c = std::make_unique<pg::connection>(target);
        auto today = pg::day_of(now_us());
        created += pg::ensure_partitions(*c, {today, today + 1});
        if (opt.retention.count() > 0) {
          auto n = pg::drop_partitions_before(*c, horizon());
          if (n) log(core::log_level::info, "retention dropped " + std::to_string(n) + " days");
          dropped += n;
        }
        next = clock::now() + tun.maintenance_period;
      } catch (const pg::error& e) {
        if (e.lost) c.reset();
        log(core::log_level::warn, std::string("maintenance failed: ") + e.what());
        next = clock::now() + std::min<std::chrono::milliseconds>(tun.maintenance_period,
                                                                  std::chrono::seconds(10));
      }
    }
  }
};

postgres_store::postgres_store(const std::string& spec, const options& opt, core::metrics& metrics,
                               postgres_tuning tuning)
    : impl_(std::make_shared<impl>(spec, opt, metrics, tuning)) {}

postgres_store::~postgres_store() {
  stop();
}

void postgres_store::append(std::span<const location_ptr> batch, append_handler done) {
  auto& i = *impl_;
  auto refuse = [&](errc::errc_t e) {
    ++i.refused;
    i.metrics.history_refused.inc();
    done(errc::make_error_code(e));
  };
  if (!i.up) return refuse(errc::not_connected);
  impl::pending p;
  if (!pg::encode(batch, i.horizon(), p.rows)) return refuse(errc::invalid_argument);
  i.expired += p.rows.expired;
  if (p.rows.points == 0) {
    ++i.appends;
    return done({});  // nothing left to record (empty, or all past retention)
  }
  std::unique_lock l(i.mu);
  if (!i.up || i.stopping) {  // went down since the check above (an outage racing this)
    l.unlock();
    return refuse(errc::not_connected);  // `done` is still ours here: not yet moved
  }
  p.done = std::move(done);
  if (i.queued_points + p.rows.points > i.opt.max_pending_points) {
    l.unlock();
    ++i.refused;
    i.metrics.history_refused.inc();
    return p.done(errc::make_error_code(errc::no_buffer_space));
  }
  i.queued_points += p.rows.points;
  i.metrics.history_pending.set(static_cast<std::int64_t>(i.queued_points));
  i.queue.push_back(std::move(p));
  l.unlock();
  i.cv.notify_one();
}

void postgres_store::read(const query& q, query_handler done) {
  auto& i = *impl_;
  std::unique_lock l(i.rmu);
  if (!i.rstarted || i.rstopping) {
    l.unlock();
    return done(errc::make_error_code(errc::operation_canceled), {});
  }
  if (i.reads.size() >= i.tun.max_pending_reads) {
    l.unlock();
    return done(errc::make_error_code(errc::resource_unavailable_try_again), {});
  }
  i.reads.push_back({q, std::move(done)});
  l.unlock();
  i.rcv.notify_one();
}

void postgres_store::start() {
  auto i = impl_;
  {
    std::lock_guard l(i->mu);
    if (i->started) return;
    i->started = true;
  }
  {
    std::lock_guard l(i->rmu);
    i->rstarted = true;
  }
  threads_.emplace_back([i] { i->writer_loop(); });
  for (std::size_t k = 0; k < std::max<std::size_t>(1, i->tun.readers); ++k) {
    threads_.emplace_back([i] { i->reader_loop(); });
  }
  threads_.emplace_back([i] { i->maintenance_loop(); });
  // The first connection usually takes milliseconds: wait for it, so that a store whose
  // database is up is ready when start() returns (and one whose database is down is not).
  std::unique_lock l(i->mu);
  i->first_cv.wait_for(l, i->tun.start_wait, [&] { return i->first_attempt; });
}

void postgres_store::stop() {
  if (threads_.empty()) return;
  {
    std::lock_guard l(impl_->mu);
    impl_->stopping = true;
  }
  {
    std::lock_guard l(impl_->rmu);
    impl_->rstopping = true;
  }
  impl_->cv.notify_all();
  impl_->mcv.notify_all();
  impl_->rcv.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  impl_->up = false;
}

bool postgres_store::ready() const {
  return impl_->up.load();
}

postgres_stats postgres_store::stats() const {
  auto& i = *impl_;
  return {i.transactions, i.points,  i.appends, i.refused,
          i.expired,      i.created, i.dropped, i.connects};
}

const std::string& postgres_store::redacted_spec() const {
  return impl_->target.redacted;
}

std::unique_ptr<store> make_postgres_store(const std::string& spec, const options& opt,
                                           core::metrics& metrics) {
  return std::make_unique<postgres_store>(spec, opt, metrics);
}

}  // namespace peyk::history
