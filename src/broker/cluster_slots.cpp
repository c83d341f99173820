#include "broker/cluster_slots.hpp"

#include <stdexcept>

namespace peyk::broker::cluster {

std::uint16_t crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (unsigned char c : data) {
    crc ^= static_cast<std::uint16_t>(c << 8);
    for (int i = 0; i < 8; ++i) {
      crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                           : static_cast<std::uint16_t>(crc << 1);
    }
  }
  return crc;
}

int key_slot(std::string_view key) {
  // Only the part between the first '{' and the next '}' is hashed, if not empty.
  if (auto open = key.find('{'); open != std::string_view::npos) {
    if (auto close = key.find('}', open + 1); close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return crc16(key) & (slot_count - 1);
}

std::size_t partition_of(std::string_view id, std::size_t n) {
  std::uint64_t h = 14695981039346656037ull;  // FNV-1a
  for (unsigned char c : id) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return n ? static_cast<std::size_t>(h % n) : 0;
}

naming::naming(std::string channel, std::size_t partitions) : base_(std::move(channel)) {
  if (partitions == 0 || partitions > max_partitions) {
    throw std::invalid_argument("cluster partitions must be 1.." + std::to_string(max_partitions));
  }
  // Target slot of partition p: the centre of the p-th of n equal ranges.
  std::vector<int> want(partitions);
  std::vector<int> owner(slot_count, -1);
  for (std::size_t p = 0; p < partitions; ++p) {
    want[p] = static_cast<int>((2 * p + 1) * slot_count / (2 * partitions));
    owner[want[p]] = static_cast<int>(p);
  }
  tags_.assign(partitions, {});
  slots_ = want;
  std::size_t missing = partitions;
  // The first decimal string hashing to each target slot; every slot is hit well before
  // a few hundred thousand tries.
  for (std::uint32_t k = 0; missing > 0; ++k) {
    auto s = std::to_string(k);
    int p = owner[crc16(s) & (slot_count - 1)];
    if (p >= 0 && tags_[p].empty()) {
      tags_[p] = s;
      --missing;
    }
  }
  for (std::size_t p = 0; p < partitions; ++p) {
    c_channel_.push_back(base_ + ":c:{" + tags_[p] + "}");
    o_channel_.push_back(base_ + ":o:{" + tags_[p] + "}");
    c_hash_.push_back("peyk:last:" + c_channel_[p]);
    o_prefix_.push_back("peyk:last:" + o_channel_[p] + ":");
    geo_.push_back("peyk:geo:" + c_channel_[p]);
    seen_.push_back("peyk:seen:" + c_channel_[p]);
  }
}

std::string naming::order_key(std::size_t p, std::string_view order) const {
  std::string key;
  key.reserve(o_prefix_[p].size() + order.size());
  return key.append(o_prefix_[p]).append(order);
}

}  // namespace peyk::broker::cluster
