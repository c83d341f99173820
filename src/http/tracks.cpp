// The track queries (PROTOCOL.md §7): a courier's or an order's track, a courier's
// summary, and every visible courier's points in a window (replay). Answered by any
// process with a history store; the store reads on its own threads and the answer is
// written from the connection's thread.
#include <algorithm>
#include <atomic>
#include <cctype>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/url/encode.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/rfc/unreserved_chars.hpp>
#include <boost/url/url_view.hpp>

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/timestamp.hpp"
#include "http/routes.hpp"
#include "http/track_output.hpp"

namespace peyk::http {

namespace bhttp = boost::beast::http;

namespace {

constexpr std::int64_t hour_us = 3600LL * 1'000'000;
constexpr std::int64_t max_track_window_us = 24 * hour_us;  // track and summary
constexpr std::int64_t max_replay_window_us = 1 * hour_us;  // /api/v1/tracks
constexpr std::size_t max_limit = 50'000;

core::log_limiter failure_log{2};

response refuse(unsigned status, std::string_view code, std::string_view message,
                std::string_view field = {}) {
  auto res = error_response(status, code, message, field);
  if (status == 401) res.set(bhttp::field::www_authenticate, "Bearer");
  if (status == 503) res.set(bhttp::field::retry_after, "1");
  return res;
}

// "2026-11-28T12:00:00Z" (RFC 3339, any offset) or Unix milliseconds ("1764331200000").
std::optional<std::int64_t> parse_time_us(std::string_view v) {
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 15) return std::nullopt;  // past the year 33658
    std::int64_t ms = 0;
    for (char c : v) ms = ms * 10 + (c - '0');
    return ms * 1000;
  }
  return core::parse_rfc3339_us(v);
}

// A track's parameters, once checked.
struct track_request {
  track_kind what = track_kind::courier_track;
  std::string id;  // courier or order id (decoded); empty for the replay window
  history::query q;
  output_format format = output_format::json;
  std::vector<std::pair<std::string, std::string>> params;  // for the next page's Link
};

// The path's kind and id; nullopt: not a track path.
std::optional<std::pair<track_kind, std::string>> match_path(const boost::urls::url_view& u) {
  auto segs = u.segments();
  std::vector<std::string> s(segs.begin(), segs.end());
  if (s.size() < 3 || s[0] != "api" || s[1] != "v1") return std::nullopt;
  if (s.size() == 3 && s[2] == "tracks") return std::pair{track_kind::replay, std::string()};
  if (s.size() != 5 || s[3].empty()) return std::nullopt;
  if (s[2] == "couriers" && s[4] == "track") return std::pair{track_kind::courier_track, s[3]};
  if (s[2] == "couriers" && s[4] == "summary") {
    return std::pair{track_kind::courier_summary, s[3]};
  }
  if (s[2] == "orders" && s[4] == "track") return std::pair{track_kind::order_track, s[3]};
  return std::nullopt;
}

// Who may read what (PROTOCOL.md §7): admin any courier; dispatcher the points whose fleet
// (at the time of the point) is one of its fleets, a filter applied by the store; customer
// only the track of one of its orders; courier only its own track and summary.
std::optional<response> authorize(const auth::identity& who, track_request& t,
                                  const std::string& fleet) {
  auto forbid = [](std::string_view message) {
    return std::optional<response>(refuse(403, "forbidden", message));
  };
  switch (who.role) {
    case auth::role::admin:
      if (!fleet.empty()) {
        t.q.fleets = {fleet};
        t.q.fleets_filter = true;
      }
      return std::nullopt;
    case auth::role::dispatcher:
      if (t.what == track_kind::replay && !fleet.empty()) {
        if (std::find(who.fleets.begin(), who.fleets.end(), fleet) == who.fleets.end()) {
          return forbid("this dispatcher does not watch that fleet");
        }
        t.q.fleets = {fleet};
      } else {
        t.q.fleets = who.fleets;
      }
      t.q.fleets_filter = true;  // even an empty list: then nothing
      return std::nullopt;
    case auth::role::customer:
      if (t.what != track_kind::order_track ||
          std::find(who.orders.begin(), who.orders.end(), t.id) == who.orders.end()) {
        return forbid("a customer may read the track of its own orders only");
      }
      return std::nullopt;
    case auth::role::courier:
      if ((t.what != track_kind::courier_track && t.what != track_kind::courier_summary) ||
          t.id != who.sub) {
        return forbid("a courier may read its own track and summary only");
      }
      return std::nullopt;
  }
  return forbid("this role may not read tracks");
}

// Parses the query string into `t` (or says which field is wrong).
std::optional<response> parse_params(const boost::urls::url_view& u, track_request& t,
                                     std::string& fleet, std::int64_t now_us,
                                     std::int64_t retention_us) {
  std::optional<std::string> from, to, limit, format, cursor;
  // `+` stays `+` (a time's offset written unencoded), not a space as in HTML forms.
  for (auto p : u.params(boost::urls::encoding_opts{false, false, false})) {
    auto take = [&](std::optional<std::string>& slot) {
      if (!slot) slot = std::string(p.value);
    };
    if (p.key == "from") {
      take(from);
    } else if (p.key == "to") {
      take(to);
    } else if (p.key == "limit") {
      take(limit);
    } else if (p.key == "format") {
      take(format);
    } else if (p.key == "cursor") {
      take(cursor);
    } else if (p.key == "fleet") {
      if (fleet.empty()) fleet = p.value;
    }
    if (p.key != "token" && p.key != "cursor") t.params.emplace_back(p.key, p.value);
  }
  auto bad = [](std::string_view field, std::string_view message) {
    return std::optional<response>(refuse(400, "invalid_field", message, field));
  };
  const bool replay = t.what == track_kind::replay;
  const std::int64_t max_window = replay ? max_replay_window_us : max_track_window_us;
  std::int64_t to_us = now_us, from_us = 0;
  if (to) {
    auto v = parse_time_us(*to);
    if (!v) return bad("to", "to: an RFC 3339 time (2026-11-28T12:00:00Z) or Unix milliseconds");
    to_us = *v;
  }
  if (from) {
    auto v = parse_time_us(*from);
    if (!v) {
      return bad("from", "from: an RFC 3339 time (2026-11-28T12:00:00Z) or Unix milliseconds");
    }
    from_us = *v;
  } else {
    from_us = to_us - max_window;
  }
  if (from_us >= to_us) return bad("from", "from must be before to");
  if (to_us - from_us > max_window) {
    return std::optional<response>(refuse(400, "window_too_long",
                                          replay ? "the window (to - from) may be at most 1 h"
                                                 : "the window (to - from) may be at "
                                                   "most 24 h",
                                          "to"));
  }
  t.q.from_us = from_us;
  t.q.to_us = to_us;
  // Past retention nothing is answered, whenever the store deletes it (SQLite: a background
  // pass; PostgreSQL: whole days).
  t.q.from_us = std::max(t.q.from_us, now_us - retention_us);
  t.q.to_us = std::max(t.q.to_us, t.q.from_us);
  if (limit) {
    std::size_t n = 0;
    bool ok = !limit->empty() && limit->size() <= 6;
    for (char c : *limit) {
      if (c < '0' || c > '9') ok = false;
      n = n * 10 + static_cast<std::size_t>(c - '0');
    }
    if (!ok || n < 1 || n > max_limit) return bad("limit", "limit: 1..50000 points per page");
    t.q.limit = n;
  } else {
    t.q.limit = max_limit;
  }
  if (cursor) t.q.cursor = *cursor;
  if (format) {
    auto f = parse_output_format(*format);
    if (!f || !format_allowed(t.what, *f)) {
      return bad("format", t.what == track_kind::courier_summary ? "format: json only"
                           : replay                              ? "format: json or geojson"
                                                                 : "format: json, geojson, gpx "
                                                                   "or csv");
    }
    t.format = *f;
  }
  if (!replay && !fleet.empty()) return bad("fleet", "fleet applies to /api/v1/tracks only");
  return std::nullopt;
}

// The next page's URL: the same query (without any token) and the cursor.
std::string next_link(std::string_view path, const track_request& t, const std::string& next) {
  std::string url(path);
  char sep = '?';
  auto add = [&](std::string_view k, std::string_view v) {
    url += sep;
    sep = '&';
    url += boost::urls::encode(k, boost::urls::unreserved_chars);
    url += '=';
    url += boost::urls::encode(v, boost::urls::unreserved_chars);
  };
  for (const auto& [k, v] : t.params) add(k, v);
  add("cursor", next);
  return url;
}

// One query slot of this process (--max-history-queries), given back when destroyed.
struct query_slot {
  explicit query_slot(std::atomic<std::size_t>* n) : n_(n) {}
  query_slot(const query_slot&) = delete;
  query_slot& operator=(const query_slot&) = delete;
  ~query_slot() { n_->fetch_sub(1, std::memory_order_acq_rel); }
  std::atomic<std::size_t>* n_;
};

// The answer to a read that failed.
response read_failed(boost::system::error_code ec) {
  if (ec == boost::system::errc::invalid_argument) {
    return refuse(400, "invalid_cursor", "cursor: not one this server gave (or for another query)",
                  "cursor");
  }
  if (failure_log.allow()) {
    core::log(core::log_level::warn, "history: a track query failed: " + ec.message());
  }
  return refuse(503, "history_unavailable", "history cannot be read now; retry");
}

// A customer sees only its own order ids in `orders`, as on /ws (PROTOCOL.md §5).
void only_own_orders(history::page& page, const auth::identity& who) {
  for (auto& p : page.points) {
    std::erase_if(p.orders, [&](const std::string& o) {
      return std::find(who.orders.begin(), who.orders.end(), o) == who.orders.end();
    });
  }
}

// Summary: reads every page of the window, feeding the accumulator, then answers.
struct summary_job : std::enable_shared_from_this<summary_job> {
  history::store* store;
  history::query q;
  summary_builder acc;
  std::shared_ptr<responder> r;
  std::shared_ptr<query_slot> slot;
  const services* svc;
  std::int64_t started_us;

  void next() {
    store->read(q, [self = shared_from_this()](boost::system::error_code ec, history::page page) {
      if (ec) return self->finish(read_failed(ec));
      for (const auto& p : page.points) self->acc.add(p);
      if (!page.next) return self->finish(self->acc.answer());
      self->q.cursor = std::move(*page.next);
      self->next();
    });
  }
  void finish(response res) {
    auto r2 = r;
    auto svc2 = svc;
    auto started = started_us;
    r2->post([r2, svc2, started, res = std::move(res), slot = std::move(slot)]() mutable {
      slot.reset();
      count_query(*svc2->metrics, res.result_int(), started);
      r2->send(std::move(res));
    });
  }
};

}  // namespace

track_auth track_viewer(const request& req, const settings& cfg, const services& svc,
                        std::int64_t now_s) {
  // A viewer token as for /ws: header, ?token= or the peyk_token cookie.
  const bool any_origin = std::find(cfg.allowed_origins.begin(), cfg.allowed_origins.end(), "*") !=
                          cfg.allowed_origins.end();
  auto token = find_token(req, true, !any_origin);
  if (!token) {
    return track_auth{
        nullptr, refuse(401, "missing_token",
                        "send a token: Authorization: Bearer, ?token= or the peyk_token cookie")};
  }
  auto who = svc.tokens->verify(token->token, now_s);
  if (!who) return track_auth{nullptr, refuse(401, who.error().code, who.error().message)};
  // A cookie rides along on any request the browser makes, whatever page made it: as for
  // /ws, it counts only for a page of an allowed origin (no Origin: not a browser).
  if (token->source == token_source::cookie &&
      (!origin_allowed(req[bhttp::field::origin], req[bhttp::field::host], cfg.allowed_origins) ||
       req["Sec-Fetch-Site"] == "cross-site")) {
    return track_auth{nullptr,
                      refuse(403, "origin_not_allowed",
                             "the peyk_token cookie is accepted from the panel's own pages only")};
  }
  return track_auth{*who, std::nullopt};
}

bool is_track_path(std::string_view path) {
  return path == "/api/v1/tracks" ||
         ((path.starts_with("/api/v1/couriers/") || path.starts_with("/api/v1/orders/")) &&
          (path.ends_with("/track") || path.ends_with("/summary")));
}

void handle_tracks(const request& req, const std::shared_ptr<responder>& r, const settings& cfg,
                   const services& svc) {
  const auto started = core::now_us();
  auto answer = [&](response res) {
    count_query(*svc.metrics, res.result_int(), started);
    r->send(std::move(res));
  };
  if (!svc.history) {
    return answer(
        refuse(404, "not_found", "this process keeps no history (start it with --history)"));
  }
  if (req.method() != bhttp::verb::get) {
    auto res = refuse(405, "method_not_allowed", "use GET");
    res.set(bhttp::field::allow, "GET");
    return answer(std::move(res));
  }
  auto u = boost::urls::parse_origin_form(req.target());
  if (!u) return answer(refuse(400, "bad_request", "malformed request target"));
  auto matched = match_path(*u);
  if (!matched) return answer(refuse(404, "not_found", "no such endpoint"));

  // Auth first (check_head did it already, before any body; the cache makes this cheap).
  auto auth = track_viewer(req, cfg, svc, started / 1'000'000);
  if (auth.refused) return answer(std::move(*auth.refused));
  const auto& who = auth.who;

  track_request t;
  t.what = matched->first;
  t.id = std::move(matched->second);
  std::string fleet;
  const auto retention_us =
      std::chrono::duration_cast<std::chrono::microseconds>(cfg.history_retention).count();
  if (auto bad = parse_params(*u, t, fleet, started, retention_us)) {
    return answer(std::move(*bad));
  }
  if (auto no = authorize(*who, t, fleet)) return answer(std::move(*no));

  if (t.q.from_us >= t.q.to_us) {  // the whole window is past retention
    if (t.what == track_kind::courier_summary) return answer(summary_builder().answer());
    return answer(write_track(t.what, t.format, t.id, {}));
  }
  // A query is heavier than a POST: a few at a time per process.
  auto* in_flight = svc.history_queries;
  if (in_flight->fetch_add(1, std::memory_order_acq_rel) >= cfg.max_history_queries) {
    in_flight->fetch_sub(1, std::memory_order_acq_rel);
    svc.metrics->history_queries_refused.inc();
    return answer(
        refuse(503, "history_busy", "too many track queries in progress on this server; retry"));
  }
  auto slot = std::make_shared<query_slot>(in_flight);

  t.q.what = t.what == track_kind::order_track ? history::query::kind::order
             : t.what == track_kind::replay    ? history::query::kind::window
                                               : history::query::kind::courier;
  t.q.id = t.id;
  if (t.what == track_kind::courier_summary) {
    auto job = std::make_shared<summary_job>();
    job->store = svc.history;
    job->q = std::move(t.q);
    job->q.limit = max_limit;
    job->q.cursor.clear();
    job->acc.start(t.id);
    job->r = r;
    job->slot = std::move(slot);
    job->svc = &svc;
    job->started_us = started;
    return job->next();
  }

  auto path = std::string(u->encoded_path());
  auto shared_t = std::make_shared<track_request>(std::move(t));
  auto viewer = who;
  svc.history->read(shared_t->q, [r, &svc, started, slot, shared_t, viewer, path](
                                     boost::system::error_code ec, history::page page) mutable {
    // Written here, on the store's thread, rather than on the connection's, which also
    // serves viewers: a 50,000-point page is tens of milliseconds of formatting.
    response res;
    if (ec) {
      res = read_failed(ec);
    } else {
      if (viewer->role == auth::role::customer) only_own_orders(page, *viewer);
      auto next = page.next;
      res = write_track(shared_t->what, shared_t->format, shared_t->id, std::move(page));
      if (next) {
        res.set(bhttp::field::link, "<" + next_link(path, *shared_t, *next) + ">; rel=\"next\"");
      }
    }
    r->post([r, &svc, started, slot = std::move(slot), res = std::move(res)]() mutable {
      slot.reset();
      count_query(*svc.metrics, res.result_int(), started);
      r->send(std::move(res));
    });
  });
}

}  // namespace peyk::http
