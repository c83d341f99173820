// libFuzzer target: the bytes a viewer sends after the upgrade (gateway::ws_reader), which
// anyone holding a viewer token controls. The parser must not crash, must report the
// same events whatever the read boundaries, and a ping it reports is at most 125 bytes.
// The first input byte picks the split (1..256 bytes per read) to compare against.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/ws_reader.hpp"

namespace {

using peyk::gateway::ws_reader;

struct seen {
  ws_reader::kind what;
  std::uint16_t code;
  std::string payload;
  bool operator==(const seen&) const = default;
};

std::vector<seen> run(std::string_view bytes, std::size_t step) {
  ws_reader r(4096);
  std::vector<seen> out;
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    std::string_view in = bytes.substr(at, step);
    while (!in.empty()) {
      auto ev = r.next(in);
      if (ev.what == ws_reader::kind::none) break;
      if (ev.payload.size() > 125) std::abort();
      out.push_back({ev.what, ev.code, std::string(ev.payload)});
      if (ev.what == ws_reader::kind::close || ev.what == ws_reader::kind::error) return out;
    }
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::size_t step = 1 + data[0];
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  if (run(bytes, bytes.size() + 1) != run(bytes, step)) std::abort();
  return 0;
}
