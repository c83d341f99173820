#pragma once
// Redis Cluster naming for peyk's partitioned channels (pure logic, no I/O).
//
// A courier's locations go to one of N "c" partitions (by courier id) and, for each
// order it carries, to one of N "o" partitions (by order id), so a gateway subscribes
// to all c partitions for its admins and dispatchers, or only to the o partitions of its
// customers' orders. Partition p of both families shares one hash tag, so its channel
// and its last-known hash live on the same node.
//
// Balance: channels named with small integers ("{0}", "{1}", ...) land on slots that
// bunch up in parts of the slot space and can leave whole masters idle. Each tag here is
// chosen so that its slot sits at the centre of the p-th of N equal ranges of the slot
// space: partitions spread over masters as the slots do.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace peyk::broker::cluster {

inline constexpr int slot_count = 16384;
inline constexpr std::size_t max_partitions = 4096;

// CRC16-CCITT (XModem), the checksum Redis Cluster hashes keys with.
std::uint16_t crc16(std::string_view data);
// The slot of a key or sharded channel, honouring the {hash tag} rule.
int key_slot(std::string_view key);
// Stable partition of an id in [0, n): the same in every process and every build.
std::size_t partition_of(std::string_view id, std::size_t n);

enum class family { courier, order };

// Channel and key names for `partitions` partitions of base channel `channel`.
class naming {
 public:
  naming(std::string channel, std::size_t partitions);

  std::size_t partitions() const { return tags_.size(); }
  int slot(std::size_t p) const { return slots_[p]; }
  const std::string& tag(std::size_t p) const { return tags_[p]; }
  // Names are built once: publishing formats them for every location.
  // dlchannel:c:{tag} / dlchannel:o:{tag}
  const std::string& channel(family f, std::size_t p) const {
    return f == family::courier ? c_channel_[p] : o_channel_[p];
  }
  // peyk:last:<c channel>: courier id -> location JSON
  const std::string& courier_hash(std::size_t p) const { return c_hash_[p]; }
  // peyk:last:<o channel>:<order>: the location of the courier carrying `order`, a key
  // per order so that it can expire (orders end; Redis 7.0 has no per-field TTL)
  std::string order_key(std::size_t p, std::string_view order) const;
  // what every order key of partition p starts with
  const std::string& order_key_prefix(std::size_t p) const { return o_prefix_[p]; }
  // peyk:geo:<c channel>
  const std::string& geo(std::size_t p) const { return geo_[p]; }
  // peyk:seen:<c channel>: courier id -> when it last posted (ms), for forgetting
  const std::string& seen(std::size_t p) const { return seen_[p]; }

 private:
  std::string base_;
  std::vector<std::string> tags_;
  std::vector<int> slots_;
  std::vector<std::string> c_channel_, o_channel_, c_hash_, o_prefix_, geo_, seen_;
};

}  // namespace peyk::broker::cluster
