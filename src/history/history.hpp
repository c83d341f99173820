#pragma once
// Tracks: every accepted point, kept (PROTOCOL.md §7). One interface, two backends:
// SQLite (embedded, one file in --data-dir, the default of `serve` and `demo`) and
// PostgreSQL (many ingest processes writing to one database).
//
// Contract:
// - append() completes with success only once every point of the batch is durable
//   (committed: SQLite WAL fsync'd, PostgreSQL COMMIT acknowledged). Ingest answers 200
//   from the completion of both the broker's publish and this append, never before.
//   A backend groups the appends that arrive while it commits into one transaction
//   (group commit): one writer per process.
// - `done` runs once, on a backend-owned thread (or inline on a refusal); it must not block.
// - A point's time in history (`t_us`) is its `recorded_at` when the app sent one, else
//   its `ts`. Queries are ordered by (t_us, then arrival) oldest first, per courier.
// - Retention: points older than `retention` are dropped by the backend itself
//   (SQLite: a periodic DELETE; PostgreSQL: dropping day partitions).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/system/error_code.hpp>

#include "core/location.hpp"

namespace peyk::core {
struct metrics;
}

namespace peyk::history {

// One stored point (a row). Coordinates are kept as fixed-point micro-degrees by the
// backends; what comes back is the 6-decimal value that went in.
struct point {
  std::string courier_id;
  std::string name;   // the courier's name at the time (token `name`); may be empty
  std::string fleet;  // the courier's fleet at the time; empty = none
  std::vector<std::string> orders;
  double latitude = 0;
  double longitude = 0;
  std::optional<double> accuracy;  // metres
  std::optional<double> speed;     // m/s
  std::optional<double> heading;   // degrees
  std::optional<double> battery;   // 0..100 (phone apps, PROTOCOL.md §9); absent otherwise
  std::int64_t ts_us = 0;          // when it entered peyk
  std::optional<std::int64_t> recorded_us;  // the app's recorded_at, when sent
  std::int64_t t_us = 0;                    // its time in history: recorded_us or ts_us
};

// The row for an accepted location (recorded_at parsed; t_us chosen as above).
point to_point(const core::location& l);

// What to read. Windows are [from_us, to_us) in microseconds since the epoch.
struct query {
  enum class kind { courier, order, window };
  kind what = kind::courier;
  std::string id;  // courier id (courier), order id (order); unused for window
  std::int64_t from_us = 0;
  std::int64_t to_us = 0;
  // Only points whose fleet (at the time of the point) is one of these; empty = no
  // filter (an admin). A dispatcher's query always carries its fleets.
  std::vector<std::string> fleets;
  bool fleets_filter = false;  // true: apply `fleets` even when empty (matches nothing)
  std::size_t limit = 50'000;  // at most this many points in one page
  std::string cursor;          // from a previous page's `next`; empty = from the start
};

// One page of an answer, oldest first. For kind::window the points are ordered by
// (courier_id, t_us) so that the caller can group them per courier.
struct page {
  std::vector<point> points;
  std::optional<std::string> next;  // opaque cursor (printable ASCII, URL-safe) or none
};

using append_handler = std::function<void(boost::system::error_code)>;
using query_handler = std::function<void(boost::system::error_code, page)>;
using location_ptr = std::shared_ptr<const core::location>;

struct options {
  std::chrono::seconds retention{30 * 24 * 3600};  // --history-retention
  std::size_t max_batch_points = 20'000;           // points per transaction at most (group commit)
  std::size_t max_pending_points = 200'000;        // queued, not yet committed; past it: refuse
};

class store {
 public:
  virtual ~store() = default;

  // Records `batch` durably, then calls done({}); on any failure done(error) and the
  // caller answers 503 history_unavailable. Thread-safe.
  virtual void append(std::span<const location_ptr> batch, append_handler done) = 0;

  // Reads one page. Thread-safe; `done` runs on a backend thread. An invalid cursor
  // completes with boost::system::errc::invalid_argument.
  virtual void read(const query& q, query_handler done) = 0;

  virtual void start() = 0;  // opens/creates/migrates; then runs writer and retention
  virtual void stop() = 0;   // commits what is queued, then joins its threads

  // False while the store cannot take appends (database unreachable, disk full...):
  // /readyz answers 503 and ingest 503 history_unavailable.
  virtual bool ready() const = 0;

  virtual const char* name() const = 0;  // "sqlite", "postgres"
};

// `spec`: "sqlite:PATH" or "postgres://USER[:PASS]@HOST:PORT/DB" (PROTOCOL.md §7);
// "off" is handled by the caller (no store). Throws std::invalid_argument on a bad spec.
std::unique_ptr<store> open_store(const std::string& spec, const options& opt,
                                  core::metrics& metrics);

}  // namespace peyk::history
