#include "policy/watch_message.hpp"

#include <gtest/gtest.h>

#include <map>

namespace peyk::policy {
namespace {

using std::chrono::milliseconds;

TEST(WatchMessage, RoundTrip) {
  std::vector<watch_registry::entry> in{
      {kind::order, "A\"1", 2}, {kind::courier, "10", 1}, {kind::order, "B", 0}};
  auto msgs = encode_watch("gw-1", milliseconds(3000), in, 64 * 1024);
  ASSERT_EQ(msgs.size(), 1u);
  auto m = decode_watch(msgs[0]);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->source, "gw-1");
  EXPECT_FALSE(m->gone);
  EXPECT_EQ(m->ttl, milliseconds(3000));
  ASSERT_EQ(m->entries.size(), 3u);
  std::map<std::string, std::pair<kind, std::uint32_t>> got;
  for (auto& e : m->entries) got[e.id] = {e.k, e.count};
  EXPECT_EQ(got["A\"1"], std::pair(kind::order, 2u));
  EXPECT_EQ(got["10"], std::pair(kind::courier, 1u));
  EXPECT_EQ(got["B"], std::pair(kind::order, 0u));
}

TEST(WatchMessage, SplitUnderTheSizeBound) {
  std::vector<watch_registry::entry> in;
  for (int i = 0; i < 5000; ++i) in.push_back({kind::order, "order-" + std::to_string(i), 1});
  auto msgs = encode_watch("gw-1", milliseconds(3000), in, 4096);
  EXPECT_GT(msgs.size(), 10u);
  std::size_t total = 0;
  for (auto& s : msgs) {
    EXPECT_LE(s.size(), 4096u);
    auto m = decode_watch(s);
    ASSERT_TRUE(m) << s;
    total += m->entries.size();
  }
  EXPECT_EQ(total, in.size());
}

TEST(WatchMessage, Gone) {
  auto m = decode_watch(encode_gone("gw-9"));
  ASSERT_TRUE(m);
  EXPECT_TRUE(m->gone);
  EXPECT_EQ(m->source, "gw-9");
}

TEST(WatchMessage, RefusesGarbage) {
  for (const char* bad :
       {"", "nope", "[]", R"({"source":"a"})", R"({"v":2,"source":"a"})", R"({"v":1})",
        R"({"v":1,"source":""})", R"({"v":1,"source":"a","orders":[]})",
        R"({"v":1,"source":"a","orders":{"x":-1}})", R"({"v":1,"source":"a","orders":{"x":"1"}})",
        R"({"v":1,"source":"a","ttl_ms":"3s"})"}) {
    EXPECT_FALSE(decode_watch(bad)) << bad;
  }
  EXPECT_FALSE(decode_watch(std::string(max_watch_message_bytes + 1, ' ')));
  // A ttl out of range is clamped, not trusted.
  auto m = decode_watch(R"({"v":1,"source":"a","ttl_ms":99999999,"couriers":{"1":1}})");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->ttl, milliseconds(60000));
}

}  // namespace
}  // namespace peyk::policy
