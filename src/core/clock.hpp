#pragma once
#include <chrono>
#include <cstdint>

namespace peyk::core {

// Microseconds since the Unix epoch (the `ts` field of the wire format).
inline std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

// Seconds since the Unix epoch (JWT `exp`/`nbf`).
inline std::int64_t now_s() {
  return now_us() / 1'000'000;
}

}  // namespace peyk::core
