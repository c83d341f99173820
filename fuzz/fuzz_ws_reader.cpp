// libFuzzer target: the bytes a viewer sends after the upgrade (gateway::ws_reader), which
// anyone holding a viewer token controls. The parser must not crash, must report the
// same events whatever the read boundaries, a ping it reports is at most 125 bytes and a
// text message it delivers (peyk.v1 readers) at most the 4 KiB limit. The first input
// byte picks the split (1..256 bytes per read) to compare against; both reader modes
// (discarding, delivering) run on every input.
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

std::vector<seen> run(std::string_view bytes, std::size_t step, bool deliver) {
  ws_reader r(4096, deliver);
  std::vector<seen> out;
  for (std::size_t at = 0; at < bytes.size(); at += step) {
    std::string_view in = bytes.substr(at, step);
    while (!in.empty()) {
      auto ev = r.next(in);
      if (ev.what == ws_reader::kind::none) break;
      if (ev.what == ws_reader::kind::ping && ev.payload.size() > 125) std::abort();
      if (ev.payload.size() > 4096) std::abort();
      if (!deliver && (ev.what == ws_reader::kind::text || ev.what == ws_reader::kind::binary)) {
        std::abort();  // a discarding reader reports no data
      }
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
  for (bool deliver : {false, true}) {
    if (run(bytes, bytes.size() + 1, deliver) != run(bytes, step, deliver)) std::abort();
  }
  return 0;
}
