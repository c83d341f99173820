#pragma once
// What a viewer needs from the bytes it receives, without a JSON parser: WebSocket frame
// headers (RFC 6455 §5.2) and the `ts` of each location in a message (PROTOCOL.md §4-5).
// A full parse per message would make the generator slower than the server it measures;
// the scan below is one memchr per 's' and a look around it. Pure functions, unit-tested.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace peyk::loadgen {

enum class opcode : std::uint8_t {
  continuation = 0,
  text = 1,
  binary = 2,
  close = 8,
  ping = 9,
  pong = 10
};

struct frame_header {
  bool fin = false;
  opcode op = opcode::text;
  bool masked = false;
  std::size_t header_size = 0;
  std::uint64_t payload_size = 0;
  std::uint8_t mask[4]{};
};

// The header at the start of `data`, or nullopt until enough bytes are there.
std::optional<frame_header> parse_frame_header(std::string_view data);

// Appends a masked client frame (clients must mask, RFC 6455 §5.3) to `out`.
void append_client_frame(std::string& out, opcode op, std::string_view payload,
                         std::uint32_t mask_key);

// Kinds of peyk.v1 messages; echo-protocol messages are single locations.
enum class message_kind { snapshot, locations, status, other };
message_kind classify_v1(std::string_view msg);

// Calls on_ts(ts) for each location object's top-level "ts" in `msg` and returns the
// number found. A match counts only after `{` or `,` (compact or spaced JSON), which no
// string content can produce, so a "ts" inside a username never matches. The server sets
// `ts` on every location it forwards (§4), so this also counts the locations.
template <class F>
std::size_t for_each_ts(std::string_view msg, F&& on_ts);

// The offset of the next `"ts":` key at or after `from` that follows `{` or `,`, or npos.
std::size_t find_ts_key(std::string_view msg, std::size_t from);

// The integer at the start of `rest` (what follows `"ts":`; spaces allowed), or nullopt.
inline std::optional<std::int64_t> parse_ts_value(std::string_view rest) {
  std::size_t i = 0;
  while (i < rest.size() && rest[i] == ' ') ++i;
  std::int64_t v = 0;
  std::size_t digits = 0;
  for (; i < rest.size() && rest[i] >= '0' && rest[i] <= '9' && digits < 18; ++i, ++digits) {
    v = v * 10 + (rest[i] - '0');
  }
  if (digits == 0) return std::nullopt;
  return v;
}

// The first location `ts` in `msg` (an echo-protocol frame holds exactly one location).
inline std::optional<std::int64_t> first_ts(std::string_view msg) {
  auto at = find_ts_key(msg, 0);
  if (at == std::string_view::npos) return std::nullopt;
  return parse_ts_value(msg.substr(at + 5));
}

// One message received in pieces (a frame larger than the read buffer, or a fragmented
// message), scanned as its bytes arrive so that the generator never holds it whole: 200
// viewers each receiving a 40 MB snapshot would otherwise need 8 GB. Bytes after the last
// `,` or `}` wait for the next piece (a `"ts":N` is always ended by one of them), so a
// key or value cut between two pieces is still found once. The kind (peyk.v1) is read
// from the first bytes; `ts`s are reported only once it is known.
class message_stream {
 public:
  static constexpr std::size_t head_size = 64;     // enough for `{"type":"snapshot"`
  static constexpr std::size_t max_carry = 65536;  // bytes without `,` or `}`: not ours

  void reset() {
    carry_.clear();
    kind_known_ = false;
    kind_ = message_kind::other;
    count_ = 0;
  }
  template <class F>
  void feed(std::string_view piece, F&& on_ts) {
    carry_.append(piece);
    if (!kind_known_) {
      if (carry_.size() < head_size) return;
      kind_ = classify_v1(std::string_view(carry_).substr(0, head_size));
      kind_known_ = true;
    }
    auto cut = carry_.find_last_of(",}");
    if (cut == std::string::npos || cut == 0) {
      if (carry_.size() > max_carry) carry_.clear();
      return;
    }
    count_ += for_each_ts(std::string_view(carry_.data(), cut), on_ts);
    carry_.erase(0, cut);
  }
  // The message ended: scans what was held back.
  template <class F>
  void finish(F&& on_ts) {
    if (!kind_known_) {
      kind_ = classify_v1(carry_);
      kind_known_ = true;
    }
    count_ += for_each_ts(carry_, on_ts);
    carry_.clear();
  }
  message_kind kind() const { return kind_; }
  bool kind_known() const { return kind_known_; }
  std::size_t count() const { return count_; }  // `ts`s reported so far

 private:
  std::string carry_;
  bool kind_known_ = false;
  message_kind kind_ = message_kind::other;
  std::size_t count_ = 0;
};

template <class F>
std::size_t for_each_ts(std::string_view msg, F&& on_ts) {
  static constexpr std::string_view key = R"("ts":)";
  std::size_t found = 0;
  for (std::size_t at = find_ts_key(msg, 0); at != std::string_view::npos;
       at = find_ts_key(msg, at + key.size())) {
    if (auto ts = parse_ts_value(msg.substr(at + key.size()))) {
      ++found;
      on_ts(*ts);
    }
  }
  return found;
}

}  // namespace peyk::loadgen
