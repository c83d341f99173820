#include "history/sqlite_writer.hpp"

#include <cmath>
#include <limits>

#include <sqlite3.h>

#include "core/timestamp.hpp"

namespace peyk::history::sqlite {

namespace {

constexpr std::int64_t hour_us = 3'600'000'000;

std::int64_t e6(double v) {
  return std::llround(v * 1e6);
}

std::optional<std::int64_t> e2(const std::optional<double>& v) {
  if (!v) return std::nullopt;
  return std::llround(*v * 100);
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

// The same column list in `recent` and `points` (after recent's id).
#define PEYK_ROW_COLUMNS "courier, t, seq, attr, lat, lon, acc, spd, hdg, bat, dts"

}  // namespace

row_time history_time(const core::location& l) {
  if (!l.recorded_at.empty()) {
    if (auto r = core::parse_rfc3339_us(l.recorded_at)) return {*r, l.ts_us - *r};
  }
  return {l.ts_us, std::nullopt};
}

std::string encode_orders(const std::vector<std::string>& orders) {
  std::string out = "[";
  for (std::size_t i = 0; i < orders.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, orders[i]);
  }
  out += ']';
  return out;
}

writer::writer(const std::string& path, const writer_tuning& tuning, recent_index& index,
               wal_listener on_wal)
    : tuning_(tuning),
      index_(index),
      db_(db::open_writer(path, tuning.cache_mib, static_cast<bool>(on_wal))),
      on_wal_(std::move(on_wal)) {
  auto* h = db_.handle();
  if (on_wal_) sqlite3_wal_hook(h, &writer::on_wal_commit, this);
  begin_ = stmt(h, "BEGIN IMMEDIATE");
  commit_ = stmt(h, "COMMIT");
  rollback_ = stmt(h, "ROLLBACK");
  ins_recent_ = stmt(h, "INSERT INTO recent(id, " PEYK_ROW_COLUMNS
                        ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  find_courier_ = stmt(h, "SELECT id FROM couriers WHERE courier_id = ?1");
  ins_courier_ = stmt(h, "INSERT INTO couriers(courier_id) VALUES(?1) RETURNING id");
  find_attr_ = stmt(h, "SELECT id FROM attrs WHERE name = ?1 AND fleet = ?2 AND orders = ?3");
  ins_attr_ = stmt(h, "INSERT INTO attrs(name, fleet, orders) VALUES(?1, ?2, ?3) RETURNING id");
  newest_ =
      stmt(h, "SELECT t, seq FROM points WHERE courier = ?1 ORDER BY t DESC, seq DESC LIMIT 1");
  seq_at_ = stmt(h, "SELECT max(seq) FROM points WHERE courier = ?1 AND t = ?2");
  // Sorted by the key of `points`: each courier's rows go in as one run.
  move_points_ = stmt(h, "INSERT INTO points(" PEYK_ROW_COLUMNS ") SELECT " PEYK_ROW_COLUMNS
                         " FROM recent WHERE id <= ?1 ORDER BY courier, t, seq");
  // Which couriers carried which order in each hour (a courier's rows per attr and hour
  // first, then the attr's orders). WHERE before ON CONFLICT: SQLite's upsert parsing rule.
  move_orders_ = stmt(h, R"sql(
    INSERT INTO order_spans(hour, order_id, courier, first_t, last_t)
    SELECT g.hour, j.value, g.courier, min(g.lo), max(g.hi)
    FROM (SELECT courier, attr, t / 3600000000 AS hour, min(t) AS lo, max(t) AS hi
          FROM recent WHERE id <= ?1 GROUP BY courier, attr, hour) AS g
      JOIN attrs AS a ON a.id = g.attr, json_each(a.orders) AS j
    WHERE a.orders <> '[]'
    GROUP BY g.hour, j.value, g.courier
    ON CONFLICT(hour, order_id, courier) DO UPDATE SET
      first_t = min(first_t, excluded.first_t), last_t = max(last_t, excluded.last_t))sql");
  upsert_span_ = stmt(h, R"sql(
    INSERT INTO order_spans(hour, order_id, courier, first_t, last_t) VALUES(?1, ?2, ?3, ?4, ?5)
    ON CONFLICT(hour, order_id, courier) DO UPDATE SET
      first_t = min(first_t, excluded.first_t), last_t = max(last_t, excluded.last_t))sql");
  move_delete_ = stmt(h, "DELETE FROM recent WHERE id <= ?1");
  move_meta_ = stmt(h, "UPDATE meta SET value = ?1 WHERE key = 'moved'");
  retention_couriers_ = stmt(h, "SELECT id FROM couriers WHERE id > ?1 ORDER BY id LIMIT ?2");
  retention_points_ = stmt(h, "DELETE FROM points WHERE courier = ?1 AND t < ?2");
  retention_orders_ = stmt(h, "DELETE FROM order_spans WHERE hour < ?1");

  // What a previous run left: rows in `recent` above meta.moved are moved now, so the
  // index starts empty. The same transaction proves the file can be written.
  std::int64_t moved = 0, max_id = 0;
  {
    auto s = db_.prepare(
        "SELECT (SELECT value FROM meta WHERE key = 'moved'), "
        "(SELECT coalesce(max(id), 0) FROM recent)");
    s.step();
    moved = s.i64(0);
    max_id = s.i64(1);
  }
  std::int64_t top = std::max(moved, max_id);
  next_id_ = top + 1;
  begin();
  try {
    if (max_id > 0) {
      move_points_.reset().bind(1, top).run();
      move_orders_.reset().bind(1, top).run();
      move_delete_.reset().bind(1, top).run();
    }
    move_meta_.reset().bind(1, top).run();  // also the write probe
    end();
  } catch (...) {
    rollback();
    throw;
  }
  index_.reset(top);
}

int writer::on_wal_commit(void* self, sqlite3* h, const char* db_name, int pages) {
  auto* w = static_cast<writer*>(self);
  // Past 50,000 pages (200 MB) the checkpointer is not keeping up: checkpoint here.
  if (pages > 50'000)
    sqlite3_wal_checkpoint_v2(h, db_name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  w->on_wal_(pages);
  return SQLITE_OK;
}

void writer::begin() {
  begin_.reset().run();
}

void writer::end() {
  commit_.reset().run();
}

void writer::rollback() noexcept {
  try {
    rollback_.reset().run();
  } catch (const failure&) {
    // SQLite may have rolled back already (an I/O error); the writer is dropped anyway.
  }
}

std::int64_t writer::courier_id(const std::string& id) {
  if (auto it = couriers_.find(id); it != couriers_.end()) return it->second;
  std::int64_t v;
  find_courier_.reset().bind(1, id);
  if (find_courier_.step()) {
    v = find_courier_.i64(0);
  } else {
    ins_courier_.reset().bind(1, id);
    ins_courier_.step();  // RETURNING: the insert is done by the first step
    v = ins_courier_.i64(0);
    ins_courier_.reset();
  }
  find_courier_.reset();
  couriers_.emplace(id, v);
  return v;
}

std::int32_t writer::attr_id(const core::location& l) {
  auto orders = encode_orders(l.orders);
  key_.assign(l.username).append(1, '\0').append(l.fleet).append(1, '\0').append(orders);
  if (auto it = attrs_.find(key_); it != attrs_.end()) return it->second;
  std::int64_t v;
  find_attr_.reset().bind(1, l.username).bind(2, l.fleet).bind(3, orders);
  if (find_attr_.step()) {
    v = find_attr_.i64(0);
  } else {
    ins_attr_.reset().bind(1, l.username).bind(2, l.fleet).bind(3, orders);
    ins_attr_.step();
    v = ins_attr_.i64(0);
    ins_attr_.reset();
  }
  find_attr_.reset();
  if (v > std::numeric_limits<std::int32_t>::max()) {
    throw failure(SQLITE_FULL, "attrs: more than 2^31 distinct name/fleet/orders");
  }
  attrs_.emplace(key_, static_cast<std::int32_t>(v));
  return static_cast<std::int32_t>(v);
}

std::int32_t writer::next_seq(std::int64_t courier, std::int64_t t) {
  auto it = seq_.find(courier);
  if (it == seq_.end()) {
    // The courier's first point since this writer opened: its newest stored point.
    seq_state s{std::numeric_limits<std::int64_t>::min(), -1};
    newest_.reset().bind(1, courier);
    if (newest_.step()) s = {newest_.i64(0), static_cast<std::int32_t>(newest_.i64(1))};
    newest_.reset();
    if (auto n = index_.newest(courier); n && *n > std::pair(s.max_t, s.seq_at_max)) {
      s = {n->first, n->second};
    }
    it = seq_.emplace(courier, s).first;
  }
  auto& s = it->second;
  if (s.txn != txn_) s = {s.max_t, s.seq_at_max, txn_, t};
  std::int32_t seq;
  if (t > s.max_t) {
    s.max_t = t;
    s.seq_at_max = seq = 0;
  } else if (t == s.max_t) {
    seq = ++s.seq_at_max;
  } else {
    // A late point (a buffered batch): the largest seq at (courier, t) anywhere: in
    // `points`, in `recent` (the index), or earlier in this transaction.
    std::int32_t best = index_.max_seq(courier, t);
    seq_at_.reset().bind(1, courier).bind(2, t);
    if (seq_at_.step() && !seq_at_.null(0)) {
      best = std::max(best, static_cast<std::int32_t>(seq_at_.i64(0)));
    }
    seq_at_.reset();
    if (t >= s.txn_min_t) {
      for (const auto& [c, r] : txn_rows_) {
        if (c == courier && r.t == t) best = std::max(best, r.seq);
      }
    }
    seq = best + 1;
  }
  s.txn_min_t = std::min(s.txn_min_t, t);
  return seq;
}

void writer::commit(const std::vector<const std::vector<location_ptr>*>& batches) {
  // Bounded caches; emptied between transactions only (seq state covers this one's rows).
  if (couriers_.size() > 1'000'000) couriers_.clear();
  if (attrs_.size() > 200'000) attrs_.clear();
  if (seq_.size() > 1'000'000) seq_.clear();
  ++txn_;
  txn_rows_.clear();

  const core::location* prev = nullptr;
  std::int64_t courier = 0;
  std::int32_t attr = 0;
  span* last_span = nullptr;
  span_key last_key{};
  begin();
  try {
    for (const auto* batch : batches) {
      for (const auto& lp : *batch) {
        const auto& l = *lp;
        // Consecutive points of one courier (a batch) share its id and usually its attrs.
        if (!prev || prev->courier_id != l.courier_id) {
          courier = courier_id(l.courier_id);
          recent_couriers_.insert(courier);
        }
        if (!prev || prev->username != l.username || prev->fleet != l.fleet ||
            prev->orders != l.orders) {
          attr = attr_id(l);
        }
        prev = &l;
        auto [t, dts] = history_time(l);
        auto seq = next_seq(courier, t);
        if (!l.orders.empty()) {
          span_key k{t / hour_us, courier, attr};
          if (!last_span || !(k == last_key)) {
            auto [it, fresh] = spans_.try_emplace(k, span{t, t, {}});
            if (fresh) it->second.orders = l.orders;
            last_span = &it->second;
            last_key = k;
          }
          last_span->lo = std::min(last_span->lo, t);
          last_span->hi = std::max(last_span->hi, t);
        }
        auto id = next_id_++;
        ins_recent_.reset()
            .bind(1, id)
            .bind(2, courier)
            .bind(3, t)
            .bind(4, std::int64_t{seq})
            .bind(5, std::int64_t{attr})
            .bind(6, e6(l.latitude))
            .bind(7, e6(l.longitude))
            .bind(8, e2(l.accuracy))
            .bind(9, e2(l.speed))
            .bind(10, e2(l.heading))
            .bind(11, e2(l.battery))
            .bind(12, dts)
            .run();
        txn_rows_.emplace_back(courier, recent_row{id, t, seq, attr});
      }
    }
    end();
  } catch (...) {
    rollback();
    throw;
  }
  if (recent_rows_ == 0) oldest_recent_ = std::chrono::steady_clock::now();
  recent_rows_ += txn_rows_.size();
  index_.add(txn_rows_);
}

bool writer::move_due(std::chrono::steady_clock::time_point now) const {
  if (recent_rows_ == 0) return false;
  auto want =
      std::max(tuning_.move_min_rows, tuning_.move_rows_per_courier * recent_couriers_.size());
  want = std::min(want, tuning_.move_max_rows);
  return recent_rows_ >= want || now - oldest_recent_ >= tuning_.move_interval;
}

std::size_t writer::move() {
  if (recent_rows_ == 0) return 0;
  auto top = next_id_ - 1;
  std::size_t n = 0;
  begin();
  try {
    move_points_.reset().bind(1, top).run();
    n = static_cast<std::size_t>(db_.changes());
    for (const auto& [k, sp] : spans_) {
      for (const auto& o : sp.orders) {
        upsert_span_.reset()
            .bind(1, k.hour)
            .bind(2, o)
            .bind(3, k.courier)
            .bind(4, sp.lo)
            .bind(5, sp.hi);
        upsert_span_.run();
      }
    }
    move_delete_.reset().bind(1, top).run();
    move_meta_.reset().bind(1, top).run();
    end();
  } catch (...) {
    rollback();
    throw;
  }
  index_.moved(top);
  spans_.clear();
  recent_rows_ = 0;
  recent_couriers_.clear();
  return n;
}

bool writer::retention_step(std::int64_t cutoff_us) {
  std::vector<std::int64_t> ids;
  begin();
  try {
    if (retention_cursor_ == 0) {
      // Hours that end before the cutoff (rounded toward zero like SQLite's `/`).
      retention_orders_.reset().bind(1, cutoff_us / hour_us).run();
    }
    retention_couriers_.reset()
        .bind(1, retention_cursor_)
        .bind(2, static_cast<std::int64_t>(tuning_.retention_couriers_per_step));
    while (retention_couriers_.step()) ids.push_back(retention_couriers_.i64(0));
    retention_couriers_.reset();
    for (auto id : ids) retention_points_.reset().bind(1, id).bind(2, cutoff_us).run();
    end();
  } catch (...) {
    rollback();
    throw;
  }
  if (ids.size() < tuning_.retention_couriers_per_step) {
    retention_cursor_ = 0;
    return true;
  }
  retention_cursor_ = ids.back();
  return false;
}

}  // namespace peyk::history::sqlite
