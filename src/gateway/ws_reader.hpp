#pragma once
// What a viewer sends, read as RFC 6455 client frames.
//
// Most viewers have nothing to say, but the protocol still has to be followed: pings are
// answered, a close is echoed, and a peer that breaks the rules (an unmasked frame, RSV
// bits, an unknown opcode, a fragmented or oversized control frame, a continuation out of
// place, a close code that may not be sent, text that is not UTF-8, a message over the
// size limit) is closed with the code §7.4 gives for it. After the handshake peyk reads
// the socket itself with this parser instead of keeping a Beast stream per viewer, whose
// state (a 1.5 KB read buffer, timers, saved handlers) was most of an idle viewer's cost.
//
// Pure and incremental: bytes go in in any split, events come out. About 170 bytes of
// state. By default the data of messages is never stored, only checked. A reader made
// with `deliver` (peyk.v1 viewers, whose client frames §11 defines) gathers each text
// message (at most max_message bytes) in a buffer allocated when the message starts and
// released once it was handed over, so an idle viewer still holds none.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace peyk::gateway {

// Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
class utf8_validator {
 public:
  // False at the first byte that cannot be part of valid UTF-8.
  bool feed(std::string_view bytes);
  // True when no character is cut in the middle.
  bool complete() const { return need_ == 0; }
  void reset() { need_ = 0; }

 private:
  std::uint8_t need_ = 0;               // continuation bytes still expected
  std::uint8_t lo_ = 0x80, hi_ = 0xBF;  // range of the next continuation byte
};

class ws_reader {
 public:
  enum class kind {
    none,    // nothing complete yet: feed more
    ping,    // answer with a pong carrying `payload`
    pong,    // ignore
    close,   // the peer closed: echo `code` (0 = no code given) and end
    error,   // close the connection with `code`
    text,    // (deliver) a whole text message in `payload`, valid UTF-8
    binary,  // (deliver) a whole binary message (its data is not kept)
  };
  struct event {
    kind what = kind::none;
    std::uint16_t code = 0;
    std::string_view payload;  // ping payload or text message; valid until the next call
  };

  explicit ws_reader(std::size_t max_message, bool deliver = false)
      : max_message_(max_message), deliver_(deliver) {}

  // Frees the buffer of the text message just delivered (else the next call does).
  void release_message() { msg_.reset(); }
  bool holds_message() const { return msg_ != nullptr; }

  // Consumes bytes from `in` until an event or the end of `in`; advances `in` past what it
  // consumed. Call again with the rest while it returns events. After `close` or
  // `error`, stop feeding.
  event next(std::string_view& in);

 private:
  event fail(std::uint16_t code) {
    failed_ = true;
    return {kind::error, code, {}};
  }
  event frame_header_done();
  event control_done();
  event message_done();

  std::size_t max_message_;
  // The frame header being read (2..14 bytes).
  std::array<std::uint8_t, 14> hdr_{};
  std::uint8_t hdr_have_ = 0;
  std::uint8_t hdr_need_ = 2;
  // The frame whose payload is being read.
  bool in_payload_ = false;
  bool fin_ = false;
  std::uint8_t opcode_ = 0;
  std::uint64_t remain_ = 0;
  std::array<std::uint8_t, 4> mask_{};
  std::uint8_t mask_pos_ = 0;
  // A control frame's payload (at most 125 bytes), unmasked.
  std::array<char, 125> ctrl_{};
  std::uint8_t ctrl_len_ = 0;
  // The data message in progress (possibly fragmented).
  bool in_message_ = false;
  bool text_ = false;
  std::uint64_t message_size_ = 0;
  utf8_validator utf8_;
  bool failed_ = false;
  bool deliver_ = false;
  std::unique_ptr<std::string> msg_;  // the text message being gathered (deliver)
};

// The close codes a peer may send (RFC 6455 §7.4.1, §7.4.2).
bool valid_close_code(std::uint16_t code);

// The handshake (RFC 6455 §4.2.1): whether `key` is a valid Sec-WebSocket-Key (base64 of
// 16 bytes), and the Sec-WebSocket-Accept answer to it.
bool valid_client_key(std::string_view key);
std::string accept_key(std::string_view key);

}  // namespace peyk::gateway
