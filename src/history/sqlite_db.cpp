#include "history/sqlite_db.hpp"

#include <sqlite3.h>

namespace peyk::history::sqlite {

void check(sqlite3* db, int rc, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_ROW || rc == SQLITE_DONE) return;
  std::string msg = what;
  msg += ": ";
  msg += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  int ext = db ? sqlite3_extended_errcode(db) : rc;
  throw failure(ext, msg);
}

stmt::stmt(sqlite3* db, std::string_view sql) : db_(db) {
  check(db,
        sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                           &s_, nullptr),
        "prepare");
}

stmt& stmt::operator=(stmt&& o) noexcept {
  if (this != &o) {
    sqlite3_finalize(s_);
    s_ = o.s_;
    db_ = o.db_;
    o.s_ = nullptr;
  }
  return *this;
}

stmt::~stmt() {
  sqlite3_finalize(s_);
}

stmt& stmt::reset() {
  sqlite3_reset(s_);  // its result repeats the last step's error, already reported
  return *this;
}

stmt& stmt::bind(int i, std::int64_t v) {
  check(db_, sqlite3_bind_int64(s_, i, v), "bind");
  return *this;
}

stmt& stmt::bind(int i, std::string_view v) {
  // An empty view may have no data pointer: SQLite would bind NULL, not ''.
  const char* p = v.data() ? v.data() : "";
  check(db_, sqlite3_bind_text(s_, i, p, static_cast<int>(v.size()), SQLITE_TRANSIENT), "bind");
  return *this;
}

stmt& stmt::bind(int i, std::optional<std::int64_t> v) {
  return v ? bind(i, *v) : bind_null(i);
}

stmt& stmt::bind_null(int i) {
  check(db_, sqlite3_bind_null(s_, i), "bind");
  return *this;
}

bool stmt::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  check(db_, rc, "step");
  return false;
}

std::int64_t stmt::i64(int col) const {
  return sqlite3_column_int64(s_, col);
}

std::optional<std::int64_t> stmt::opt(int col) const {
  if (sqlite3_column_type(s_, col) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s_, col);
}

std::string_view stmt::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
  if (!p) return {};
  return {p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col))};
}

bool stmt::null(int col) const {
  return sqlite3_column_type(s_, col) == SQLITE_NULL;
}

db& db::operator=(db&& o) noexcept {
  if (this != &o) {
    sqlite3_close_v2(h_);
    h_ = o.h_;
    o.h_ = nullptr;
  }
  return *this;
}

db::~db() {
  sqlite3_close_v2(h_);  // statements are finalized first by their owners
}

void db::exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(h_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = std::string(sql).substr(0, 60) + ": " + (err ? err : sqlite3_errstr(rc));
    sqlite3_free(err);
    throw failure(sqlite3_extended_errcode(h_), msg);
  }
}

std::int64_t db::changes() const {
  return sqlite3_changes64(h_);
}

void db::checkpoint_passive() {
  int rc = sqlite3_wal_checkpoint_v2(h_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  if (rc != SQLITE_BUSY) check(h_, rc, "checkpoint");
}

namespace {

// The schema (PRAGMA user_version 1). Times are integer microseconds since the epoch;
// coordinates integer micro-degrees; accuracy, speed, heading and battery hundredths
// (cm, cm/s, 0.01 degree, 0.01 %). `dts` = ts - t when the app sent recorded_at (then t is
// recorded_at), NULL when it did not (then t is ts): no second 8-byte time per row.
//
// `recent` is the append log: rows in arrival order, so a commit touches only its rightmost
// leaves. The writer moves them into `points`, keyed (courier, t, seq), in one sorted
// INSERT ... SELECT every few seconds, so each courier's leaf is written once per move
// instead of once per commit. `seq` orders points of one courier with the same t by arrival.
// Names, fleets and order lists live once in `attrs`; `order_spans` finds an order's couriers
// per hour (keyed by hour first: a move touches only the current hour's leaves).
constexpr const char* schema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta VALUES('moved', 0);
CREATE TABLE IF NOT EXISTS couriers(id INTEGER PRIMARY KEY, courier_id TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS attrs(id INTEGER PRIMARY KEY, name TEXT NOT NULL,
  fleet TEXT NOT NULL, orders TEXT NOT NULL, UNIQUE(name, fleet, orders));
CREATE TABLE IF NOT EXISTS recent(id INTEGER PRIMARY KEY, courier INTEGER NOT NULL,
  t INTEGER NOT NULL, seq INTEGER NOT NULL, attr INTEGER NOT NULL, lat INTEGER NOT NULL,
  lon INTEGER NOT NULL, acc INTEGER, spd INTEGER, hdg INTEGER, bat INTEGER, dts INTEGER);
CREATE TABLE IF NOT EXISTS points(courier INTEGER NOT NULL, t INTEGER NOT NULL,
  seq INTEGER NOT NULL, attr INTEGER NOT NULL, lat INTEGER NOT NULL, lon INTEGER NOT NULL,
  acc INTEGER, spd INTEGER, hdg INTEGER, bat INTEGER, dts INTEGER,
  PRIMARY KEY(courier, t, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS order_spans(hour INTEGER NOT NULL, order_id TEXT NOT NULL,
  courier INTEGER NOT NULL, first_t INTEGER NOT NULL, last_t INTEGER NOT NULL,
  PRIMARY KEY(hour, order_id, courier)) WITHOUT ROWID;
PRAGMA user_version = 1;
)sql";

sqlite3* open_raw(const std::string& path, int flags) {
  sqlite3* h = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &h, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "open " + path + ": " + (h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
    int ext = h ? sqlite3_extended_errcode(h) : rc;
    sqlite3_close_v2(h);
    throw failure(ext, msg);
  }
  sqlite3_extended_result_codes(h, 1);
  sqlite3_busy_timeout(h, 5000);
  return h;
}

}  // namespace

db db::open_writer(const std::string& path, int cache_mib, bool own_checkpoints) {
  db d(open_raw(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  if (own_checkpoints) d.exec("PRAGMA wal_autocheckpoint=0");
  // WAL: readers never block the writer. synchronous=FULL: every commit fsyncs the WAL, so
  // a completed append survives a power loss, not only a process crash (NORMAL in WAL
  // syncs only at checkpoints). Group commit pays this fsync once per batch of appends.
  d.exec("PRAGMA journal_mode=WAL");
  d.exec("PRAGMA synchronous=FULL");
  d.exec("PRAGMA temp_store=MEMORY");
  d.exec("PRAGMA journal_size_limit=67108864");
  d.exec(("PRAGMA cache_size=-" + std::to_string(cache_mib * 1024)).c_str());
  {
    stmt s(d.h_, "PRAGMA journal_mode");
    if (!s.step() || s.text(0) != "wal") {
      throw failure(SQLITE_ERROR, "open " + path + ": WAL mode is not available");
    }
  }
  d.exec("BEGIN IMMEDIATE");
  try {
    d.exec(schema);
    d.exec("COMMIT");
  } catch (...) {
    sqlite3_exec(d.h_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  return d;
}

db db::open_checkpointer(const std::string& path) {
  db d(open_raw(path, SQLITE_OPEN_READWRITE));
  d.exec("PRAGMA synchronous=FULL");  // a checkpoint fsyncs the database file
  return d;
}

db db::open_reader(const std::string& path, int cache_mib) {
  db d(open_raw(path, SQLITE_OPEN_READWRITE));
  d.exec("PRAGMA query_only=1");
  d.exec(("PRAGMA cache_size=-" + std::to_string(cache_mib * 1024)).c_str());
  {
    stmt s(d.h_, "PRAGMA user_version");
    if (!s.step() || s.i64(0) != 1) {
      throw failure(SQLITE_ERROR, "open " + path + ": not a peyk history database (yet)");
    }
  }
  return d;
}

}  // namespace peyk::history::sqlite
