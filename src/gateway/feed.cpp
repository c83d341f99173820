#include "gateway/feed.hpp"

#include <algorithm>

namespace peyk::gateway {

void feed::append_frame_header(std::string& out, std::size_t payload, std::uint8_t opcode,
                               bool fin) {
  // Server frames are unmasked (RFC 6455 §5.2).
  out += static_cast<char>((fin ? 0x80 : 0x00) | opcode);
  if (payload < 126) {
    out += static_cast<char>(payload);
  } else if (payload < 65536) {
    out += static_cast<char>(126);
    out += static_cast<char>((payload >> 8) & 0xff);
    out += static_cast<char>(payload & 0xff);
  } else {
    out += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8) {
      out += static_cast<char>((static_cast<std::uint64_t>(payload) >> shift) & 0xff);
    }
  }
}

void feed::append(std::span<const update_ptr> updates, bool echo, bool v1) {
  if (updates.empty()) return;
  auto b = std::make_shared<batch>();
  b->seq = next_seq_++;
  b->count = updates.size();
  b->oldest_ts_us = updates.front()->full->ts_us;
  std::size_t json_bytes = 0;
  for (const auto& u : updates) json_bytes += u->full->json.size();
  if (echo) b->echo.reserve(json_bytes + 4 * updates.size());
  if (v1) b->v1.reserve(json_bytes + updates.size());
  for (const auto& u : updates) {
    const frame& f = *u->full;
    b->oldest_ts_us = std::min(b->oldest_ts_us, f.ts_us);
    if (echo) {
      append_frame_header(b->echo, f.json.size());
      b->echo += f.json;
    }
    if (v1) {
      b->v1 += ',';
      b->v1 += f.json;
    }
    auto [it, fresh] =
        slot_of_.try_emplace(f.courier_id, static_cast<std::uint32_t>(slots_.size()));
    if (fresh) slots_.emplace_back();
    slots_[it->second] = {u->full, b->seq};
  }
  log_bytes_ += b->echo.size() + b->v1.size();
  log_.push_back(std::move(b));
  // Keep at least the newest batch, whatever its size.
  while (log_.size() > 1 && log_bytes_ > retain_bytes_) {
    log_bytes_ -= log_.front()->echo.size() + log_.front()->v1.size();
    log_.pop_front();
  }
}

std::uint64_t feed::collect(std::uint64_t from, bool echo, std::size_t max_batches,
                            std::size_t max_bytes, std::vector<batch_ptr>& out) const {
  if (log_.empty() || from >= next_seq_) return from;
  std::size_t i = from - log_.front()->seq;  // seqs in the log are consecutive
  std::size_t bytes = 0, taken = 0;
  for (; i < log_.size() && taken < max_batches; ++i) {
    const auto& b = log_[i];
    std::size_t size = echo ? b->echo.size() : b->v1.size();
    if (taken > 0 && bytes + size > max_bytes) break;
    bytes += size;
    ++taken;
    out.push_back(b);
  }
  return from + taken;
}

void feed::forget(std::span<const std::string_view> couriers) {
  for (auto id : couriers) {
    auto it = slot_of_.find(std::string(id));
    if (it == slot_of_.end()) continue;
    std::uint32_t i = it->second;
    slot_of_.erase(it);
    if (i + 1 != slots_.size()) {  // the last slot takes the freed place
      slots_[i] = std::move(slots_.back());
      slot_of_[slots_[i].latest->courier_id] = i;
    }
    slots_.pop_back();
  }
}

std::uint64_t feed::latest_since(std::uint64_t from, std::vector<frame_ptr>& out) const {
  for (const auto& s : slots_) {
    if (s.seq >= from) out.push_back(s.latest);
  }
  return next_seq_;
}

}  // namespace peyk::gateway
