#include "gateway/conflating_queue.hpp"

#include <algorithm>

namespace peyk::gateway {

std::size_t conflating_queue::find(const frame& f) const {
  if (!indexed_) {
    for (std::size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i]->key == f.key && entries_[i]->courier_id == f.courier_id) return i;
    return entries_.size();
  }
  std::size_t mask = table_.size() - 1;
  for (std::size_t i = f.key & mask;; i = (i + 1) & mask) {
    const slot& s = table_[i];
    if (s.gen != gen_) return entries_.size();  // an empty slot ends the probe
    if (s.key == f.key && entries_[s.pos]->courier_id == f.courier_id) return s.pos;
  }
}

void conflating_queue::index(std::size_t pos) {
  if ((entries_.size()) * 2 > table_.size()) return rebuild(table_.size() * 2);
  std::size_t mask = table_.size() - 1;
  std::uint64_t key = entries_[pos]->key;
  std::size_t i = key & mask;
  while (table_[i].gen == gen_) i = (i + 1) & mask;
  table_[i] = {key, static_cast<std::uint32_t>(pos), gen_};
}

void conflating_queue::rebuild(std::size_t capacity) {
  table_.assign(std::max<std::size_t>(capacity, 4 * index_threshold), slot{});
  gen_ = 1;
  indexed_ = true;
  std::size_t mask = table_.size() - 1;
  for (std::size_t p = 0; p < entries_.size(); ++p) {
    std::size_t i = entries_[p]->key & mask;
    while (table_[i].gen == gen_) i = (i + 1) & mask;
    table_[i] = {entries_[p]->key, static_cast<std::uint32_t>(p), gen_};
  }
}

conflating_queue::result conflating_queue::push(frame_ptr f) {
  std::size_t pos = find(*f);
  if (pos < entries_.size()) {
    auto& entry = entries_[pos];
    std::size_t new_bytes = bytes_ - entry->json.size() + f->json.size();
    if (new_bytes > lim_.max_bytes) return result::overflow;
    bytes_ = new_bytes;
    entry = std::move(f);  // same courier, same key: the index stays right
    return result::conflated;
  }
  if (entries_.size() + 1 > lim_.max_entries || bytes_ + f->json.size() > lim_.max_bytes) {
    return result::overflow;
  }
  bytes_ += f->json.size();
  entries_.push_back(std::move(f));
  if (indexed_) {
    index(entries_.size() - 1);
  } else if (entries_.size() > index_threshold) {
    rebuild(table_.size());
  }
  return result::queued;
}

void conflating_queue::drain(std::vector<frame_ptr>& out) {
  out.insert(out.end(), std::make_move_iterator(entries_.begin()),
             std::make_move_iterator(entries_.end()));
  clear();
}

void conflating_queue::clear() {
  entries_.clear();
  bytes_ = 0;
  indexed_ = false;
  if (table_.size() > 16 * index_threshold) {
    table_ = {};  // a past burst should not pin its table
  } else if (++gen_ == 0) {
    table_.assign(table_.size(), slot{});  // generations wrapped: really clear
    gen_ = 1;
  }
  // A slow viewer's burst should not pin its peak capacity forever.
  if (entries_.capacity() > 4 * index_threshold) entries_.shrink_to_fit();
}

}  // namespace peyk::gateway
