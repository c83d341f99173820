#include "http_publisher.hpp"

#include <chrono>
#include <optional>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "core/clock.hpp"
#include "message.hpp"
#include "options.hpp"
#include "redis_publisher.hpp"
#include "stats.hpp"
#include "tokens.hpp"

namespace peyk::loadgen {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

// One keep-alive connection: connect, then request/answer, one at a time.
class http_connection : public std::enable_shared_from_this<http_connection> {
 public:
  http_connection(http_publisher& pub) : pub_(pub), socket_(pub.ioc_), retry_(pub.ioc_) {}

  void start() { do_connect(); }

  void send(std::string request) {
    req_ = std::move(request);
    sent_at_ = core::now_us();
    net::async_write(socket_, net::buffer(req_),
                     [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                       self->on_write(ec, n);
                     });
  }

  void close() {
    closed_ = true;
    retry_.cancel();
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
  }

 private:
  void do_connect() {
    if (closed_ || pub_.closed_) return;
    beast::error_code ignored;
    socket_.close(ignored);
    buf_.clear();
    socket_.async_connect(
        pub_.target_, [self = shared_from_this()](beast::error_code ec) { self->on_connect(ec); });
  }

  void on_connect(beast::error_code ec) {
    if (ec) return fail(ec, "connect");
    socket_.set_option(tcp::no_delay(true), ec);
    connected_ = true;
    ++pub_.st_.publisher_connections;
    pub_.on_idle(this);
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec, "write");
    ++pub_.st_.publish_sent;
    parser_.emplace();
    parser_->body_limit(64 * 1024);
    bhttp::async_read(
        socket_, buf_, *parser_,
        [self = shared_from_this()](beast::error_code e, std::size_t n) { self->on_read(e, n); });
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec, "read");
    auto& res = parser_->get();
    auto& st = pub_.st_;
    --pub_.st_.publish_in_flight;
    unsigned status = res.result_int();
    ++st.by_status[status < st.by_status.size() ? status : 0];
    if (status >= 200 && status < 300) ++st.publish_ok;
    st.ingest_rtt.record(core::now_us() - sent_at_);
    if (!res.keep_alive()) {
      drop();
      return do_connect();
    }
    pub_.on_idle(this);
  }

  // The connection is unusable: count it, and reconnect after a pause unless closing.
  void fail(beast::error_code ec, const char* what) {
    if (closed_ || pub_.closed_) return;
    auto& st = pub_.st_;
    if (std::string_view(what) != "connect") {
      --pub_.st_.publish_in_flight;
      ++st.publish_errors;
    }
    ++st.errors[std::string("ingest ") + what + ": " + ec.message()];
    drop();
    retry_.expires_after(std::chrono::milliseconds(200));
    retry_.async_wait([self = shared_from_this()](beast::error_code e) {
      if (!e) self->do_connect();
    });
  }

  void drop() {
    if (connected_) --pub_.st_.publisher_connections;
    connected_ = false;
    beast::error_code ignored;
    socket_.close(ignored);
  }

  http_publisher& pub_;
  tcp::socket socket_;
  net::steady_timer retry_;
  beast::flat_buffer buf_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
  std::string req_;
  std::int64_t sent_at_ = 0;
  bool connected_ = false;
  bool closed_ = false;
};

http_publisher::http_publisher(net::io_context& ioc, const options& o, const token_book& tokens,
                               stats& st, tcp::endpoint target, std::size_t connections)
    : ioc_(ioc), tokens_(tokens), st_(st), target_(target) {
  host_header_ = o.ingest_host + ":" + std::to_string(o.ingest_port);
  osmand_ = o.ingest_format == "osmand";
  connections_.reserve(connections);
  for (std::size_t i = 0; i < connections; ++i) {
    connections_.push_back(std::make_shared<http_connection>(*this));
  }
  idle_.reserve(connections);
}

http_publisher::~http_publisher() = default;

void http_publisher::start() {
  for (auto& c : connections_) c->start();
}

bool http_publisher::try_publish(std::size_t courier_id) {
  if (idle_.empty() || closed_) return false;
  auto* c = idle_.back();
  idle_.pop_back();

  auto pos = courier_position(courier_id, ++seq_);
  const auto& token = tokens_.courier(courier_id);
  if (osmand_) {
    // The OsmAnd app's request (docs/apps.md): the token as the device id, {2} in ms.
    std::string req;
    req.reserve(300 + token.size());
    req += "GET /api/v1/osmand?id=";
    req += token;
    req += "&lat=";
    append_fixed6(req, pos.latitude);
    req += "&lon=";
    append_fixed6(req, pos.longitude);
    req += "&timestamp=";
    req += std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count());
    req += "&hdop=1.0&altitude=1200&speed=8.2&bearing=270&speed_unit=mps HTTP/1.1\r\nHost: ";
    req += host_header_;
    req += "\r\n\r\n";
    ++st_.publish_in_flight;
    c->send(std::move(req));
    return true;
  }
  std::string body;
  body.reserve(128);
  body += R"({"latitude":)";
  append_fixed6(body, pos.latitude);
  body += R"(,"longitude":)";
  append_fixed6(body, pos.longitude);
  body += R"(,"accuracy":6.5,"speed":8.2,"heading":270,"orders":[")";
  body += courier_order(courier_id);
  body += R"("]})";

  std::string req;
  req.reserve(200 + token.size() + body.size());
  req += "POST /api/v1/locations HTTP/1.1\r\nHost: ";
  req += host_header_;
  req += "\r\nAuthorization: Bearer ";
  req += token;
  req += "\r\nContent-Type: application/json\r\nContent-Length: ";
  req += std::to_string(body.size());
  req += "\r\n\r\n";
  req += body;
  ++st_.publish_in_flight;
  c->send(std::move(req));
  return true;
}

std::size_t http_publisher::in_flight() const {
  return static_cast<std::size_t>(st_.publish_in_flight);
}

void http_publisher::close() {
  closed_ = true;
  idle_.clear();
  st_.publish_in_flight = 0;  // abandoned: no answer will be counted
  for (auto& c : connections_) c->close();
}

std::unique_ptr<publisher> make_publisher(net::io_context& ioc, const options& o,
                                          const token_book& tokens, stats& st, tcp::endpoint target,
                                          std::size_t connections) {
  // --publisher is validated at parse time.
  if (o.publisher == "redis") return make_redis_publisher(ioc, o, st, target, connections);
  return std::make_unique<http_publisher>(ioc, o, tokens, st, target, connections);
}

}  // namespace peyk::loadgen
