#pragma once
// The routes of the HTTP layer, written against a small `responder` so that they need
// not know the session type.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "http/request_util.hpp"
#include "http/server.hpp"

namespace peyk::http {

using response = boost::beast::http::response<boost::beast::http::string_body>;

class responder {
 public:
  virtual ~responder() = default;
  virtual void send(response res) = 0;
  // Runs `fn` on the connection's own thread (for completions from the broker's thread).
  virtual void post(std::function<void()> fn) = 0;
  // Hands the connection to the gateway (after the upgrade request was authorized and
  // admitted); `lease` is the viewer's slot (limits.hpp), held as long as the viewer.
  virtual void upgrade(std::shared_ptr<const auth::identity> who, gateway::subprotocol proto,
                       std::shared_ptr<void> lease) = 0;
};

// What is decided on a request's head alone, before any byte of its body is read (auth
// before body): a refusal, or, for ingest, the courier the body will be posted as.
struct head_check {
  std::optional<response> refuse;                 // answer now; the body is never read
  std::shared_ptr<const auth::identity> courier;  // ingest: verified, rate limit taken
  std::int64_t started_us = 0;
  // A phone app's GET, parsed once on the head (its query is all there is).
  std::optional<apps::parsed> app_query;
};
head_check check_head(const request& head, const settings& cfg, const services& svc);

// `head` is what check_head said of this request (nothing refused).
void route(const request& req, const head_check& head, const std::shared_ptr<responder>& r,
           const settings& cfg, const services& svc);

// An error answer: status, code, message, field. The JSON API's is error_response (a JSON
// body); the phone apps' is plain_error (the apps read statuses only).
using error_fn = response (*)(unsigned status, std::string_view code, std::string_view message,
                              std::string_view field);

// Counts a refused ingest request (by status, and its latency from `started_us`).
void count_ingest(const services& svc, unsigned status, std::int64_t started_us);

// Courier auth shared by every ingest path (PROTOCOL.md §3, §9): the token verified, a
// courier's (401 / 403 otherwise, shaped by `error`).
struct courier_auth {
  std::shared_ptr<const auth::identity> who;
  std::optional<response> refused;
};
courier_auth authorize_courier(std::string_view token, std::int64_t now_us, const services& svc,
                               error_fn error, std::string_view www_authenticate);
// The courier's rate limit (429 + Retry-After when refused).
std::optional<response> take_rate(const auth::identity& who, std::int64_t now_us,
                                  const services& svc, error_fn error);

// The ingest pipeline shared by the JSON API and the phone apps (ingest.cpp): everything
// after parsing -- the future-time check, broker and history availability, the order budget,
// duplicates, stamping identity and ts, the durable join of history append and publish, and
// the interval (answer_interval). Only the answers differ: `ok` makes the 200 for an
// interval (on the connection's thread, once the points are accepted), `error` the rest.
struct ingest_answer {
  std::function<response(int interval)> ok;
  error_fn error;
};
void ingest_points(std::vector<core::location> points, const auth::identity& who,
                   std::int64_t started_us, ingest_answer how, const std::shared_ptr<responder>& r,
                   const settings& cfg, const services& svc);

// The phone apps' routes (app_routes.cpp): /api/v1/osmand (and `/` on --osmand-listen),
// /api/v1/owntracks.
enum class phone_app { osmand, owntracks };
std::optional<phone_app> app_route(std::string_view path, const settings& cfg);
// Auth on the head when the token is there (header, query); a token only in the body
// leaves `courier` empty for handle_app.
head_check check_app_head(const request& head, phone_app app, const settings& cfg,
                          const services& svc);
void handle_app(const request& req, const head_check& head, phone_app app,
                const std::shared_ptr<responder>& r, const settings& cfg, const services& svc);
response plain_error(unsigned status, std::string_view code, std::string_view message,
                     std::string_view field = {});

// Pieces of `route`, one per file.
// Ingest's checks on the head (token, role, content type, rate limit), for check_head.
head_check check_ingest_head(const request& head, const settings& cfg, const services& svc);
void handle_ingest(const request& req, const head_check& head, const std::shared_ptr<responder>& r,
                   const settings& cfg, const services& svc);
void handle_upgrade(const request& req, const std::shared_ptr<responder>& r, const settings& cfg,
                    const services& svc);
// The track queries (tracks.cpp): /api/v1/couriers/{id}/track|summary,
// /api/v1/orders/{id}/track, /api/v1/tracks.
bool is_track_path(std::string_view path);
// Who a track query is from (token, and the cookie's Origin rule), or its refusal; run by
// check_head on the head alone, then again (cached) by handle_tracks.
struct track_auth {
  std::shared_ptr<const auth::identity> who;
  std::optional<response> refused;
};
track_auth track_viewer(const request& req, const settings& cfg, const services& svc,
                        std::int64_t now_s);
void handle_tracks(const request& req, const std::shared_ptr<responder>& r, const settings& cfg,
                   const services& svc);
// The interval to tell this courier after accepting `batch` (interval.cpp).
int answer_interval(const settings& cfg, const services& svc, const auth::identity& courier,
                    std::span<const broker::location_ptr> batch);
bool serve_static(const request& req, const std::shared_ptr<responder>& r, const settings& cfg);
// GET / or /track with no built panel (no --web-root, or no page in it): a short HTML page
// (404) saying how to build it. False for any other path.
bool serve_panel_missing(const request& req, const std::shared_ptr<responder>& r);

response json_response(unsigned status, std::string body);
response error_response(unsigned status, std::string_view code, std::string_view message,
                        std::string_view field = {});

}  // namespace peyk::http
