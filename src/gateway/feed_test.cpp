#include "gateway/feed.hpp"

#include <gtest/gtest.h>

namespace peyk::gateway {
namespace {

update_ptr upd(const std::string& courier, std::int64_t ts, std::size_t pad = 0) {
  auto l = std::make_shared<core::location>();
  l->courier_id = courier;
  l->ts_us = ts;
  l->latitude = 35.7;
  l->longitude = 51.4;
  if (pad) l->fleet = std::string(pad, 'f');
  return make_update(l, false);
}

std::vector<update_ptr> batch(std::initializer_list<std::pair<std::string, std::int64_t>> xs) {
  std::vector<update_ptr> out;
  for (auto& [c, ts] : xs) out.push_back(upd(c, ts));
  return out;
}

// Splits back-to-back server frames (unmasked) into their payloads.
std::vector<std::string> split_frames(const std::string& wire) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < wire.size()) {
    EXPECT_EQ(static_cast<unsigned char>(wire[i]), 0x81u);
    std::size_t len = static_cast<unsigned char>(wire[i + 1]);
    std::size_t at = i + 2;
    if (len == 126) {
      len =
          (static_cast<unsigned char>(wire[i + 2]) << 8) | static_cast<unsigned char>(wire[i + 3]);
      at = i + 4;
    } else if (len == 127) {
      len = 0;
      for (int k = 0; k < 8; ++k) len = (len << 8) | static_cast<unsigned char>(wire[i + 2 + k]);
      at = i + 10;
    }
    out.push_back(wire.substr(at, len));
    i = at + len;
  }
  return out;
}

TEST(Feed, EncodesEachBatchOnceForEachSubprotocolAskedFor) {
  feed f;
  auto b = batch({{"c1", 30}, {"c2", 10}, {"c3", 20}});
  f.append(b, true, true);
  std::vector<feed::batch_ptr> got;
  EXPECT_EQ(f.collect(f.begin(), true, 10, 1u << 20, got), f.end());
  ASSERT_EQ(got.size(), 1u);
  const auto& x = *got[0];
  EXPECT_EQ(x.count, 3u);
  EXPECT_EQ(x.oldest_ts_us, 10);
  auto frames = split_frames(x.echo);
  ASSERT_EQ(frames.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(frames[i], b[i]->full->json);
  EXPECT_EQ(x.v1, "," + b[0]->full->json + "," + b[1]->full->json + "," + b[2]->full->json);

  f.append(batch({{"c4", 40}}), false, true);
  got.clear();
  f.collect(f.end() - 1, false, 10, 1u << 20, got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(got[0]->echo.empty());
}

TEST(Feed, FrameHeaderLengthForms) {
  for (std::size_t n : {0u, 125u, 126u, 65535u, 65536u, 70000u}) {
    std::string wire;
    feed::append_frame_header(wire, n);
    wire += std::string(n, 'x');
    auto frames = split_frames(wire);
    ASSERT_EQ(frames.size(), 1u) << n;
    EXPECT_EQ(frames[0].size(), n);
  }
}

TEST(Feed, CollectStopsAtTheBatchOrByteLimitButTakesAtLeastOne) {
  feed f;
  for (int i = 0; i < 10; ++i) f.append(batch({{"c" + std::to_string(i), i}}), true, false);
  std::uint64_t c = f.begin();
  std::vector<feed::batch_ptr> got;
  c = f.collect(c, true, 4, 1u << 20, got);
  EXPECT_EQ(got.size(), 4u);
  EXPECT_EQ(c, f.begin() + 4);
  got.clear();
  c = f.collect(c, true, 100, 1, got);  // bytes limit below one batch: still one
  EXPECT_EQ(got.size(), 1u);
  got.clear();
  c = f.collect(c, true, 100, 1u << 20, got);
  EXPECT_EQ(got.size(), 5u);
  EXPECT_EQ(c, f.end());
  got.clear();
  EXPECT_EQ(f.collect(c, true, 100, 1u << 20, got), f.end());
  EXPECT_TRUE(got.empty());
}

TEST(Feed, RetainsABoundedLogAndLaggardsCatchUpWithTheNewestPerCourier) {
  feed f(4096);
  std::uint64_t slow = f.end();
  // 200 batches of ~150 bytes: far more than 4 KiB.
  for (int i = 0; i < 200; ++i) {
    f.append(batch({{"c" + std::to_string(i % 7), 1000 + i}}), true, true);
  }
  EXPECT_LE(f.retained_bytes(), 4096u + 512u);
  EXPECT_GT(f.begin(), slow);  // the slow cursor is no longer in the log
  std::vector<frame_ptr> latest;
  EXPECT_EQ(f.latest_since(slow, latest), f.end());
  ASSERT_EQ(latest.size(), 7u);  // one per courier, the newest
  for (const auto& fr : latest) {
    int k = std::stoi(fr->courier_id.substr(1));
    int newest = 199 - ((199 - k) % 7);
    EXPECT_EQ(fr->ts_us, 1000 + newest) << fr->courier_id;
  }
  // Only couriers updated at or after the cursor.
  std::uint64_t mid = f.end();
  f.append(batch({{"c3", 5000}}), true, true);
  latest.clear();
  f.latest_since(mid, latest);
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0]->courier_id, "c3");
}

TEST(Feed, KeepsTheNewestBatchEvenWhenLargerThanTheRetention) {
  feed f(64);
  f.append(batch({{"a", 1}, {"b", 2}, {"c", 3}}), true, true);
  EXPECT_EQ(f.begin() + 1, f.end());
  std::vector<feed::batch_ptr> got;
  f.collect(f.begin(), false, 10, 1u << 20, got);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]->count, 3u);
}

TEST(Feed, BatchesOutliveTheLogWhileAWriteHoldsThem) {
  feed f(256);
  f.append(batch({{"a", 1}}), true, true);
  std::vector<feed::batch_ptr> held;
  f.collect(f.begin(), true, 1, 1u << 20, held);
  for (int i = 0; i < 50; ++i) f.append(batch({{"b", 2 + i}}), true, true);
  ASSERT_GT(f.begin(), held[0]->seq);                 // dropped from the log...
  EXPECT_EQ(split_frames(held[0]->echo).size(), 1u);  // ...but still whole for its writer
}

}  // namespace
}  // namespace peyk::gateway
