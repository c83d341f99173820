#include "http/server.hpp"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "core/log.hpp"
#include "http/routes.hpp"

namespace peyk::http {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;

struct server::impl : std::enable_shared_from_this<server::impl> {
  settings cfg;
  services svc;
  std::vector<net::io_context*> contexts;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors;
  std::atomic<bool> stopped{false};
  std::atomic<std::size_t> open{0};     // HTTP sessions alive (all threads)
  std::atomic<std::size_t> busy{0};     // of those, with a request in flight
  std::unique_ptr<limits> conn_limits;  // made by listen(), once the base descriptors are open
  std::atomic<std::size_t> history_queries{0};  // track queries in flight

  void accept(std::size_t index);
};

namespace {

// One keep-alive HTTP connection. do_x starts an async step, on_x completes it.
class session : public std::enable_shared_from_this<session>, public responder {
 public:
  session(std::shared_ptr<server::impl> srv, std::size_t index, tcp::socket s,
          limits::connection conn)
      : srv_(std::move(srv)), index_(index), stream_(std::move(s)), conn_(std::move(conn)) {}

  void run() {
    srv_->svc.metrics->http_connections.add(1);
    do_wait();
  }
  ~session() override {
    set_busy(false);
    srv_->svc.metrics->http_connections.add(-1);
    srv_->open.fetch_sub(1, std::memory_order_relaxed);
  }

  // responder
  void send(bhttp::response<bhttp::string_body> res) override {
    if (core::log_enabled(core::log_level::debug)) {
      core::log(core::log_level::debug,
                access_log_line(log_method_, log_target_, res.result_int()));
    }
    res.set(bhttp::field::server, "peyk");
    res.keep_alive(keep_alive_ && !srv_->svc.draining->load());
    res.prepare_payload();
    auto sp = std::make_shared<bhttp::response<bhttp::string_body>>(std::move(res));
    stream_.expires_after(srv_->cfg.body_timeout);  // a client that does not read its answer
    bhttp::async_write(stream_, *sp,
                       [self = shared_from_this(), sp](beast::error_code ec, std::size_t) {
                         self->on_write(ec, sp->keep_alive());
                       });
  }
  void post(std::function<void()> fn) override {
    net::post(stream_.get_executor(), [self = shared_from_this(), fn = std::move(fn)] { fn(); });
  }
  void upgrade(std::shared_ptr<const auth::identity> who, gateway::subprotocol proto,
               std::shared_ptr<void> lease) override {
    if (core::log_enabled(core::log_level::debug)) {
      core::log(core::log_level::debug, access_log_line(log_method_, log_target_, 101));
    }
    stream_.expires_never();
    set_busy(false);  // the viewer is the gateway's now
    // The viewer holds its identity for its whole life: the leases (its slot, and the
    // socket's count for its address and the descriptors) ride on that pointer, so they
    // are given back when the viewer ends, without the gateway knowing of them.
    struct held {
      std::shared_ptr<const auth::identity> who;
      std::shared_ptr<void> socket, viewer;
    };
    auto h = std::make_shared<held>(held{std::move(who), std::move(conn_.lease), std::move(lease)});
    std::shared_ptr<const auth::identity> aliased(h, h->who.get());
    srv_->svc.gw->accept(index_, stream_.release_socket(), parser_->release(), std::move(aliased),
                         proto);
  }

 private:
  // A new connection has header_timeout from its accept to send a whole request head. A
  // keep-alive connection may then idle for keepalive_timeout; from the first byte of its
  // next request it has header_timeout for the head, then body_timeout for the body: an
  // idle connection may wait, a slow one may not dribble (slowloris).
  void do_wait() {
    stream_.expires_after(fresh_ ? srv_->cfg.header_timeout : srv_->cfg.keepalive_timeout);
    if (buffer_.size() > 0) return do_read();
    // Read into the capacity a keep-alive connection already has; a new one starts with
    // 512 bytes, so an idle or abandoned connection holds little (a flood of 10,000).
    const std::size_t room = std::max<std::size_t>(512, buffer_.capacity() - buffer_.size());
    stream_.async_read_some(buffer_.prepare(room),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              if (ec) return self->on_timeout_or_close(ec, self->fresh_);
                              self->buffer_.commit(n);
                              self->do_read();
                            });
  }

  void do_read() {
    set_busy(true);  // a request's first bytes are here
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(srv_->cfg.max_header));
    // The body's limit is checked once the head is admitted (a refusal comes first).
    parser_->body_limit(boost::none);
    head_ = {};
    if (!fresh_) stream_.expires_after(srv_->cfg.header_timeout);  // fresh: since the accept
    fresh_ = false;
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
  }

  // Auth before body: what the head alone decides (the address's share, ingest's token,
  // role, content type and rate limit, the body's size) is answered before any byte of
  // the body is read.
  void on_header(beast::error_code ec) {
    if (ec) return on_read(ec);
    auto& req = parser_->get();
    if (core::log_enabled(core::log_level::debug)) {
      log_method_ = req.method_string();
      log_target_ = req.target();
    }
    if (conn_.over_ip) {
      srv_->conn_limits->count_refused_ip();
      auto res = error_response(429, "too_many_connections",
                                "too many connections from this address "
                                "(--max-connections-per-ip); retry later");
      res.set(bhttp::field::retry_after, "5");
      return refuse_head(std::move(res), true);
    }
    head_ = check_head(req, srv_->cfg, srv_->svc);
    if (head_.refuse) return refuse_head(std::move(*head_.refuse), false);
    if (parser_->is_done()) return on_read(ec);
    if (auto n = parser_->content_length(); n && *n > srv_->cfg.max_body) {
      keep_alive_ = false;
      linger_ = true;
      return reject(413, "body_too_large",
                    "request body over " + std::to_string(srv_->cfg.max_body) + " bytes");
    }
    parser_->body_limit(srv_->cfg.max_body);
    stream_.expires_after(srv_->cfg.body_timeout);
    if (beast::iequals(req[bhttp::field::expect], "100-continue")) {
      static const std::string_view go = "HTTP/1.1 100 Continue\r\n\r\n";
      return net::async_write(stream_, net::buffer(go.data(), go.size()),
                              [self = shared_from_this()](beast::error_code e, std::size_t) {
                                if (e) return self->close();
                                self->do_read_body();
                              });
    }
    do_read_body();
  }

  void do_read_body() {
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code e, std::size_t) { self->on_read(e); });
  }

  // Answers a request refused on its head. With a body announced and unread, the
  // connection closes after the answer (`always_close` closes it anyway).
  void refuse_head(bhttp::response<bhttp::string_body> res, bool always_close) {
    keep_alive_ = parser_->get().keep_alive() && parser_->is_done() && !always_close;
    linger_ = !parser_->is_done();
    send(std::move(res));
  }

  // Closes quietly; a deadline passed in the middle of a request is counted.
  void on_timeout_or_close(beast::error_code ec, bool mid_request) {
    if (ec == beast::error::timeout && mid_request) srv_->svc.metrics->http_timeouts.inc();
    close();
  }

  void on_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == beast::error::timeout ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      return on_timeout_or_close(ec, true);
    }
    if (ec == bhttp::error::partial_message) return close();  // the peer left mid-request
    if (ec) {
      keep_alive_ = false;
      if (ec == bhttp::error::body_limit) {
        return reject(413, "body_too_large",
                      "request body over " + std::to_string(srv_->cfg.max_body) + " bytes");
      }
      if (ec == bhttp::error::header_limit) {
        return reject(431, "headers_too_large", "request headers too large");
      }
      return reject(400, "bad_request", "malformed HTTP request");
    }
    keep_alive_ = parser_->get().keep_alive();
    route(parser_->get(), head_, shared_from_this(), srv_->cfg, srv_->svc);
  }

  void reject(unsigned status, std::string_view code, std::string_view message) {
    bhttp::response<bhttp::string_body> res{static_cast<bhttp::status>(status), 11};
    res.set(bhttp::field::content_type, "application/json");
    res.body() = error_body(code, message);
    if (status == 413) srv_->svc.metrics->ingest_by_status[413].inc();
    send(std::move(res));
  }

  void on_write(beast::error_code ec, bool keep_alive) {
    set_busy(false);
    if (!ec && linger_) return do_linger();
    if (ec || !keep_alive) return close();
    do_wait();
  }

  // After an answer to a request whose body was not read: stop sending, then drop what
  // the client still sends for a short while before closing, so that the unread bytes
  // do not make the kernel reset the connection under the answer (which the client
  // might then never read). Bounded in time and bytes.
  void do_linger() {
    linger_ = false;
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.expires_after(std::chrono::seconds(2));
    drain_left_ = srv_->cfg.max_body + srv_->cfg.max_header;
    buffer_.clear();
    do_drain();
  }
  void do_drain() {
    stream_.async_read_some(buffer_.prepare(4096),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->buffer_.clear();
                              if (ec || n >= self->drain_left_) return self->close();
                              self->drain_left_ -= n;
                              self->do_drain();
                            });
  }

  // In flight: from a request's first byte until its answer is written (a SIGTERM drain
  // waits for these, bounded by --drain-timeout).
  void set_busy(bool b) {
    if (b == busy_) return;
    busy_ = b;
    if (b) {
      srv_->busy.fetch_add(1, std::memory_order_relaxed);
    } else {
      srv_->busy.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  std::shared_ptr<server::impl> srv_;
  std::size_t index_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{16 * 1024};
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  limits::connection conn_;  // this socket's count (address, descriptors)
  head_check head_;
  bool keep_alive_ = true;
  bool linger_ = false;  // the answer leaves a body unread
  std::size_t drain_left_ = 0;
  bool fresh_ = true;
  bool busy_ = false;
  std::string log_method_ = "-", log_target_ = "-";  // only with --log-level debug
};

}  // namespace

void server::impl::accept(std::size_t index) {
  auto& acc = *acceptors[index];
  acc.async_accept(
      *contexts[index], [self = shared_from_this(), index](beast::error_code ec, tcp::socket s) {
        if (self->stopped.load()) return;
        if (!ec) {
          // Over the limit: close at once (the peer sees a reset or EOF)
          // rather than leave it in the backlog holding a descriptor.
          if (self->open.fetch_add(1, std::memory_order_relaxed) >= self->cfg.max_connections) {
            self->open.fetch_sub(1, std::memory_order_relaxed);
            self->svc.metrics->http_refused.inc();
            s.close(ec);
            return self->accept(index);
          }
          // Only the descriptor reserve is left: close too, so that health, metrics and
          // ingest keep the room they have (counted as limit="accept").
          auto peer = s.remote_endpoint(ec);
          auto conn = self->conn_limits->enter(ec ? net::ip::address{} : peer.address());
          if (!conn.lease) {
            self->open.fetch_sub(1, std::memory_order_relaxed);
            s.close(ec);
            return self->accept(index);
          }
          s.set_option(tcp::no_delay(true), ec);
          std::make_shared<session>(self, index, std::move(s), std::move(conn))->run();
        } else if (ec == net::error::operation_aborted) {
          return;
        } else {
          core::log(core::log_level::warn, "accept: " + ec.message());
          // Out of descriptors and the like: back off briefly instead of spinning.
          auto t = std::make_shared<net::steady_timer>(*self->contexts[index],
                                                       std::chrono::milliseconds(50));
          t->async_wait([self, index, t](beast::error_code) { self->accept(index); });
          return;
        }
        self->accept(index);
      });
}

server::server(settings s, services svc, std::vector<net::io_context*> contexts)
    : impl_(std::make_shared<impl>()) {
  impl_->cfg = std::move(s);
  impl_->svc = svc;
  impl_->contexts = std::move(contexts);
  impl_->conn_limits = std::make_unique<limits>(impl_->cfg.limits);
  impl_->svc.conn_limits = impl_->conn_limits.get();
  impl_->svc.history_queries = &impl_->history_queries;
}

server::~server() {
  stop_accepting();
}

void server::listen(const tcp::endpoint& ep) {
  tcp::endpoint bound = ep;
  if (ep.port() != 0) {
    // SO_REUSEPORT would let a second peyk join this port's group and take half of its
    // connections. A plain bind first fails with "address in use" if anyone listens.
    tcp::acceptor probe(*impl_->contexts[0]);
    probe.open(ep.protocol());
    probe.set_option(net::socket_base::reuse_address(true));
    probe.bind(ep);
  }
  for (std::size_t i = 0; i < impl_->contexts.size(); ++i) {
    auto acc = std::make_unique<tcp::acceptor>(*impl_->contexts[i]);
    acc->open(bound.protocol());
    acc->set_option(net::socket_base::reuse_address(true));
    // One acceptor per thread on the same port; the kernel spreads connections.
    acc->set_option(net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
    acc->bind(bound);
    acc->listen(net::socket_base::max_listen_connections);
    if (i == 0) bound = acc->local_endpoint();
    impl_->acceptors.push_back(std::move(acc));
  }
  // The listeners, the broker's and the threads' descriptors are open now: what is left
  // is the connections' (the reserve aside).
  auto& lim = impl_->cfg.limits;
  if (lim.fd_limit != 0 && lim.fd_base == 0) {
    lim.fd_base = count_open_fds();
    impl_->conn_limits = std::make_unique<limits>(lim);
    impl_->svc.conn_limits = impl_->conn_limits.get();
  }
  for (std::size_t i = 0; i < impl_->acceptors.size(); ++i) {
    net::post(*impl_->contexts[i], [impl = impl_, i] { impl->accept(i); });
  }
}

void server::release() {
  impl_->acceptors.clear();
}

tcp::endpoint server::local_endpoint() const {
  return impl_->acceptors.at(0)->local_endpoint();
}

const limits& server::connection_limits() const {
  return *impl_->conn_limits;
}

std::size_t server::in_flight() const {
  return impl_->busy.load(std::memory_order_relaxed);
}

void server::stop_accepting() {
  if (impl_->stopped.exchange(true)) return;
  for (std::size_t i = 0; i < impl_->acceptors.size(); ++i) {
    net::post(*impl_->contexts[i], [impl = impl_, i] {
      beast::error_code ignored;
      impl->acceptors[i]->close(ignored);
    });
  }
}

}  // namespace peyk::http
