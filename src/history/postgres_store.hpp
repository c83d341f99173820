#pragma once
// The PostgreSQL backend of history::store (PROTOCOL.md §7), through libpq: many
// `peyk ingest` processes append to one database. Schema in postgres_schema.hpp.
//
// Threads, each with its own connection (a libpq connection is never shared):
// - writer (one per store): group commit. Whatever is queued when it is free, up to
//   options.max_batch_points, becomes one transaction: BEGIN, one COPY BINARY of the
//   tuples encoded by the appending threads, COMMIT; then every append of it completes.
//   Partitions for days it has not seen are created first (points of a buffered batch).
//   It owns ready(): true once connected and migrated; false from a lost connection until
//   it reconnects (full-jitter backoff from 100 ms to max_backoff), and appends are
//   refused meanwhile, at once. Idle, it notices a closed connection within idle_check.
// - readers (tuning.readers): read jobs from a bounded queue. A connection found dead is
//   replaced and the read run again, once; a failed connect fails the job and the next
//   attempt waits 1 s (reads meanwhile fail at once).
// - maintenance: every maintenance_period, today's and tomorrow's partitions, then
//   retention: partitions whose day ended before now - options.retention are detached
//   and dropped (options.retention == 0 keeps everything).
// A failed transaction of several appends is retried append by append, so that one
// append the database refuses fails alone. A lost COMMIT acknowledgement fails its
// appends (the caller answers 503 and the app resends: at least once, never a lost 200).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "history/history.hpp"

namespace peyk::history {

struct postgres_tuning {
  std::chrono::milliseconds maintenance_period{std::chrono::hours(1)};
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::milliseconds idle_check{250};
  std::size_t readers = 2;
  std::size_t max_pending_reads = 1024;
  std::chrono::milliseconds start_wait{5000};  // start() waits this long for the first connect
};

// Counters of one store (tests and figures).
struct postgres_stats {
  std::uint64_t transactions = 0;  // committed write transactions
  std::uint64_t points = 0;        // points committed
  std::uint64_t appends = 0;       // appends completed with success
  std::uint64_t refused = 0;       // appends refused: not ready, queue full, bad text
  std::uint64_t expired = 0;       // points older than retention, not written
  std::uint64_t partitions_created = 0;
  std::uint64_t partitions_dropped = 0;
  std::uint64_t connects = 0;  // writer connections made (1 + reconnects)
};

class postgres_store final : public store {
 public:
  // Throws std::invalid_argument on a bad spec.
  postgres_store(const std::string& spec, const options& opt, core::metrics& metrics,
                 postgres_tuning tuning = {});
  ~postgres_store() override;

  void append(std::span<const location_ptr> batch, append_handler done) override;
  void read(const query& q, query_handler done) override;
  void start() override;
  void stop() override;
  bool ready() const override;
  const char* name() const override { return "postgres"; }

  postgres_stats stats() const;
  const std::string& redacted_spec() const;  // for logs: the password masked

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
  std::vector<std::thread> threads_;
};

std::unique_ptr<store> make_postgres_store(const std::string& spec, const options& opt,
                                           core::metrics& metrics);

}  // namespace peyk::history
