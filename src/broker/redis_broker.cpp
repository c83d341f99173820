#include "broker/redis_broker.hpp"

#include <hiredis/hiredis.h>

#include <cmath>
#include <deque>
#include <random>
#include <stdexcept>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/url/parse.hpp>

#include "core/clock.hpp"
#include "core/codec.hpp"
#include "core/log.hpp"

namespace peyk::broker {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using clock = std::chrono::steady_clock;

redis_config parse_redis_url(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || (u->scheme() != "redis")) {
    throw std::invalid_argument("--redis takes redis://[:password@]host[:port][/db], not " +
                                std::string(u ? u->scheme() : "a malformed URL"));
  }
  redis_config c;
  if (!u->has_authority() || u->host().empty()) throw std::invalid_argument("--redis: no host");
  c.host = u->host();
  if (c.host.size() > 2 && c.host.front() == '[') c.host = c.host.substr(1, c.host.size() - 2);
  if (u->has_port()) {
    if (u->port_number() == 0) throw std::invalid_argument("--redis: bad port");
    c.port = u->port_number();
  }
  if (u->has_password()) c.password = u->password();
  auto path = std::string(u->path());
  if (!path.empty() && path != "/") {
    try {
      c.db = std::stoi(path.substr(1));
    } catch (...) {
      throw std::invalid_argument("--redis: the path must be a database number");
    }
    if (c.db < 0) throw std::invalid_argument("--redis: bad database number");
  }
  return c;
}

namespace {

struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};

void append_command(std::string& out, std::initializer_list<std::string_view> args) {
  const char* argv[8];
  std::size_t lens[8];
  int n = 0;
  for (auto a : args) {
    argv[n] = a.data();
    lens[n] = a.size();
    ++n;
  }
  char* cmd = nullptr;
  int len = redisFormatCommandArgv(&cmd, n, argv, lens);
  if (len > 0) out.append(cmd, static_cast<std::size_t>(len));
  redisFreeCommand(cmd);
}

std::string_view str(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
               r->type == REDIS_REPLY_ERROR)
             ? std::string_view(r->str, r->len)
             : std::string_view{};
}

}  // namespace

// One Redis connection: a pipeline of commands whose replies are matched in order, plus
// (on the subscriber connection) pushed messages. Reconnects itself.
struct link : std::enable_shared_from_this<link> {
  using done_fn = std::function<void(bool ok, redisReply* last)>;
  struct pending {
    std::size_t remaining;
    bool failed = false;
    done_fn done;
    clock::time_point sent;
  };

  link(net::io_context& ioc, const redis_config& cfg, core::metrics& m, const char* role)
      : cfg_(cfg), metrics_(m), role_(role), sock_(ioc), timer_(ioc), resolver_(ioc) {}
  ~link() {
    if (reader_) redisReaderFree(reader_);
  }

  std::function<void()> on_up;               // connected (handshake pipelined)
  std::function<bool(redisReply*)> on_push;  // true when the reply was a push
  std::function<void()> on_down;

  bool up() const { return up_; }

  void start() { do_connect(); }
  void stop() {
    stopped_ = true;
    boost::system::error_code ec;
    sock_.close(ec);
    timer_.cancel();
  }

  // Sends pre-formatted commands expecting `replies` replies; `done` runs once.
  void command(std::string_view bytes, std::size_t replies, done_fn done) {
    if (!up_) return done(false, nullptr);
    out_.append(bytes);
    fifo_.push_back({replies, false, std::move(done), clock::now()});
    do_write();
  }

  // Sends commands whose answers are pushes (SUBSCRIBE), not pipeline replies.
  void send_only(std::string_view bytes) {
    if (!up_) return;
    out_.append(bytes);
    do_write();
  }

  // Liveness: a reply that does not come within `timeout` means the server is gone.
  void check(clock::time_point now) {
    if (!up_) return;
    if (!fifo_.empty() && now - fifo_.front().sent > std::chrono::seconds(3)) {
      return fail("no reply from Redis for 3 s");
    }
    if (fifo_.empty() && now - last_io_ > std::chrono::seconds(2)) {
      std::string ping;
      append_command(ping, {"PING"});
      command(ping, 1, [](bool, redisReply*) {});
    }
  }

 private:
  void do_connect() {
    if (stopped_) return;
    resolver_.async_resolve(
        cfg_.host, std::to_string(cfg_.port),
        [self = shared_from_this()](boost::system::error_code ec, tcp::resolver::results_type r) {
          if (ec) return self->fail("resolve: " + ec.message());
          net::async_connect(self->sock_, r,
                             [self](boost::system::error_code ec2, const tcp::endpoint&) {
                               self->on_connect(ec2);
                             });
        });
  }

  void on_connect(boost::system::error_code ec) {
    if (stopped_) return;
    if (ec) return fail("connect: " + ec.message());
    sock_.set_option(tcp::no_delay(true), ec);
    if (reader_) redisReaderFree(reader_);
    reader_ = redisReaderCreate();
    up_ = true;
    ++gen_;
    last_io_ = clock::now();
    if (ever_up_) metrics_.broker_reconnects.inc();
    if (ever_up_ || attempts_ > 0) {
      core::log(core::log_level::info, std::string("redis ") + role_ + " connection up");
    }
    ever_up_ = true;
    attempts_ = 0;
    std::string hs;
    std::size_t n = 0;
    if (!cfg_.password.empty()) {
      append_command(hs, {"AUTH", cfg_.password});
      ++n;
    }
    if (cfg_.db != 0) {
      append_command(hs, {"SELECT", std::to_string(cfg_.db)});
      ++n;
    }
    if (n) {
      command(hs, n, [w = weak_from_this()](bool ok, redisReply* r) {
        auto self = w.lock();
        if (self && !ok && self->up_) {
          self->fail("handshake refused: " + std::string(str(r).substr(0, 200)));
        }
      });
    }
    do_read();
    if (on_up) on_up();
  }

  void do_read() {
    sock_.async_read_some(net::buffer(rbuf_), [self = shared_from_this(), g = gen_](
                                                  boost::system::error_code ec, std::size_t n) {
      if (g != self->gen_) return;
      if (ec)
        return self->fail(ec == net::error::eof ? "closed by Redis" : "read: " + ec.message());
      self->last_io_ = clock::now();
      if (redisReaderFeed(self->reader_, self->rbuf_.data(), n) != REDIS_OK) {
        return self->fail("protocol error");
      }
      while (true) {
        void* raw = nullptr;
        if (redisReaderGetReply(self->reader_, &raw) != REDIS_OK)
          return self->fail("protocol error");
        if (!raw) break;
        std::unique_ptr<redisReply, reply_deleter> r(static_cast<redisReply*>(raw));
        if (!self->on_reply(r.get())) return;
      }
      self->do_read();
    });
  }

  // false when the link failed while handling the reply
  bool on_reply(redisReply* r) {
    if (on_push && on_push(r)) return up_;
    if (fifo_.empty()) {
      fail("unexpected reply");
      return false;
    }
    auto& p = fifo_.front();
    if (r->type == REDIS_REPLY_ERROR) p.failed = true;
    if (--p.remaining == 0) {
      auto done = std::move(p.done);
      bool ok = !p.failed;
      fifo_.pop_front();
      done(ok, r);
    }
    return up_;
  }

  void do_write() {
    if (writing_ || out_.empty() || !up_) return;
    writing_ = true;
    wbuf_.swap(out_);
    net::async_write(
        sock_, net::buffer(wbuf_),
        [self = shared_from_this(), g = gen_](boost::system::error_code ec, std::size_t) {
          if (g != self->gen_) return;
          self->writing_ = false;
          self->wbuf_.clear();
          if (ec) return self->fail("write: " + ec.message());
          self->do_write();
        });
  }

 public:
  void fail(const std::string& why) {
    bool was_up = up_;
    up_ = false;
    ++gen_;
    writing_ = false;
    out_.clear();
    wbuf_.clear();
    boost::system::error_code ignored;
    sock_.close(ignored);
    auto fifo = std::move(fifo_);
    fifo_.clear();
    for (auto& p : fifo) p.done(false, nullptr);
    if (stopped_) return;
    if (was_up || attempts_ == 0) {
      core::log(core::log_level::warn,
                std::string("redis ") + role_ + " connection down (" + why + "); reconnecting");
    }
    if (was_up && on_down) on_down();
    // Capped exponential backoff with full jitter: many gateways do not reconnect in step.
    auto cap = std::min<long>(cfg_.max_backoff.count(), 100L << std::min(attempts_, 10));
    ++attempts_;
    std::uniform_int_distribution<long> dist(std::min(50L, cap), cap);
    timer_.expires_after(std::chrono::milliseconds(dist(rng_)));
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->do_connect();
    });
  }

 private:
  const redis_config& cfg_;
  core::metrics& metrics_;
  const char* role_;
  tcp::socket sock_;
  net::steady_timer timer_;
  tcp::resolver resolver_;
  redisReader* reader_ = nullptr;
  std::array<char, 64 * 1024> rbuf_{};
  std::string out_, wbuf_;
  bool writing_ = false;
  bool up_ = false;
  bool stopped_ = false;
  bool ever_up_ = false;
  int attempts_ = 0;
  std::uint64_t gen_ = 0;
  std::deque<pending> fifo_;
  clock::time_point last_io_{};
  std::minstd_rand rng_{std::random_device{}()};
};

struct redis_broker::impl : std::enable_shared_from_this<redis_broker::impl> {
  impl(redis_config c, core::metrics& m)
      : cfg(std::move(c)),
        metrics(m),
        cmd(std::make_shared<link>(ioc, cfg, metrics, "command")),
        sub(std::make_shared<link>(ioc, cfg, metrics, "subscriber")),
        ticker(ioc) {}

  redis_config cfg;
  core::metrics& metrics;
  net::io_context ioc{1};
  std::shared_ptr<link> cmd, sub;
  net::steady_timer ticker;
  std::vector<message_handler> handlers;
  std::atomic<bool> cmd_up{false}, subscribed{false};
  std::atomic<bool> warmed{false};  // the first read of the last-known hash was applied
  bool warm_needed = false;
  core::log_limiter invalid_log{5};

  // A gateway is ready only once its snapshot is complete: subscribed, and the hash read.
  bool connected() const {
    return cmd_up.load() && (!cfg.subscribe || (subscribed.load() && warmed.load()));
  }
  void update_gauge() { metrics.broker_connected.set(connected() ? 1 : 0); }

  void deliver(std::string_view payload) {
    auto loc = core::decode_broker_message(payload);
    if (!loc) {
      metrics.broker_invalid.inc();
      if (invalid_log.allow()) {
        core::log(core::log_level::warn, "invalid message on channel " + cfg.channel + " (" +
                                             loc.error().message + "), dropped");
      }
      return;
    }
    if (loc->ts_us == 0) loc->ts_us = core::now_us();
    auto p = std::make_shared<const core::location>(std::move(*loc));
    for (auto& h : handlers) h(p);
  }

  // Reads every courier's newest location from the hash ingest keeps, so that a gateway
  // that (re)starts or reconnects has a complete snapshot.
  void warm() {
    if (!warm_needed || !cmd->up() || !subscribed) return;
    warm_needed = false;
    std::string c;
    append_command(c, {"HGETALL", hash_key(cfg.channel)});
    cmd->command(c, 1, [self = shared_from_this()](bool ok, redisReply* r) {
      if (!ok || !r || r->type != REDIS_REPLY_ARRAY) {
        self->warm_needed = true;  // retried on the next tick
        return;
      }
      for (std::size_t i = 1; i < r->elements; i += 2) self->deliver(str(r->element[i]));
      self->warmed = true;
      self->update_gauge();
    });
  }

  void wire() {
    cmd->on_up = [this] {
      cmd_up = true;
      update_gauge();
      warm();
    };
    cmd->on_down = [this] {
      cmd_up = false;
      update_gauge();
    };
    if (!cfg.subscribe) return;
    sub->on_up = [this] {
      std::string c;
      append_command(c, {"SUBSCRIBE", cfg.channel});
      sub->send_only(c);  // confirmed by a "subscribe" push
    };
    sub->on_down = [this] {
      subscribed = false;
      update_gauge();
    };
    sub->on_push = [this](redisReply* r) {
      if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return false;
      auto kind = str(r->element[0]);
      if (kind == "message") {
        deliver(str(r->element[2]));
        return true;
      }
      if (kind == "subscribe") {
        subscribed = true;
        warm_needed = true;
        update_gauge();
        warm();
        return true;
      }
      return false;
    };
  }

  void tick() {
    auto now = clock::now();
    cmd->check(now);
    if (cfg.subscribe) sub->check(now);
    warm();
    ticker.expires_after(std::chrono::milliseconds(250));
    ticker.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->tick();
    });
  }
};

redis_broker::redis_broker(redis_config cfg, core::metrics& metrics)
    : impl_(std::make_shared<impl>(std::move(cfg), metrics)) {}

redis_broker::~redis_broker() {
  stop();
}

void redis_broker::subscribe(message_handler handler) {
  impl_->handlers.push_back(std::move(handler));
}

void redis_broker::start() {
  impl_->wire();
  impl_->cmd->start();
  if (impl_->cfg.subscribe) impl_->sub->start();
  impl_->tick();
  thread_ = std::thread([i = impl_] { i->ioc.run(); });
}

void redis_broker::stop() {
  if (!thread_.joinable()) return;
  net::post(impl_->ioc, [i = impl_] {
    i->cmd->stop();
    i->sub->stop();
    i->ticker.cancel();
    i->ioc.stop();
  });
  thread_.join();
}

bool redis_broker::connected() const {
  return impl_->connected();
}

void redis_broker::publish(std::span<const location_ptr> batch, publish_handler done) {
  if (!impl_->cmd_up.load()) return done(make_error_code(boost::system::errc::not_connected));
  // Formatting happens on the caller's thread; the broker thread only appends bytes.
  std::string cmds;
  cmds.reserve(batch.size() * 400);
  std::size_t replies = 0;
  const auto& cfg = impl_->cfg;
  auto hash = hash_key(cfg.channel), geo = geo_key(cfg.channel);
  for (const auto& loc : batch) {
    auto json = core::encode_location(*loc);
    append_command(cmds, {"PUBLISH", cfg.channel, json});
    ++replies;
    if (cfg.write_last_known) {
      append_command(cmds, {"HSET", hash, loc->courier_id, json});
      ++replies;
      // Redis GEO covers latitudes within +-85.05112878 only.
      if (std::abs(loc->latitude) <= 85.05112878) {
        char lon[32], lat[32];
        std::snprintf(lon, sizeof lon, "%.6f", loc->longitude);
        std::snprintf(lat, sizeof lat, "%.6f", loc->latitude);
        append_command(cmds, {"GEOADD", geo, lon, lat, loc->courier_id});
        ++replies;
      }
    }
  }
  net::post(
      impl_->ioc, [i = impl_, cmds = std::move(cmds), replies, done = std::move(done)]() mutable {
        i->cmd->command(cmds, replies, [done = std::move(done)](bool ok, redisReply*) {
          done(ok ? boost::system::error_code{} : make_error_code(boost::system::errc::io_error));
        });
      });
}

}  // namespace peyk::broker
