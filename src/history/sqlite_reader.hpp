#pragma once
// The SQLite backend's reads, on a connection of their own (WAL: a reader sees the last
// commit before its first statement and never blocks the writer). Each page is read in one
// snapshot: the range of `points` plus the courier's rows still in `recent` (found through
// the recent index), merged by (t, seq).

#include <chrono>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "history/history.hpp"
#include "history/sqlite_db.hpp"
#include "history/sqlite_recent.hpp"

namespace peyk::history::sqlite {

// A cursor that this backend did not write.
class bad_cursor : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

class reader {
 public:
  reader(const std::string& path, const recent_index& index, std::chrono::seconds retention,
         int cache_mib);

  // Throws bad_cursor or failure.
  page read(const query& q);

 private:
  static constexpr std::int64_t none = std::numeric_limits<std::int64_t>::min();  // NULL
  struct raw {
    std::int64_t t = 0;
    std::int32_t seq = 0;
    std::int32_t attr = 0;
    std::int64_t lat = 0, lon = 0;
    std::int64_t acc = none, spd = none, hdg = none, bat = none, dts = none;
    std::size_t courier = 0;  // index into the page's courier ids
  };
  struct attr_info {
    std::string name, fleet;
    std::vector<std::string> orders;
  };
  struct position {  // rows strictly after (t, seq); seq -1: from t inclusive
    std::int64_t t;
    std::int64_t seq;
  };
  class filter;

  const attr_info& attr(std::int32_t id);
  // Appends the courier's rows after `from` and before `to_t` that pass `f`, at most `max`.
  void collect(std::int64_t courier, position from, std::int64_t to_t, filter& f, std::size_t max,
               std::size_t courier_index, std::vector<raw>& out);
  void read_row(stmt& s, raw& r);

  page by_courier(const query& q);
  page by_order(const query& q);
  page by_window(const query& q);
  page finish(std::vector<raw>& rows, std::size_t limit, char kind);

  const recent_index& index_;
  std::chrono::seconds retention_;
  db db_;
  stmt begin_, end_, moved_, courier_by_name_, courier_by_id_, couriers_from_, attr_, points_,
      recent_row_, spans_;
  std::int64_t moved_at_ = 0;  // meta.moved in the current snapshot
  std::vector<std::string> page_couriers_;
  // The rows of the page being read: kept between reads (fresh memory costs a page fault
  // per 4 KiB, 16 us each on the VM this was measured on).
  std::vector<raw> rows_;
  std::vector<recent_row> scratch_;
  std::unordered_map<std::int32_t, attr_info> attrs_;  // immutable rows: never stale
};

}  // namespace peyk::history::sqlite
