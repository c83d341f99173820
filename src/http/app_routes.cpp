// The phone apps as couriers (PROTOCOL.md §9): OsmAnd / Traccar Client on /api/v1/osmand
// (and `/` of --osmand-listen), OwnTracks' HTTP mode on /api/v1/owntracks. The apps' formats
// are read by the apps module; what follows the parsing is ingest's pipeline
// (ingest_points), with the answers the apps expect.
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json.hpp>

#include "apps/apps.hpp"
#include "core/clock.hpp"
#include "http/routes.hpp"

namespace peyk::http {

namespace bhttp = boost::beast::http;

namespace {

std::string_view query_of(std::string_view target) {
  auto q = target.find('?');
  if (q == std::string_view::npos) return {};
  auto query = target.substr(q + 1);
  return query.substr(0, query.find('#'));
}

const char* www_authenticate(phone_app app) {
  return app == phone_app::owntracks ? R"(Basic realm="peyk")" : "";
}

bool has_body(const request& req) {
  if (req.chunked()) return true;
  auto n = req[bhttp::field::content_length];
  return req.has_content_length() && !n.empty() && n != "0";
}

// The token in the request's head: Authorization (Bearer, or the Basic password), else the
// query's `token` / `id` / `deviceid` / `device_id`.
std::optional<std::string> head_token(const request& req, const apps::limits& lim) {
  if (auto auth = req[bhttp::field::authorization]; !auth.empty()) {
    if (auto password = basic_password(auth)) return password;
    return token_from_request(req, false);  // Bearer
  }
  return apps::token_in_params(query_of(req.target()), lim.max_token_bytes);
}

apps::limits app_limits(const settings& cfg) {
  apps::limits lim;
  lim.ingest = cfg.ingest;
  return lim;
}

response empty_ok(int) {
  response res{bhttp::status::ok, 11};
  res.set(bhttp::field::cache_control, "no-store");
  return res;
}

}  // namespace

response plain_error(unsigned status, std::string_view code, std::string_view message,
                     std::string_view field) {
  response res{static_cast<bhttp::status>(status), 11};
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.set(bhttp::field::cache_control, "no-store");
  std::string body(code);
  body += ": ";
  body += message;
  if (!field.empty()) {
    body += " (";
    body += field;
    body += ")";
  }
  body += "\n";
  res.body() = std::move(body);
  return res;
}

std::optional<phone_app> app_route(std::string_view path, const settings& cfg) {
  if (path == "/api/v1/osmand" || (cfg.osmand_root && path == "/")) return phone_app::osmand;
  if (path == "/api/v1/owntracks") return phone_app::owntracks;
  return std::nullopt;
}

head_check check_app_head(const request& req, phone_app app, const settings& cfg,
                          const services& svc) {
  head_check h;
  h.started_us = core::now_us();
  auto refuse = [&](response res) {
    count_ingest(svc, res.result_int(), h.started_us);
    h.refuse = std::move(res);
    return std::move(h);
  };
  const auto method = req.method();
  const bool get = method == bhttp::verb::get;
  if (!(method == bhttp::verb::post || (get && app == phone_app::osmand))) {
    auto res = plain_error(405, "method_not_allowed",
                           app == phone_app::osmand ? "use GET or POST" : "use POST");
    res.set(bhttp::field::allow, app == phone_app::osmand ? "GET, POST" : "POST");
    return refuse(std::move(res));
  }
  std::optional<std::string> token;
  if (get && req[bhttp::field::authorization].empty()) {
    // A GET carries everything in its query: parsed once, here (handle_app takes it).
    auto parsed =
        apps::parse_osmand_params(query_of(req.target()), cfg.osmand_speed_unit, app_limits(cfg));
    if (parsed && !parsed->token.empty()) {
      token = parsed->token;
      h.app_query = std::move(*parsed);
    }
  }
  if (!token) token = head_token(req, app_limits(cfg));
  if (!token) {
    // Only a form or JSON body may still carry it (OsmAnd's POST): read, bounded by
    // --max-body, then authorized (handle_app).
    if (app == phone_app::osmand && method == bhttp::verb::post && has_body(req)) return h;
    auto res = plain_error(401, "missing_token",
                           app == phone_app::owntracks
                               ? "send the courier token as the HTTP Basic password"
                               : "send the courier token as the device id (id=...) or token=...");
    if (*www_authenticate(app)) res.set(bhttp::field::www_authenticate, www_authenticate(app));
    return refuse(std::move(res));
  }
  auto a = authorize_courier(*token, h.started_us, svc, plain_error, www_authenticate(app));
  if (a.refused) return refuse(std::move(*a.refused));
  if (auto limited = take_rate(*a.who, h.started_us, svc, plain_error)) {
    return refuse(std::move(*limited));
  }
  h.courier = a.who;
  return h;
}

void handle_app(const request& req, const head_check& head, phone_app app,
                const std::shared_ptr<responder>& r, const settings& cfg, const services& svc) {
  const auto started = core::now_us();
  auto fail = [&](response res) {
    count_ingest(svc, res.result_int(), started);
    r->send(std::move(res));
  };
  const auto lim = app_limits(cfg);
  core::expected<apps::parsed> parsed = apps::parsed{};
  if (head.app_query) {
    parsed = *head.app_query;
  } else if (app == phone_app::owntracks) {
    parsed = apps::parse_owntracks(req.body(), lim);
  } else if (is_json_content_type(req[bhttp::field::content_type])) {
    parsed = apps::parse_traccar_json(req.body(), cfg.osmand_speed_unit, lim);
  } else {
    // Query and form body together (a token in the query, the point in the body is fine).
    std::string params(query_of(req.target()));
    if (!req.body().empty()) {
      if (!params.empty()) params += '&';
      params += req.body();
    }
    parsed = apps::parse_osmand_params(params, cfg.osmand_speed_unit, lim);
  }
  if (!parsed) {
    const auto& e = parsed.error();
    return fail(plain_error(400, e.code, e.message, e.field));
  }
  auto who = head.courier;
  if (!who) {
    // The token was in the body: authorized now, before anything else is done with it.
    if (parsed->token.empty()) {
      return fail(plain_error(401, "missing_token",
                              "send the courier token as the device id (id, deviceid, "
                              "device_id) or token"));
    }
    auto a = authorize_courier(parsed->token, started, svc, plain_error, "");
    if (a.refused) return fail(std::move(*a.refused));
    if (auto limited = take_rate(*a.who, started, svc, plain_error)) {
      return fail(std::move(*limited));
    }
    who = a.who;
  }
  if (parsed->points.empty()) {  // OwnTracks: a message that is not a location
    auto res = json_response(200, "[]");
    count_ingest(svc, 200, started);
    return r->send(std::move(res));
  }
  ingest_answer how{empty_ok, plain_error};
  if (app == phone_app::owntracks) {
    // OwnTracks takes commands in the answer: when the interval to tell this courier is not
    // the one told last, a setConfiguration with locatorInterval (seconds). The app applies
    // it only with remote configuration allowed (docs/apps.md).
    how.ok = [&svc, courier = who->sub](int interval) {
      const int told =
          svc.recent ? svc.recent->exchange_interval(courier, interval, core::now_us()) : interval;
      if (told == interval) return json_response(200, "[]");
      boost::json::object conf{{"_type", "configuration"}, {"locatorInterval", interval}};
      boost::json::object cmd{
          {"_type", "cmd"}, {"action", "setConfiguration"}, {"configuration", std::move(conf)}};
      return json_response(200, boost::json::serialize(boost::json::array{std::move(cmd)}));
    };
  }
  ingest_points(std::move(parsed->points), *who, started, std::move(how), r, cfg, svc);
}

}  // namespace peyk::http
