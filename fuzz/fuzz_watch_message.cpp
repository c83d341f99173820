// libFuzzer target: one message on the watch channel (policy::decode_watch), which any
// program that can publish on Redis controls. It must not crash; an accepted message
// stays within the bounds (source and ids), and re-encoded it decodes to the same entries.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policy/watch_message.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace peyk::policy;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto m = decode_watch(in);
  if (!m) return 0;
  if (m->source.empty() || m->source.size() > max_source_bytes) std::abort();
  if (m->gone) return 0;
  if (m->ttl < std::chrono::milliseconds(100) || m->ttl > std::chrono::milliseconds(60000)) {
    std::abort();
  }
  for (const auto& e : m->entries) {
    if (e.id.empty() || e.id.size() > max_watch_id_bytes) std::abort();
  }
  auto again = encode_watch(m->source, m->ttl, m->entries, 1 << 20);
  std::size_t n = 0;
  for (const auto& text : again) {
    auto back = decode_watch(text);
    if (!back || back->source != m->source) std::abort();
    for (const auto& e : back->entries) {
      const auto& want = m->entries[n++];
      if (e.k != want.k || e.id != want.id || e.count != want.count) std::abort();
    }
  }
  if (n != m->entries.size()) std::abort();
  return 0;
}
