#include "broker/cluster_slots.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <gtest/gtest.h>

namespace peyk::broker::cluster {
namespace {

TEST(ClusterSlots, MatchesRedisKeySlots) {
  // Values from Redis's own `CLUSTER KEYSLOT` and the cluster spec's test vector.
  EXPECT_EQ(crc16("123456789"), 0x31C3);
  EXPECT_EQ(key_slot("foo"), 12182);
  EXPECT_EQ(key_slot("bar"), 5061);
  EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
  EXPECT_EQ(key_slot("foo{}{bar}"), crc16("foo{}{bar}") & 16383);  // empty tag: whole key
  EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
}

TEST(ClusterSlots, PartitionsAreStableAndInRange) {
  EXPECT_EQ(partition_of("courier-17", 64), partition_of("courier-17", 64));
  std::map<std::size_t, int> counts;
  for (int i = 0; i < 6400; ++i) counts[partition_of("c" + std::to_string(i), 64)]++;
  EXPECT_EQ(counts.size(), 64u);
  for (auto& [p, n] : counts) {
    EXPECT_LT(p, 64u);
    EXPECT_GT(n, 50);  // 100 expected per partition
    EXPECT_LT(n, 150);
  }
}

TEST(ClusterSlots, NamesShareOneSlotPerPartition) {
  naming n("dlchannel", 64);
  std::set<int> slots;
  for (std::size_t p = 0; p < 64; ++p) {
    int s = n.slot(p);
    slots.insert(s);
    EXPECT_EQ(key_slot(n.channel(family::courier, p)), s);
    EXPECT_EQ(key_slot(n.channel(family::order, p)), s);
    EXPECT_EQ(key_slot(n.courier_hash(p)), s);
    EXPECT_EQ(key_slot(n.order_key(p, "A123")), s);
    EXPECT_EQ(key_slot(n.geo(p)), s);
  }
  EXPECT_EQ(slots.size(), 64u);
  EXPECT_EQ(n.channel(family::courier, 0).rfind("dlchannel:c:{", 0), 0u);
  EXPECT_EQ(n.courier_hash(3).rfind("peyk:last:dlchannel:c:{", 0), 0u);
  EXPECT_EQ(n.order_key(3, "A123"), n.order_key_prefix(3) + "A123");
  EXPECT_EQ(n.order_key_prefix(3).rfind("peyk:last:dlchannel:o:{", 0), 0u);
}

// `redis-cli --cluster create` splits the slots evenly; partitions must follow.
TEST(ClusterSlots, PartitionsSpreadEvenlyOverMasters) {
  for (std::size_t parts : {16u, 64u, 256u}) {
    for (int masters : {2, 3, 5, 7}) {
      naming n("dlchannel", parts);
      std::vector<int> per(masters);
      for (std::size_t p = 0; p < parts; ++p) per[n.slot(p) * masters / slot_count]++;
      auto [lo, hi] = std::minmax_element(per.begin(), per.end());
      EXPECT_LE(*hi - *lo, 1) << parts << " partitions over " << masters << " masters";
    }
  }
  // The naive naming this avoids: "{0}".."{15}" leave masters unevenly loaded.
  std::vector<int> naive(3);
  for (int p = 0; p < 16; ++p) naive[key_slot(std::to_string(p)) * 3 / slot_count]++;
  auto [lo, hi] = std::minmax_element(naive.begin(), naive.end());
  EXPECT_GT(*hi - *lo, 1);
}

TEST(ClusterSlots, RejectsBadPartitionCounts) {
  EXPECT_THROW(naming("x", 0), std::invalid_argument);
  EXPECT_THROW(naming("x", max_partitions + 1), std::invalid_argument);
  EXPECT_NO_THROW(naming("x", max_partitions));
}

}  // namespace
}  // namespace peyk::broker::cluster
