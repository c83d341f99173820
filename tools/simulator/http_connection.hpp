#pragma once
// One keep-alive HTTP/1.1 client connection to the ingest API, one request at a time.
// do_x starts an async step and on_x completes it, as in Beast's examples. After an error
// it reconnects by itself with capped backoff; a request that meets a keep-alive socket
// the server had already closed is resent once on a fresh one, since nothing was lost.
// Single-threaded: every call and callback runs on the io_context's one thread.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "simulator/random.hpp"

namespace peyk::simulator {

struct http_result {
  boost::system::error_code ec;  // set: no answer (transport error or timeout)
  unsigned status = 0;
  std::string body;
  std::optional<double> retry_after_s;
};

class http_connection;

// Told what happens on a connection. on_response comes before on_ready for the same answer.
class connection_owner {
 public:
  virtual ~connection_owner() = default;
  virtual void on_ready(http_connection& c) = 0;  // connected and idle: post() may be called
  virtual void on_response(http_connection& c, std::uint32_t tag, http_result r) = 0;
  virtual void on_connect_failed(http_connection& c, boost::system::error_code ec) = 0;
};

struct target_info {
  boost::asio::ip::tcp::resolver::results_type endpoints;
  std::string host;  // the Host header
  std::string path;  // of the ingest API
  std::chrono::milliseconds timeout{10'000};
};

class http_connection : public std::enable_shared_from_this<http_connection> {
 public:
  enum class state { down, connecting, idle, busy };  // down: waiting to reconnect

  http_connection(boost::asio::io_context& ioc, std::shared_ptr<const target_info> target,
                  std::weak_ptr<connection_owner> owner, std::uint64_t seed);

  void start();
  void stop();
  // POSTs `body` with the courier's token; only while idle. The answer (or the error) comes
  // back through on_response with `tag`.
  void post(std::uint32_t tag, std::string_view token, std::string body);

  state current() const { return state_; }
  bool usable() const { return state_ != state::down; }
  std::uint64_t reconnects() const { return reconnects_; }

 private:
  void do_connect();
  void on_connect(boost::beast::error_code ec, const boost::asio::ip::tcp::endpoint&);
  void do_write();
  void on_write(boost::beast::error_code ec, std::size_t n);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t n);
  void do_wait();
  void on_wait(boost::beast::error_code ec);
  void fail(boost::beast::error_code ec, const char* what);

  std::shared_ptr<const target_info> target_;
  std::weak_ptr<connection_owner> owner_;
  boost::beast::tcp_stream stream_;
  boost::asio::steady_timer retry_timer_;
  boost::beast::flat_buffer buffer_;
  boost::beast::http::request<boost::beast::http::string_body> req_;
  boost::beast::http::response<boost::beast::http::string_body> res_;
  rng rng_;
  state state_ = state::down;
  std::uint32_t tag_ = 0;
  bool resend_ = false;         // reconnecting to resend req_
  bool resent_ = false;         // req_ was resent once already
  int failures_ = 0;            // in a row, for the reconnect backoff
  std::uint64_t answered_ = 0;  // answers on the current socket
  std::uint64_t reconnects_ = 0;
  bool stopped_ = false;
};

}  // namespace peyk::simulator
