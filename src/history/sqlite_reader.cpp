#include "history/sqlite_reader.hpp"

#include <algorithm>
#include <charconv>
#include <limits>
#include <map>

#include <sqlite3.h>
#include <boost/json/parse.hpp>

#include "core/clock.hpp"

namespace peyk::history::sqlite {

namespace {

constexpr std::int64_t hour_us = 3'600'000'000;

// The snapshot predates two moves: the recent index no longer holds all of its rows.
struct stale_snapshot {};

// Cursors: "<kind>.<t>.<seq>[.<hex courier id>]", kind c (courier), o (order), w (window):
// the last point of the page; the next page starts strictly after it.
struct cursor_pos {
  std::int64_t t = 0;
  std::int64_t seq = 0;
  std::string courier;
};

std::string hex(std::string_view s) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() * 2);
  for (unsigned char c : s) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

int unhex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string make_cursor(char kind, std::int64_t t, std::int64_t seq, const std::string* courier) {
  std::string c(1, kind);
  c += '.' + std::to_string(t) + '.' + std::to_string(seq);
  if (courier) c += '.' + hex(*courier);
  return c;
}

template <class Int>
Int number(std::string_view s) {
  Int v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size()) throw bad_cursor("bad cursor");
  return v;
}

std::optional<cursor_pos> parse_cursor(const std::string& text, char kind) {
  if (text.empty()) return std::nullopt;
  std::vector<std::string_view> parts;
  std::string_view rest = text;
  for (;;) {
    auto dot = rest.find('.');
    parts.push_back(rest.substr(0, dot));
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  bool with_courier = kind != 'c';
  if (parts.size() != (with_courier ? 4u : 3u) || parts[0].size() != 1 || parts[0][0] != kind) {
    throw bad_cursor("bad cursor");
  }
  cursor_pos c;
  c.t = number<std::int64_t>(parts[1]);
  c.seq = number<std::int64_t>(parts[2]);
  if (c.seq < 0 || c.seq > std::numeric_limits<std::int32_t>::max()) throw bad_cursor("bad cursor");
  if (with_courier) {
    auto h = parts[3];
    if (h.empty() || h.size() % 2) throw bad_cursor("bad cursor");
    for (std::size_t i = 0; i < h.size(); i += 2) {
      int hi = unhex(h[i]), lo = unhex(h[i + 1]);
      if (hi < 0 || lo < 0) throw bad_cursor("bad cursor");
      c.courier += static_cast<char>(hi * 16 + lo);
    }
  }
  return c;
}

constexpr const char* row_columns = "t, seq, attr, lat, lon, acc, spd, hdg, bat, dts";

}  // namespace

// Which rows a query keeps, by their attrs (fleet, orders), memoized per attr.
class reader::filter {
 public:
  filter(reader& r, const query& q, const std::string* order)
      : r_(r), q_(q), order_(order), by_fleet_(q.fleets_filter || !q.fleets.empty()) {}

  bool operator()(std::int32_t attr) {
    if (!by_fleet_ && !order_) return true;
    if (auto it = memo_.find(attr); it != memo_.end()) return it->second;
    const auto& a = r_.attr(attr);
    bool ok = true;
    if (by_fleet_) ok = std::find(q_.fleets.begin(), q_.fleets.end(), a.fleet) != q_.fleets.end();
    if (ok && order_) ok = std::find(a.orders.begin(), a.orders.end(), *order_) != a.orders.end();
    memo_.emplace(attr, ok);
    return ok;
  }

 private:
  reader& r_;
  const query& q_;
  const std::string* order_;
  bool by_fleet_;
  std::unordered_map<std::int32_t, bool> memo_;
};

reader::reader(const std::string& path, const recent_index& index, std::chrono::seconds retention,
               int cache_mib)
    : index_(index), retention_(retention), db_(db::open_reader(path, cache_mib)) {
  auto* h = db_.handle();
  begin_ = stmt(h, "BEGIN");
  end_ = stmt(h, "COMMIT");
  moved_ = stmt(h, "SELECT value FROM meta WHERE key = 'moved'");
  courier_by_name_ = stmt(h, "SELECT id FROM couriers WHERE courier_id = ?1");
  courier_by_id_ = stmt(h, "SELECT courier_id FROM couriers WHERE id = ?1");
  couriers_from_ =
      stmt(h, "SELECT id, courier_id FROM couriers WHERE courier_id >= ?1 ORDER BY courier_id");
  attr_ = stmt(h, "SELECT name, fleet, orders FROM attrs WHERE id = ?1");
  points_ = stmt(h, std::string("SELECT ") + row_columns +
                        " FROM points WHERE courier = ?1 AND t >= ?2 AND t < ?3"
                        " AND (t > ?2 OR seq > ?4) ORDER BY t, seq");
  recent_row_ = stmt(h, std::string("SELECT ") + row_columns + " FROM recent WHERE id = ?1");
  spans_ =
      stmt(h, "SELECT courier, first_t, last_t FROM order_spans WHERE hour = ?1 AND order_id = ?2");
}

const reader::attr_info& reader::attr(std::int32_t id) {
  if (auto it = attrs_.find(id); it != attrs_.end()) return it->second;
  attr_info a;
  attr_.reset().bind(1, std::int64_t{id});
  bool found = attr_.step();
  if (found) {
    a.name = attr_.text(0);
    a.fleet = attr_.text(1);
    auto v = boost::json::parse(attr_.text(2));
    for (const auto& o : v.as_array()) a.orders.emplace_back(o.as_string());
  }
  attr_.reset();
  // Not in this snapshot (a recent row committed after it): not cached, asked again later.
  if (!found) {
    static const attr_info missing;
    return missing;
  }
  return attrs_.emplace(id, std::move(a)).first->second;
}

void reader::read_row(stmt& s, raw& r) {
  r.t = s.i64(0);
  r.seq = static_cast<std::int32_t>(s.i64(1));
  r.attr = static_cast<std::int32_t>(s.i64(2));
  r.lat = s.i64(3);
  r.lon = s.i64(4);
  r.acc = s.opt(5).value_or(none);
  r.spd = s.opt(6).value_or(none);
  r.hdg = s.opt(7).value_or(none);
  r.bat = s.opt(8).value_or(none);
  r.dts = s.opt(9).value_or(none);
}

void reader::collect(std::int64_t courier, position from, std::int64_t to_t, filter& f,
                     std::size_t max, std::size_t courier_index, std::vector<raw>& out) {
  if (max == 0 || from.t >= to_t) return;
  scratch_.clear();
  if (!index_.rows(courier, moved_at_, from.t, to_t, scratch_)) throw stale_snapshot{};
  std::erase_if(scratch_, [&](const recent_row& r) { return r.t == from.t && r.seq <= from.seq; });
  std::sort(scratch_.begin(), scratch_.end(), [](const recent_row& a, const recent_row& b) {
    return std::pair(a.t, a.seq) < std::pair(b.t, b.seq);
  });
  std::size_t ri = 0;
  raw r;
  r.courier = courier_index;
  // The next recent row that is in this snapshot (a newer commit's rows are not).
  auto next_recent = [&]() {
    while (ri < scratch_.size()) {
      recent_row_.reset().bind(1, scratch_[ri++].id);
      bool found = recent_row_.step();
      if (found) read_row(recent_row_, r);
      recent_row_.reset();
      if (found) return true;
    }
    return false;
  };
  points_.reset().bind(1, courier).bind(2, from.t).bind(3, to_t).bind(4, from.seq);
  raw p;
  p.courier = courier_index;
  bool have_p = points_.step();
  if (have_p) read_row(points_, p);
  bool have_r = next_recent();
  std::size_t taken = 0;
  while ((have_p || have_r) && taken < max) {
    bool take_p = have_p && (!have_r || std::pair(p.t, p.seq) < std::pair(r.t, r.seq));
    const raw& x = take_p ? p : r;
    if (f(x.attr)) {
      out.push_back(x);
      ++taken;
    }
    if (take_p) {
      have_p = points_.step();
      if (have_p) read_row(points_, p);
    } else {
      have_r = next_recent();
    }
  }
  points_.reset();
}

page reader::finish(std::vector<raw>& rows, std::size_t limit, char kind) {
  page pg;
  if (rows.size() > limit) {
    const auto& last = rows[limit - 1];
    pg.next =
        make_cursor(kind, last.t, last.seq, kind == 'c' ? nullptr : &page_couriers_[last.courier]);
    rows.resize(limit);
  }
  pg.points.reserve(rows.size());
  for (const auto& r : rows) {
    auto& p = pg.points.emplace_back();
    p.courier_id = page_couriers_[r.courier];
    const auto& a = attr(r.attr);
    p.name = a.name;
    p.fleet = a.fleet;
    p.orders = a.orders;
    p.latitude = static_cast<double>(r.lat) / 1e6;
    p.longitude = static_cast<double>(r.lon) / 1e6;
    auto centi = [](std::int64_t v) -> std::optional<double> {
      if (v == none) return std::nullopt;
      return static_cast<double>(v) / 100;
    };
    p.accuracy = centi(r.acc);
    p.speed = centi(r.spd);
    p.heading = centi(r.hdg);
    p.battery = centi(r.bat);
    p.t_us = r.t;
    if (r.dts != none) {
      p.recorded_us = r.t;
      p.ts_us = r.t + r.dts;
    } else {
      p.ts_us = r.t;
    }
  }
  return pg;
}

page reader::by_courier(const query& q) {
  auto cur = parse_cursor(q.cursor, 'c');
  auto& rows = rows_;
  std::optional<std::int64_t> id;
  courier_by_name_.reset().bind(1, q.id);
  if (courier_by_name_.step()) id = courier_by_name_.i64(0);
  courier_by_name_.reset();
  if (!id) return {};
  page_couriers_.push_back(q.id);
  position from{q.from_us, -1};
  if (cur && cur->t >= q.from_us) from = {cur->t, cur->seq};
  filter f(*this, q, nullptr);
  collect(*id, from, q.to_us, f, q.limit + 1, 0, rows);
  return finish(rows, q.limit, 'c');
}

page reader::by_window(const query& q) {
  auto cur = parse_cursor(q.cursor, 'w');
  auto& rows = rows_;
  filter f(*this, q, nullptr);
  couriers_from_.reset().bind(1, cur ? std::string_view(cur->courier) : std::string_view());
  try {
    while (rows.size() <= q.limit && couriers_from_.step()) {
      auto id = couriers_from_.i64(0);
      std::string name(couriers_from_.text(1));
      position from{q.from_us, -1};
      if (cur && name == cur->courier && cur->t >= q.from_us) from = {cur->t, cur->seq};
      page_couriers_.push_back(std::move(name));
      collect(id, from, q.to_us, f, q.limit + 1 - rows.size(), page_couriers_.size() - 1, rows);
    }
  } catch (...) {
    couriers_from_.reset();
    throw;
  }
  couriers_from_.reset();
  return finish(rows, q.limit, 'w');
}

page reader::by_order(const query& q) {
  auto cur = parse_cursor(q.cursor, 'o');
  // The couriers that carried the order, with the span of time they did (per hour).
  std::map<std::int64_t, std::pair<std::int64_t, std::int64_t>> spans;
  auto now = core::now_us();
  auto lo = std::max(q.from_us, now - std::chrono::duration_cast<std::chrono::microseconds>(
                                          retention_ + std::chrono::hours(24))
                                          .count());
  auto hi = std::min(q.to_us, now + 24 * hour_us);
  for (auto h = lo / hour_us; lo < hi && h <= (hi - 1) / hour_us; ++h) {
    spans_.reset().bind(1, h).bind(2, q.id);
    while (spans_.step()) {
      auto [it, fresh] = spans.try_emplace(spans_.i64(0), spans_.i64(1), spans_.i64(2));
      if (!fresh) {
        it->second.first = std::min(it->second.first, spans_.i64(1));
        it->second.second = std::max(it->second.second, spans_.i64(2));
      }
    }
    spans_.reset();
  }
  // Couriers with rows still in `recent` whose attrs carry the order: the whole window.
  std::vector<std::pair<std::int64_t, std::vector<std::int32_t>>> recent;
  if (!index_.couriers(moved_at_, recent)) throw stale_snapshot{};
  for (const auto& [courier, attrs] : recent) {
    for (auto a : attrs) {
      const auto& info = attr(a);
      if (std::find(info.orders.begin(), info.orders.end(), q.id) != info.orders.end()) {
        spans[courier] = {q.from_us, q.to_us - 1};
        break;
      }
    }
  }

  filter f(*this, q, &q.id);
  auto& rows = rows_;
  for (const auto& [courier, span] : spans) {
    courier_by_id_.reset().bind(1, courier);
    bool known = courier_by_id_.step();
    std::string name(known ? courier_by_id_.text(0) : std::string_view());
    courier_by_id_.reset();
    if (!known) continue;
    // Rows after the cursor in (t, courier id, seq) order.
    position from{q.from_us, -1};
    if (cur && cur->t >= q.from_us) {
      if (name < cur->courier) {
        from = {cur->t, std::numeric_limits<std::int32_t>::max()};
      } else if (name == cur->courier) {
        from = {cur->t, cur->seq};
      } else {
        from = {cur->t, -1};
      }
    }
    if (span.first > from.t) from = {span.first, -1};
    page_couriers_.push_back(std::move(name));
    collect(courier, from, std::min(q.to_us, span.second + 1), f, q.limit + 1,
            page_couriers_.size() - 1, rows);
  }
  std::sort(rows.begin(), rows.end(), [&](const raw& a, const raw& b) {
    if (a.t != b.t) return a.t < b.t;
    if (a.courier != b.courier) return page_couriers_[a.courier] < page_couriers_[b.courier];
    return a.seq < b.seq;
  });
  if (rows.size() > q.limit + 1) rows.resize(q.limit + 1);
  return finish(rows, q.limit, 'o');
}

page reader::read(const query& in) {
  query q = in;
  if (q.limit == 0) q.limit = 1;
  rows_.clear();
  if (rows_.capacity() > 200'000) rows_.shrink_to_fit();
  if (attrs_.size() > 100'000) attrs_.clear();
  for (int attempt = 0;; ++attempt) {
    page_couriers_.clear();
    begin_.reset().run();
    try {
      moved_.reset();
      if (!moved_.step()) throw failure(SQLITE_CORRUPT, "meta.moved is missing");
      moved_at_ = moved_.i64(0);
      moved_.reset();
      page p;
      switch (q.what) {
        case query::kind::courier:
          p = by_courier(q);
          break;
        case query::kind::order:
          p = by_order(q);
          break;
        case query::kind::window:
          p = by_window(q);
          break;
      }
      end_.reset().run();
      return p;
    } catch (const stale_snapshot&) {
      end_.reset().run();
      if (attempt >= 3) throw failure(SQLITE_BUSY, "history moves faster than a read");
    } catch (...) {
      try {
        end_.reset().run();
      } catch (const failure&) {
        // the connection is dropped by the caller
      }
      throw;
    }
  }
}

}  // namespace peyk::history::sqlite
