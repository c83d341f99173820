#include "auth/jwt.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstddef>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace peyk::auth {
namespace {

namespace json = boost::json;

constexpr std::size_t max_token_bytes = 8 * 1024;
constexpr std::size_t max_claim_bytes = 128;    // any string claim or list entry
constexpr std::size_t max_claim_entries = 256;  // entries in `fleets` / `orders`
constexpr std::int64_t max_leeway_s = 5;
constexpr std::size_t hs256_bytes = 32;

// Messages are fixed text naming at most a claim: never any byte of the token.
core::error invalid(std::string message) {
  return core::error{"invalid_token", std::move(message), ""};
}

// ---- base64url (RFC 4648 §5), unpadded as JWS requires (RFC 7515 §2) ----

constexpr char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int8_t, 256> make_decode_table() {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(b64url_alphabet[i])] = i;
  return t;
}
constexpr auto b64url_decode_table = make_decode_table();

std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(b64url_alphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(b64url_alphabet[(acc << (6 - bits)) & 63]);
  return out;
}

// Rejects padding, characters outside the url alphabet, an impossible length, and
// non-zero trailing bits, so each byte string has exactly one accepted encoding.
std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;  // only the low `bits` bits matter; older ones may shift out
  int bits = 0;
  for (unsigned char c : in) {
    const int v = b64url_decode_table[c];
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) return std::nullopt;
  return out;
}

// ---- HMAC-SHA256 ----

std::optional<std::array<unsigned char, hs256_bytes>> hmac_sha256(std::string_view key,
                                                                  std::string_view data) {
  if (key.size() > static_cast<std::size_t>(INT_MAX)) return std::nullopt;
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(data.data()), data.size(), md.data(),
           &len) == nullptr ||
      len != hs256_bytes) {
    return std::nullopt;
  }
  std::array<unsigned char, hs256_bytes> out{};
  std::copy_n(md.begin(), hs256_bytes, out.begin());
  return out;
}

// ---- claims ----

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t r = 0;
  if (__builtin_add_overflow(a, b, &r)) {
    return b > 0 ? std::numeric_limits<std::int64_t>::max()
                 : std::numeric_limits<std::int64_t>::min();
  }
  return r;
}

// A NumericDate (RFC 7519 §2) may be fractional; `round_up` picks the stricter side
// (floor for exp, ceil for nbf) so rounding never extends a token's life.
std::optional<std::int64_t> numeric_date(const json::value& v, bool round_up) {
  constexpr auto lo = std::numeric_limits<std::int64_t>::min();
  constexpr auto hi = std::numeric_limits<std::int64_t>::max();
  switch (v.kind()) {
    case json::kind::int64:
      return v.get_int64();
    case json::kind::uint64:
      return v.get_uint64() > static_cast<std::uint64_t>(hi)
                 ? hi
                 : static_cast<std::int64_t>(v.get_uint64());
    case json::kind::double_: {
      double d = v.get_double();
      if (!std::isfinite(d)) return std::nullopt;
      d = round_up ? std::ceil(d) : std::floor(d);
      if (d >= 9223372036854775807.0) return hi;  // 2^63: not representable
      if (d <= -9223372036854775807.0) return lo;
      return static_cast<std::int64_t>(d);
    }
    default:
      return std::nullopt;
  }
}

std::optional<role> parse_role(std::string_view s) {
  if (s == "courier") return role::courier;
  if (s == "admin") return role::admin;
  if (s == "dispatcher") return role::dispatcher;
  if (s == "customer") return role::customer;
  return std::nullopt;
}

bool valid_claim_string(const json::value& v) {
  return v.is_string() && v.get_string().size() <= max_claim_bytes;
}

// Absent is fine; present must be a string within the size limit.
std::optional<core::error> read_optional_string(const json::object& claims, std::string_view key,
                                                std::string& out) {
  const json::value* v = claims.if_contains(key);
  if (v == nullptr) return std::nullopt;
  if (!valid_claim_string(*v)) {
    return invalid("token claim '" + std::string(key) + "' must be a string of at most 128 bytes");
  }
  out.assign(v->get_string().begin(), v->get_string().end());
  return std::nullopt;
}

std::optional<core::error> read_optional_list(const json::object& claims, std::string_view key,
                                              std::vector<std::string>& out) {
  const json::value* v = claims.if_contains(key);
  if (v == nullptr) return std::nullopt;
  const auto bad = [&] {
    return invalid("token claim '" + std::string(key) +
                   "' must be an array of at most 256 non-empty strings of at most 128 bytes");
  };
  const json::array* arr = v->if_array();
  if (arr == nullptr || arr->size() > max_claim_entries) return bad();
  out.reserve(arr->size());
  for (const json::value& e : *arr) {
    if (!valid_claim_string(e) || e.get_string().empty()) return bad();
    const std::string_view s = e.get_string();
    // These are sets; a repeated entry would register a viewer twice in the hub's index.
    if (std::find(out.begin(), out.end(), s) == out.end()) out.emplace_back(s);
  }
  return std::nullopt;
}

// `sub` is a string; a JSON integer is accepted as its decimal text, matching how
// courier ids travel on the wire (PROTOCOL.md §4).
std::optional<core::error> read_sub(const json::object& claims, std::string& out) {
  const json::value* v = claims.if_contains("sub");
  if (v == nullptr) return invalid("token claim 'sub' is missing");
  if (v->is_int64()) {
    out = std::to_string(v->get_int64());
  } else if (v->is_uint64()) {
    out = std::to_string(v->get_uint64());
  } else if (valid_claim_string(*v) && !v->get_string().empty()) {
    out.assign(v->get_string().begin(), v->get_string().end());
  } else {
    return invalid("token claim 'sub' must be a non-empty string of at most 128 bytes");
  }
  return std::nullopt;
}

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return ascii_lower(x) == ascii_lower(y);
         });
}

// Only HS256 is accepted, compared exactly (JWS algorithm names are case-sensitive), so
// "none" in any spelling and every other algorithm are refused.
std::optional<core::error> check_header(std::string_view header_json) {
  unsigned char buf[1024];
  json::monotonic_resource mr(buf, sizeof buf);
  boost::system::error_code ec;
  json::value v = json::parse(header_json, ec, &mr);
  if (ec || !v.is_object()) return invalid("token header is not a JSON object");
  const json::object& h = v.get_object();
  const json::value* alg = h.if_contains("alg");
  if (alg == nullptr || !alg->is_string() || alg->get_string() != "HS256") {
    return invalid("token algorithm is not accepted");
  }
  if (const json::value* typ = h.if_contains("typ")) {
    if (!typ->is_string() || !iequals(typ->get_string(), "JWT")) {
      return invalid("token type is not JWT");
    }
  }
  // RFC 7515 §4.1.11: extensions marked critical must be understood; we know none.
  if (h.contains("crit")) return invalid("token header has critical extensions");
  return std::nullopt;
}

}  // namespace

jwt_verifier::jwt_verifier(std::string secret, verify_options opts)
    : secret_(std::move(secret)), opts_(opts) {
  if (secret_.empty()) throw std::invalid_argument("jwt_verifier: the HS256 secret is empty");
  opts_.leeway_s = std::clamp<std::int64_t>(opts_.leeway_s, 0, max_leeway_s);
}

core::expected<identity> jwt_verifier::verify(std::string_view token, std::int64_t now_s) const {
  if (token.size() > max_token_bytes) return invalid("token is longer than 8 KiB");
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return invalid("token does not have three segments");
  }
  const std::string_view header_b64 = token.substr(0, dot1);
  const std::string_view payload_b64 = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_b64 = token.substr(dot2 + 1);

  // The header only chooses how to check the signature, so it is read first; nothing
  // in the payload is looked at before the signature holds.
  const std::optional<std::string> header = base64url_decode(header_b64);
  if (!header) return invalid("token header is not base64url");
  if (auto err = check_header(*header)) return *std::move(err);

  const std::optional<std::string> signature = base64url_decode(signature_b64);
  if (!signature || signature->size() != hs256_bytes) return invalid("token signature is invalid");
  const auto signed_by = [&](std::string_view key) {
    const auto mac = hmac_sha256(key, token.substr(0, dot2));
    return mac && CRYPTO_memcmp(mac->data(), signature->data(), hs256_bytes) == 0;
  };
  if (!signed_by(secret_) && (opts_.previous_secret.empty() || !signed_by(opts_.previous_secret))) {
    return invalid("token signature is invalid");
  }

  const std::optional<std::string> payload = base64url_decode(payload_b64);
  if (!payload) return invalid("token payload is not base64url");
  unsigned char buf[4096];
  json::monotonic_resource mr(buf, sizeof buf);
  boost::system::error_code ec;
  const json::value v = json::parse(*payload, ec, &mr);
  if (ec || !v.is_object()) return invalid("token payload is not a JSON object");
  const json::object& claims = v.get_object();

  const json::value* exp_v = claims.if_contains("exp");
  if (exp_v == nullptr) return invalid("token claim 'exp' is missing");
  const std::optional<std::int64_t> exp = numeric_date(*exp_v, /*round_up=*/false);
  if (!exp) return invalid("token claim 'exp' is not a number");
  std::optional<std::int64_t> nbf;
  if (const json::value* nbf_v = claims.if_contains("nbf")) {
    nbf = numeric_date(*nbf_v, /*round_up=*/true);
    if (!nbf) return invalid("token claim 'nbf' is not a number");
  }

  identity id;
  const json::value* role_v = claims.if_contains("role");
  if (role_v == nullptr) return invalid("token claim 'role' is missing");
  const std::optional<role> r =
      role_v->is_string() ? parse_role(role_v->get_string()) : std::nullopt;
  if (!r) return invalid("token claim 'role' is not a known role");
  id.role = *r;
  if (auto err = read_sub(claims, id.sub)) return *std::move(err);
  if (auto err = read_optional_string(claims, "name", id.name)) return *std::move(err);
  if (auto err = read_optional_string(claims, "fleet", id.fleet)) return *std::move(err);
  if (auto err = read_optional_list(claims, "fleets", id.fleets)) return *std::move(err);
  if (auto err = read_optional_list(claims, "orders", id.orders)) return *std::move(err);
  id.exp = *exp;

  // Time is checked last so that a malformed token is reported as invalid, not expired.
  if (saturating_add(*exp, opts_.leeway_s) <= now_s) {
    return core::error{"token_expired", "token has expired", ""};
  }
  if (nbf && *nbf > saturating_add(now_s, opts_.leeway_s)) {
    return core::error{"token_not_yet_valid", "token is not valid yet", ""};
  }
  return id;
}

std::string sign_hs256(const boost::json::object& claims, std::string_view secret) {
  if (secret.empty()) throw std::invalid_argument("sign_hs256: the secret is empty");
  std::string token = base64url_encode(R"({"alg":"HS256","typ":"JWT"})");
  token.push_back('.');
  token += base64url_encode(boost::json::serialize(claims));
  const auto mac = hmac_sha256(secret, token);
  if (!mac) throw std::runtime_error("sign_hs256: HMAC-SHA256 failed");
  token.push_back('.');
  token +=
      base64url_encode(std::string_view(reinterpret_cast<const char*>(mac->data()), mac->size()));
  return token;
}

std::string secret_length_error(std::string_view secret, std::string_view what) {
  if (secret.size() >= min_secret_bytes) return {};
  return std::string(what) + " is " + std::to_string(secret.size()) + " bytes; at least " +
         std::to_string(min_secret_bytes) +
         " are required (e.g. `openssl rand -hex 32`; only `peyk demo` accepts a shorter one)";
}

}  // namespace peyk::auth
