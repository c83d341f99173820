#include "history/postgres_rows.hpp"

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>

#include "history/postgres_schema.hpp"

namespace peyk::history::pg {

namespace {
constexpr std::int32_t text_oid = 25;
constexpr std::int16_t copy_fields = 13;

void put_f64(std::string& b, double v) {
  put64(b, std::bit_cast<std::int64_t>(v));
}
void put_opt(std::string& b, const std::optional<double>& v) {
  if (v) {
    put32(b, 8);
    put_f64(b, *v);
  } else {
    put32(b, -1);
  }
}
void put_text(std::string& b, std::string_view s) {
  if (s.empty()) {
    put32(b, -1);  // NULL: the row stays small, and "" comes back as ""
    return;
  }
  put32(b, static_cast<std::int32_t>(s.size()));
  b.append(s);
}
void put_orders(std::string& b, const std::vector<std::string>& orders) {
  if (orders.empty()) {
    put32(b, -1);
    return;
  }
  std::size_t size = 20;
  for (auto& o : orders) size += 4 + o.size();
  put32(b, static_cast<std::int32_t>(size));
  put32(b, 1);  // dimensions
  put32(b, 0);  // no NULL elements
  put32(b, text_oid);
  put32(b, static_cast<std::int32_t>(orders.size()));
  put32(b, 1);  // lower bound
  for (auto& o : orders) {
    put32(b, static_cast<std::int32_t>(o.size()));
    b.append(o);
  }
}
std::int32_t micro(double deg) {
  return static_cast<std::int32_t>(std::llround(deg * 1e6));
}

std::string b64url(std::string_view in) {
  static constexpr char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += tbl[(acc >> bits) & 63];
    }
  }
  if (bits > 0) out += tbl[(acc << (6 - bits)) & 63];
  return out;
}
std::optional<std::string> unb64url(std::string_view in) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '-'             ? 62
            : c == '_'             ? 63
                                   : -1;
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if (bits >= 6 || (acc & ((1u << bits) - 1)) != 0) return std::nullopt;  // not canonical
  return out;
}

char kind_letter(query::kind k) {
  return k == query::kind::courier ? 'c' : k == query::kind::order ? 'o' : 'w';
}

struct cursor_pos {
  std::int64_t t = 0;
  std::int64_t seq = 0;
  std::string courier;
};

bool parse_i64(std::string_view s, std::int64_t& v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc{} && p == s.data() + s.size();
}

// "<kind>.<t>.<seq>" for one courier or order, "w.<t>.<seq>.<base64url courier>" for a window.
std::optional<cursor_pos> parse_cursor(std::string_view c, query::kind k) {
  if (c.size() > 512 || c.size() < 5 || c[0] != kind_letter(k) || c[1] != '.') {
    return std::nullopt;
  }
  c.remove_prefix(2);
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    auto dot = c.find('.', start);
    parts.push_back(c.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  cursor_pos pos;
  bool window = k == query::kind::window;
  if (parts.size() != (window ? 3u : 2u)) return std::nullopt;
  if (!parse_i64(parts[0], pos.t) || !parse_i64(parts[1], pos.seq)) return std::nullopt;
  if (window) {
    auto id = unb64url(parts[2]);
    if (!id || id->empty() || !valid_text(*id)) return std::nullopt;
    pos.courier = std::move(*id);
  }
  return pos;
}

std::int64_t i64_at(const PGresult* r, int row, int col) {
  return static_cast<std::int64_t>(get_be(PQgetvalue(r, row, col), 8));
}
std::optional<double> f64_at(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return std::nullopt;
  return std::bit_cast<double>(get_be(PQgetvalue(r, row, col), 8));
}
std::string text_at(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return {};
  return std::string(PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col)));
}
std::vector<std::string> array_at(const PGresult* r, int row, int col) {
  std::vector<std::string> out;
  if (PQgetisnull(r, row, col)) return out;
  const char* p = PQgetvalue(r, row, col);
  const char* end = p + PQgetlength(r, row, col);
  auto i32 = [&] {
    if (end - p < 4) throw error("malformed text[] in a result", "", false);
    auto v = static_cast<std::int32_t>(get_be(p, 4));
    p += 4;
    return v;
  };
  auto ndim = i32();
  i32();  // has NULLs
  i32();  // element type
  if (ndim == 0) return out;
  auto n = i32();
  i32();  // lower bound
  for (std::int32_t i = 0; i < n; ++i) {
    auto len = i32();
    if (len < 0) continue;
    if (end - p < len) throw error("malformed text[] in a result", "", false);
    out.emplace_back(p, static_cast<std::size_t>(len));
    p += len;
  }
  return out;
}
}  // namespace

const std::string copy_sql =
    "COPY peyk_points (t, ts, rec, accuracy, speed, heading, battery, lat, lon, courier, name, "
    "fleet, orders) FROM STDIN (FORMAT binary)";

std::string_view copy_header() {
  // Signature, flags (no OIDs), header extension length.
  static const std::string h = [] {
    std::string s("PGCOPY\n\377\r\n\0", 11);
    put32(s, 0);
    put32(s, 0);
    return s;
  }();
  return h;
}

std::string_view copy_trailer() {
  static const std::string t("\377\377", 2);
  return t;
}

bool valid_text(std::string_view s) {
  auto u = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  for (std::size_t i = 0; i < s.size();) {
    unsigned c = u(i);
    if (c == 0) return false;
    if (c < 0x80) {
      ++i;
      continue;
    }
    std::size_t n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC2 ? 1 : 0;
    if (n == 0 || c > 0xF4 || i + n >= s.size()) return false;
    for (std::size_t k = 1; k <= n; ++k) {
      if ((u(i + k) & 0xC0) != 0x80) return false;
    }
    unsigned c1 = u(i + 1);
    if (c == 0xE0 && c1 < 0xA0) return false;   // overlong
    if (c == 0xED && c1 >= 0xA0) return false;  // UTF-16 surrogates
    if (c == 0xF0 && c1 < 0x90) return false;   // overlong
    if (c == 0xF4 && c1 >= 0x90) return false;  // past U+10FFFF
    i += n + 1;
  }
  return true;
}

bool encode(std::span<const location_ptr> batch, std::int64_t horizon_us, encoded& out) {
  for (const auto& l : batch) {
    point p = to_point(*l);
    if (!valid_text(p.courier_id) || p.courier_id.empty() || !valid_text(p.name) ||
        !valid_text(p.fleet)) {
      return false;
    }
    for (auto& o : p.orders) {
      if (o.empty() || !valid_text(o)) return false;
    }
    auto day = day_of(p.t_us);
    if (p.t_us < horizon_us || day < first_day || day > last_day) {
      ++out.expired;
      continue;
    }
    if (std::find(out.days.begin(), out.days.end(), day) == out.days.end()) {
      out.days.push_back(day);
    }
    for (auto& o : p.orders) {
      auto key = order_day_key(o, day, p.courier_id);
      if (std::find(out.order_days.begin(), out.order_days.end(), key) == out.order_days.end()) {
        out.order_days.push_back(std::move(key));
      }
    }
    auto& b = out.tuples;
    put16(b, copy_fields);
    put32(b, 8);
    put64(b, p.t_us);
    put32(b, 8);
    put64(b, p.ts_us);
    put32(b, 1);
    b += p.recorded_us ? '\1' : '\0';
    put_opt(b, p.accuracy);
    put_opt(b, p.speed);
    put_opt(b, p.heading);
    put_opt(b, p.battery);
    put32(b, 4);
    put32(b, micro(p.latitude));
    put32(b, 4);
    put32(b, micro(p.longitude));
    put_text(b, p.courier_id);
    put_text(b, p.name);
    put_text(b, p.fleet);
    put_orders(b, p.orders);
    ++out.points;
  }
  return true;
}

std::string order_day_key(std::string_view order, std::int64_t day, std::string_view courier) {
  std::string k(order);
  k += '\0';
  k += std::to_string(day);
  k += '\0';
  k += courier;
  return k;
}

const std::string order_days_sql =
    "INSERT INTO peyk_order_days (order_id, day, courier) SELECT * FROM unnest($1::text[], "
    "$2::integer[], $3::text[]) ON CONFLICT DO NOTHING";

std::vector<std::optional<std::string>> order_days_params(const std::vector<std::string>& keys) {
  std::vector<std::string> orders, days, couriers;
  for (auto& k : keys) {
    auto a = k.find('\0');
    auto b = k.find('\0', a + 1);
    orders.push_back(k.substr(0, a));
    days.push_back(k.substr(a + 1, b - a - 1));
    couriers.push_back(k.substr(b + 1));
  }
  return {array_literal(orders), array_literal(days), array_literal(couriers)};
}

std::string array_literal(const std::vector<std::string>& v) {
  std::string s = "{";
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += '"';
    for (char c : v[i]) {
      if (c == '"' || c == '\\') s += '\\';
      s += c;
    }
    s += '"';
  }
  s += '}';
  return s;
}

std::optional<select_stmt> build_select(const query& q, std::size_t limit) {
  std::optional<cursor_pos> pos;
  if (!q.cursor.empty()) {
    pos = parse_cursor(q.cursor, q.what);
    if (!pos) return std::nullopt;
  }
  select_stmt s;
  auto param = [&](std::string v) {
    s.params.emplace_back(std::move(v));
    return "$" + std::to_string(s.params.size());
  };
  s.sql =
      "SELECT t, seq, ts, accuracy, speed, heading, battery, lat, lon, rec, courier, name, fleet, "
      "orders FROM peyk_points WHERE ";
  if (q.what == query::kind::courier) {
    s.sql += "courier = " + param(q.id) + " AND ";
  } else if (q.what == query::kind::order) {
    // The couriers that carried it on the days of the window, then their points that did.
    auto id = param(q.id);
    s.sql += "courier IN (SELECT courier FROM peyk_order_days WHERE order_id = " + id +
             " AND day >= " + param(std::to_string(day_of(q.from_us))) +
             " AND day <= " + param(std::to_string(day_of(q.to_us - 1))) +
             ") AND orders @> ARRAY[" + id + "]::text[] AND ";
  }
  s.sql +=
      "t >= " + param(std::to_string(q.from_us)) + " AND t < " + param(std::to_string(q.to_us));
  bool window = q.what == query::kind::window;
  if (pos) {
    s.sql +=
        window ? " AND (courier, t, seq) > (" + param(pos->courier) + ", " : " AND (t, seq) > (";
    s.sql += param(std::to_string(pos->t)) + "::bigint, " + param(std::to_string(pos->seq)) +
             "::bigint)";
  }
  if (q.fleets_filter || !q.fleets.empty()) {
    s.sql += " AND fleet = ANY(" + param(array_literal(q.fleets)) + "::text[])";
  }
  s.sql += window ? " ORDER BY courier, t, seq" : " ORDER BY t, seq";
  s.sql += " LIMIT " + param(std::to_string(limit + 1));
  return s;
}

row_page decode_rows(const PGresult* r) {
  row_page out;
  int n = PQntuples(r);
  out.points.reserve(static_cast<std::size_t>(n));
  out.seqs.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    point p;
    p.t_us = i64_at(r, i, 0);
    out.seqs.push_back(i64_at(r, i, 1));
    p.ts_us = i64_at(r, i, 2);
    p.accuracy = f64_at(r, i, 3);
    p.speed = f64_at(r, i, 4);
    p.heading = f64_at(r, i, 5);
    p.battery = f64_at(r, i, 6);
    p.latitude = static_cast<std::int32_t>(get_be(PQgetvalue(r, i, 7), 4)) / 1e6;
    p.longitude = static_cast<std::int32_t>(get_be(PQgetvalue(r, i, 8), 4)) / 1e6;
    if (*PQgetvalue(r, i, 9)) p.recorded_us = p.t_us;
    p.courier_id = text_at(r, i, 10);
    p.name = text_at(r, i, 11);
    p.fleet = text_at(r, i, 12);
    p.orders = array_at(r, i, 13);
    out.points.push_back(std::move(p));
  }
  return out;
}

std::string make_cursor(query::kind k, const point& last, std::int64_t seq) {
  std::string c(1, kind_letter(k));
  c += '.' + std::to_string(last.t_us) + '.' + std::to_string(seq);
  if (k == query::kind::window) c += '.' + b64url(last.courier_id);
  return c;
}

}  // namespace peyk::history::pg
