#pragma once
// Pure helpers of the HTTP layer (no sockets), unit-tested in request_util_test.cpp.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

namespace peyk::http {

using request = boost::beast::http::request<boost::beast::http::string_body>;

// Where a token came from, for the upgrade request (§5): Authorization: Bearer, the
// `token` query parameter, or the `peyk_token` cookie, in that order. The cookie only
// when `allow_cookie` too (not with --allowed-origin '*').
std::optional<std::string> token_from_request(const request& req, bool allow_query_and_cookie,
                                              bool allow_cookie = true);

// The same, saying where the token came from: a cookie is sent by the browser on its own
// (a request another site's page made carries it too), so its caller checks the Origin.
enum class token_source { header, query, cookie };
struct found_token {
  std::string token;
  token_source source;
};
std::optional<found_token> find_token(const request& req, bool allow_query_and_cookie,
                                      bool allow_cookie = true);

// The request target with the value of any `token` (and `access_token`, `jwt`, and the
// phone apps' `id`, `deviceid`, `device_id`, which carry a courier token) query
// parameter replaced by "[redacted]" -- keys compared after percent-decoding, as the URL
// parser that finds the token sees them -- and any fragment dropped: the only form of a
// target that may reach a log.
std::string redact_target(std::string_view target);

// One access-log line: method, redacted target, status. Logged at --log-level debug.
std::string access_log_line(std::string_view method, std::string_view target, unsigned status);

// The password of an `Authorization: Basic` header (base64 of "user:password"); nullopt
// when the header is not Basic, not valid base64, has no colon or an empty password.
std::optional<std::string> basic_password(std::string_view authorization);

// The path of a target, without query or fragment.
std::string_view target_path(std::string_view target);

// Origin check (§5): no Origin (not a browser) is allowed; with an allow-list, the
// origin must be in it (or the list holds "*"); without one, the origin's host[:port]
// must equal the Host header.
bool origin_allowed(std::string_view origin, std::string_view host,
                    const std::vector<std::string>& allowed);

// True for "application/json" with optional parameters, case-insensitive.
bool is_json_content_type(std::string_view content_type);

// "1/m" for 60 s, "30/m" for 2 s, "1/h" for 3600 s, "1/7s" otherwise (DRF's rate form).
std::string rate_text(int interval_seconds);

// {"error": code, "message": message[, "field": field]}
std::string error_body(std::string_view code, std::string_view message,
                       std::string_view field = {});

}  // namespace peyk::http
