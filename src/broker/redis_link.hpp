#pragma once
// One Redis connection on Asio, with hiredis's RESP reader: a pipeline of commands whose
// replies are matched in order, plus (on a subscriber connection) pushed messages.
//
// Threading: every call, and every callback, runs on the io_context given at
// construction (the broker's thread). Reconnects by itself with capped, jittered
// backoff until stop(); a reply that does not come within 3 s fails the connection.

#include <hiredis/hiredis.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/metrics.hpp"

namespace peyk::broker {

// Appends one command in RESP to `out`.
void append_command(std::string& out, std::span<const std::string_view> args);
inline void append_command(std::string& out, std::initializer_list<std::string_view> args) {
  append_command(out, std::span<const std::string_view>(args.begin(), args.size()));
}
// The text of a string, status or error reply; empty for anything else.
std::string_view reply_text(const redisReply* r);

struct link_target {
  std::string host = "127.0.0.1";
  unsigned short port = 6379;
  std::string password;
  int db = 0;
  std::chrono::milliseconds max_backoff{5000};
};

class redis_link : public std::enable_shared_from_this<redis_link> {
 public:
  using clock = std::chrono::steady_clock;
  // ok: no reply was an error; last: the last reply (null when the link failed);
  // error: the first error reply's text.
  using done_fn = std::function<void(bool ok, redisReply* last, std::string_view error)>;

  redis_link(boost::asio::io_context& ioc, link_target target, core::metrics& m, std::string role);
  ~redis_link();

  std::function<void()> on_up;               // connected (handshake pipelined)
  std::function<bool(redisReply*)> on_push;  // true when the reply was a push
  std::function<void()> on_down;

  bool up() const { return up_; }
  // Not up yet, but not failed either: the first attempt since start() or since the link
  // was last up is under way (a failure counts an attempt; the reconnect backoff follows).
  bool connecting() const { return !up_ && !stopped_ && attempts_ == 0; }
  // Replies to command() are still due (errors then belong to them, not to pushes).
  bool awaiting_replies() const { return !fifo_.empty(); }
  const link_target& target() const { return target_; }

  void start() { do_connect(); }
  void stop();

  // Sends pre-formatted commands expecting `replies` replies; `done` runs once (at once,
  // with ok=false, while the link is down).
  void command(std::string_view bytes, std::size_t replies, done_fn done);
  // Sends commands whose answers are pushes (SUBSCRIBE), not pipeline replies.
  void send_only(std::string_view bytes);
  // Liveness: pings when idle, fails the link when a reply is 3 s late.
  void check(clock::time_point now);
  // Drops the connection (pending commands fail) and reconnects after the backoff.
  void fail(const std::string& why);

 private:
  struct pending {
    std::size_t remaining;
    bool failed = false;
    std::string error;
    done_fn done;
    clock::time_point sent;
  };

  void do_connect();
  void on_connect(boost::system::error_code ec);
  void do_read();
  bool on_reply(redisReply* r);
  void do_write();

  link_target target_;
  core::metrics& metrics_;
  std::string role_;
  boost::asio::ip::tcp::socket sock_;
  boost::asio::steady_timer timer_;
  boost::asio::ip::tcp::resolver resolver_;
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

}  // namespace peyk::broker
