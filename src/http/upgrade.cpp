// GET /ws: authorization before the upgrade completes (PROTOCOL.md §5).
#include <algorithm>

#include <boost/beast/http/field.hpp>

#include "auth/visibility.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "http/routes.hpp"

namespace peyk::http {

namespace bhttp = boost::beast::http;

namespace {

core::log_limiter refused_log{5};

bool offers(std::string_view list, std::string_view name) {
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == name) return true;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return false;
}

void refuse(const request& req, const std::shared_ptr<responder>& r, const services& svc,
            unsigned status, std::string_view code, std::string_view message) {
  (status == 401 ? svc.metrics->ws_rejected_401 : svc.metrics->ws_rejected_403).inc();
  if (refused_log.allow()) {
    core::log(core::log_level::info, "ws refused " + std::to_string(status) + " " +
                                         std::string(code) + " " + redact_target(req.target()));
  }
  auto res = error_response(status, code, message);
  if (status == 401) res.set(bhttp::field::www_authenticate, "Bearer");
  r->send(std::move(res));
}

// Past a limit: 503 when the process is full (another gateway may have room), 429 when
// this identity holds its share; both say when to retry.
void refuse_limit(const request& req, const std::shared_ptr<responder>& r, limits::verdict why) {
  unsigned status = 503;
  std::string_view code = "server_full", message = "too many viewers on this server; retry later";
  std::string_view name = "max_viewers";
  if (why == limits::verdict::descriptors) {
    message = "no descriptors left for viewers on this server; retry later";
    name = "descriptors";
  } else if (why == limits::verdict::per_token) {
    status = 429;
    code = "too_many_viewers";
    message = "this token has too many viewers open (--max-viewers-per-token); close one";
    name = "per_token";
  }
  if (refused_log.allow()) {
    core::log(core::log_level::info, "ws refused " + std::to_string(status) + " " +
                                         std::string(name) + " " + redact_target(req.target()));
  }
  auto res = error_response(status, code, message);
  res.set(bhttp::field::retry_after, status == 429 ? "10" : "5");
  r->send(std::move(res));
}

}  // namespace

void handle_upgrade(const request& req, const std::shared_ptr<responder>& r, const settings& cfg,
                    const services& svc) {
  if (svc.draining->load()) {
    auto res = error_response(503, "draining", "server shutting down; reconnect elsewhere");
    res.set(bhttp::field::retry_after, "1");
    return r->send(std::move(res));
  }
  // With any origin allowed, a cookie would let any site's page open a viewer as the
  // signed-in user: only a token the page itself holds (header or query) counts then.
  const bool any_origin = std::find(cfg.allowed_origins.begin(), cfg.allowed_origins.end(), "*") !=
                          cfg.allowed_origins.end();
  auto token = token_from_request(req, true, !any_origin);
  if (!token) {
    return refuse(req, r, svc, 401, "missing_token",
                  any_origin ? "send a token: Authorization: Bearer or ?token= (with "
                               "--allowed-origin '*' the peyk_token cookie is not accepted)"
                             : "send a token: Authorization: Bearer, ?token= or the peyk_token "
                               "cookie");
  }
  auto who = svc.tokens->verify(*token, core::now_s());
  if (!who) return refuse(req, r, svc, 401, who.error().code, who.error().message);
  if (!auth::may_watch(**who)) {
    return refuse(req, r, svc, 403, "forbidden", "this role may not watch couriers");
  }
  if (!origin_allowed(req[bhttp::field::origin], req[bhttp::field::host], cfg.allowed_origins)) {
    return refuse(req, r, svc, 403, "origin_not_allowed", "origin not allowed");
  }
  auto proto = offers(req[bhttp::field::sec_websocket_protocol], "peyk.v1")
                   ? gateway::subprotocol::v1
                   : gateway::subprotocol::echo;
  std::shared_ptr<void> lease;
  if (svc.conn_limits) {
    auto admitted = svc.conn_limits->admit_viewer(**who);
    if (!admitted.lease) return refuse_limit(req, r, admitted.why);
    lease = std::move(admitted.lease);
  }
  r->upgrade(*who, proto, std::move(lease));
}

}  // namespace peyk::http
