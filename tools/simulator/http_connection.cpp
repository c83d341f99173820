#include "simulator/http_connection.hpp"

#include <boost/asio/error.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "simulator/backoff.hpp"
#include "simulator/wire.hpp"

namespace peyk::simulator {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

http_connection::http_connection(net::io_context& ioc, std::shared_ptr<const target_info> target,
                                 std::weak_ptr<connection_owner> owner, std::uint64_t seed)
    : target_(std::move(target)),
      owner_(std::move(owner)),
      stream_(ioc),
      retry_timer_(ioc),
      rng_(seed) {
  req_.method(http::verb::post);
  req_.target(target_->path);
  req_.version(11);
  req_.set(http::field::host, target_->host);
  req_.set(http::field::user_agent, "peyk-simulator");
  req_.set(http::field::content_type, "application/json");
  req_.keep_alive(true);
}

void http_connection::start() {
  do_connect();
}

void http_connection::stop() {
  stopped_ = true;
  retry_timer_.cancel();
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
  state_ = state::down;
}

void http_connection::post(std::uint32_t tag, std::string_view token, std::string body) {
  tag_ = tag;
  state_ = state::busy;
  resent_ = false;
  std::string auth;
  auth.reserve(7 + token.size());
  auth.append("Bearer ").append(token);
  req_.set(http::field::authorization, auth);
  req_.body() = std::move(body);
  req_.prepare_payload();
  do_write();
}

void http_connection::do_connect() {
  if (!resend_) state_ = state::connecting;
  buffer_.consume(buffer_.size());
  answered_ = 0;
  stream_.expires_after(target_->timeout);
  stream_.async_connect(target_->endpoints, beast::bind_front_handler(&http_connection::on_connect,
                                                                      shared_from_this()));
}

void http_connection::on_connect(beast::error_code ec, const tcp::endpoint&) {
  if (ec) return fail(ec, "connect");
  if (stopped_) return;  // completed just before stop() closed the socket
  failures_ = 0;
  // Small requests, each answered before the next: Nagle would only add latency.
  stream_.socket().set_option(tcp::no_delay(true), ec);
  if (resend_) {
    resend_ = false;
    return do_write();
  }
  state_ = state::idle;
  if (auto owner = owner_.lock()) owner->on_ready(*this);
}

void http_connection::do_write() {
  stream_.expires_after(target_->timeout);
  http::async_write(stream_, req_,
                    beast::bind_front_handler(&http_connection::on_write, shared_from_this()));
}

void http_connection::on_write(beast::error_code ec, std::size_t) {
  if (ec) return fail(ec, "write");
  do_read();
}

void http_connection::do_read() {
  res_ = {};
  stream_.expires_after(target_->timeout);
  http::async_read(stream_, buffer_, res_,
                   beast::bind_front_handler(&http_connection::on_read, shared_from_this()));
}

void http_connection::on_read(beast::error_code ec, std::size_t) {
  if (ec) return fail(ec, "read");
  ++answered_;
  http_result r;
  r.status = res_.result_int();
  r.body = std::move(res_.body());
  if (auto it = res_.find(http::field::retry_after); it != res_.end()) {
    r.retry_after_s = parse_retry_after(it->value());
  }
  bool keep = res_.keep_alive();
  if (keep) {
    stream_.expires_never();
    state_ = state::idle;
  } else {
    // The server ends the connection (draining, or a limit): reconnect right away.
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
    state_ = state::connecting;
  }
  auto owner = owner_.lock();
  if (!owner) return;
  owner->on_response(*this, tag_, std::move(r));
  if (stopped_) return;
  if (!keep) return do_connect();
  if (state_ == state::idle) owner->on_ready(*this);
}

void http_connection::do_wait() {
  retry_timer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(backoff_delay(failures_, rng_.unit()))));
  retry_timer_.async_wait(beast::bind_front_handler(&http_connection::on_wait, shared_from_this()));
}

void http_connection::on_wait(beast::error_code ec) {
  // stop() cancels the wait, but a wait that had already expired still runs here.
  if (ec || stopped_) return;
  ++reconnects_;
  do_connect();
}

void http_connection::fail(beast::error_code ec, const char* /*what*/) {
  if (stopped_ || ec == net::error::operation_aborted) return;
  beast::error_code ignored;
  stream_.socket().close(ignored);
  bool had_request = state_ == state::busy;
  // A keep-alive socket the server closed while idle fails at the first write or read:
  // nothing was processed, so resend once on a fresh socket instead of reporting an error.
  bool stale = had_request && answered_ > 0 && !resent_ &&
               (ec == http::error::end_of_stream || ec == net::error::eof ||
                ec == net::error::connection_reset || ec == net::error::broken_pipe);
  if (stale) {
    resend_ = resent_ = true;
    ++reconnects_;
    return do_connect();
  }
  resend_ = false;
  state_ = state::down;
  ++failures_;
  if (auto owner = owner_.lock()) {
    if (had_request) {
      owner->on_response(*this, tag_, http_result{ec, 0, {}, {}});
    } else {
      owner->on_connect_failed(*this, ec);
    }
  }
  if (!stopped_) do_wait();
}

}  // namespace peyk::simulator
