#include "redis_publisher.hpp"

#include <hiredis/hiredis.h>

#include <deque>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "core/clock.hpp"
#include "message.hpp"
#include "options.hpp"
#include "stats.hpp"

namespace peyk::loadgen {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using boost::system::error_code;

reply_counter::reply_counter() : reader_(redisReaderCreate()) {}

reply_counter::~reply_counter() {
  redisReaderFree(reader_);
}

reply_counter::counts reply_counter::feed(const char* data, std::size_t n) {
  counts c;
  if (redisReaderFeed(reader_, data, n) != REDIS_OK) {
    c.broken = true;
    return c;
  }
  for (;;) {
    void* reply = nullptr;
    if (redisReaderGetReply(reader_, &reply) != REDIS_OK) {
      c.broken = true;
      return c;
    }
    if (!reply) return c;
    auto* r = static_cast<redisReply*>(reply);
    if (r->type == REDIS_REPLY_INTEGER) {
      ++c.ok;
    } else {
      ++c.errors;
      if (c.first_error.empty()) {
        c.first_error = r->type == REDIS_REPLY_ERROR
                            ? std::string(r->str, r->len)
                            : "unexpected reply type " + std::to_string(r->type);
      }
    }
    freeReplyObject(r);
  }
}

namespace {

class redis_publisher;

// One pipelined connection. `out_` collects commands until the write in flight (if any)
// completes; `sent_at_` holds the send time of every command awaiting its reply.
class redis_connection : public std::enable_shared_from_this<redis_connection> {
 public:
  redis_connection(redis_publisher& pub, net::io_context& ioc)
      : pub_(pub), socket_(ioc), retry_(ioc), rbuf_(64 * 1024) {}

  void start() { do_connect(); }
  bool up() const { return connected_; }
  std::size_t awaiting() const { return sent_at_.size(); }
  void send(std::string_view command);
  void close();

 private:
  void do_connect();
  void on_connect(error_code ec);
  void do_write();
  void on_write(error_code ec, std::size_t messages);
  void do_read();
  void on_read(error_code ec, std::size_t n);
  void fail(error_code ec, const char* what);
  void fail(const std::string& why);

  redis_publisher& pub_;
  tcp::socket socket_;
  net::steady_timer retry_;
  std::vector<char> rbuf_;
  std::unique_ptr<reply_counter> replies_;
  std::string out_, writing_;
  std::size_t out_messages_ = 0;
  std::deque<std::int64_t> sent_at_;
  bool writing_now_ = false;
  bool write_posted_ = false;
  bool connected_ = false;
  bool closed_ = false;
};

class redis_publisher : public publisher {
 public:
  redis_publisher(net::io_context& ioc, const options& o, stats& st, tcp::endpoint target,
                  std::size_t connections)
      : ioc_(ioc), o_(o), st_(st), target_(target) {
    for (std::size_t i = 0; i < connections; ++i) {
      connections_.push_back(std::make_shared<redis_connection>(*this, ioc));
    }
  }
  ~redis_publisher() override { close(); }

  void start() override {
    for (auto& c : connections_) c->start();
  }

  bool try_publish(std::size_t courier_id) override {
    if (closed_) return false;
    // Round-robin over connections that are up and have room in their pipeline.
    for (std::size_t tried = 0; tried < connections_.size(); ++tried) {
      auto& c = connections_[next_++ % connections_.size()];
      if (!c->up() || c->awaiting() >= o_.pipeline) continue;
      auto message = broker_message(courier_id, courier_position(courier_id, ++seq_),
                                    core::now_us(), o_.fleets);
      command_.clear();
      append_publish(command_, o_.channel, message);
      ++st_.publish_in_flight;
      c->send(command_);
      return true;
    }
    return false;
  }

  std::size_t in_flight() const override { return static_cast<std::size_t>(st_.publish_in_flight); }

  void close() override {
    if (closed_) return;
    closed_ = true;
    st_.publish_in_flight = 0;  // abandoned: no answer will be counted
    for (auto& c : connections_) c->close();
  }

  void room() { ready(); }

  net::io_context& ioc_;
  const options& o_;
  stats& st_;
  tcp::endpoint target_;
  bool closed_ = false;

 private:
  std::vector<std::shared_ptr<redis_connection>> connections_;
  std::size_t next_ = 0;
  std::uint64_t seq_ = 0;
  std::string command_;
};

void redis_connection::send(std::string_view command) {
  out_.append(command);
  ++out_messages_;
  sent_at_.push_back(core::now_us());
  // Deferred to the end of this handler, so that every command due in one pacer tick
  // leaves in one write.
  if (!writing_now_ && !write_posted_) {
    write_posted_ = true;
    net::post(pub_.ioc_, [self = shared_from_this()] {
      self->write_posted_ = false;
      self->do_write();
    });
  }
}

void redis_connection::close() {
  closed_ = true;
  retry_.cancel();
  error_code ignored;
  socket_.close(ignored);
  if (connected_) --pub_.st_.publisher_connections;
  connected_ = false;
}

void redis_connection::do_connect() {
  if (closed_ || pub_.closed_) return;
  error_code ignored;
  socket_.close(ignored);
  socket_.async_connect(pub_.target_,
                        [self = shared_from_this()](error_code ec) { self->on_connect(ec); });
}

void redis_connection::on_connect(error_code ec) {
  if (ec) return fail(ec, "connect");
  socket_.set_option(tcp::no_delay(true), ec);
  replies_ = std::make_unique<reply_counter>();
  connected_ = true;
  ++pub_.st_.publisher_connections;
  do_read();
  pub_.room();
}

void redis_connection::do_write() {
  if (!connected_ || writing_now_ || out_.empty()) return;
  writing_now_ = true;
  writing_.swap(out_);
  out_.clear();
  auto messages = out_messages_;
  out_messages_ = 0;
  net::async_write(socket_, net::buffer(writing_),
                   [self = shared_from_this(), messages](error_code ec, std::size_t) {
                     self->on_write(ec, messages);
                   });
}

void redis_connection::on_write(error_code ec, std::size_t messages) {
  writing_now_ = false;
  if (ec) return fail(ec, "write");
  pub_.st_.publish_sent += messages;
  do_write();
}

void redis_connection::do_read() {
  socket_.async_read_some(
      net::buffer(rbuf_),
      [self = shared_from_this()](error_code ec, std::size_t n) { self->on_read(ec, n); });
}

void redis_connection::on_read(error_code ec, std::size_t n) {
  if (ec) return fail(ec, "read");
  auto& st = pub_.st_;
  auto c = replies_->feed(rbuf_.data(), n);
  auto answered = c.ok + c.errors;
  if (answered > sent_at_.size()) return fail("more replies than commands");
  auto now = core::now_us();
  for (std::uint64_t i = 0; i < answered; ++i) {
    st.ingest_rtt.record(now - sent_at_.front());
    sent_at_.pop_front();
  }
  st.publish_in_flight -= static_cast<std::int64_t>(answered);
  st.publish_ok += c.ok;
  st.publish_errors += c.errors;
  if (!c.first_error.empty()) ++st.errors["redis: " + c.first_error];
  if (c.broken) return fail("reply is not RESP");
  do_read();
  if (answered) pub_.room();
}

void redis_connection::fail(error_code ec, const char* what) {
  fail(std::string(what) + ": " + ec.message());
}

void redis_connection::fail(const std::string& why) {
  if (closed_ || pub_.closed_) return;
  auto& st = pub_.st_;
  ++st.errors["redis " + why];
  // Everything written or queued on this connection is lost.
  auto lost = static_cast<std::int64_t>(sent_at_.size());
  st.publish_in_flight -= lost;
  st.publish_errors += static_cast<std::uint64_t>(lost);
  sent_at_.clear();
  out_.clear();
  out_messages_ = 0;
  if (connected_) --st.publisher_connections;
  connected_ = false;
  error_code ignored;
  socket_.close(ignored);
  retry_.expires_after(std::chrono::milliseconds(200));
  retry_.async_wait([self = shared_from_this()](error_code e) {
    if (!e) self->do_connect();
  });
}

}  // namespace

std::unique_ptr<publisher> make_redis_publisher(net::io_context& ioc, const options& o, stats& st,
                                                tcp::endpoint target, std::size_t connections) {
  return std::make_unique<redis_publisher>(ioc, o, st, target, connections);
}

}  // namespace peyk::loadgen
