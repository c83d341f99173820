// POST /api/v1/locations (PROTOCOL.md §3), recorded in history when there is one (§7).
#include <algorithm>
#include <atomic>

#include <boost/beast/http/field.hpp>

#include "core/clock.hpp"
#include "core/timestamp.hpp"
#include "http/routes.hpp"

namespace peyk::http {

namespace bhttp = boost::beast::http;

namespace {

void answer(const std::shared_ptr<responder>& r, const services& svc, std::int64_t started_us,
            response res) {
  svc.metrics->ingest_by_status[res.result_int() < 600 ? res.result_int() : 0].inc();
  svc.metrics->ingest_latency.observe_us(core::now_us() - started_us);
  r->send(std::move(res));
}

response retry_later(error_fn error, unsigned status, const char* code, const char* message) {
  auto res = error(status, code, message, {});
  res.set(bhttp::field::retry_after, "1");
  return res;
}

response accepted(int interval) {
  return json_response(200, R"({"update_interval":")" + rate_text(interval) +
                                R"(","update_interval_seconds":)" + std::to_string(interval) + "}");
}

// The two completions a recorded request waits for (append and publish, any threads).
struct both {
  std::atomic<int> left{2};
  std::atomic<bool> history_failed{false};
  std::atomic<bool> broker_failed{false};
};

}  // namespace

void count_ingest(const services& svc, unsigned status, std::int64_t started_us) {
  svc.metrics->ingest_by_status[status < 600 ? status : 0].inc();
  svc.metrics->ingest_latency.observe_us(core::now_us() - started_us);
}

courier_auth authorize_courier(std::string_view token, std::int64_t now_us, const services& svc,
                               error_fn error, std::string_view www_authenticate) {
  courier_auth a;
  auto who = svc.tokens->verify(std::string(token), now_us / 1'000'000);
  if (!who) {
    auto res = error(401, who.error().code, who.error().message, {});
    if (!www_authenticate.empty()) res.set(bhttp::field::www_authenticate, www_authenticate);
    a.refused = std::move(res);
    return a;
  }
  if ((*who)->role != auth::role::courier) {
    a.refused = error(403, "forbidden", "only courier tokens may post locations", {});
    return a;
  }
  a.who = *who;
  return a;
}

std::optional<response> take_rate(const auth::identity& who, std::int64_t now_us,
                                  const services& svc, error_fn error) {
  auto limit = svc.limiter->take(who.sub, now_us);
  if (limit.allowed) return std::nullopt;
  auto res =
      error(429, "rate_limited", "too many requests for this courier; batch buffered points", {});
  res.set(bhttp::field::retry_after, std::to_string(limit.retry_after_s));
  return res;
}

head_check check_ingest_head(const request& req, const settings&, const services& svc) {
  head_check h;
  h.started_us = core::now_us();
  auto refuse = [&](response res) {
    count_ingest(svc, res.result_int(), h.started_us);
    h.refuse = std::move(res);
    return std::move(h);
  };
  if (!req.has_content_length() && !req.chunked()) {
    return refuse(error_response(411, "length_required", "send the body with a Content-Length"));
  }
  auto token = token_from_request(req, false);
  if (!token) {
    auto res = error_response(401, "missing_token", "send Authorization: Bearer <courier token>");
    res.set(bhttp::field::www_authenticate, "Bearer");
    return refuse(std::move(res));
  }
  auto a = authorize_courier(*token, h.started_us, svc, error_response,
                             R"(Bearer error="invalid_token")");
  if (a.refused) return refuse(std::move(*a.refused));
  if (!is_json_content_type(req[bhttp::field::content_type])) {
    return refuse(
        error_response(415, "unsupported_media_type", "send Content-Type: application/json"));
  }
  if (auto limited = take_rate(*a.who, h.started_us, svc, error_response)) {
    return refuse(std::move(*limited));
  }
  h.courier = a.who;
  return h;
}

void handle_ingest(const request& req, const head_check& head, const std::shared_ptr<responder>& r,
                   const settings& cfg, const services& svc) {
  auto started = core::now_us();  // the body is here: the points' time
  if (!head.courier) {
    return answer(r, svc, started,
                  error_response(500, "internal", "ingest without a checked head"));
  }
  auto points = core::parse_ingest_body(req.body(), cfg.ingest);
  if (!points) {
    const auto& e = points.error();
    return answer(r, svc, started, error_response(400, e.code, e.message, e.field));
  }
  ingest_points(std::move(*points), *head.courier, started, {accepted, error_response}, r, cfg,
                svc);
}

void ingest_points(std::vector<core::location> points, const auth::identity& id,
                   std::int64_t started, ingest_answer how, const std::shared_ptr<responder>& r,
                   const settings& cfg, const services& svc) {
  const error_fn error = how.error;
  auto fail = [&](unsigned status, std::string_view code, std::string_view message,
                  std::string_view field = {}) {
    answer(r, svc, started, error(status, code, message, field));
  };
  // A measuring time in the future is a phone with a wrong clock: refused (PROTOCOL.md §12),
  // since points are ordered by it. The times are kept for the duplicate check (§9).
  std::vector<std::optional<std::int64_t>> times;
  times.reserve(points.size());
  for (const auto& p : points) {
    times.push_back(p.recorded_at.empty() ? std::nullopt : core::parse_rfc3339_us(p.recorded_at));
    if (times.back() && *times.back() > started + core::max_future_us) {
      return fail(400, "invalid_field",
                  "recorded_at is more than 5 s in the future (check the "
                  "device's clock)",
                  "recorded_at");
    }
  }
  if (!svc.broker->can_publish()) {
    return answer(r, svc, started,
                  retry_later(error, 503, "broker_unavailable", "broker unavailable"));
  }
  // History down: refused before anything is published (PROTOCOL.md §7).
  if (svc.history && !svc.history->ready()) {
    svc.metrics->history_unavailable.inc();
    return answer(r, svc, started,
                  retry_later(error, 503, "history_unavailable", "history is unavailable; retry"));
  }
  if (svc.orders) {
    std::vector<std::string_view> named;
    for (const auto& p : points) named.insert(named.end(), p.orders.begin(), p.orders.end());
    if (!svc.orders->admit(id.sub, named, started).allowed) {
      return fail(422, "too_many_orders",
                  "a courier may name at most " + std::to_string(svc.orders->max_per_courier()) +
                      " distinct order ids within the order TTL (--max-orders-per-courier)",
                  "orders");
    }
  }

  // A point equal to one accepted lately for this courier (same measuring time, same
  // position) is an app's retry (its answer was lost): answered 200 like the first, neither
  // recorded nor published again (PROTOCOL.md §9). Points without a time cannot be told
  // apart and are all kept; two points of one time at different positions are both kept.
  std::vector<broker::location_ptr> batch;
  batch.reserve(points.size());
  std::vector<std::int64_t> fresh_times;
  std::int64_t seq = 0;
  std::size_t duplicates = 0;
  for (std::size_t i = 0; i < points.size(); ++i) {
    auto& p = points[i];
    if (svc.recent && times[i]) {
      const auto key = core::recent_points::fingerprint(*times[i], p.latitude, p.longitude);
      if (std::find(fresh_times.begin(), fresh_times.end(), key) != fresh_times.end() ||
          svc.recent->seen(id.sub, key)) {
        ++duplicates;
        continue;
      }
      fresh_times.push_back(key);
    }
    p.courier_id = id.sub;
    p.username = id.name;
    p.fleet = id.fleet;
    p.ts_us = started + seq++;  // strictly increasing: a batch's points stay in order
    batch.push_back(std::make_shared<const core::location>(std::move(p)));
  }
  if (duplicates > 0) svc.metrics->ingest_duplicates.inc(duplicates);
  if (batch.empty()) {  // all seen before: the interval still follows what they say
    std::vector<broker::location_ptr> seen;
    seen.reserve(points.size());
    for (const auto& p : points) seen.push_back(std::make_shared<const core::location>(p));
    return answer(r, svc, started, how.ok(answer_interval(cfg, svc, id, seen)));
  }
  auto interval = answer_interval(cfg, svc, id, batch);
  // Once accepted (200), the points' times are remembered for the duplicate check.
  auto done = [r, &svc, started, interval, how = std::move(how), courier = id.sub,
               fresh_times = std::move(fresh_times)] {
    if (svc.recent) svc.recent->remember(courier, fresh_times, core::now_us());
    answer(r, svc, started, how.ok(interval));
  };
  if (!svc.history) {
    // The answer waits for the broker: never 200 for a point that was not published.
    svc.broker->publish(batch, [r, &svc, started, error, done](boost::system::error_code ec) {
      r->post([r, &svc, started, error, done, ec] {
        if (ec) {
          svc.metrics->publish_errors.inc();
          return answer(r, svc, started,
                        retry_later(error, 503, "broker_unavailable",
                                    "the broker did not take the location"));
        }
        done();
      });
    });
    return;
  }
  // With history the answer waits for both the append (durable) and the publish, which run
  // at once: 200 only when both succeeded (docs/architecture.md, "Durable acknowledgement").
  auto join = std::make_shared<both>();
  auto finish = [r, &svc, started, error, done, join] {
    if (join->left.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    r->post([r, &svc, started, error, done, join] {
      if (join->history_failed.load()) {
        svc.metrics->history_unavailable.inc();
        return answer(r, svc, started,
                      retry_later(error, 503, "history_unavailable",
                                  "the location could not be recorded; retry"));
      }
      if (join->broker_failed.load()) {
        svc.metrics->publish_errors.inc();
        return answer(
            r, svc, started,
            retry_later(error, 503, "broker_unavailable", "the broker did not take the location"));
      }
      done();
    });
  };
  svc.history->append(batch, [join, finish](boost::system::error_code ec) {
    if (ec) join->history_failed = true;
    finish();
  });
  // Refused at once (the store's queue is full, or it just failed): the point is not shown
  // live either, since its answer is 503 and the app will send it again.
  if (join->history_failed.load()) return finish();
  svc.broker->publish(batch, [join, finish](boost::system::error_code ec) {
    if (ec) join->broker_failed = true;
    finish();
  });
}

}  // namespace peyk::http
