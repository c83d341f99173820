#include "gateway/ws_reader.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace peyk::gateway {
namespace {

// A client frame: masked with a fixed key.
std::string frame(std::uint8_t opcode, std::string_view payload, bool fin = true,
                  bool masked = true, std::uint8_t rsv = 0) {
  std::string out;
  out += static_cast<char>((fin ? 0x80 : 0) | rsv | opcode);
  std::uint8_t m = masked ? 0x80 : 0;
  std::size_t n = payload.size();
  if (n < 126) {
    out += static_cast<char>(m | n);
  } else if (n < 65536) {
    out += static_cast<char>(m | 126);
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n & 0xFF);
  } else {
    out += static_cast<char>(m | 127);
    for (int s = 56; s >= 0; s -= 8) out += static_cast<char>((n >> s) & 0xFF);
  }
  const char key[4] = {0x12, 0x34, 0x56, 0x78};
  if (masked) out.append(key, 4);
  for (std::size_t i = 0; i < n; ++i) {
    out += masked ? static_cast<char>(payload[i] ^ key[i % 4]) : payload[i];
  }
  return out;
}

std::string close_payload(std::uint16_t code, std::string_view reason = "") {
  std::string p;
  p += static_cast<char>(code >> 8);
  p += static_cast<char>(code & 0xFF);
  p += reason;
  return p;
}

struct result {
  std::vector<ws_reader::kind> kinds;
  std::vector<std::string> pings;
  std::uint16_t code = 0;
};

// Feeds `bytes` in pieces of `step` bytes, collecting events until close or error.
result run(const std::string& bytes, std::size_t step = 1 << 20, std::size_t max = 4096) {
  ws_reader r(max);
  result out;
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    std::string_view in(bytes.data() + at, std::min(step, bytes.size() - at));
    while (!in.empty()) {
      auto ev = r.next(in);
      if (ev.what == ws_reader::kind::none) break;
      out.kinds.push_back(ev.what);
      if (ev.what == ws_reader::kind::ping) out.pings.emplace_back(ev.payload);
      if (ev.what == ws_reader::kind::close || ev.what == ws_reader::kind::error) {
        out.code = ev.code;
        return out;
      }
    }
  }
  return out;
}

using k = ws_reader::kind;

TEST(WsReader, DataIsDiscardedAndControlFramesAreReportedInAnySplit) {
  std::string in = frame(0x1, "hello") + frame(0x9, "p1") + frame(0x2, std::string(3000, 'b')) +
                   frame(0x1, "frag", false) + frame(0x9, "p2") + frame(0xA, "") +
                   frame(0x0, "ment", false) + frame(0x0, "", true) +
                   frame(0x8, close_payload(1000, "bye"));
  for (std::size_t step : {1u, 2u, 3u, 7u, 64u, 100000u}) {
    auto r = run(in, step);
    EXPECT_EQ(r.kinds, (std::vector<k>{k::ping, k::ping, k::pong, k::close})) << step;
    EXPECT_EQ(r.pings, (std::vector<std::string>{"p1", "p2"})) << step;
    EXPECT_EQ(r.code, 1000) << step;
  }
}

TEST(WsReader, CloseWithoutCodeAndLengthForms) {
  auto r = run(frame(0x2, std::string(70000, 'x')) + frame(0x8, ""), 1u << 20, 1u << 20);
  EXPECT_EQ(r.kinds, (std::vector<k>{k::close}));
  EXPECT_EQ(r.code, 0);
}

TEST(WsReader, ProtocolViolationsClose1002) {
  const std::vector<std::string> bad = {
      frame(0x1, "x", true, false),              // unmasked
      frame(0x1, "x", true, true, 0x40),         // RSV1
      frame(0x3, "x"),                           // reserved opcode
      frame(0xB, ""),                            // reserved control opcode
      frame(0x0, "x"),                           // continuation without a start
      frame(0x1, "a", false) + frame(0x1, "b"),  // new message inside a fragmented one
      frame(0x9, "p", false),                    // fragmented ping
      frame(0x9, std::string(126, 'p')),         // control frame over 125 bytes
      frame(0x8, "x"),                           // 1-byte close payload
      frame(0x8, close_payload(999)),            // close codes that may not be sent
      frame(0x8, close_payload(1005)),
      frame(0x8, close_payload(1015)),
      frame(0x8, close_payload(2000)),
      frame(0x8, close_payload(5000)),
  };
  for (const auto& b : bad) {
    auto r = run(b, 3);
    ASSERT_FALSE(r.kinds.empty());
    EXPECT_EQ(r.kinds.back(), k::error);
    EXPECT_EQ(r.code, 1002);
  }
  std::string huge = "\x82\xFF";  // 64-bit length with the top bit set
  huge += std::string("\x80\0\0\0\0\0\0\0", 8) + "abcd";
  EXPECT_EQ(run(huge).code, 1002);
}

TEST(WsReader, InvalidUtf8Closes1007EvenAcrossFragments) {
  const std::vector<std::string> bad = {
      frame(0x1, "\xFF"),
      frame(0x1, "\xC0\xAF"),          // overlong
      frame(0x1, "\xED\xA0\x80"),      // surrogate
      frame(0x1, "\xF4\x90\x80\x80"),  // past U+10FFFF
      frame(0x1, "ok\xD9", false) + frame(0x0, "x"),
      frame(0x1, "ok\xD9", false) + frame(0x0, ""),  // ends mid-character, empty last
      frame(0x1, "ok\xD9"),
      frame(0x8, close_payload(1000, "\xFF")),  // close reason
  };
  for (const auto& b : bad) EXPECT_EQ(run(b, 1).code, 1007) << b.size();
  // A character split across fragments is fine; binary is never checked.
  auto r =
      run(frame(0x1, "\xD9", false) + frame(0x0, "\x85") + frame(0x2, "\xFF") + frame(0x8, ""));
  EXPECT_EQ(r.kinds, (std::vector<k>{k::close}));
  EXPECT_TRUE(utf8_validator{}.feed("peyk \xD9\xBE\xDB\x8C\xDA\xA9 \xF0\x9F\x9A\xB2"));
}

TEST(WsReader, MessagesOverTheLimitClose1009) {
  EXPECT_EQ(run(frame(0x1, std::string(5000, 'a'))).code, 1009);
  EXPECT_EQ(
      run(frame(0x2, std::string(3000, 'a'), false) + frame(0x0, std::string(3000, 'a'))).code,
      1009);
  auto ok = run(frame(0x1, std::string(4096, 'a')) + frame(0x8, ""));
  EXPECT_EQ(ok.kinds, (std::vector<k>{k::close}));
}

TEST(WsReader, NothingIsReadAfterCloseOrError) {
  ws_reader r(100);
  std::string bytes = frame(0x8, "") + frame(0x9, "late");
  std::string_view in(bytes);
  EXPECT_EQ(r.next(in).what, k::close);
  EXPECT_EQ(r.next(in).what, k::none);
}

TEST(WsHandshake, AcceptKeyOfTheRfcExample) {
  EXPECT_TRUE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ=="));
  EXPECT_EQ(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_FALSE(valid_client_key(""));
  EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ"));
  EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZQ==x"));
  EXPECT_FALSE(valid_client_key("!!!!!!!!!!!!!!!!!!!!!!=="));
  EXPECT_FALSE(valid_client_key("dGhlIHNhbXBsZSBub25jZWVl"));  // 18 bytes, no padding
}

// With `deliver`, each whole text message comes out, in any split, interleaved with
// control frames; binary messages are reported without their data.
TEST(WsReader, DeliversTextMessagesInAnySplit) {
  std::string in = frame(0x1, R"({"type":"focus"})") + frame(0x9, "p") + frame(0x1, "fr", false) +
                   frame(0x9, "q") + frame(0x0, "ag", false) + frame(0x0, "ment", true) +
                   frame(0x2, "bin") + frame(0x1, "") + frame(0x1, "\xd8\xa8") +
                   frame(0x8, close_payload(1000));
  for (std::size_t step : {1u, 2u, 5u, 64u, 100000u}) {
    ws_reader r(4096, true);
    std::vector<std::string> texts;
    std::vector<k> kinds;
    for (std::size_t at = 0; at < in.size(); at += step) {
      std::string_view part(in.data() + at, std::min(step, in.size() - at));
      while (!part.empty()) {
        auto ev = r.next(part);
        if (ev.what == k::none) break;
        kinds.push_back(ev.what);
        if (ev.what == k::text) texts.emplace_back(ev.payload);
      }
    }
    EXPECT_EQ(texts, (std::vector<std::string>{R"({"type":"focus"})", "fragment", "", "\xd8\xa8"}))
        << step;
    EXPECT_EQ(kinds, (std::vector<k>{k::text, k::ping, k::ping, k::text, k::binary, k::text,
                                     k::text, k::close}))
        << step;
    EXPECT_FALSE(r.holds_message());
  }
}

TEST(WsReader, DeliveredMessagesKeepTheLimitAndUtf8Rules) {
  ws_reader big(16, true);
  std::string over = frame(0x1, std::string(17, 'a'));
  std::string_view in(over);
  EXPECT_EQ(big.next(in).code, 1009);
  ws_reader bad(4096, true);
  std::string invalid = frame(0x1, "\xff");
  in = invalid;
  EXPECT_EQ(bad.next(in).code, 1007);
  // The buffer lives only while a message is read or just delivered.
  ws_reader r(4096, true);
  std::string half = frame(0x1, "abcdef").substr(0, 8);
  in = half;
  EXPECT_EQ(r.next(in).what, k::none);
  EXPECT_TRUE(r.holds_message());
  std::string whole = frame(0x1, "xyz");
  ws_reader r2(4096, true);
  in = whole;
  EXPECT_EQ(r2.next(in).payload, "xyz");
  r2.release_message();
  EXPECT_FALSE(r2.holds_message());
}

}  // namespace
}  // namespace peyk::gateway
