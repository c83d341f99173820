#include "broker/redis_link.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include "core/log.hpp"

namespace peyk::broker {

namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {
struct reply_deleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
}  // namespace

void append_command(std::string& out, std::span<const std::string_view> args) {
  // hiredis wants two arrays; most commands fit the ones on the stack.
  constexpr std::size_t small = 16;
  std::array<const char*, small> argv_small;
  std::array<std::size_t, small> lens_small;
  std::vector<const char*> argv_big;
  std::vector<std::size_t> lens_big;
  const char** argv = argv_small.data();
  std::size_t* lens = lens_small.data();
  if (args.size() > small) {
    argv_big.resize(args.size());
    lens_big.resize(args.size());
    argv = argv_big.data();
    lens = lens_big.data();
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    argv[i] = args[i].data();
    lens[i] = args[i].size();
  }
  char* cmd = nullptr;
  int len = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv, lens);
  if (len > 0) out.append(cmd, static_cast<std::size_t>(len));
  redisFreeCommand(cmd);
}

std::string_view reply_text(const redisReply* r) {
  return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
               r->type == REDIS_REPLY_ERROR)
             ? std::string_view(r->str, r->len)
             : std::string_view{};
}

redis_link::redis_link(net::io_context& ioc, link_target target, core::metrics& m, std::string role)
    : target_(std::move(target)),
      metrics_(m),
      role_(std::move(role)),
      sock_(ioc),
      timer_(ioc),
      resolver_(ioc) {}

redis_link::~redis_link() {
  if (reader_) redisReaderFree(reader_);
}

void redis_link::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  sock_.close(ec);
  timer_.cancel();
  resolver_.cancel();
  up_ = false;
  ++gen_;
  auto fifo = std::move(fifo_);
  fifo_.clear();
  for (auto& p : fifo) p.done(false, nullptr, "connection stopped");
}

void redis_link::command(std::string_view bytes, std::size_t replies, done_fn done) {
  if (!up_) return done(false, nullptr, "not connected");
  out_.append(bytes);
  fifo_.push_back({replies, false, {}, std::move(done), clock::now()});
  do_write();
}

void redis_link::send_only(std::string_view bytes) {
  if (!up_) return;
  out_.append(bytes);
  do_write();
}

void redis_link::check(clock::time_point now) {
  if (!up_) return;
  if (!fifo_.empty() && now - fifo_.front().sent > std::chrono::seconds(3)) {
    return fail("no reply from Redis for 3 s");
  }
  if (fifo_.empty() && now - last_io_ > std::chrono::seconds(2)) {
    std::string ping;
    append_command(ping, {"PING"});
    command(ping, 1, [](bool, redisReply*, std::string_view) {});
  }
}

void redis_link::do_connect() {
  if (stopped_) return;
  resolver_.async_resolve(
      target_.host, std::to_string(target_.port),
      [self = shared_from_this()](boost::system::error_code ec, tcp::resolver::results_type r) {
        if (self->stopped_) return;
        if (ec) return self->fail("resolve: " + ec.message());
        net::async_connect(
            self->sock_, r,
            [self](boost::system::error_code ec2, const tcp::endpoint&) { self->on_connect(ec2); });
      });
}

void redis_link::on_connect(boost::system::error_code ec) {
  if (stopped_) return;
  if (ec) return fail("connect: " + ec.message());
  sock_.set_option(tcp::no_delay(true), ec);
  if (reader_) redisReaderFree(reader_);
  reader_ = redisReaderCreate();
  up_ = true;
  ++gen_;
  last_io_ = clock::now();
  if (ever_up_) metrics_.broker_reconnects.inc();
  if (ever_up_ || attempts_ > 0)
    core::log(core::log_level::info, "redis " + role_ + " connection up");
  ever_up_ = true;
  attempts_ = 0;
  std::string hs;
  std::size_t n = 0;
  if (!target_.password.empty()) {
    append_command(hs, {"AUTH", target_.password});
    ++n;
  }
  if (target_.db != 0) {
    append_command(hs, {"SELECT", std::to_string(target_.db)});
    ++n;
  }
  if (n) {
    command(hs, n, [w = weak_from_this()](bool ok, redisReply*, std::string_view error) {
      auto self = w.lock();
      if (self && !ok && self->up_) {
        self->fail("handshake refused: " + std::string(error.substr(0, 200)));
      }
    });
  }
  do_read();
  if (on_up) on_up();
}

void redis_link::do_read() {
  sock_.async_read_some(net::buffer(rbuf_), [self = shared_from_this(), g = gen_](
                                                boost::system::error_code ec, std::size_t n) {
    if (g != self->gen_) return;
    if (ec) return self->fail(ec == net::error::eof ? "closed by Redis" : "read: " + ec.message());
    self->last_io_ = clock::now();
    if (redisReaderFeed(self->reader_, self->rbuf_.data(), n) != REDIS_OK) {
      return self->fail("protocol error");
    }
    while (true) {
      void* raw = nullptr;
      if (redisReaderGetReply(self->reader_, &raw) != REDIS_OK) return self->fail("protocol error");
      if (!raw) break;
      std::unique_ptr<redisReply, reply_deleter> r(static_cast<redisReply*>(raw));
      if (!self->on_reply(r.get()) || g != self->gen_) return;
    }
    self->do_read();
  });
}

bool redis_link::on_reply(redisReply* r) {
  if (on_push && on_push(r)) return up_;
  if (fifo_.empty()) {
    fail("unexpected reply");
    return false;
  }
  auto& p = fifo_.front();
  if (r->type == REDIS_REPLY_ERROR && !p.failed) {
    p.failed = true;
    p.error = reply_text(r);
  }
  if (--p.remaining == 0) {
    auto done = std::move(p.done);
    bool ok = !p.failed;
    auto error = std::move(p.error);
    fifo_.pop_front();
    done(ok, r, error);
  }
  return up_;
}

void redis_link::do_write() {
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

void redis_link::fail(const std::string& why) {
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
  for (auto& p : fifo) p.done(false, nullptr, why);
  if (stopped_) return;
  if (was_up || attempts_ == 0) {
    core::log(core::log_level::warn,
              "redis " + role_ + " connection down (" + why + "); reconnecting");
  }
  if (was_up && on_down) on_down();
  // Capped exponential backoff with full jitter: many gateways do not reconnect in step.
  auto cap = std::min<long>(target_.max_backoff.count(), 100L << std::min(attempts_, 10));
  ++attempts_;
  std::uniform_int_distribution<long> dist(std::min(50L, cap), cap);
  timer_.expires_after(std::chrono::milliseconds(dist(rng_)));
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->do_connect();
  });
}

}  // namespace peyk::broker
