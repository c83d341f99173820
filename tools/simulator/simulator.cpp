#include "simulator/simulator.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <deque>
#include <queue>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <boost/url/parse.hpp>

#include "auth/jwt.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "simulator/backoff.hpp"
#include "simulator/courier.hpp"
#include "simulator/http_connection.hpp"
#include "simulator/outbox.hpp"
#include "simulator/street_graph.hpp"
#include "simulator/wire.hpp"

namespace peyk::simulator {

namespace net = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

constexpr double default_interval_s = 60;  // PROTOCOL.md's server default
constexpr std::int64_t token_ttl_s = 12 * 3600;
constexpr std::int64_t token_renew_s = 3600;  // re-sign this long before exp
constexpr std::size_t min_body = 2048;        // 413 halves the batch size down to this

clock::duration secs(double s) {
  return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(s));
}

struct courier_slot {
  explicit courier_slot(courier m) : model(std::move(m)) {}

  courier model;
  std::string id, name, fleet, token;
  std::int64_t token_exp = 0;
  outbox box;
  clock::time_point last_advance{};  // the model's clock
  clock::time_point planned{};       // when the last point was due (phase-locked)
  clock::time_point next_sample{};
  clock::time_point retry_at{};  // no send before this (429, backoff)
  double interval_s = 0;
  double phase = 0;           // [0, 1): where in the interval this courier posts
  int attempts = 0;           // failed sends in a row
  std::uint32_t seq = 0;      // bumps on every schedule(): older heap entries are stale
  std::size_t in_flight = 0;  // points in the request now on the wire
  bool started = false;
  bool busy = false;  // queued for a connection or on the wire: not in the schedule
  bool active = false;
};

struct due {
  clock::time_point at;
  std::uint32_t courier;
  std::uint32_t seq;
  bool operator>(const due& o) const { return at > o.at; }
};

struct counters {
  std::atomic<std::uint64_t> requests_ok{0}, points_ok{0}, rate_limited{0}, unavailable{0},
      errors{0}, rejected{0}, points_rejected{0}, points_dropped{0}, points_buffered{0};
  std::atomic<std::size_t> active{0}, open{0};
  std::atomic<double> interval_s{0};
};

options checked(options o) {
  auto bad = [](const std::string& m) { throw std::invalid_argument(m); };
  if (o.secret.empty()) bad("no JWT secret for the courier tokens");
  if (o.couriers < 1 || o.couriers > 1'000'000) bad("couriers must be 1..1000000");
  if (o.fleets < 1) bad("fleets must be at least 1");
  if (o.connections < 0) bad("connections must be >= 0");
  if (o.interval_s < 0 || o.duration_s < 0) bad("interval and duration must be >= 0");
  bbox b{o.bbox[0], o.bbox[1], o.bbox[2], o.bbox[3]};
  if (!b.valid()) bad("bbox must be min_lat,min_lon,max_lat,max_lon with min < max");
  return o;
}

}  // namespace

struct simulator::impl : connection_owner, std::enable_shared_from_this<simulator::impl> {
  impl(net::io_context& ioc, options o);

  void start();
  void stop();
  stats snapshot() const;

  // connection_owner
  void on_ready(http_connection& c) override;
  void on_response(http_connection& c, std::uint32_t tag, http_result r) override;
  void on_connect_failed(http_connection& c, boost::system::error_code ec) override;

 private:
  void do_start();
  void do_resolve();
  void on_resolve(boost::system::error_code ec, net::ip::tcp::resolver::results_type results);
  void do_tick();
  void on_tick(boost::system::error_code ec);
  void on_duration(boost::system::error_code ec);
  void do_stop();

  void begin(std::uint32_t i, clock::time_point first);
  void schedule(std::uint32_t i, clock::time_point at);
  void run_due(clock::time_point now);
  void sample(courier_slot& c, clock::time_point now);
  void want_send(std::uint32_t i);
  void send(http_connection& conn, std::uint32_t i);
  void backoff(std::uint32_t i, clock::time_point now, std::optional<double> at_least);
  void adopt_interval(courier_slot& c, double interval, clock::time_point now);
  void set_active(courier_slot& c, bool on);
  void update_open();
  bool any_usable() const;
  void flush_if_unreachable();
  void sign(courier_slot& c);
  clock::time_point next_wake(const courier_slot& c) const;

  net::io_context& ioc_;
  options o_;
  std::string host_, port_, path_;
  street_graph city_;
  order_ids orders_;
  rng rng_;
  std::vector<courier_slot> couriers_;
  std::priority_queue<due, std::vector<due>, std::greater<>> schedule_;
  std::deque<std::uint32_t> ready_;  // due couriers waiting for an idle connection
  std::vector<std::shared_ptr<http_connection>> conns_;
  std::vector<http_connection*> idle_;
  net::ip::tcp::resolver resolver_;
  net::steady_timer tick_, duration_timer_, resolve_timer_;
  std::size_t max_body_;
  double interval_s_ = 0;  // 0: not known until the server answers
  bool running_ = false;
  bool stopped_ = false;
  counters n_;
  core::log_limiter log_limit_{2};
};

simulator::impl::impl(net::io_context& ioc, options o)
    : ioc_(ioc),
      o_(checked(std::move(o))),
      city_(street_graph::generate({o_.bbox[0], o_.bbox[1], o_.bbox[2], o_.bbox[3]}, o_.seed)),
      rng_(o_.seed * 0x9e3779b97f4a7c15ull + 7),
      resolver_(ioc),
      tick_(ioc),
      duration_timer_(ioc),
      resolve_timer_(ioc),
      max_body_(std::max(o_.max_body, min_body)) {
  auto url = boost::urls::parse_uri(o_.target);
  if (!url || url->scheme() != "http" || url->host().empty()) {
    throw std::invalid_argument("target must be an http:// URL such as http://127.0.0.1:8082");
  }
  host_ = url->host_address();
  port_ = url->has_port() ? std::string(url->port()) : "80";
  path_ = url->path();
  while (!path_.empty() && path_.back() == '/') path_.pop_back();
  path_ += "/api/v1/locations";
  if (city_.size() < 2) throw std::invalid_argument("bbox too small for a street grid");
  if (o_.connections == 0) o_.connections = std::min(o_.couriers, 64);

  // Stores spread out (best of a few candidates, farthest from the stores so far).
  std::vector<node_id> stores;
  for (int f = 0; f < o_.fleets; ++f) {
    node_id best = city_.random_node(rng_);
    double best_d = -1;
    for (int t = 0; t < 12 && !stores.empty(); ++t) {
      node_id cand = city_.random_node(rng_);
      double d = 1e300;
      for (auto s : stores) d = std::min(d, distance(city_.position(s), city_.position(cand)));
      if (d > best_d) {
        best_d = d;
        best = cand;
      }
    }
    stores.push_back(best);
  }

  auto n = static_cast<std::size_t>(o_.couriers);
  couriers_.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto number = static_cast<std::int64_t>(o_.first_id) + static_cast<std::int64_t>(i);
    auto fleet = static_cast<std::size_t>(number % o_.fleets);
    courier model(city_, stores[fleet], orders_, o_.seed * 1'000'003ull + i * 7919 + 1);
    // Mid-shift, not all leaving their stores at once.
    model.advance(rng_.uniform(0, o_.warm_up_s), 2.0);
    courier_slot c(std::move(model));
    c.id = std::to_string(number);
    c.name = o_.name_prefix + c.id;
    c.fleet = "store-" + std::to_string(fleet);
    c.phase = (static_cast<double>(i) + rng_.unit()) / static_cast<double>(n);
    sign(c);
    couriers_.push_back(std::move(c));
  }
}

void simulator::impl::sign(courier_slot& c) {
  auto now = core::now_s();
  c.token_exp = now + token_ttl_s;
  boost::json::object claims{{"sub", c.id},      {"role", "courier"}, {"name", c.name},
                             {"fleet", c.fleet}, {"iat", now},        {"exp", c.token_exp}};
  c.token = auth::sign_hs256(claims, o_.secret);
}

void simulator::impl::start() {
  net::post(ioc_, [self = shared_from_this()] { self->do_start(); });
}

void simulator::impl::stop() {
  net::post(ioc_, [self = shared_from_this()] { self->do_stop(); });
}

void simulator::impl::do_start() {
  if (running_ || stopped_) return;
  running_ = true;
  if (o_.duration_s > 0) {
    duration_timer_.expires_after(secs(o_.duration_s));
    duration_timer_.async_wait(
        [self = shared_from_this()](boost::system::error_code ec) { self->on_duration(ec); });
  }
  do_resolve();
}

void simulator::impl::do_resolve() {
  resolver_.async_resolve(host_, port_, [self = shared_from_this()](auto ec, auto results) {
    self->on_resolve(ec, std::move(results));
  });
}

void simulator::impl::on_resolve(boost::system::error_code ec,
                                 net::ip::tcp::resolver::results_type results) {
  if (stopped_) return;
  if (ec) {
    if (log_limit_.allow()) {
      core::log(core::log_level::warn, "simulate: cannot resolve " + host_ + ": " + ec.message());
    }
    resolve_timer_.expires_after(std::chrono::seconds(1));
    resolve_timer_.async_wait([self = shared_from_this()](boost::system::error_code e) {
      if (!e && !self->stopped_) self->do_resolve();
    });
    return;
  }
  auto target = std::make_shared<target_info>();
  target->endpoints = std::move(results);
  target->host = host_ + (port_ == "80" ? "" : ":" + port_);
  if (host_.find(':') != std::string::npos) target->host = "[" + host_ + "]:" + port_;
  target->path = path_;
  target->timeout = std::chrono::milliseconds(static_cast<long>(o_.request_timeout_s * 1000));
  for (int k = 0; k < o_.connections; ++k) {
    conns_.push_back(std::make_shared<http_connection>(ioc_, target, weak_from_this(),
                                                       o_.seed * 31ull + static_cast<unsigned>(k)));
  }
  for (auto& c : conns_) c->start();

  auto now = clock::now();
  if (o_.interval_s > 0) {
    interval_s_ = o_.interval_s;
    n_.interval_s = interval_s_;
    for (std::uint32_t i = 0; i < couriers_.size(); ++i) {
      begin(i, now + secs(couriers_[i].phase * interval_s_));
    }
  } else {
    begin(0, now);  // its answer tells everyone the server's interval
  }
  do_tick();
}

// A courier's first point is due at `first`; its clock starts now.
void simulator::impl::begin(std::uint32_t i, clock::time_point first) {
  auto& c = couriers_[i];
  c.started = true;
  c.interval_s = interval_s_ > 0 ? interval_s_ : default_interval_s;
  c.last_advance = clock::now();
  c.planned = c.next_sample = first;
  schedule(i, first);
}

void simulator::impl::schedule(std::uint32_t i, clock::time_point at) {
  auto& c = couriers_[i];
  ++c.seq;
  schedule_.push({at, i, c.seq});
}

clock::time_point simulator::impl::next_wake(const courier_slot& c) const {
  return c.box.empty() ? c.next_sample : std::min(c.next_sample, c.retry_at);
}

void simulator::impl::do_tick() {
  // Wake for the next due courier, but at least every 20 ms: a retry scheduled meanwhile
  // earlier than the timer is then late by 20 ms at most, and no re-arming is needed.
  auto now = clock::now();
  auto at = now + std::chrono::milliseconds(20);
  if (!schedule_.empty()) {
    at = std::clamp(schedule_.top().at, now + std::chrono::milliseconds(1), at);
  }
  tick_.expires_at(at);
  tick_.async_wait(
      [self = shared_from_this()](boost::system::error_code ec) { self->on_tick(ec); });
}

void simulator::impl::on_tick(boost::system::error_code ec) {
  if (ec || stopped_) return;
  run_due(clock::now());
  do_tick();
}

void simulator::impl::run_due(clock::time_point now) {
  while (!schedule_.empty() && schedule_.top().at <= now) {
    auto d = schedule_.top();
    schedule_.pop();
    auto& c = couriers_[d.courier];
    if (d.seq != c.seq || c.busy) continue;  // superseded
    if (now >= c.next_sample) sample(c, now);
    if (!c.box.empty() && now >= c.retry_at) {
      want_send(d.courier);
    } else {
      schedule(d.courier, next_wake(c));
    }
  }
}

void simulator::impl::sample(courier_slot& c, clock::time_point now) {
  c.model.advance(std::chrono::duration<double>(now - c.last_advance).count());
  c.last_advance = now;
  if (c.box.push(encode_point(c.model.report(), std::chrono::system_clock::now()))) {
    ++n_.points_dropped;
  } else {
    ++n_.points_buffered;
  }
  // Phase-locked: due one interval after the last *planned* time, so couriers stay spread
  // over the interval even when a tick or a send ran late; skip what is already past.
  auto step = secs(c.interval_s);
  c.planned += step;
  if (c.planned <= now) c.planned += step * ((now - c.planned) / step + 1);
  c.next_sample = c.planned;
}

void simulator::impl::want_send(std::uint32_t i) {
  if (!idle_.empty()) {
    auto* conn = idle_.back();  // the most recently used: keeps a few sockets hot
    idle_.pop_back();
    return send(*conn, i);
  }
  if (any_usable()) {
    couriers_[i].busy = true;
    ready_.push_back(i);
    return;
  }
  // Every connection is down: the phone has no network. Keep the points, back off.
  backoff(i, clock::now(), std::nullopt);
}

void simulator::impl::send(http_connection& conn, std::uint32_t i) {
  auto& c = couriers_[i];
  if (core::now_s() > c.token_exp - token_renew_s) sign(c);
  std::string body;
  c.in_flight = c.box.build_body(max_body_, body);
  c.busy = true;
  conn.post(i, c.token, std::move(body));
}

void simulator::impl::on_ready(http_connection& conn) {
  update_open();
  if (stopped_) return;
  if (!ready_.empty()) {
    auto i = ready_.front();
    ready_.pop_front();
    return send(conn, i);
  }
  idle_.push_back(&conn);
}

void simulator::impl::on_connect_failed(http_connection&, boost::system::error_code ec) {
  ++n_.errors;
  update_open();
  if (log_limit_.allow()) {
    core::log(core::log_level::warn, "simulate: connect to " + o_.target + ": " + ec.message());
  }
  flush_if_unreachable();
}

void simulator::impl::flush_if_unreachable() {
  if (any_usable()) return;
  // Nobody can send: whoever waits for a connection backs off with its points instead.
  auto now = clock::now();
  while (!ready_.empty()) {
    auto i = ready_.front();
    ready_.pop_front();
    couriers_[i].busy = false;
    backoff(i, now, std::nullopt);
  }
}

void simulator::impl::on_response(http_connection&, std::uint32_t i, http_result r) {
  auto& c = couriers_[i];
  auto now = clock::now();
  auto n = c.in_flight;
  c.in_flight = 0;
  c.busy = false;
  if (stopped_) return;
  if (r.ec) {
    ++n_.errors;
    if (log_limit_.allow()) {
      core::log(core::log_level::warn, "simulate: POST " + path_ + ": " + r.ec.message());
    }
    backoff(i, now, std::nullopt);
    return flush_if_unreachable();
  }
  switch (r.status) {
    case 200:
      ++n_.requests_ok;
      n_.points_ok += n;
      n_.points_buffered -= std::min<std::uint64_t>(n, n_.points_buffered);
      c.box.pop(n);
      c.attempts = 0;
      c.retry_at = {};
      set_active(c, true);
      if (o_.interval_s <= 0) {
        adopt_interval(c, parse_update_interval(r.body).value_or(default_interval_s), now);
      }
      // More buffered than one body holds: the rest goes right away.
      return schedule(i, c.box.empty() ? c.next_sample : now);
    case 429:
      ++n_.rate_limited;
      set_active(c, false);
      c.retry_at = now + secs(r.retry_after_s.value_or(1) + rng_.uniform(0, 0.25));
      return schedule(i, next_wake(c));
    case 413:
      if (n > 1 && max_body_ > min_body) {
        max_body_ = std::max(min_body, max_body_ / 2);  // the server's limit is lower
        return schedule(i, now);
      }
      break;
    case 401:
      // A clock step or a renewed key: sign again, keep the points, and retry after a while.
      ++n_.rejected;
      if (log_limit_.allow()) {
        core::log(core::log_level::warn,
                  "simulate: 401 for courier " + c.id + " (is the key the server's?): " + r.body);
      }
      sign(c);
      return backoff(i, now, std::nullopt);
    default:
      if (r.status >= 500) {
        ++n_.unavailable;
        return backoff(i, now, r.retry_after_s);
      }
      break;
  }
  // Another 4xx: these points will never be taken. Count them, say why, move on.
  ++n_.rejected;
  n_.points_rejected += n;
  n_.points_buffered -= std::min<std::uint64_t>(n, n_.points_buffered);
  c.box.pop(n);
  if (log_limit_.allow()) {
    core::log(core::log_level::warn,
              "simulate: " + std::to_string(r.status) + " for courier " + c.id + ": " + r.body);
  }
  schedule(i, c.box.empty() ? c.next_sample : now);
}

void simulator::impl::backoff(std::uint32_t i, clock::time_point now,
                              std::optional<double> at_least) {
  auto& c = couriers_[i];
  set_active(c, false);
  ++c.attempts;
  double delay = backoff_delay(c.attempts, rng_.unit());
  if (at_least) delay = std::max(delay, *at_least);
  c.retry_at = now + secs(delay);
  schedule(i, next_wake(c));
}

void simulator::impl::adopt_interval(courier_slot& c, double interval, clock::time_point now) {
  if (interval_s_ <= 0) {
    // The first answer: now the others can spread over the interval.
    interval_s_ = interval;
    n_.interval_s = interval;
    c.interval_s = interval;
    c.planned = c.next_sample = now + secs(interval);
    for (std::uint32_t k = 0; k < couriers_.size(); ++k) {
      if (!couriers_[k].started) begin(k, now + secs(couriers_[k].phase * interval));
    }
    return;
  }
  if (interval == c.interval_s) return;
  c.planned = std::max(c.planned - secs(c.interval_s) + secs(interval), now);
  c.next_sample = c.planned;
  c.interval_s = interval;
}

void simulator::impl::set_active(courier_slot& c, bool on) {
  if (c.active == on) return;
  c.active = on;
  if (on) {
    ++n_.active;
  } else {
    --n_.active;
  }
}

bool simulator::impl::any_usable() const {
  return std::any_of(conns_.begin(), conns_.end(), [](const auto& c) { return c->usable(); });
}

void simulator::impl::update_open() {
  n_.open = static_cast<std::size_t>(std::count_if(conns_.begin(), conns_.end(), [](const auto& c) {
    auto s = c->current();
    return s == http_connection::state::idle || s == http_connection::state::busy;
  }));
}

void simulator::impl::on_duration(boost::system::error_code ec) {
  if (!ec) do_stop();
}

void simulator::impl::do_stop() {
  if (stopped_) return;
  stopped_ = true;
  tick_.cancel();
  duration_timer_.cancel();
  resolve_timer_.cancel();
  resolver_.cancel();
  for (auto& c : conns_) c->stop();
  idle_.clear();
  ready_.clear();
  n_.open = 0;
  if (o_.on_stop) o_.on_stop();
}

stats simulator::impl::snapshot() const {
  stats s;
  s.requests_ok = n_.requests_ok;
  s.points_ok = n_.points_ok;
  s.rate_limited = n_.rate_limited;
  s.unavailable = n_.unavailable;
  s.errors = n_.errors;
  s.rejected = n_.rejected;
  s.points_rejected = n_.points_rejected;
  s.points_dropped = n_.points_dropped;
  s.points_buffered = n_.points_buffered;
  s.couriers = couriers_.size();
  s.couriers_active = n_.active;
  s.connections_open = n_.open;
  s.interval_s = n_.interval_s;
  return s;
}

simulator::simulator(net::io_context& ioc, options o)
    : impl_(std::make_shared<impl>(ioc, std::move(o))) {}

simulator::~simulator() {
  if (impl_) impl_->stop();
}

void simulator::start() {
  impl_->start();
}

void simulator::stop() {
  impl_->stop();
}

stats simulator::get_stats() const {
  return impl_->snapshot();
}

}  // namespace peyk::simulator
