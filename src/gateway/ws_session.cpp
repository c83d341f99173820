#include "gateway/ws_session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/websocket/error.hpp>

#include "auth/visibility.hpp"
#include "core/clock.hpp"
#include "core/codec.hpp"

namespace peyk::gateway {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;

namespace {
constexpr std::string_view v1_snapshot_prefix = R"({"type":"snapshot","locations":[)";
constexpr std::string_view v1_locations_prefix = R"({"type":"locations","locations":[)";
constexpr std::string_view v1_suffix = "]}";
}  // namespace

ws_session::ws_session(gateway& gw, shard& sh, net::ip::tcp::socket socket,
                       std::shared_ptr<const auth::identity> who, subprotocol proto)
    : gw_(gw),
      shard_(sh),
      ws_(std::move(socket)),
      who_(std::move(who)),
      proto_(proto),
      queue_(sh.opts().queue) {}

ws_session::~ws_session() = default;

void ws_session::run(beast::http::request<beast::http::string_body> req) {
  const auto& o = shard_.opts();
  websocket::stream_base::timeout t;
  t.handshake_timeout = o.handshake_timeout;
  t.idle_timeout = o.idle_timeout;  // a ping goes out after half of it without traffic
  t.keep_alive_pings = true;
  ws_.set_option(t);
  ws_.read_message_max(o.max_read_message);
  const char* name = nullptr;
  if (auto offered = req[beast::http::field::sec_websocket_protocol]; !offered.empty()) {
    name = proto_ == subprotocol::v1                                 ? "peyk.v1"
           : offered.find("echo-protocol") != std::string_view::npos ? "echo-protocol"
                                                                     : nullptr;
  }
  ws_.set_option(websocket::stream_base::decorator([name](websocket::response_type& res) {
    res.set(beast::http::field::server, "peyk");
    if (name) res.set(beast::http::field::sec_websocket_protocol, name);
  }));
  ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
}

void ws_session::on_accept(beast::error_code ec) {
  if (ec) return;  // the client went away during the handshake
  auto& m = shard_.metrics();
  m.ws_accepted.inc();
  m.ws_connections.add(1);
  open_ = true;
  if (who_->role == auth::role::customer) gw_.customers_.fetch_add(1);
  shard_.viewers().add(shared_from_this());
  if (proto_ == subprotocol::v1) {
    // Registered first, so nothing published from now on is missed; the snapshot goes
    // out before any queued update (writing_ holds them back).
    snapshot_ = snapshot();
    start_write(v1_snapshot_prefix, v1_suffix);
  }
  do_read();
}

std::string ws_session::snapshot() const {
  std::string body;
  std::size_t n = 0;
  const auto& who = *who_;
  shard_.store().for_each([&](const store::entry& e) {
    if (n >= gateway::snapshot_limit || !auth::may_see(who, *e.loc)) return;
    if (n++) body += ',';
    if (who.role == auth::role::customer) {
      body += core::encode_location(*e.loc, auth::visible_orders(who, *e.loc));
    } else if (e.json) {
      body += *e.json;
    } else {
      body += core::encode_location(*e.loc);
    }
  });
  return body;
}

void ws_session::do_read() {
  ws_.async_read(rbuf_, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
    self->on_read(ec, n);
  });
}

void ws_session::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    if (ec == beast::error::timeout && !closing_) shard_.metrics().dropped_idle.inc();
    return finish();
  }
  rbuf_.consume(rbuf_.size());  // viewers have nothing to say yet; ignore what they send
  do_read();
}

void ws_session::finish() {
  if (finished_) return;
  finished_ = true;
  if (open_) {
    shard_.metrics().ws_connections.add(-1);
    if (who_->role == auth::role::customer) gw_.customers_.fetch_sub(1);
  }
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).close(ignored);
  queue_.clear();
  shard_.viewers().remove(this);  // may release the last reference but one (ours)
}

bool ws_session::push(const frame_ptr& f) {
  if (closing_ || finished_) return false;
  bool was_empty = queue_.empty();
  switch (queue_.push(f)) {
    case conflating_queue::result::queued:
      return was_empty && !writing_;
    case conflating_queue::result::conflated:
      shard_.metrics().conflated.inc();
      return false;
    case conflating_queue::result::overflow:
      abort(&shard_.metrics().dropped_queue);
      return false;
  }
  return false;
}

void ws_session::flush() {
  if (writing_ || closing_ || finished_ || queue_.empty()) return;
  queue_.drain(inflight_);
  start_write(v1_locations_prefix, v1_suffix);
}

void ws_session::append_header(std::size_t payload) {
  headers_ += static_cast<char>(0x81);  // FIN, text; server frames are unmasked (RFC 6455)
  if (payload < 126) {
    headers_ += static_cast<char>(payload);
  } else if (payload < 65536) {
    headers_ += static_cast<char>(126);
    headers_ += static_cast<char>((payload >> 8) & 0xff);
    headers_ += static_cast<char>(payload & 0xff);
  } else {
    headers_ += static_cast<char>(127);
    for (int shift = 56; shift >= 0; shift -= 8) {
      headers_ += static_cast<char>((static_cast<std::uint64_t>(payload) >> shift) & 0xff);
    }
  }
}

// Writes the snapshot (when snapshot_ is set) or the in-flight frames, in one write.
void ws_session::start_write(std::string_view prefix, std::string_view suffix) {
  headers_.clear();
  bufs_.clear();
  bool batched = proto_ == subprotocol::v1;
  std::size_t frames = 1;
  if (!snapshot_.empty() || (batched && inflight_.empty())) {
    // peyk.v1 snapshot (possibly empty)
    append_header(prefix.size() + snapshot_.size() + suffix.size());
    bufs_.emplace_back(headers_.data(), headers_.size());
    bufs_.emplace_back(prefix.data(), prefix.size());
    bufs_.emplace_back(snapshot_.data(), snapshot_.size());
    bufs_.emplace_back(suffix.data(), suffix.size());
  } else if (batched) {
    std::size_t payload = prefix.size() + suffix.size() + inflight_.size() - 1;
    for (const auto& f : inflight_) payload += f->json.size();
    append_header(payload);
    bufs_.reserve(inflight_.size() * 2 + 3);
    bufs_.emplace_back(headers_.data(), headers_.size());
    bufs_.emplace_back(prefix.data(), prefix.size());
    static constexpr char comma = ',';
    for (std::size_t i = 0; i < inflight_.size(); ++i) {
      if (i) bufs_.emplace_back(&comma, 1);
      bufs_.emplace_back(inflight_[i]->json.data(), inflight_[i]->json.size());
    }
    bufs_.emplace_back(suffix.data(), suffix.size());
  } else {
    frames = inflight_.size();
    headers_.reserve(frames * 10);  // no reallocation: the buffers point into it
    for (const auto& f : inflight_) append_header(f->json.size());
    bufs_.reserve(frames * 2);
    std::size_t off = 0;
    for (const auto& f : inflight_) {
      std::size_t len = f->json.size() < 126 ? 2 : f->json.size() < 65536 ? 4 : 10;
      bufs_.emplace_back(headers_.data() + off, len);
      bufs_.emplace_back(f->json.data(), f->json.size());
      off += len;
    }
  }
  auto& m = shard_.metrics();
  m.frames_out.inc(frames);
  m.writes.inc();
  if (!inflight_.empty()) {
    m.deliveries.inc(inflight_.size());
    // One latency sample per write (the oldest frame in it) keeps metrics off the
    // per-delivery path.
    m.delivery_latency.observe_us(core::now_us() - inflight_.front()->ts_us);
  }
  writing_ = true;
  write_started_ = clock::now();
  ws_.next_layer().write_all(
      bufs_,
      [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_write(ec, n); });
}

void ws_session::on_write(beast::error_code ec, std::size_t) {
  writing_ = false;
  inflight_.clear();
  snapshot_.clear();
  snapshot_.shrink_to_fit();
  if (ec) return finish();
  flush();
}

void ws_session::check(clock::time_point now, std::int64_t now_s) {
  if (finished_) return;
  if (closing_) {
    if (now - close_started_ > shard_.opts().handshake_timeout) abort(nullptr);
    return;
  }
  if (writing_ && now - write_started_ > shard_.opts().stall_timeout) {
    return abort(&shard_.metrics().dropped_stall);
  }
  if (who_->exp > 0 && now_s >= who_->exp) {
    shard_.metrics().dropped_expired.inc();
    close(4001);
  }
}

void ws_session::close(std::uint16_t code) {
  if (closing_ || finished_ || !open_) return;
  closing_ = true;
  close_started_ = clock::now();
  queue_.clear();
  websocket::close_reason reason(code);
  if (code == 4001) reason.reason = "token expired";
  if (code == 1001) reason.reason = "server shutting down";
  ws_.async_close(reason, [self = shared_from_this()](beast::error_code) {
    // The read loop ends when the peer answers (or the handshake times out).
  });
}

void ws_session::abort(core::counter* reason) {
  if (finished_) return;
  if (reason) reason->inc();
  closing_ = true;
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).close(ignored);  // pending handlers complete with an error
}

}  // namespace peyk::gateway
