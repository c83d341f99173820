#include "gateway/conflating_queue.hpp"

namespace peyk::gateway {

conflating_queue::result conflating_queue::push(frame_ptr f) {
  std::size_t pos = entries_.size();
  if (entries_.size() > index_threshold) {
    auto it = index_.find(f->courier_id);
    if (it != index_.end()) pos = it->second;
  } else {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i]->courier_id == f->courier_id) {
        pos = i;
        break;
      }
    }
  }
  if (pos < entries_.size()) {
    auto& slot = entries_[pos];
    std::size_t new_bytes = bytes_ - slot->json.size() + f->json.size();
    if (new_bytes > lim_.max_bytes) return result::overflow;
    bytes_ = new_bytes;
    if (!index_.empty()) {
      index_.erase(slot->courier_id);
      index_.emplace(f->courier_id, pos);
    }
    slot = std::move(f);
    return result::conflated;
  }
  if (entries_.size() + 1 > lim_.max_entries || bytes_ + f->json.size() > lim_.max_bytes) {
    return result::overflow;
  }
  bytes_ += f->json.size();
  entries_.push_back(std::move(f));
  if (entries_.size() == index_threshold + 1) {
    for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i]->courier_id, i);
  } else if (!index_.empty()) {
    index_.emplace(entries_.back()->courier_id, entries_.size() - 1);
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
  index_.clear();
  bytes_ = 0;
  // A slow viewer's burst should not pin its peak capacity forever.
  if (entries_.capacity() > 4 * index_threshold) entries_.shrink_to_fit();
}

}  // namespace peyk::gateway
