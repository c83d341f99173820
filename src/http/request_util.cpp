#include "http/request_util.hpp"

#include <algorithm>
#include <cctype>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

namespace peyk::http {

namespace bhttp = boost::beast::http;

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The key as a URL parser sees it: "%74oken" is "token" to token_from_request, so it
// must be to the redaction too.
std::string percent_decoded(std::string_view s) {
  const auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool is_secret_param(std::string_view raw_key) {
  const std::string key = percent_decoded(raw_key);
  // id, deviceid, device_id: the phone apps' device id, which carries the courier token
  // (PROTOCOL.md §9).
  return iequals(key, "token") || iequals(key, "access_token") || iequals(key, "jwt") ||
         iequals(key, "id") || iequals(key, "deviceid") || iequals(key, "device_id");
}

}  // namespace

std::optional<std::string> token_from_request(const request& req, bool allow_query_and_cookie,
                                              bool allow_cookie) {
  auto found = find_token(req, allow_query_and_cookie, allow_cookie);
  if (!found) return std::nullopt;
  return std::move(found->token);
}

std::optional<found_token> find_token(const request& req, bool allow_query_and_cookie,
                                      bool allow_cookie) {
  if (auto auth = req[bhttp::field::authorization]; !auth.empty()) {
    auto v = trim(auth);
    if (v.size() > 7 && iequals(v.substr(0, 7), "Bearer ")) {
      auto t = trim(v.substr(7));
      if (!t.empty()) return found_token{std::string(t), token_source::header};
    }
    return std::nullopt;  // an Authorization header that is not a bearer token
  }
  if (!allow_query_and_cookie) return std::nullopt;
  auto u = boost::urls::parse_origin_form(req.target());
  if (u) {
    for (auto p : u->params()) {
      if (p.key == "token" && p.has_value && !p.value.empty()) {
        return found_token{std::string(p.value), token_source::query};
      }
    }
  }
  if (!allow_cookie) return std::nullopt;
  for (auto it = req.find(bhttp::field::cookie);
       it != req.end() && it->name() == bhttp::field::cookie; ++it) {
    std::string_view cookies = it->value();
    while (!cookies.empty()) {
      auto semi = cookies.find(';');
      auto part = trim(cookies.substr(0, semi));
      cookies = semi == std::string_view::npos ? std::string_view{} : cookies.substr(semi + 1);
      auto eq = part.find('=');
      if (eq == std::string_view::npos) continue;
      if (trim(part.substr(0, eq)) == "peyk_token") {
        auto v = trim(part.substr(eq + 1));
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        if (!v.empty()) return found_token{std::string(v), token_source::cookie};
      }
    }
  }
  return std::nullopt;
}

std::optional<std::string> basic_password(std::string_view header) {
  auto v = trim(header);
  if (v.size() <= 6 || !iequals(v.substr(0, 6), "Basic ")) return std::nullopt;
  auto b64 = trim(v.substr(6));
  if (b64.size() > 16 * 1024) return std::nullopt;
  const auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  std::size_t i = 0;
  for (; i < b64.size() && b64[i] != '='; ++i) {
    int d = value(b64[i]);
    if (d < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<unsigned>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  for (; i < b64.size(); ++i) {
    if (b64[i] != '=') return std::nullopt;  // padding only at the end
  }
  auto colon = out.find(':');
  if (colon == std::string::npos) return std::nullopt;
  auto password = out.substr(colon + 1);
  if (password.empty()) return std::nullopt;
  return password;
}

std::string_view target_path(std::string_view target) {
  auto q = target.find_first_of("?#");
  return q == std::string_view::npos ? target : target.substr(0, q);
}

std::string redact_target(std::string_view target) {
  if (auto hash = target.find('#'); hash != std::string_view::npos) {
    target = target.substr(0, hash);  // a fragment never reaches a server; one that does is noise
  }
  auto q = target.find('?');
  if (q == std::string_view::npos) return std::string(target);
  std::string out(target.substr(0, q + 1));
  std::string_view query = target.substr(q + 1);
  bool first = true;
  while (true) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    if (!first) out += '&';
    first = false;
    auto eq = part.find('=');
    auto key = part.substr(0, eq);
    if (eq != std::string_view::npos && is_secret_param(key)) {
      out += key;
      out += "=[redacted]";
    } else {
      out += part;
    }
    if (amp == std::string_view::npos) break;
    query = query.substr(amp + 1);
  }
  return out;
}

std::string access_log_line(std::string_view method, std::string_view target, unsigned status) {
  std::string line = "http ";
  for (char c : method) line += (c >= 'A' && c <= 'Z') ? c : '?';  // never raw bytes of a peer
  line += ' ';
  for (char c : redact_target(target)) {
    line += (c > 0x20 && c < 0x7f) ? c : '?';  // no control characters or spaces in a log
  }
  line += ' ';
  line += std::to_string(status);
  return line;
}

bool origin_allowed(std::string_view origin, std::string_view host,
                    const std::vector<std::string>& allowed) {
  if (origin.empty()) return true;
  if (!allowed.empty()) {
    for (const auto& a : allowed)
      if (a == "*" || iequals(a, origin)) return true;
    return false;
  }
  // An Origin is scheme://host[:port] and nothing more (RFC 6454 §6.1). Boost.URL 1.81
  // takes "http://h:80.evil.example" as host h, port 80 and a path ".evil.example", so
  // anything after the authority is refused here rather than ignored.
  auto u = boost::urls::parse_absolute_uri(origin);
  if (!u || !u->has_authority() || u->has_userinfo() || !u->encoded_path().empty() ||
      u->has_query() || u->has_fragment()) {
    return false;
  }
  std::string_view authority = u->encoded_host_and_port();
  return !host.empty() && iequals(authority, trim(host));
}

bool is_json_content_type(std::string_view ct) {
  auto semi = ct.find(';');
  return iequals(trim(ct.substr(0, semi)), "application/json");
}

std::string rate_text(int s) {
  if (s <= 0) s = 1;
  if (60 % s == 0) return std::to_string(60 / s) + "/m";
  if (3600 % s == 0) return std::to_string(3600 / s) + "/h";
  return "1/" + std::to_string(s) + "s";
}

std::string error_body(std::string_view code, std::string_view message, std::string_view field) {
  boost::json::object o;
  o["error"] = code;
  o["message"] = message;
  if (!field.empty()) o["field"] = field;
  return boost::json::serialize(o);
}

}  // namespace peyk::http
