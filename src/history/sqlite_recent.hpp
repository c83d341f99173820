#pragma once
// The in-memory index of the SQLite backend's `recent` table: for each courier, the ids
// (and times) of its rows not yet moved into `points`. `recent` has no index of its own
// (one would put a leaf per courier back into every commit); readers find a courier's few
// recent rows here and read them by id in their own snapshot.
//
// A reader's snapshot holds `meta.moved` = M: rows with id <= M are in `points`, the others
// in `recent`. The index drops a move's rows only at the next move, so it still holds every
// row above M unless the snapshot predates two moves (then `rows` says so and the reader
// takes a new snapshot). Rows are added after their transaction commits, before any
// completion runs: an append that completed is visible to every later read.

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

namespace peyk::history::sqlite {

struct recent_row {
  std::int64_t id = 0;  // rowid in `recent`
  std::int64_t t = 0;
  std::int32_t seq = 0;
  std::int32_t attr = 0;
};

class recent_index {
 public:
  // Writer, after an append transaction committed: (courier, row) in id order.
  void add(const std::vector<std::pair<std::int64_t, recent_row>>& rows) {
    std::lock_guard lock(mu_);
    for (const auto& [courier, r] : rows) {
      auto& e = by_courier_[courier];
      e.rows.push_back(r);
      if (std::find(e.attrs.begin(), e.attrs.end(), r.attr) == e.attrs.end()) {
        e.attrs.push_back(r.attr);
      }
      ++size_;
    }
  }

  // Writer, after the move of every row with id <= `moved` committed.
  void moved(std::int64_t moved) {
    std::lock_guard lock(mu_);
    drop_up_to(last_moved_);
    retained_after_ = last_moved_;
    last_moved_ = moved;
  }

  // Writer, after (re)opening, when `recent` was emptied up to `moved`.
  void reset(std::int64_t moved) {
    std::lock_guard lock(mu_);
    by_courier_.clear();
    size_ = 0;
    retained_after_ = last_moved_ = moved;
  }

  // Reader: the courier's rows with id > snap_moved and t in [from, to), in id order. False
  // when the index may have dropped some of them (a new snapshot is needed).
  bool rows(std::int64_t courier, std::int64_t snap_moved, std::int64_t from, std::int64_t to,
            std::vector<recent_row>& out) const {
    std::lock_guard lock(mu_);
    if (snap_moved < retained_after_) return false;
    auto it = by_courier_.find(courier);
    if (it == by_courier_.end()) return true;
    for (const auto& r : it->second.rows) {
      if (r.id > snap_moved && r.t >= from && r.t < to) out.push_back(r);
    }
    return true;
  }

  // Reader: every courier with rows here, with the attrs those rows use (a superset).
  bool couriers(std::int64_t snap_moved,
                std::vector<std::pair<std::int64_t, std::vector<std::int32_t>>>& out) const {
    std::lock_guard lock(mu_);
    if (snap_moved < retained_after_) return false;
    for (const auto& [courier, e] : by_courier_) {
      if (!e.rows.empty() && e.rows.back().id > snap_moved) out.emplace_back(courier, e.attrs);
    }
    return true;
  }

  // Writer: the largest seq held for (courier, t), or -1.
  std::int32_t max_seq(std::int64_t courier, std::int64_t t) const {
    std::lock_guard lock(mu_);
    std::int32_t best = -1;
    if (auto it = by_courier_.find(courier); it != by_courier_.end()) {
      for (const auto& r : it->second.rows) {
        if (r.t == t && r.seq > best) best = r.seq;
      }
    }
    return best;
  }

  // Writer: the newest (t, seq) held for the courier.
  std::optional<std::pair<std::int64_t, std::int32_t>> newest(std::int64_t courier) const {
    std::lock_guard lock(mu_);
    std::optional<std::pair<std::int64_t, std::int32_t>> best;
    if (auto it = by_courier_.find(courier); it != by_courier_.end()) {
      for (const auto& r : it->second.rows) {
        if (!best || std::pair(r.t, r.seq) > *best) best = std::pair(r.t, r.seq);
      }
    }
    return best;
  }

  std::size_t size() const {
    std::lock_guard lock(mu_);
    return size_;
  }

 private:
  struct entry {
    std::vector<recent_row> rows;
    std::vector<std::int32_t> attrs;
  };

  void drop_up_to(std::int64_t id) {
    for (auto it = by_courier_.begin(); it != by_courier_.end();) {
      auto& rows = it->second.rows;
      auto keep =
          std::find_if(rows.begin(), rows.end(), [id](const recent_row& r) { return r.id > id; });
      size_ -= static_cast<std::size_t>(keep - rows.begin());
      rows.erase(rows.begin(), keep);
      if (rows.empty()) {
        it = by_courier_.erase(it);
      } else {
        ++it;
      }
    }
  }

  mutable std::mutex mu_;
  std::unordered_map<std::int64_t, entry> by_courier_;
  std::size_t size_ = 0;
  std::int64_t retained_after_ = 0;  // every indexed row above this is here
  std::int64_t last_moved_ = 0;
};

}  // namespace peyk::history::sqlite
