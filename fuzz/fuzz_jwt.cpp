// libFuzzer target: a bearer token (auth::jwt_verifier::verify). The first input byte
// picks the clock, so that both expired and valid-time paths are reached; the rest is
// the token. The seed corpus holds tokens signed with the key below, so the fuzzer
// starts past the signature check and mutates signed claims too.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "auth/jwt.hpp"

namespace {
constexpr std::string_view fuzz_secret = "peyk-fuzz-secret-0123456789abcdef";
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const peyk::auth::jwt_verifier verifier{std::string(fuzz_secret)};
  if (size == 0) return 0;
  // 1'800'000'000 = 2027-01-15: before the seeds' exp; step by ~3 weeks per byte value.
  std::int64_t now_s = 1'800'000'000 + static_cast<std::int64_t>(data[0]) * 2'000'000;
  std::string_view token(reinterpret_cast<const char*>(data + 1), size - 1);
  auto who = verifier.verify(token, now_s);
  if (!who) {
    // Errors never echo the token: checked for token-shaped inputs (two dots), since a
    // short or dotless input may well be a substring of a fixed message.
    bool jwt_shaped = token.size() >= 24 && std::count(token.begin(), token.end(), '.') == 2;
    if (jwt_shaped && who.error().message.find(token) != std::string::npos) std::abort();
    return 0;
  }
  if (who->sub.empty() || who->exp < now_s - 5) std::abort();
  return 0;
}
