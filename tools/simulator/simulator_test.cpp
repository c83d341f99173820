// The simulator against a scripted in-process HTTP server on loopback: scheduling,
// Retry-After, backoff with buffering and batching, reconnects. Each test runs a few
// seconds of real time on one io_context, server and simulator together.
#include "simulator/simulator.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "core/codec.hpp"

namespace peyk::simulator {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using clock = std::chrono::steady_clock;

struct exchange {
  double at_s;        // since the server started
  std::string token;  // identifies the courier
  std::vector<core::location> points;
  bool batch;
  unsigned status;
};

struct reply {
  unsigned status = 200;
  std::string retry_after;
  bool close = false;
};

// Answers POST /api/v1/locations as `script` says and records every request.
class fake_server {
 public:
  using script_fn = std::function<reply(const exchange&)>;

  fake_server(net::io_context& ioc, script_fn script, unsigned short port = 0)
      : acceptor_(ioc), script_(std::move(script)), t0_(clock::now()) {
    tcp::endpoint ep(net::ip::address_v4::loopback(), port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(tcp::acceptor::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen();
    do_accept();
  }
  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  void stop() {
    beast::error_code ec;
    acceptor_.close(ec);
    for (auto& w : sessions_) {
      if (auto s = w.lock()) s->close();
    }
  }
  std::vector<exchange> log;

 private:
  struct session : std::enable_shared_from_this<session> {
    session(fake_server* srv, tcp::socket s) : srv_(srv), stream_(std::move(s)) {}
    void do_read() {
      req_ = {};
      http::async_read(
          stream_, buf_, req_,
          [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }
    void on_read(beast::error_code ec) {
      if (ec) return;
      exchange x;
      x.at_s = std::chrono::duration<double>(clock::now() - srv_->t0_).count();
      x.token = std::string(req_[http::field::authorization]);
      auto parsed = core::parse_ingest_body(req_.body());
      EXPECT_TRUE(parsed) << req_.body();
      if (parsed) x.points = std::move(*parsed);
      x.batch = req_.body().rfind(R"({"points")", 0) == 0;
      auto r = srv_->script_(x);
      x.status = r.status;
      srv_->log.push_back(x);
      res_ = {};
      res_.version(11);
      res_.result(r.status);
      res_.set(http::field::content_type, "application/json");
      if (!r.retry_after.empty()) res_.set(http::field::retry_after, r.retry_after);
      res_.body() = r.status == 200 ? R"({"update_interval":"1/s","update_interval_seconds":1})"
                                    : R"({"error":"x"})";
      res_.keep_alive(!r.close);
      res_.prepare_payload();
      http::async_write(stream_, res_,
                        [self = shared_from_this()](beast::error_code e, std::size_t) {
                          if (e) return;
                          if (!self->res_.keep_alive()) return self->close();
                          self->do_read();
                        });
    }
    void close() {
      beast::error_code ec;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
      stream_.close();
    }
    fake_server* srv_;
    beast::tcp_stream stream_;
    beast::flat_buffer buf_;
    http::request<http::string_body> req_;
    http::response<http::string_body> res_;
  };

  void do_accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket s) {
      if (ec) return;
      auto sp = std::make_shared<session>(this, std::move(s));
      sessions_.push_back(sp);
      sp->do_read();
      do_accept();
    });
  }

  tcp::acceptor acceptor_;
  script_fn script_;
  clock::time_point t0_;
  std::vector<std::weak_ptr<session>> sessions_;
};

options base(unsigned short port, int couriers, double interval, double duration) {
  options o;
  o.target = "http://127.0.0.1:" + std::to_string(port);
  o.secret = "test-secret";
  o.couriers = couriers;
  o.interval_s = interval;
  o.duration_s = duration;
  o.connections = 4;
  return o;
}

stats run(net::io_context& ioc, fake_server& srv, options o) {
  o.on_stop = [&srv] { srv.stop(); };
  simulator sim(ioc, o);
  sim.start();
  ioc.run_for(std::chrono::milliseconds(static_cast<long>(o.duration_s * 1000) + 3000));
  return sim.get_stats();
}

std::map<std::string, std::vector<const exchange*>> by_courier(const std::vector<exchange>& log) {
  std::map<std::string, std::vector<const exchange*>> m;
  for (const auto& x : log) m[x.token].push_back(&x);
  return m;
}

TEST(simulator, learns_the_servers_interval_and_spreads_couriers_over_it) {
  net::io_context ioc;
  fake_server srv(ioc, [](const exchange&) { return reply{}; });
  auto s = run(ioc, srv, base(srv.port(), 50, 0, 3.6));

  auto m = by_courier(srv.log);
  ASSERT_EQ(m.size(), 50u);  // every courier, each with its own token
  std::vector<double> gaps;
  for (const auto& [token, xs] : m) {
    EXPECT_GE(xs.size(), 3u);
    EXPECT_LE(xs.size(), 5u);
    for (std::size_t i = 1; i < xs.size(); ++i) gaps.push_back(xs[i]->at_s - xs[i - 1]->at_s);
  }
  // Every second, as the server's answer says. The median, since a loaded machine makes
  // single posts late (phase-locked: the next one is then early).
  std::sort(gaps.begin(), gaps.end());
  EXPECT_NEAR(gaps[gaps.size() / 2], 1.0, 0.05);
  EXPECT_GT(gaps[gaps.size() / 10], 0.7);
  EXPECT_LT(gaps[gaps.size() * 9 / 10], 1.3);
  // Evenly over the interval: no tenth of a second holds many first posts (5 on average).
  std::map<int, int> buckets;
  for (const auto& [token, xs] : m) ++buckets[static_cast<int>(xs[0]->at_s * 10)];
  for (auto [b, n] : buckets) EXPECT_LE(n, 20) << "bucket " << b;
  EXPECT_GE(buckets.size(), 8u);
  // The server may have logged a request whose answer was still on its way when the run
  // ended (the simulator stops at once, abandoning what is in flight: at most one request
  // per connection). CI saw 179 answered of 180 logged.
  EXPECT_LE(s.requests_ok, srv.log.size());
  EXPECT_GE(s.requests_ok + 4, srv.log.size());  // 4 connections (base())
  EXPECT_EQ(s.couriers_active, 50u);
  EXPECT_EQ(s.interval_s, 1.0);
}

TEST(simulator, buffers_through_an_outage_and_delivers_every_point_in_batches) {
  net::io_context ioc;
  fake_server srv(ioc, [](const exchange& x) { return x.at_s < 2.5 ? reply{503, "1"} : reply{}; });
  auto s = run(ioc, srv, base(srv.port(), 5, 0.2, 5));

  EXPECT_GT(s.unavailable, 0u);
  EXPECT_EQ(s.points_dropped, 0u);
  std::size_t accepted = 0;
  bool batched = false;
  for (const auto& [token, xs] : by_courier(srv.log)) {
    std::vector<std::string> times;
    double last_503 = -1;
    for (const auto* x : xs) {
      if (last_503 >= 0) {
        EXPECT_GE(x->at_s - last_503, 0.99) << "Retry-After: 1 ignored";
      }
      last_503 = x->status == 503 ? x->at_s : -1;
      if (x->status != 200) continue;
      batched |= x->batch && x->points.size() > 5;
      for (const auto& p : x->points) times.push_back(p.recorded_at);
    }
    accepted += times.size();
    ASSERT_GE(times.size(), 20u);  // ~5 s at 0.2 s, less what is still buffered at the end
    // Nothing lost, nothing twice: consecutive points are one interval apart.
    for (std::size_t i = 1; i < times.size(); ++i) {
      ASSERT_LT(times[i - 1], times[i]);
    }
  }
  EXPECT_TRUE(batched) << "buffered points go as one batch";
  EXPECT_EQ(accepted, s.points_ok);
  // Every point seen but not yet accepted is still waiting in an outbox.
  std::size_t seen = 0;
  for (const auto& [t, xs] : by_courier(srv.log)) {
    std::vector<std::string> all;
    for (const auto* x : xs) {
      for (const auto& p : x->points) all.push_back(p.recorded_at);
    }
    std::sort(all.begin(), all.end());
    seen += static_cast<std::size_t>(std::unique(all.begin(), all.end()) - all.begin());
  }
  EXPECT_LE(seen - accepted, s.points_buffered);
}

TEST(simulator, waits_as_long_as_retry_after_says_on_429) {
  net::io_context ioc;
  std::map<std::string, int> seen;
  fake_server srv(ioc, [&](const exchange& x) {
    return seen[x.token]++ == 0 ? reply{429, "2"} : reply{};
  });
  auto s = run(ioc, srv, base(srv.port(), 3, 0.2, 3.5));
  EXPECT_EQ(s.rate_limited, 3u);
  for (const auto& [token, xs] : by_courier(srv.log)) {
    ASSERT_GE(xs.size(), 2u);
    EXPECT_GE(xs[1]->at_s - xs[0]->at_s, 2.0);
    EXPECT_LT(xs[1]->at_s - xs[0]->at_s, 3.0);
    EXPECT_GE(xs[1]->points.size(), 9u);  // what was recorded meanwhile, in one batch
  }
}

TEST(simulator, reconnects_after_the_server_closes_or_is_not_there_yet) {
  net::io_context ioc;
  // Take a free port, then leave it closed for the first second.
  unsigned short port;
  {
    tcp::acceptor probe(ioc, {net::ip::address_v4::loopback(), 0});
    port = probe.local_endpoint().port();
  }
  int n = 0;
  std::unique_ptr<fake_server> srv;
  net::steady_timer later(ioc);
  later.expires_after(std::chrono::seconds(1));
  later.async_wait([&](beast::error_code) {
    // Every third answer closes its connection.
    srv = std::make_unique<fake_server>(
        ioc,
        [&](const exchange&) {
          return reply{200, "", ++n % 3 == 0};
        },
        port);
  });
  options o = base(port, 10, 0.25, 6);
  o.on_stop = [&] {
    if (srv) srv->stop();
  };
  simulator sim(ioc, o);
  sim.start();
  ioc.run_for(std::chrono::seconds(9));
  auto s = sim.get_stats();
  ASSERT_TRUE(srv);
  EXPECT_GT(s.errors, 0u);  // refused connects in the first second
  EXPECT_EQ(s.points_dropped, 0u);
  EXPECT_EQ(s.rejected, 0u);
  std::map<std::string, int> ok;
  std::size_t late = 0, recent = 0;
  for (const auto& x : srv->log) {
    ok[x.token] += x.status == 200;
    late += x.batch ? x.points.size() : 0;
    // The server's clock started a second after the simulator's.
    recent += x.at_s > 3;
  }
  EXPECT_EQ(ok.size(), 10u);  // every courier got through
  // Points recorded while the server was away arrive once it is up.
  EXPECT_GE(late, 10u);
  // And posting went back to normal, over connections the server keeps closing: about
  // 10 couriers x 4/s x 2 s.
  EXPECT_GT(recent, 30u);
}

}  // namespace
}  // namespace peyk::simulator
