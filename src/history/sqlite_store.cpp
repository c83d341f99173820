#include "history/sqlite_store.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <boost/system/errc.hpp>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/metrics.hpp"
#include "history/sqlite_reader.hpp"

namespace peyk::history {

namespace {

namespace errc = boost::system::errc;
using clock = std::chrono::steady_clock;

constexpr std::size_t max_queued_reads = 1024;

class sqlite_store final : public store {
 public:
  sqlite_store(std::string path, const options& opt, core::metrics& m, const sqlite_tuning& t)
      : path_(std::move(path)), opt_(opt), tun_(t), metrics_(m) {
    retention_every_ = tun_.retention_interval;
    if (retention_every_.count() == 0) {
      auto tenth = std::chrono::duration_cast<std::chrono::milliseconds>(opt_.retention) / 10;
      retention_every_ =
          std::clamp(tenth, std::chrono::milliseconds(100), std::chrono::milliseconds(60'000));
    }
  }

  ~sqlite_store() override { stop(); }

  void append(std::span<const location_ptr> batch, append_handler done) override {
    if (batch.empty()) return done({});
    errc::errc_t refusal{};
    {
      std::lock_guard lock(mu_);
      if (!started_ || stopping_) {
        refusal = errc::operation_canceled;
      } else if (!ready_) {
        refusal = errc::io_error;
      } else if (pending_ > 0 && pending_ + batch.size() > opt_.max_pending_points) {
        refusal = errc::resource_unavailable_try_again;
      } else {
        queue_.push_back({{batch.begin(), batch.end()}, std::move(done)});
        pending_ += batch.size();
        metrics_.history_pending.set(static_cast<std::int64_t>(pending_));
      }
    }
    if (refusal != errc::errc_t{}) {
      metrics_.history_refused.inc();
      return done(errc::make_error_code(refusal));
    }
    cv_.notify_one();
  }

  void read(const query& q, query_handler done) override {
    errc::errc_t refusal{};
    {
      std::lock_guard lock(read_mu_);
      if (!started_ || read_stopping_) {
        refusal = errc::operation_canceled;
      } else if (reads_.size() >= max_queued_reads) {
        refusal = errc::resource_unavailable_try_again;
      } else {
        reads_.emplace_back(q, std::move(done));
      }
    }
    if (refusal != errc::errc_t{}) return done(errc::make_error_code(refusal), {});
    read_cv_.notify_one();
  }

  void start() override {
    {
      std::lock_guard lock(mu_);
      if (started_) return;
    }
    open_writer();  // on failure: not ready, the writer thread retries
    {
      std::scoped_lock lock(mu_, read_mu_);
      started_ = true;
    }
    writer_thread_ = std::thread([this] { run_writer(); });
    checkpoint_thread_ = std::thread([this] { run_checkpointer(); });
    for (int i = 0; i < std::max(1, tun_.readers); ++i) {
      reader_threads_.emplace_back([this] { run_reader(); });
    }
  }

  void stop() override {
    {
      std::lock_guard lock(mu_);
      if (!started_ || stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    writer_thread_.join();
    {
      std::lock_guard lock(ck_mu_);
      ck_stopping_ = true;
    }
    ck_cv_.notify_all();
    checkpoint_thread_.join();
    {
      std::lock_guard lock(read_mu_);
      read_stopping_ = true;
    }
    read_cv_.notify_all();
    for (auto& t : reader_threads_) t.join();
    reader_threads_.clear();
    std::lock_guard lock(mu_);
    writer_.reset();
    ready_ = false;
  }

  bool ready() const override { return ready_.load(); }
  const char* name() const override { return "sqlite"; }

 private:
  struct job {
    std::vector<location_ptr> batch;
    append_handler done;
  };

  bool open_writer() {
    try {
      auto w = std::make_unique<sqlite::writer>(path_, tun_.writer, index_,
                                                [this](int pages) { on_wal(pages); });
      std::lock_guard lock(mu_);
      writer_ = std::move(w);
      ready_ = true;
      core::log(core::log_level::info, "history: sqlite " + path_ + " open");
      return true;
    } catch (const std::exception& e) {
      if (failure_log_.allow()) {
        core::log(core::log_level::error, std::string("history: cannot write: ") + e.what());
      }
      return false;
    }
  }

  // The writer failed: drop it (its caches may name rolled-back rows), refuse appends until
  // a new one opens, and fail every append waiting.
  void broken(const std::exception& e, std::vector<job>& jobs) {
    if (failure_log_.allow()) {
      core::log(core::log_level::error, std::string("history: write failed: ") + e.what());
    }
    std::deque<job> queued;
    std::size_t failed = 0;
    {
      std::lock_guard lock(mu_);
      writer_.reset();
      ready_ = false;
      queued.swap(queue_);
      for (const auto& j : jobs) failed += j.batch.size();
      for (const auto& j : queued) failed += j.batch.size();
      pending_ -= failed;
      metrics_.history_pending.set(static_cast<std::int64_t>(pending_));
    }
    next_retry_ = clock::now() + tun_.retry_interval;
    auto ec = errc::make_error_code(errc::io_error);
    for (auto& j : jobs) j.done(ec);
    for (auto& j : queued) j.done(ec);
    jobs.clear();
  }

  void commit(std::vector<job>& jobs) {
    std::vector<const std::vector<location_ptr>*> batches;
    std::size_t n = 0;
    for (const auto& j : jobs) {
      batches.push_back(&j.batch);
      n += j.batch.size();
    }
    auto t0 = clock::now();
    try {
      writer_->commit(batches);
    } catch (const std::exception& e) {
      return broken(e, jobs);
    }
    metrics_.history_commit_latency.observe_us(
        std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - t0).count());
    metrics_.history_commits.inc();
    metrics_.history_points.inc(n);
    {
      std::lock_guard lock(mu_);
      pending_ -= n;
      metrics_.history_pending.set(static_cast<std::int64_t>(pending_));
    }
    for (auto& j : jobs) j.done({});
    jobs.clear();
  }

  // Between groups of appends: one move, or one step of retention.
  void maintain(clock::time_point now) {
    try {
      if (writer_->move_due(now)) {
        auto t0 = clock::now();
        auto n = writer_->move();
        if (core::log_enabled(core::log_level::debug)) {
          core::log(core::log_level::debug,
                    "history: moved " + std::to_string(n) + " rows in " +
                        std::to_string(
                            std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - t0)
                                .count()) +
                        " ms");
        }
      } else if (retention_running_ || now >= next_retention_) {
        auto cutoff = core::now_us() -
                      std::chrono::duration_cast<std::chrono::microseconds>(opt_.retention).count();
        retention_running_ = !writer_->retention_step(cutoff);
        if (!retention_running_) next_retention_ = now + retention_every_;
      }
    } catch (const std::exception& e) {
      std::vector<job> none;
      broken(e, none);
    }
  }

  void run_writer() {
    next_retention_ = clock::now() + retention_every_;
    next_retry_ = clock::now() + tun_.retry_interval;
    std::vector<job> jobs;
    for (;;) {
      bool stop_now = false;
      bool have_writer = false;
      {
        std::unique_lock lock(mu_);
        auto now = clock::now();
        auto wake =
            writer_ ? std::min(next_retention_, now + std::chrono::milliseconds(100)) : next_retry_;
        if (writer_ && retention_running_) wake = now;
        cv_.wait_until(lock, wake, [&] { return stopping_ || (!queue_.empty() && writer_); });
        std::size_t n = 0;
        while (writer_ && !queue_.empty() &&
               (jobs.empty() || n + queue_.front().batch.size() <= opt_.max_batch_points)) {
          n += queue_.front().batch.size();
          jobs.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        stop_now = stopping_ && queue_.empty();
        have_writer = writer_ != nullptr;
      }
      if (!jobs.empty()) commit(jobs);
      if (stop_now) break;
      auto now = clock::now();
      if (!have_writer) {
        if (now >= next_retry_ && !open_writer()) next_retry_ = now + tun_.retry_interval;
        continue;
      }
      // Between groups of appends, under load too: one move or one bounded retention step.
      if (writer_) maintain(now);
    }
  }

  // Checkpoints run here, on a connection of their own, instead of inside the writer's
  // commits (SQLite's automatic checkpoint): copying the WAL into the file and its fsync no
  // longer delay the appends waiting for the next commit.
  static constexpr int checkpoint_pages = 1000;

  void on_wal(int pages) {
    {
      std::lock_guard lock(ck_mu_);
      wal_pages_ = pages;
    }
    if (pages >= checkpoint_pages) ck_cv_.notify_one();
  }

  void run_checkpointer() {
    sqlite::db d;
    for (;;) {
      {
        std::unique_lock lock(ck_mu_);
        ck_cv_.wait_for(lock, std::chrono::seconds(1),
                        [&] { return ck_stopping_ || wal_pages_ >= checkpoint_pages; });
        if (ck_stopping_) return;
        if (wal_pages_ < checkpoint_pages) continue;
        wal_pages_ = 0;
      }
      try {
        if (!d) d = sqlite::db::open_checkpointer(path_);
        d.checkpoint_passive();
      } catch (const std::exception& e) {
        if (failure_log_.allow()) {
          core::log(core::log_level::warn, std::string("history: checkpoint: ") + e.what());
        }
        d = {};  // reopened on the next try
      }
    }
  }

  void run_reader() {
    std::unique_ptr<sqlite::reader> r;
    for (;;) {
      std::pair<query, query_handler> work;
      {
        std::unique_lock lock(read_mu_);
        read_cv_.wait(lock, [&] { return read_stopping_ || !reads_.empty(); });
        if (reads_.empty()) return;  // stopping, and every queued read answered
        work = std::move(reads_.front());
        reads_.pop_front();
      }
      boost::system::error_code ec;
      page p;
      try {
        if (!r)
          r = std::make_unique<sqlite::reader>(path_, index_, opt_.retention,
                                               tun_.reader_cache_mib);
        p = r->read(work.first);
      } catch (const sqlite::bad_cursor&) {
        ec = errc::make_error_code(errc::invalid_argument);
      } catch (const std::exception& e) {
        if (failure_log_.allow()) {
          core::log(core::log_level::error, std::string("history: read failed: ") + e.what());
        }
        r.reset();  // reopened by the next read
        ec = errc::make_error_code(errc::io_error);
      }
      work.second(ec, std::move(p));
    }
  }

  const std::string path_;
  const options opt_;
  const sqlite_tuning tun_;
  core::metrics& metrics_;
  sqlite::recent_index index_;
  core::log_limiter failure_log_{2};

  std::mutex mu_;  // the queue, the writer pointer, the flags
  std::condition_variable cv_;
  std::deque<job> queue_;
  std::size_t pending_ = 0;
  bool started_ = false, stopping_ = false;
  std::atomic<bool> ready_{false};
  std::unique_ptr<sqlite::writer> writer_;  // used by the writer thread only
  std::thread writer_thread_;
  // Writer thread only:
  clock::time_point next_retry_{}, next_retention_{};
  bool retention_running_ = false;
  std::chrono::milliseconds retention_every_{};

  std::mutex ck_mu_;
  std::condition_variable ck_cv_;
  int wal_pages_ = 0;
  bool ck_stopping_ = false;
  std::thread checkpoint_thread_;

  std::mutex read_mu_;
  std::condition_variable read_cv_;
  std::deque<std::pair<query, query_handler>> reads_;
  bool read_stopping_ = false;
  std::vector<std::thread> reader_threads_;
};

}  // namespace

std::unique_ptr<store> make_sqlite_store(const std::string& path, const options& opt,
                                         core::metrics& metrics, const sqlite_tuning& tuning) {
  return std::make_unique<sqlite_store>(path, opt, metrics, tuning);
}

}  // namespace peyk::history
