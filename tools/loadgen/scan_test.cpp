#include "scan.hpp"

#include <vector>

#include <gtest/gtest.h>

namespace peyk::loadgen {
namespace {

std::vector<std::int64_t> all_ts(std::string_view msg) {
  std::vector<std::int64_t> out;
  for_each_ts(msg, [&](std::int64_t ts) { out.push_back(ts); });
  return out;
}

TEST(loadgen_scan, finds_ts_of_an_echo_location) {
  auto msg =
      R"({"latitude":35.7,"longitude":51.4,"user":{"id":10,"username":"a"},"ts":1764331200123456,"speed":8.2})";
  EXPECT_EQ(all_ts(msg), (std::vector<std::int64_t>{1764331200123456}));
}

TEST(loadgen_scan, first_ts_stops_at_the_first_location) {
  EXPECT_EQ(first_ts(R"({"users":1,"ts":42,"ts":43})"), 42);
  EXPECT_EQ(first_ts(R"({"ts": 7})"), 7);
  EXPECT_FALSE(first_ts(R"({"latitude":1})"));
  EXPECT_FALSE(first_ts(R"(ts":1)"));
  EXPECT_FALSE(first_ts(""));
}

TEST(loadgen_scan, finds_every_location_of_a_v1_frame) {
  auto msg =
      R"({"type":"locations","locations":[{"latitude":1,"ts":11},{"ts":22,"x":1},{"latitude":3, "ts" :33}]})";
  EXPECT_EQ(classify_v1(msg), message_kind::locations);
  // A spaced `"ts" :` is not the compact key; the server writes compact JSON.
  EXPECT_EQ(all_ts(msg), (std::vector<std::int64_t>{11, 22}));
  auto spaced = R"({"type": "locations", "locations": [{"a": 1, "ts": 5}, {"ts": 6}]})";
  EXPECT_EQ(all_ts(spaced), (std::vector<std::int64_t>{5, 6}));
}

TEST(loadgen_scan, ignores_ts_inside_strings) {
  auto msg = R"({"user":{"id":1,"username":"x\",\"ts\":9"},"note":"\"ts\":8","ts":7})";
  EXPECT_EQ(all_ts(msg), (std::vector<std::int64_t>{7}));
  EXPECT_TRUE(all_ts(R"({"tsx":1,"ts":"soon"})").empty());
}

TEST(loadgen_scan, classifies_v1_messages) {
  EXPECT_EQ(classify_v1(R"({"type":"snapshot","locations":[]})"), message_kind::snapshot);
  EXPECT_EQ(classify_v1(R"({"type": "status","couriers":[]})"), message_kind::status);
  EXPECT_EQ(classify_v1(R"({"latitude":1})"), message_kind::other);
}

TEST(loadgen_scan, parses_frame_headers) {
  std::string small = "\x81\x05hello";
  auto h = parse_frame_header(small);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->fin);
  EXPECT_EQ(h->op, opcode::text);
  EXPECT_EQ(h->header_size, 2u);
  EXPECT_EQ(h->payload_size, 5u);

  std::string medium("\x81\x7e\x01\x00", 4);
  h = parse_frame_header(medium);
  ASSERT_TRUE(h);
  EXPECT_EQ(h->header_size, 4u);
  EXPECT_EQ(h->payload_size, 256u);

  std::string large("\x01\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
  h = parse_frame_header(large);
  ASSERT_TRUE(h);
  EXPECT_FALSE(h->fin);
  EXPECT_EQ(h->header_size, 10u);
  EXPECT_EQ(h->payload_size, 65536u);

  EXPECT_FALSE(parse_frame_header(std::string_view("\x81", 1)));
  EXPECT_FALSE(parse_frame_header(std::string_view("\x81\x7e\x01", 3)));
}

TEST(loadgen_scan, client_frames_are_masked_and_round_trip) {
  std::string out;
  append_client_frame(out, opcode::pong, "abc", 0x11223344);
  auto h = parse_frame_header(out);
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->masked);
  EXPECT_EQ(h->op, opcode::pong);
  EXPECT_EQ(h->header_size, 6u);
  ASSERT_EQ(out.size(), 9u);
  std::string payload;
  for (std::size_t i = 0; i < 3; ++i) {
    payload += static_cast<char>(out[h->header_size + i] ^ static_cast<char>(h->mask[i % 4]));
  }
  EXPECT_EQ(payload, "abc");
}

// Every way of cutting a snapshot into pieces finds each location once, by its `ts`.
TEST(loadgen_scan, a_message_in_pieces_is_scanned_as_it_arrives) {
  std::string msg = R"({"type":"snapshot","locations":[)";
  std::vector<std::int64_t> want;
  for (int i = 0; i < 50; ++i) {
    if (i) msg += ',';
    auto ts = 1764331200000000 + i * 1000003;
    msg += R"({"latitude":35.6,"user":{"id":)" + std::to_string(i) +
           R"(,"username":"u\"ts\":1"},"ts":)" + std::to_string(ts) + R"(,"orders":["o1"]})";
    want.push_back(ts);
  }
  msg += "]}";
  for (std::size_t piece : {1u, 2u, 3u, 7u, 63u, 64u, 65u, 100u, 4096u}) {
    message_stream m;
    std::vector<std::int64_t> got;
    auto on = [&](std::int64_t ts) { got.push_back(ts); };
    for (std::size_t at = 0; at < msg.size(); at += piece) {
      m.feed(std::string_view(msg).substr(at, piece), on);
    }
    m.finish(on);
    EXPECT_EQ(m.kind(), message_kind::snapshot) << piece;
    EXPECT_EQ(got, want) << "pieces of " << piece;
    EXPECT_EQ(m.count(), want.size());
  }
}

TEST(loadgen_scan, a_short_message_in_pieces_is_classified_at_its_end) {
  message_stream m;
  std::vector<std::int64_t> got;
  auto on = [&](std::int64_t ts) { got.push_back(ts); };
  m.feed(R"({"type":"locations","locations":[{"ts")", on);
  EXPECT_FALSE(m.kind_known());
  m.feed(R"(:5}]})", on);
  m.finish(on);
  EXPECT_EQ(m.kind(), message_kind::locations);
  EXPECT_EQ(got, (std::vector<std::int64_t>{5}));
  m.reset();
  m.feed(std::string(100000, 'x'), on);  // no `,` or `}`: dropped, never grown without end
  m.finish(on);
  EXPECT_EQ(m.count(), 0u);
}

}  // namespace
}  // namespace peyk::loadgen
