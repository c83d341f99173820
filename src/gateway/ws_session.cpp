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
// One write carries at most this much of the feed (Asio gathers 64 buffers per syscall).
constexpr std::size_t max_batches_per_write = 60;
constexpr std::size_t max_bytes_per_write = 1u << 20;
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
  // Registered before the 101 leaves: a client may publish the moment it sees the
  // upgrade answer, and what the hub dispatches from now on must reach it. Until the
  // handshake completes, updates wait (in the feed past the cursor, or in the queue).
  shard_.viewers().add(shared_from_this());
  ws_.async_accept(req, [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
}

void ws_session::on_accept(beast::error_code ec) {
  if (ec) return finish();  // the client went away during the handshake
  auto& m = shard_.metrics();
  m.ws_accepted.inc();
  m.ws_connections.add(1);
  open_ = true;
  if (who_->role == auth::role::customer) gw_.customers_.fetch_add(1);
  if (proto_ == subprotocol::v1) {
    // The snapshot holds every location stored so far, so an admin skips what the feed
    // dispatched before it; it goes out before any queued update (writing_ holds them).
    if (const feed* f = shared_feed()) set_cursor(f->end());
    snapshot_ = snapshot();
    start_write(v1_snapshot_prefix, v1_suffix);
  } else {
    flush();
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
  // Viewers have nothing to say: what they send is read (so Beast answers pings and
  // closes and enforces the limits) into the shard's scratch buffer and dropped. No
  // per-viewer read buffer: an idle viewer costs no heap for reading.
  auto scratch = shard_.scratch();
  ws_.async_read_some(
      net::buffer(scratch.data(), scratch.size()),
      [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
}

void ws_session::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    if (ec == beast::error::timeout && !closing_) shard_.metrics().dropped_idle.inc();
    return finish();
  }
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
  if (!open_ || writing_ || closing_ || finished_) return;
  if (const feed* f = shared_feed()) {
    flush_feed(*f);
    return;
  }
  if (queue_.empty()) return;
  queue_.drain(inflight_);
  start_write(v1_locations_prefix, v1_suffix);
}

bool ws_session::flush_feed(const feed& f) {
  std::uint64_t from = cursor();
  if (from >= f.end()) return false;
  if (from < f.begin()) {
    // Too far behind for the log: the newest location of each courier updated since.
    set_cursor(f.latest_since(from, inflight_));
    if (inflight_.empty()) return false;
    shard_.metrics().catch_ups.inc();
    start_write(v1_locations_prefix, v1_suffix);
    return true;
  }
  set_cursor(f.collect(from, proto_ == subprotocol::echo, max_batches_per_write,
                       max_bytes_per_write, inflight_batches_));
  start_feed_write();
  return true;
}

// Writes the batches in inflight_batches_: their shared bytes, one buffer each.
void ws_session::start_feed_write() {
  headers_.clear();
  bufs_.clear();
  std::size_t count = 0;
  std::int64_t oldest = inflight_batches_.front()->oldest_ts_us;
  for (const auto& b : inflight_batches_) {
    count += b->count;
    oldest = std::min(oldest, b->oldest_ts_us);
  }
  if (proto_ == subprotocol::echo) {
    for (const auto& b : inflight_batches_) bufs_.emplace_back(b->echo.data(), b->echo.size());
    return begin_write(count, count, oldest);
  }
  // One `locations` frame; every batch's bytes start with ',', skipped for the first.
  std::size_t payload = v1_locations_prefix.size() + v1_suffix.size() - 1;
  for (const auto& b : inflight_batches_) payload += b->v1.size();
  feed::append_frame_header(headers_, payload);
  bufs_.emplace_back(headers_.data(), headers_.size());
  bufs_.emplace_back(v1_locations_prefix.data(), v1_locations_prefix.size());
  bufs_.emplace_back(inflight_batches_.front()->v1.data() + 1,
                     inflight_batches_.front()->v1.size() - 1);
  for (std::size_t i = 1; i < inflight_batches_.size(); ++i) {
    bufs_.emplace_back(inflight_batches_[i]->v1.data(), inflight_batches_[i]->v1.size());
  }
  bufs_.emplace_back(v1_suffix.data(), v1_suffix.size());
  begin_write(1, count, oldest);
}

// Writes the snapshot (when snapshot_ is set) or the in-flight frames, in one write.
void ws_session::start_write(std::string_view prefix, std::string_view suffix) {
  headers_.clear();
  bufs_.clear();
  bool batched = proto_ == subprotocol::v1;
  std::size_t frames = 1;
  if (!snapshot_.empty() || (batched && inflight_.empty())) {
    // peyk.v1 snapshot (possibly empty)
    feed::append_frame_header(headers_, prefix.size() + snapshot_.size() + suffix.size());
    bufs_.emplace_back(headers_.data(), headers_.size());
    bufs_.emplace_back(prefix.data(), prefix.size());
    bufs_.emplace_back(snapshot_.data(), snapshot_.size());
    bufs_.emplace_back(suffix.data(), suffix.size());
  } else if (batched) {
    std::size_t payload = prefix.size() + suffix.size() + inflight_.size() - 1;
    for (const auto& f : inflight_) payload += f->json.size();
    feed::append_frame_header(headers_, payload);
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
    for (const auto& f : inflight_) feed::append_frame_header(headers_, f->json.size());
    bufs_.reserve(frames * 2);
    std::size_t off = 0;
    for (const auto& f : inflight_) {
      std::size_t len = f->json.size() < 126 ? 2 : f->json.size() < 65536 ? 4 : 10;
      bufs_.emplace_back(headers_.data() + off, len);
      bufs_.emplace_back(f->json.data(), f->json.size());
      off += len;
    }
  }
  begin_write(frames, inflight_.size(), inflight_.empty() ? 0 : inflight_.front()->ts_us);
}

void ws_session::begin_write(std::size_t frames, std::size_t deliveries,
                             std::int64_t oldest_ts_us) {
  auto& m = shard_.metrics();
  m.frames_out.inc(frames);
  m.writes.inc();
  if (deliveries > 0) {
    m.deliveries.inc(deliveries);
    // One latency sample per write (the oldest location in it) keeps metrics off the
    // per-delivery path.
    m.delivery_latency.observe_us(core::now_us() - oldest_ts_us);
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
  inflight_batches_.clear();
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
