#pragma once
// The SQLite backend's writer: the one connection that writes, used by one thread. It
// inserts each group of appends into `recent` in one transaction, moves `recent` into
// `points` (sorted by courier) from time to time, and deletes what is past retention.
// Any failure throws; the caller then drops the writer and opens a new one later (its
// caches may hold ids of a rolled-back transaction).

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "history/history.hpp"
#include "history/sqlite_db.hpp"
#include "history/sqlite_recent.hpp"

namespace peyk::history::sqlite {

struct writer_tuning {
  int cache_mib = 64;
  // A move happens once `recent` holds max(move_min_rows, move_rows_per_courier x couriers
  // in it) rows (each courier's leaf in `points` then takes many rows per write), or
  // move_max_rows, or when its oldest row is move_interval old.
  std::size_t move_min_rows = 20'000;
  std::size_t move_rows_per_courier = 64;
  std::size_t move_max_rows = 1'000'000;
  std::chrono::milliseconds move_interval{10'000};
  // Retention deletes this many couriers' old rows per transaction, then lets appends in.
  std::size_t retention_couriers_per_step = 200;
};

class writer {
 public:
  // Called after each commit with the pages in the WAL (the store checkpoints elsewhere).
  using wal_listener = std::function<void(int pages)>;

  // Opens or creates the database and moves whatever a previous run left in `recent`.
  writer(const std::string& path, const writer_tuning& tuning, recent_index& index,
         wal_listener on_wal = {});

  // One transaction for all of them; returns once committed and indexed.
  void commit(const std::vector<const std::vector<location_ptr>*>& batches);

  bool move_due(std::chrono::steady_clock::time_point now) const;
  // Moves every row of `recent` into `points` (one transaction). Returns the rows moved.
  std::size_t move();

  // Deletes rows with t < cutoff_us of the next few couriers. True when the pass is over.
  bool retention_step(std::int64_t cutoff_us);

  std::size_t recent_rows() const { return recent_rows_; }

 private:
  struct seq_state {
    std::int64_t max_t;
    std::int32_t seq_at_max;
    std::uint64_t txn = 0;     // the transaction that last gave this courier a seq
    std::int64_t txn_min_t{};  // the smallest t given in it
  };

  // Which orders a courier carried in one hour, for the rows since the last move (written
  // to order_spans by the move; a restart recomputes them from `recent` in SQL instead).
  struct span_key {
    std::int64_t hour, courier;
    std::int32_t attr;
    bool operator==(const span_key&) const = default;
  };
  struct span_hash {
    std::size_t operator()(const span_key& k) const {
      return std::hash<std::int64_t>()(k.hour * 1'000'003 + k.courier * 31 + k.attr);
    }
  };
  struct span {
    std::int64_t lo, hi;
    std::vector<std::string> orders;
  };
  static int on_wal_commit(void* self, struct sqlite3*, const char*, int pages);

  std::int64_t courier_id(const std::string& id);
  std::int32_t attr_id(const core::location& l);
  std::int32_t next_seq(std::int64_t courier, std::int64_t t);
  void begin();
  void end();
  void rollback() noexcept;

  writer_tuning tuning_;
  recent_index& index_;
  db db_;
  stmt begin_, commit_, rollback_, ins_recent_, find_courier_, ins_courier_, find_attr_, ins_attr_,
      newest_, seq_at_, move_points_, move_orders_, upsert_span_, move_delete_, move_meta_,
      retention_couriers_, retention_points_, retention_orders_;

  std::int64_t next_id_ = 1;
  std::size_t recent_rows_ = 0;
  std::chrono::steady_clock::time_point oldest_recent_{};
  std::unordered_set<std::int64_t> recent_couriers_;
  std::int64_t retention_cursor_ = 0;

  std::unordered_map<std::string, std::int64_t> couriers_;
  std::unordered_map<std::string, std::int32_t> attrs_;
  std::unordered_map<std::int64_t, seq_state> seq_;
  std::uint64_t txn_ = 0;  // transactions begun
  std::vector<std::pair<std::int64_t, recent_row>> txn_rows_;
  std::unordered_map<span_key, span, span_hash> spans_;
  wal_listener on_wal_;
  std::string key_;
};

// Microseconds of history time and `dts` (ts - recorded_at, or none) of a location.
struct row_time {
  std::int64_t t;
  std::optional<std::int64_t> dts;
};
row_time history_time(const core::location& l);

// An order list as stored in `attrs.orders` (a JSON array of strings).
std::string encode_orders(const std::vector<std::string>& orders);

}  // namespace peyk::history::sqlite
