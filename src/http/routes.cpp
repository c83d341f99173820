#include "http/routes.hpp"

#include <array>

#include <boost/beast/http/verb.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/json.hpp>

#include "core/clock.hpp"
#include "http/track_output.hpp"

namespace peyk::http {

namespace bhttp = boost::beast::http;

response json_response(unsigned status, std::string body) {
  response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "application/json");
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

response error_response(unsigned status, std::string_view code, std::string_view message,
                        std::string_view field) {
  return json_response(status, error_body(code, message, field));
}

namespace {

response text_response(unsigned status, std::string body, const char* type) {
  response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, type);
  res.set(bhttp::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

std::string config_json(const settings& cfg) {
  boost::json::object o;
  o["tiles"] = {{"url", cfg.tiles_url}, {"attribution", cfg.tiles_attribution}};
  o["update_interval_seconds"] = cfg.interval.idle_s;  // the longest, without low battery
  return boost::json::serialize(o);
}

// Lets a page tell "signed out" from "server unreachable" (a browser cannot see the
// status of a refused WebSocket upgrade).
response whoami(const request& req, const services& svc) {
  auto token = token_from_request(req, false);
  if (!token) return error_response(401, "missing_token", "send Authorization: Bearer <token>");
  auto who = svc.tokens->verify(*token, core::now_s());
  if (!who) return error_response(401, who.error().code, who.error().message);
  const auto& id = **who;
  boost::json::object o;
  o["sub"] = id.sub;
  o["role"] = auth::to_string(id.role);
  if (!id.name.empty()) o["name"] = id.name;
  o["exp"] = id.exp;
  return json_response(200, boost::json::serialize(o));
}

}  // namespace

head_check check_head(const request& head, const settings& cfg, const services& svc) {
  if (target_path(head.target()) == "/api/v1/locations" && svc.ingest && svc.broker &&
      head.method() == bhttp::verb::post) {
    return check_ingest_head(head, cfg, svc);
  }
  if (svc.ingest && svc.broker) {
    if (auto app = app_route(target_path(head.target()), cfg)) {
      return check_app_head(head, *app, cfg, svc);
    }
  }
  // Track queries: auth on the head too (a GET has no business sending a body).
  if (svc.history && is_track_path(target_path(head.target()))) {
    head_check h;
    h.started_us = core::now_us();
    auto auth = track_viewer(head, cfg, svc, h.started_us / 1'000'000);
    if (auth.refused) {
      count_query(*svc.metrics, auth.refused->result_int(), h.started_us);
      h.refuse = std::move(auth.refused);
    }
    return h;
  }
  return {};
}

void route(const request& req, const head_check& head, const std::shared_ptr<responder>& r,
           const settings& cfg, const services& svc) {
  auto path = target_path(req.target());
  auto method = req.method();
  if (path == "/ws" && svc.gw) {
    if (!boost::beast::websocket::is_upgrade(req)) {
      return r->send(error_response(426, "upgrade_required",
                                    "this endpoint speaks WebSocket; send an Upgrade request"));
    }
    return handle_upgrade(req, r, cfg, svc);
  }
  if (path == "/api/v1/locations" && svc.ingest && svc.broker) {
    if (method != bhttp::verb::post) {
      auto res = error_response(405, "method_not_allowed", "use POST");
      res.set(bhttp::field::allow, "POST");
      return r->send(std::move(res));
    }
    return handle_ingest(req, head, r, cfg, svc);
  }
  if (svc.ingest && svc.broker) {
    if (auto app = app_route(path, cfg)) return handle_app(req, head, *app, r, cfg, svc);
  }
  if (is_track_path(path)) return handle_tracks(req, r, cfg, svc);
  bool get = method == bhttp::verb::get || method == bhttp::verb::head;
  if (get && path == "/healthz") return r->send(json_response(200, R"({"status":"ok"})"));
  // History counts where points are recorded (ingest 503s without it); a gateway that
  // only answers track queries stays in the load balancer for its viewers. /metrics tells
  // the same as peyk_ready.
  const auto ready_parts = [&] {
    return std::array<bool, 3>{!svc.draining->load(), !svc.broker || svc.broker->ready(),
                               !svc.history || !svc.ingest || svc.history->ready()};
  };
  if (get && path == "/readyz") {
    const auto [not_draining, broker_ok, history_ok] = ready_parts();
    const bool draining = !not_draining;
    if (!draining && broker_ok && history_ok) {
      return r->send(json_response(200, R"({"status":"ready"})"));
    }
    boost::json::object o;
    o["status"] = "not ready";
    if (draining) o["draining"] = true;
    if (!broker_ok) o["broker"] = "unavailable";
    if (!history_ok) o["history"] = "unavailable";
    return r->send(json_response(503, boost::json::serialize(o)));
  }
  if (get && path == "/metrics") {
    auto text = svc.metrics->render();
    if (svc.conn_limits) svc.conn_limits->render(text);
    const auto [not_draining, broker_ok, history_ok] = ready_parts();
    text +=
        "# HELP peyk_ready 1 while /readyz answers 200 (not draining, broker and history "
        "up).\n# TYPE peyk_ready gauge\npeyk_ready ";
    text += not_draining && broker_ok && history_ok ? "1\n" : "0\n";
    text +=
        "# HELP peyk_draining 1 from SIGTERM until exit (/readyz answers 503 meanwhile).\n"
        "# TYPE peyk_draining gauge\npeyk_draining ";
    text += not_draining ? "0\n" : "1\n";
    return r->send(text_response(200, std::move(text), "text/plain; version=0.0.4; charset=utf-8"));
  }
  if (get && path == "/api/v1/config") return r->send(json_response(200, config_json(cfg)));
  if (get && path == "/api/v1/whoami") return r->send(whoami(req, svc));
  if (get && serve_static(req, r, cfg)) return;
  if (get && serve_panel_missing(req, r)) return;
  r->send(error_response(404, "not_found", "no such endpoint"));
}

}  // namespace peyk::http
