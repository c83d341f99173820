// libFuzzer target: one message on the broker channel (core::decode_broker_message),
// which any program may publish. An accepted message must re-encode to a message that
// decodes to the same location.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view msg(reinterpret_cast<const char*>(data), size);
  auto loc = peyk::core::decode_broker_message(msg);
  if (!loc) return 0;
  if (!(loc->latitude >= -90 && loc->latitude <= 90)) std::abort();
  if (!(loc->longitude >= -180 && loc->longitude <= 180)) std::abort();
  auto again = peyk::core::decode_broker_message(peyk::core::encode_location(*loc));
  if (!again) std::abort();
  if (again->courier_id != loc->courier_id || again->username != loc->username ||
      again->latitude != loc->latitude || again->longitude != loc->longitude ||
      again->orders != loc->orders || again->fleet != loc->fleet || again->ts_us != loc->ts_us) {
    std::abort();
  }
  return 0;
}
