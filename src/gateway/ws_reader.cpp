#include "gateway/ws_reader.hpp"

#include <algorithm>

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace peyk::gateway {

bool utf8_validator::feed(std::string_view bytes) {
  for (char ch : bytes) {
    auto c = static_cast<std::uint8_t>(ch);
    if (need_ == 0) {
      if (c < 0x80) continue;
      if (c < 0xC2) return false;  // a stray continuation byte, or an overlong lead
      if (c < 0xE0) {
        need_ = 1;
        lo_ = 0x80;
        hi_ = 0xBF;
      } else if (c < 0xF0) {
        need_ = 2;
        lo_ = c == 0xE0 ? 0xA0 : 0x80;  // E0: no overlongs
        hi_ = c == 0xED ? 0x9F : 0xBF;  // ED: no surrogates
      } else if (c < 0xF5) {
        need_ = 3;
        lo_ = c == 0xF0 ? 0x90 : 0x80;  // F0: no overlongs
        hi_ = c == 0xF4 ? 0x8F : 0xBF;  // F4: nothing past U+10FFFF
      } else {
        return false;
      }
      continue;
    }
    if (c < lo_ || c > hi_) return false;
    lo_ = 0x80;
    hi_ = 0xBF;
    --need_;
  }
  return true;
}

bool valid_close_code(std::uint16_t code) {
  if (code >= 3000 && code <= 4999) return true;  // registered and private use
  switch (code) {
    case 1000:
    case 1001:
    case 1002:
    case 1003:
    case 1007:
    case 1008:
    case 1009:
    case 1010:
    case 1011:
    case 1012:
    case 1013:
    case 1014:
      return true;
    default:
      return false;  // 1004-1006 and 1015 are never sent; the rest is unassigned
  }
}

bool valid_client_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  unsigned char out[18];
  return EVP_DecodeBlock(out, reinterpret_cast<const unsigned char*>(key.data()), 24) == 18;
}

std::string accept_key(std::string_view key) {
  std::string in(key);
  in += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";  // RFC 6455's GUID
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), digest);
  char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1];
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out), digest, SHA_DIGEST_LENGTH);
  return std::string(out, static_cast<std::size_t>(n));
}

ws_reader::event ws_reader::next(std::string_view& in) {
  if (failed_) return {};
  if (msg_ && !in_message_) msg_.reset();  // the message delivered last time
  while (!in.empty()) {
    if (!in_payload_) {
      while (hdr_have_ < hdr_need_ && !in.empty()) {
        hdr_[hdr_have_++] = static_cast<std::uint8_t>(in.front());
        in.remove_prefix(1);
      }
      if (hdr_have_ < hdr_need_) return {};
      if (hdr_need_ == 2) {
        // The first two bytes tell how long the header is.
        if (hdr_[0] & 0x70) return fail(1002);     // RSV bits: no extension was agreed
        if (!(hdr_[1] & 0x80)) return fail(1002);  // client frames must be masked
        std::uint8_t len7 = hdr_[1] & 0x7F;
        hdr_need_ = static_cast<std::uint8_t>(2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4);
        continue;
      }
      if (auto ev = frame_header_done(); ev.what != kind::none) return ev;
      continue;
    }
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(remain_, in.size()));
    const char* p = in.data();
    in.remove_prefix(n);
    remain_ -= n;
    if (opcode_ >= 0x8) {
      for (std::size_t i = 0; i < n; ++i) {
        ctrl_[ctrl_len_++] = static_cast<char>(p[i] ^ mask_[mask_pos_++ & 3]);
      }
    } else if (text_) {
      std::array<char, 256> buf;
      for (std::size_t done = 0; done < n;) {
        std::size_t k = std::min(buf.size(), n - done);
        for (std::size_t i = 0; i < k; ++i) {
          buf[i] = static_cast<char>(p[done + i] ^ mask_[mask_pos_++ & 3]);
        }
        if (!utf8_.feed({buf.data(), k})) return fail(1007);
        if (msg_) msg_->append(buf.data(), k);
        done += k;
      }
    }
    if (remain_ == 0) {
      in_payload_ = false;
      if (opcode_ >= 0x8) return control_done();
      if (fin_) {
        if (text_ && !utf8_.complete()) return fail(1007);  // ends mid-character
        in_message_ = false;
        if (deliver_) return message_done();
      }
    }
  }
  return {};
}

ws_reader::event ws_reader::message_done() {
  if (!text_) return {kind::binary, 0, {}};
  if (!msg_) return {kind::text, 0, {}};  // empty
  return {kind::text, 0, *msg_};
}

ws_reader::event ws_reader::frame_header_done() {
  fin_ = (hdr_[0] & 0x80) != 0;
  opcode_ = hdr_[0] & 0x0F;
  std::uint8_t len7 = hdr_[1] & 0x7F;
  std::uint64_t len = len7;
  std::size_t at = 2;
  if (len7 == 126) {
    len = (std::uint64_t{hdr_[2]} << 8) | hdr_[3];
    at = 4;
  } else if (len7 == 127) {
    len = 0;
    for (std::size_t i = 2; i < 10; ++i) len = (len << 8) | hdr_[i];
    if (len >> 63) return fail(1002);  // the most significant bit must be 0
    at = 10;
  }
  std::copy_n(hdr_.begin() + static_cast<std::ptrdiff_t>(at), 4, mask_.begin());
  hdr_have_ = 0;
  hdr_need_ = 2;
  mask_pos_ = 0;
  switch (opcode_) {
    case 0x0:  // continuation
      if (!in_message_) return fail(1002);
      break;
    case 0x1:
    case 0x2:
      if (in_message_) return fail(1002);  // a new message inside a fragmented one
      in_message_ = true;
      text_ = opcode_ == 0x1;
      message_size_ = 0;
      utf8_.reset();
      msg_.reset();
      break;
    case 0x8:
    case 0x9:
    case 0xA:
      if (!fin_ || len > 125) return fail(1002);  // control frames: whole and small
      ctrl_len_ = 0;
      break;
    default:
      return fail(1002);  // reserved opcodes
  }
  if (opcode_ < 0x8) {
    if (len > max_message_ - std::min<std::uint64_t>(message_size_, max_message_)) {
      return fail(1009);
    }
    message_size_ += len;
    if (deliver_ && text_ && len > 0) {
      if (!msg_) msg_ = std::make_unique<std::string>();
      msg_->reserve(static_cast<std::size_t>(message_size_));
    }
  }
  remain_ = len;
  in_payload_ = true;
  if (remain_ > 0) return {};
  // An empty payload: the frame is complete already.
  in_payload_ = false;
  if (opcode_ >= 0x8) return control_done();
  if (fin_) {
    if (text_ && !utf8_.complete()) return fail(1007);
    in_message_ = false;
    if (deliver_) return message_done();
  }
  return {};
}

ws_reader::event ws_reader::control_done() {
  std::string_view payload(ctrl_.data(), ctrl_len_);
  switch (opcode_) {
    case 0x9:
      return {kind::ping, 0, payload};
    case 0xA:
      return {kind::pong, 0, {}};
    default: {  // close
      if (payload.empty()) {
        failed_ = true;  // nothing more is read after a close
        return {kind::close, 0, {}};
      }
      if (payload.size() == 1) return fail(1002);
      auto code = static_cast<std::uint16_t>((static_cast<std::uint8_t>(payload[0]) << 8) |
                                             static_cast<std::uint8_t>(payload[1]));
      if (!valid_close_code(code)) return fail(1002);
      utf8_validator reason;
      if (!reason.feed(payload.substr(2)) || !reason.complete()) return fail(1007);
      failed_ = true;
      return {kind::close, code, {}};
    }
  }
}

}  // namespace peyk::gateway
