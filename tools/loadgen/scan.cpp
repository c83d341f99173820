#include "scan.hpp"

#include <cstring>
#include <string>

namespace peyk::loadgen {

std::optional<frame_header> parse_frame_header(std::string_view data) {
  if (data.size() < 2) return std::nullopt;
  auto b0 = static_cast<std::uint8_t>(data[0]);
  auto b1 = static_cast<std::uint8_t>(data[1]);
  frame_header h;
  h.fin = (b0 & 0x80) != 0;
  h.op = static_cast<opcode>(b0 & 0x0f);
  h.masked = (b1 & 0x80) != 0;
  std::size_t len7 = b1 & 0x7f;
  std::size_t need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (h.masked ? 4 : 0);
  if (data.size() < need) return std::nullopt;
  std::size_t at = 2;
  if (len7 < 126) {
    h.payload_size = len7;
  } else {
    int bytes = len7 == 126 ? 2 : 8;
    for (int i = 0; i < bytes; ++i) {
      h.payload_size = (h.payload_size << 8) | static_cast<std::uint8_t>(data[at++]);
    }
  }
  if (h.masked) {
    std::memcpy(h.mask, data.data() + at, 4);
    at += 4;
  }
  h.header_size = at;
  return h;
}

void append_client_frame(std::string& out, opcode op, std::string_view payload,
                         std::uint32_t mask_key) {
  out += static_cast<char>(0x80 | static_cast<std::uint8_t>(op));
  auto n = payload.size();
  if (n < 126) {
    out += static_cast<char>(0x80 | n);
  } else if (n < 65536) {
    out += static_cast<char>(0x80 | 126);
    out += static_cast<char>((n >> 8) & 0xff);
    out += static_cast<char>(n & 0xff);
  } else {
    out += static_cast<char>(0x80 | 127);
    for (int shift = 56; shift >= 0; shift -= 8) {
      out += static_cast<char>((static_cast<std::uint64_t>(n) >> shift) & 0xff);
    }
  }
  char mask[4];
  std::memcpy(mask, &mask_key, 4);
  out.append(mask, 4);
  for (std::size_t i = 0; i < n; ++i) out += static_cast<char>(payload[i] ^ mask[i % 4]);
}

message_kind classify_v1(std::string_view msg) {
  static constexpr std::string_view key = R"("type")";
  auto at = msg.find(key);
  if (at == std::string_view::npos) return message_kind::other;
  auto rest = msg.substr(at + key.size());
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == ':')) rest.remove_prefix(1);
  if (rest.starts_with(R"("locations")")) return message_kind::locations;
  if (rest.starts_with(R"("snapshot")")) return message_kind::snapshot;
  if (rest.starts_with(R"("status")")) return message_kind::status;
  return message_kind::other;
}

std::size_t find_ts_key(std::string_view msg, std::size_t from) {
  // memchr for the 's' of the key, then a look around: 's' is rare in this JSON and
  // memchr has no set-up cost, where memmem builds a shift table on every call and
  // showed up as the loadgen's top symbol on short frames.
  const char* data = msg.data();
  std::size_t size = msg.size();
  std::size_t at = from + 2;  // the 's' sits 2 bytes into `"ts":`
  while (at + 2 < size) {
    auto* hit = static_cast<const char*>(std::memchr(data + at, 's', size - at - 2));
    if (hit == nullptr) return std::string_view::npos;
    at = static_cast<std::size_t>(hit - data);
    if (data[at - 1] == 't' && data[at - 2] == '"' && data[at + 1] == '"' && data[at + 2] == ':') {
      std::size_t key = at - 2;
      std::size_t before = key;
      while (before > 0 && (data[before - 1] == ' ' || data[before - 1] == '\n' ||
                            data[before - 1] == '\t' || data[before - 1] == '\r')) {
        --before;
      }
      if (before > 0 && (data[before - 1] == '{' || data[before - 1] == ',')) return key;
    }
    ++at;
  }
  return std::string_view::npos;
}

}  // namespace peyk::loadgen
