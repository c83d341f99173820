#pragma once
// JWT (RFC 7519) verification and signing with HS256, by OpenSSL's HMAC and a
// constant-time compare. Only the configured algorithm is accepted; `alg: none` never.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "auth/identity.hpp"
#include "core/error.hpp"

namespace peyk::auth {

struct verify_options {
  std::int64_t leeway_s = 2;  // clock skew allowed on exp/nbf; clamped to [0, 5]
  // Key rotation: a token signed with this key (when not empty) is accepted too. peyk has
  // no key ids: the header's `kid` (like `jku`, `jwk`, `x5u`) never selects or fetches a
  // key; a token is checked against the configured key, then the previous one.
  std::string previous_secret;
};

class jwt_verifier {
 public:
  // `secret`: the HS256 key (raw bytes). Throws std::invalid_argument if empty.
  explicit jwt_verifier(std::string secret, verify_options opts = {});

  // Verifies signature, alg, exp (required), nbf, and the claims of §2; `now_s` is
  // seconds since the epoch. Error codes: "invalid_token" (malformed, bad alg, bad
  // signature, bad claims) or "token_expired"/"token_not_yet_valid". Messages never
  // echo the token.
  core::expected<identity> verify(std::string_view token, std::int64_t now_s) const;

 private:
  std::string secret_;
  verify_options opts_;
};

// The shortest HS256 key a server starts with: RFC 7518 §3.2 wants a key at least as long
// as the hash (32 bytes); a shorter one can be brute-forced from any token offline.
inline constexpr std::size_t min_secret_bytes = 32;

// Empty when `secret` is long enough, else the start-up error naming `what` (the flag).
std::string secret_length_error(std::string_view secret, std::string_view what);

// Signs `claims` as an HS256 JWT. Throws std::invalid_argument if `secret` is empty.
std::string sign_hs256(const boost::json::object& claims, std::string_view secret);

}  // namespace peyk::auth
