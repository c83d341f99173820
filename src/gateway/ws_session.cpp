#include "gateway/ws_session.hpp"

#include "gateway/client_message.hpp"

#include <algorithm>

#include <boost/asio/dispatch.hpp>
#include <boost/beast/http/write.hpp>

#include "auth/visibility.hpp"
#include "core/clock.hpp"
#include "core/codec.hpp"

namespace peyk::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;

namespace {
constexpr std::string_view v1_snapshot_prefix = R"({"type":"snapshot","locations":[)";
constexpr std::string_view v1_locations_prefix = R"({"type":"locations","locations":[)";
constexpr std::string_view v1_suffix = "]}";
// One write carries at most this much of the feed (Asio gathers 64 buffers per syscall).
constexpr std::size_t max_batches_per_write = 60;
constexpr std::size_t max_bytes_per_write = 1u << 20;
// Control frames queued behind a write, at most, before pings go unanswered.
constexpr std::size_t max_queued_controls = 64;
// Status frames waiting behind a write, at most, before the viewer is closed as too slow.
constexpr std::size_t max_queued_status = 64;
}  // namespace

ws_session::ws_session(gateway& gw, shard& sh, net::ip::tcp::socket socket,
                       std::shared_ptr<const auth::identity> who, subprotocol proto)
    : gw_(gw),
      shard_(sh),
      gate_(std::move(socket)),
      reader_(sh.opts().max_read_message, proto == subprotocol::v1),
      who_(std::move(who)),
      proto_(proto),
      queue_(sh.opts().queue) {}

// The focus is given back in finish(); a session destroyed without it (the io_contexts
// torn down at exit) may outlive the gateway, so it must not call it here.
ws_session::~ws_session() = default;

void ws_session::run(http::request<http::string_body> req) {
  // The HTTP layer checked that this is an upgrade and who may watch; what remains of
  // RFC 6455 §4.2.1 is the version and the key.
  if (req[http::field::sec_websocket_version] != "13") {
    return refuse(http::status::upgrade_required, "");
  }
  auto key = req[http::field::sec_websocket_key];
  if (!valid_client_key(key)) return refuse(http::status::bad_request, "invalid Sec-WebSocket-Key");
  answer_ = std::make_unique<http::response<http::empty_body>>(http::status::switching_protocols,
                                                               req.version());
  auto& res = *answer_;
  res.set(http::field::upgrade, "websocket");
  res.set(http::field::connection, "Upgrade");
  res.set(http::field::sec_websocket_accept, accept_key(key));
  res.set(http::field::server, "peyk");
  if (auto offered = req[http::field::sec_websocket_protocol]; !offered.empty()) {
    if (proto_ == subprotocol::v1) {
      res.set(http::field::sec_websocket_protocol, "peyk.v1");
    } else if (offered.find("echo-protocol") != std::string_view::npos) {
      res.set(http::field::sec_websocket_protocol, "echo-protocol");
    }
  }
  // Registered before the 101 leaves: a client may publish the moment it sees the
  // upgrade answer, and what the hub dispatches from now on must reach it. Until the
  // handshake completes, updates wait (in the feed past the cursor, or in the queue).
  shard_.viewers().add(shared_from_this());
  gw_.need(*who_, +1);
  needs_ = true;
  http::async_write(
      gate_.next_layer(), res,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_accept(ec); });
}

void ws_session::refuse(http::status status, std::string_view why) {
  auto res = std::make_shared<http::response<http::string_body>>(status, 11);
  res->set(http::field::server, "peyk");
  if (status == http::status::upgrade_required) {
    res->set(http::field::sec_websocket_version, "13");
  }
  res->set(http::field::connection, "close");
  res->body() = std::string(why);
  res->prepare_payload();
  http::async_write(gate_.next_layer(), *res,
                    [self = shared_from_this(), res](beast::error_code, std::size_t) {
                      beast::error_code ignored;
                      self->gate_.next_layer().shutdown(net::socket_base::shutdown_both, ignored);
                      self->gate_.next_layer().close(ignored);
                    });
}

struct ws_session::side_state {
  bool streaming = false;   // a fragmented snapshot is under way
  bool started = false;     // its first fragment is written
  bool any = false;         // it holds a location already (commas)
  bool holds_slot = false;  // of the shard's --snapshot-concurrency
  std::size_t next_stripe = 0;
  std::string offline;  // visible couriers found offline: a status frame after the snapshot
  std::vector<std::shared_ptr<const std::string>> status;     // waiting
  std::vector<std::shared_ptr<const std::string>> in_flight;  // being written
};

ws_session::side_state& ws_session::side() {
  if (!side_) side_ = std::make_unique<side_state>();
  return *side_;
}

void ws_session::on_accept(beast::error_code ec) {
  answer_.reset();
  if (ec) return finish();  // the client went away during the handshake
  last_rx_ = clock::now();
  auto& m = shard_.metrics();
  m.ws_accepted.inc();
  m.ws_connections.add(1);
  open_ = true;
  if (who_->role == auth::role::customer) gw_.customers_.fetch_add(1);
  if (proto_ == subprotocol::v1) {
    // The snapshot holds every location stored so far, so an admin skips what the feed
    // dispatched before it; it goes out before any queued update (writing_ holds them).
    if (const feed* f = shared_feed()) set_cursor(f->end());
    if (who_->role == auth::role::customer) {
      std::string offline;
      snapshot_ = customer_snapshot(offline);
      if (!offline.empty()) side().status.push_back(status_frame(offline));
      start_write(v1_snapshot_prefix, v1_suffix);
    } else {
      writing_ = true;  // until the snapshot is written
      if (shard_.acquire_snapshot(shared_from_this())) start_snapshot();
    }
  } else {
    flush();
  }
  do_read();
}

// The couriers carrying the customer's orders, found through the store's order index.
std::string ws_session::customer_snapshot(std::string& offline_ids) const {
  std::string body;
  std::vector<std::string> seen;
  const auto& who = *who_;
  for (const auto& order : who.orders) {
    shard_.store().for_order(order, [&](const store::entry& e) {
      const auto& id = e.loc->courier_id;
      if (std::find(seen.begin(), seen.end(), id) != seen.end()) return;
      seen.push_back(id);
      if (!auth::may_see(who, *e.loc)) return;
      if (!body.empty()) body += ',';
      body += core::encode_location(*e.loc, auth::visible_orders(who, *e.loc));
      if (e.offline) append_offline(offline_ids, id);
    });
  }
  return body;
}

void ws_session::start_snapshot() {
  auto& st = side();
  st.holds_slot = true;
  if (finished_ || closing_) return release_snapshot_slot();
  st.streaming = true;
  next_snapshot_chunk();
}

void ws_session::release_snapshot_slot() {
  if (!side_ || !side_->holds_slot) return;
  side_->holds_slot = false;
  side_->streaming = false;
  shard_.release_snapshot();
}

// Writes the snapshot's next fragment: the visible couriers of the next stripes of the
// store, until about snapshot_chunk_bytes.
void ws_session::next_snapshot_chunk() {
  auto& st = *side_;
  const auto& who = *who_;
  const auto& store = shard_.store();
  snapshot_.clear();
  bool first = !st.started;
  st.started = true;
  if (first) snapshot_ += v1_snapshot_prefix;
  const std::size_t limit = shard_.opts().snapshot_chunk_bytes;
  while (st.next_stripe < store::last_known::stripe_count && snapshot_.size() < limit) {
    store.for_each_in(st.next_stripe++, [&](const store::entry& e) {
      if (!auth::may_see(who, *e.loc)) return;
      if (st.any) snapshot_ += ',';
      st.any = true;
      if (e.json) {
        snapshot_ += *e.json;
      } else {
        snapshot_ += core::encode_location(*e.loc);
      }
      if (e.offline) append_offline(st.offline, e.loc->courier_id);
    });
  }
  bool last = st.next_stripe == store::last_known::stripe_count;
  if (last) {
    snapshot_ += v1_suffix;
    release_snapshot_slot();
    if (!st.offline.empty()) {
      st.status.push_back(status_frame(st.offline));
      st.offline.clear();
      st.offline.shrink_to_fit();
    }
  }
  headers_.clear();
  bufs_.clear();
  feed::append_frame_header(headers_, snapshot_.size(), first ? 0x1 : 0x0, last);
  bufs_.emplace_back(headers_.data(), headers_.size());
  bufs_.emplace_back(snapshot_.data(), snapshot_.size());
  begin_write(last ? 1 : 0, 0, 0);
}

void ws_session::do_read() {
  // What viewers send lands in the shard's scratch buffer (all sessions of a shard run on
  // its one thread, and the bytes are consumed before the next read completes) and is
  // checked by reader_; only a peyk.v1 viewer's text messages are kept, by reader_, while
  // one is read.
  auto scratch = shard_.scratch();
  gate_.next_layer().async_read_some(
      net::buffer(scratch.data(), scratch.size()),
      [self = shared_from_this()](beast::error_code ec, std::size_t n) { self->on_read(ec, n); });
}

void ws_session::on_read(beast::error_code ec, std::size_t n) {
  if (ec || finished_) return finish();
  last_rx_ = clock::now();
  ping_sent_ = false;
  std::string_view in(shard_.scratch().data(), n);
  while (!in.empty()) {
    auto ev = reader_.next(in);
    switch (ev.what) {
      case ws_reader::kind::none:
      case ws_reader::kind::pong:
        break;
      case ws_reader::kind::ping:
        // A peer that pings without reading gets no unbounded pile of pongs: past a few
        // queued writes, pings go unanswered (RFC 6455 §5.5.3 allows answering only the
        // most recent), and a write stuck past --stall-timeout closes it (check()).
        if (!close_sent_ && gate_.queued() < max_queued_controls) send_control(0xA, ev.payload);
        break;
      case ws_reader::kind::close:
        if (close_sent_) return finish();  // the answer to our close: done
        // Echo the peer's code (none if it gave none), then hang up once it is written.
        closing_ = true;
        close_started_ = clock::now();
        queue_.clear();
        send_close(ev.code, "");
        return;
      case ws_reader::kind::error:
        return close_now(ev.code, ev.code == 1009 ? "message too big" : "");
      case ws_reader::kind::text: {
        const char* reason = "";
        auto code = on_client_text(ev.payload, reason);
        reader_.release_message();
        if (code) return close_now(code, reason);
        break;
      }
      case ws_reader::kind::binary:
        return close_now(1003, "binary messages are not accepted");
    }
  }
  do_read();
}

// The peer broke a rule: close with `code`, and hang up once the close is written.
void ws_session::close_now(std::uint16_t code, std::string_view reason) {
  if (close_sent_) return finish();
  closing_ = true;
  close_started_ = clock::now();
  queue_.clear();
  send_close(code, reason);
}

// A control frame (server frames are unmasked); payload at most 125 bytes.
void ws_session::send_control(std::uint8_t opcode, std::string_view payload) {
  std::string bytes;
  bytes.reserve(2 + payload.size());
  bytes += static_cast<char>(0x80 | opcode);
  bytes += static_cast<char>(payload.size());
  bytes += payload;
  gate_.write_bytes(std::move(bytes),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      if (ec) self->finish();
                    });
}

// Sends a close frame; after a close from the peer (or a protocol error) the connection
// ends once it is written, otherwise the peer's answering close ends it (check() bounds
// the wait).
void ws_session::send_close(std::uint16_t code, std::string_view reason) {
  if (close_sent_ || finished_) return;
  close_sent_ = true;
  std::string payload;
  if (code != 0) {
    payload += static_cast<char>(code >> 8);
    payload += static_cast<char>(code & 0xFF);
    payload += reason.substr(0, 123);
  }
  std::string bytes;
  bytes += static_cast<char>(0x88);
  bytes += static_cast<char>(payload.size());
  bytes += payload;
  gate_.write_bytes(std::move(bytes),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      if (ec || !self->wait_peer_close_) self->finish();
                    });
}

void ws_session::finish() {
  if (finished_) return;
  finished_ = true;
  if (open_) {
    shard_.metrics().ws_connections.add(-1);
    if (who_->role == auth::role::customer) gw_.customers_.fetch_sub(1);
  }
  beast::error_code ignored;
  gate_.next_layer().shutdown(net::socket_base::shutdown_both, ignored);
  gate_.next_layer().close(ignored);
  queue_.clear();
  release_snapshot_slot();
  end_client_state();
  if (needs_) gw_.need(*who_, -1);
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

void ws_session::push_status(const std::shared_ptr<const std::string>& payload) {
  if (closing_ || finished_ || proto_ != subprotocol::v1) return;
  auto& st = side();
  if (st.status.size() >= max_queued_status) return abort(&shard_.metrics().dropped_queue);
  st.status.push_back(payload);
  flush();
}

// Writes the waiting status frames, each a whole text frame, in one write.
void ws_session::write_status() {
  auto& st = *side_;
  st.in_flight.swap(st.status);
  headers_.clear();
  bufs_.clear();
  headers_.reserve(st.in_flight.size() * 10);  // no reallocation: the buffers point into it
  for (const auto& p : st.in_flight) feed::append_frame_header(headers_, p->size());
  std::size_t off = 0;
  for (const auto& p : st.in_flight) {
    std::size_t len = p->size() < 126 ? 2 : p->size() < 65536 ? 4 : 10;
    bufs_.emplace_back(headers_.data() + off, len);
    bufs_.emplace_back(p->data(), p->size());
    off += len;
  }
  begin_write(st.in_flight.size(), 0, 0);
}

void ws_session::flush() {
  if (!open_ || writing_ || closing_ || finished_) return;
  if (side_ && !side_->status.empty()) return write_status();
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
  gate_.write_all(bufs_, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
    self->on_write(ec, n);
  });
}

void ws_session::on_write(beast::error_code ec, std::size_t) {
  writing_ = false;
  inflight_.clear();
  inflight_batches_.clear();
  if (side_) {
    side_->in_flight.clear();
    if (side_->streaming) {
      if (!ec && !closing_ && !finished_) return next_snapshot_chunk();
      release_snapshot_slot();
    }
    if (side_->status.empty() && !side_->holds_slot) side_.reset();
  }
  snapshot_.clear();
  snapshot_.shrink_to_fit();
  if (ec) return finish();
  flush();
}

void ws_session::check(clock::time_point now, std::int64_t now_s) {
  if (finished_) return;
  const auto& o = shard_.opts();
  if (!open_) {
    if (now - started_ > o.handshake_timeout) abort(nullptr);
    return;
  }
  if (closing_) {
    if (now - close_started_ > o.handshake_timeout) abort(nullptr);
    return;
  }
  if (gate_.busy() && now - gate_.progress_at() > o.stall_timeout) {
    return abort(&shard_.metrics().dropped_stall);  // data or control frames: no progress
  }
  if (now - last_rx_ > o.idle_timeout) return abort(&shard_.metrics().dropped_idle);
  if (!ping_sent_ && now - last_rx_ > o.idle_timeout / 2) {
    ping_sent_ = true;  // a quiet peer must answer within the other half
    send_control(0x9, "");
  }
  if (who_->exp > 0 && now_s >= who_->exp) {
    shard_.metrics().dropped_expired.inc();
    close(4001);
  }
}

void ws_session::close(std::uint16_t code) {
  if (closing_ || finished_ || !open_) return;
  closing_ = true;
  wait_peer_close_ = true;
  close_started_ = clock::now();
  queue_.clear();
  send_close(code, code == 4001 ? "token expired" : code == 1001 ? "server shutting down" : "");
}

void ws_session::abort(core::counter* reason) {
  if (finished_) return;
  if (reason) reason->inc();
  closing_ = true;
  beast::error_code ignored;
  gate_.next_layer().close(ignored);  // pending handlers complete with an error
}

}  // namespace peyk::gateway
