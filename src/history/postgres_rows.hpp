#pragma once
// Rows of peyk_points on the wire: appends encoded as COPY BINARY tuples (on the caller's
// thread, so that the writer thread only ships bytes), pages read back from binary
// results, the SQL of each query kind, and the opaque cursor.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "history/history.hpp"
#include "history/postgres_conn.hpp"

namespace peyk::history::pg {

// One append as COPY tuples.
struct encoded {
  std::string tuples;
  std::size_t points = 0;               // rows in `tuples`
  std::size_t expired = 0;              // points older than the retention horizon: not written
  std::vector<std::int64_t> days;       // the distinct days of the rows (their partitions)
  std::vector<std::string> order_days;  // distinct order_day_key()s of the rows
};

// peyk_order_days's (order, day, courier) as one string: "order\0day\0courier".
std::string order_day_key(std::string_view order, std::int64_t day, std::string_view courier);

// INSERT of order_day_key()s into peyk_order_days (ON CONFLICT DO NOTHING): $1 text[] of
// orders, $2 int[] of days, $3 text[] of couriers; the parameters for `keys`.
extern const std::string order_days_sql;
std::vector<std::optional<std::string>> order_days_params(const std::vector<std::string>& keys);

// Encodes `batch`, leaving out points whose time is before `horizon_us` (retention would
// drop them). False when a text field cannot be stored (a NUL byte, invalid UTF-8), so
// that one bad append fails alone instead of the whole group commit it would join.
bool encode(std::span<const location_ptr> batch, std::int64_t horizon_us, encoded& out);

// COPY peyk_points (...) FROM STDIN (FORMAT binary); its payload is
// copy_header() + tuples... + copy_trailer().
extern const std::string copy_sql;
std::string_view copy_header();
std::string_view copy_trailer();

// Well-formed UTF-8 without NUL, as PostgreSQL's text takes it.
bool valid_text(std::string_view s);

struct select_stmt {
  std::string sql;
  std::vector<std::optional<std::string>> params;
};

// The statement for one page of `q`, asking for `limit + 1` rows (the extra one tells that
// a next page exists). nullopt when q.cursor is not one of ours.
std::optional<select_stmt> build_select(const query& q, std::size_t limit);

struct row_page {
  std::vector<point> points;
  std::vector<std::int64_t> seqs;  // each point's arrival number (for the cursor)
};
row_page decode_rows(const PGresult* r);

// The cursor after `last` (whose arrival number is `seq`) for queries of q's kind.
std::string make_cursor(query::kind k, const point& last, std::int64_t seq);

// Text form of a text[] parameter: {"a","b"}.
std::string array_literal(const std::vector<std::string>& v);

}  // namespace peyk::history::pg
