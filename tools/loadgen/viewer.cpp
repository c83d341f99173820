#include "viewer.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>

#include <openssl/evp.h>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>

#include "core/clock.hpp"
#include "worker.hpp"

namespace peyk::loadgen {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = net::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::size_t initial_buffer = 8 * 1024;      // idle viewers stay small
constexpr std::size_t busy_buffer = 256 * 1024;       // a buffer that fills up grows to this
constexpr std::size_t whole_frame_max = 1024 * 1024;  // larger frames are scanned in pieces

std::int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  int len =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

// Sec-WebSocket-Accept for `key` (RFC 6455 §4.2.2).
std::string accept_for(const std::string& key) {
  std::string text = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char sha[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  EVP_Digest(text.data(), text.size(), sha, &n, EVP_sha1(), nullptr);
  return base64(sha, n);
}

bool contains_token(std::string_view list, std::string_view token) {
  // Header values compared case-insensitively, as HTTP wants for Upgrade/Connection.
  if (token.size() > list.size()) return false;
  for (std::size_t i = 0; i + token.size() <= list.size(); ++i) {
    bool same = true;
    for (std::size_t j = 0; j < token.size() && same; ++j) {
      same = std::tolower(static_cast<unsigned char>(list[i + j])) ==
             std::tolower(static_cast<unsigned char>(token[j]));
    }
    if (same) return true;
  }
  return false;
}

}  // namespace

viewer::viewer(worker& w, std::size_t index)
    : w_(w), index_(index), socket_(w.ioc()), deadline_(w.ioc()) {}

void viewer::run() {
  started_us_ = steady_us();
  auto timeout = std::chrono::duration<double>(w_.opts().connect_timeout_s);
  deadline_.expires_after(std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
  deadline_.async_wait([self = shared_from_this()](error_code ec) { self->on_deadline(ec); });
  do_connect();
}

void viewer::on_deadline(error_code ec) {
  if (ec || finished_) return;  // cancelled: the step it guarded finished in time
  if (!open_) return fail("handshake: timeout");
  finish();  // the close handshake took too long
}

void viewer::do_connect() {
  const auto& o = w_.opts();
  error_code ec;
  const auto& targets = w_.target().ws;
  auto target = targets[index_ % targets.size()];
  socket_.open(target.protocol(), ec);
  if (ec) return fail(ec, "socket");
  if (o.source_ips > 1) {
    // Several source addresses multiply the ephemeral ports: the kernel picks the port
    // at connect time (IP_BIND_ADDRESS_NO_PORT), per (source, destination) pair.
    int one = 1;
    ::setsockopt(socket_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    auto base = net::ip::make_address_v4(o.source_base).to_uint();
    auto source = net::ip::address_v4(static_cast<std::uint32_t>(base + index_ % o.source_ips));
    socket_.bind(tcp::endpoint(source, 0), ec);
    if (ec) return fail(ec, "bind");
  }
  socket_.async_connect(target, [self = shared_from_this()](error_code e) { self->on_connect(e); });
}

void viewer::on_connect(error_code ec) {
  if (ec) return fail(ec, "connect");
  socket_.set_option(tcp::no_delay(true), ec);
  const auto& o = w_.opts();

  unsigned char nonce[16];
  for (int i = 0; i < 16; i += 4) {
    auto r = w_.random32();
    std::memcpy(nonce + i, &r, 4);
  }
  key_ = base64(nonce, sizeof nonce);
  request_.reserve(512);
  request_ += "GET ";
  // the --url this viewer connects to (an options built in code may have none: the first)
  ws_target t{o.ws_host, o.ws_port, o.ws_path};
  if (!o.ws_targets.empty()) t = o.ws_targets[index_ % o.ws_targets.size()];
  request_ += t.path;
  request_ += " HTTP/1.1\r\nHost: ";
  request_ += t.host + ":" + std::to_string(t.port);
  request_ += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";
  request_ += "Sec-WebSocket-Key: " + key_ + "\r\n";
  request_ += "Sec-WebSocket-Protocol: ";
  request_ += o.protocol == ws_protocol::v1 ? "peyk.v1" : "echo-protocol";
  request_ += "\r\nAuthorization: Bearer ";
  request_ += w_.tokens().viewer(index_);
  request_ += "\r\n\r\n";
  net::async_write(
      socket_, net::buffer(request_),
      [self = shared_from_this()](error_code e, std::size_t n) { self->on_handshake_write(e, n); });
}

void viewer::on_handshake_write(error_code ec, std::size_t) {
  if (ec) return fail(ec, "handshake write");
  request_.clear();
  request_.shrink_to_fit();
  parser_.emplace();
  parser_->header_limit(16 * 1024);
  parser_->body_limit(64 * 1024);  // an error answer's JSON; a 101 has none
  bhttp::async_read(
      socket_, hbuf_, *parser_,
      [self = shared_from_this()](error_code e, std::size_t n) { self->on_handshake_read(e, n); });
}

void viewer::on_handshake_read(error_code ec, std::size_t) {
  if (ec) return fail(ec, "handshake read");
  const auto& res = parser_->get();
  if (res.result_int() != 101) {
    std::string body = res.body().substr(0, 120);
    return fail("handshake: HTTP " + std::to_string(res.result_int()) + " " + body);
  }
  if (!contains_token(res[bhttp::field::upgrade], "websocket") ||
      res[bhttp::field::sec_websocket_accept] != accept_for(key_)) {
    return fail("handshake: bad Upgrade or Sec-WebSocket-Accept");
  }
  std::string_view want = w_.opts().protocol == ws_protocol::v1 ? "peyk.v1" : "echo-protocol";
  if (res[bhttp::field::sec_websocket_protocol] != want) {
    return fail("handshake: server chose subprotocol '" +
                std::string(res[bhttp::field::sec_websocket_protocol]) + "', asked " +
                std::string(want));
  }
  deadline_.cancel();
  open_ = true;
  auto& st = w_.st();
  auto at = steady_us();
  st.handshake.record(at - started_us_);
  st.last_connected_us = std::max(st.last_connected_us, at);
  ++st.viewers_connected;
  ++st.viewers_open;
  attempt_done_ = true;
  w_.on_attempt_done();

  // Frames that came in the same read as the answer are already in hbuf_.
  read_cap_ = initial_buffer;
  cap_ = std::max(initial_buffer, hbuf_.size());
  buf_ = std::make_unique<char[]>(cap_);
  len_ = net::buffer_copy(net::buffer(buf_.get(), cap_), hbuf_.data());
  hbuf_ = beast::flat_buffer{};
  parser_.reset();
  key_.clear();
  key_.shrink_to_fit();
  if (len_ > 0 && !parse_frames(core::now_us())) return;
  do_read();
}

// async_read_some tries a speculative recv before it polls; on a drained socket that is an
// EAGAIN, half of all recv calls at 500k deliveries/s. Both alternatives measured worse or
// no better (perf stat, 1,000 viewers): async_wait + read_some re-arms with an epoll_ctl
// per wake-up (2x the CPU); a worker-owned edge-triggered epoll set read to a short read
// halved the recvs but added two epoll_waits and an epoll_ctl per small batch.
void viewer::do_read() {
  socket_.async_read_some(
      net::buffer(buf_.get() + len_, cap_ - len_),
      [self = shared_from_this()](error_code ec, std::size_t n) { self->on_read(ec, n); });
}

void viewer::on_read(error_code ec, std::size_t n) {
  if (ec) return on_read_error(ec);
  auto& st = w_.st();
  st.bytes += n;
  ++st.reads;
  bool filled = len_ + n == cap_;
  len_ += n;
  // One clock reading per read: every location in it arrived at the same moment.
  auto now = core::now_us();
  auto delivered = st.deliveries;
  if (!parse_frames(now)) return;
  if (st.deliveries != delivered) {
    // How long this viewer went without a location: a stalled server shows here even
    // when the latency of what finally arrives is short.
    if (last_delivery_us_) st.delivery_gap.record(now - last_delivery_us_);
    last_delivery_us_ = now;
  }
  if (filled && cap_ == read_cap_ && len_ < cap_ / 2 && cap_ < busy_buffer) {
    // A full read means more was waiting: fewer, larger reads keep up with a busy feed.
    read_cap_ *= 2;
    resize(read_cap_);
  }
  do_read();
}

void viewer::on_read_error(error_code ec) {
  if (closing_ || finished_) return finish();  // the end of a close handshake
  fail(ec, "read");
}

void viewer::resize(std::size_t capacity) {
  auto next = std::make_unique<char[]>(capacity);
  std::memcpy(next.get(), buf_.get(), len_);
  buf_ = std::move(next);
  cap_ = capacity;
}

bool viewer::parse_frames(std::int64_t now) {
  std::size_t pos = 0;
  std::size_t pending = 0;  // size of the incomplete frame at the end, once its header is in
  while (!finished_) {
    std::string_view rest(buf_.get() + pos, len_ - pos);
    if (stream_left_ > 0) {  // inside a streamed frame: take what has arrived of it
      if (rest.empty()) break;
      auto take = static_cast<std::size_t>(std::min<std::uint64_t>(stream_left_, rest.size()));
      on_stream_bytes(rest.substr(0, take), now);
      stream_left_ -= take;
      pos += take;
      if (stream_left_ == 0 && stream_fin_) on_stream_end(now);
      continue;
    }
    auto h = parse_frame_header(rest);
    if (!h) break;
    if (h->masked) {
      fail("protocol: masked frame from the server");
      return false;
    }
    std::size_t total = h->header_size + static_cast<std::size_t>(std::min<std::uint64_t>(
                                             h->payload_size, std::uint64_t{1} << 40));
    bool data = h->op == opcode::text || h->op == opcode::binary || h->op == opcode::continuation;
    if (data) {
      if ((h->op == opcode::continuation) != in_message_) {
        fail(in_message_ ? "protocol: new message inside a fragmented one"
                         : "protocol: continuation without a message");
        return false;
      }
      if (!in_message_ && h->fin && total <= whole_frame_max) {
        if (rest.size() < total) {
          pending = total;
          break;
        }
        on_message(rest.substr(h->header_size, h->payload_size), now);
        pos += total;
        continue;
      }
      // A fragment, or a frame too large to hold: scanned as its bytes arrive.
      if (!in_message_) {
        in_message_ = true;
        stream_.reset();
      }
      pos += h->header_size;
      stream_left_ = h->payload_size;
      stream_fin_ = h->fin;
      if (stream_left_ == 0 && stream_fin_) on_stream_end(now);
      continue;
    }
    if (h->payload_size > 125) {  // RFC 6455 §5.5: control frames are short
      fail("protocol: control frame over 125 bytes");
      return false;
    }
    if (rest.size() < total) {
      pending = total;
      break;
    }
    std::string_view payload = rest.substr(h->header_size, h->payload_size);
    switch (h->op) {
      case opcode::ping:
        send_control(opcode::pong, payload);
        break;
      case opcode::pong:
        break;
      case opcode::close:
        if (!closing_) {
          // The server ended the session (drain 1001, token expiry 4001, ...): echo it.
          unsigned code = payload.size() >= 2 ? (static_cast<std::uint8_t>(payload[0]) << 8 |
                                                 static_cast<std::uint8_t>(payload[1]))
                                              : 1005;
          ++w_.st().errors["server closed the WebSocket with " + std::to_string(code)];
          ++w_.st().viewers_lost;
          closing_ = true;
          send_control(opcode::close, payload.substr(0, 2));
          deadline_.expires_after(std::chrono::seconds(2));  // then the server closes TCP
          deadline_.async_wait(
              [self = shared_from_this()](error_code ec) { self->on_deadline(ec); });
        }
        break;
      default:
        fail("protocol: unknown opcode");
        return false;
    }
    pos += total;
  }
  if (finished_) return false;
  if (pos > 0) {
    std::memmove(buf_.get(), buf_.get() + pos, len_ - pos);
    len_ -= pos;
  }
  if (pending > cap_) {
    resize(pending);  // room for the whole frame, so it is parsed in place once complete
  } else if (pending <= read_cap_ && cap_ > read_cap_) {
    // The big frame this buffer grew for is done: give the memory back, or thousands of
    // idle viewers would each keep a frame-sized buffer.
    resize(read_cap_);
  }
  return true;
}

void viewer::on_stream_bytes(std::string_view piece, std::int64_t now) {
  auto& st = w_.st();
  if (w_.opts().protocol == ws_protocol::echo) {
    stream_.feed(piece, [](std::int64_t) {});
    return;
  }
  stream_.feed(piece, [&](std::int64_t ts) {
    if (stream_.kind() == message_kind::snapshot) {
      ++st.snapshot_locations;
    } else if (stream_.kind() == message_kind::locations) {
      st.latency.record(now - ts);
      ++st.deliveries;
    }
  });
}

void viewer::on_stream_end(std::int64_t now) {
  auto& st = w_.st();
  in_message_ = false;
  ++st.frames;
  if (w_.opts().protocol == ws_protocol::echo) {
    // One location per echo message: its first `ts` is the one (there is only one).
    std::optional<std::int64_t> first;
    stream_.finish([&](std::int64_t ts) {
      if (!first) first = ts;
    });
    if (first) {
      st.latency.record(now - *first);
    } else if (stream_.count() == 0) {
      ++st.without_ts;
    }
    ++st.deliveries;
    return;
  }
  stream_.finish([&](std::int64_t ts) {
    if (stream_.kind() == message_kind::snapshot) {
      ++st.snapshot_locations;
    } else if (stream_.kind() == message_kind::locations) {
      st.latency.record(now - ts);
      ++st.deliveries;
    }
  });
  if (stream_.kind() == message_kind::locations && stream_.count() == 0) ++st.without_ts;
  if (stream_.kind() == message_kind::snapshot) on_snapshot_end();
}

void viewer::on_snapshot_end() {
  if (got_snapshot_) return;
  got_snapshot_ = true;
  auto& st = w_.st();
  auto at = steady_us();
  ++st.snapshots;
  st.snapshot_wait.record(at - started_us_);
  st.last_snapshot_us = std::max(st.last_snapshot_us, at);
}

void viewer::on_message(std::string_view msg, std::int64_t now) {
  auto& st = w_.st();
  ++st.frames;
  auto record = [&](std::int64_t ts) { st.latency.record(now - ts); };
  if (w_.opts().protocol == ws_protocol::echo) {
    if (auto ts = first_ts(msg)) {
      record(*ts);
    } else {
      ++st.without_ts;
    }
    ++st.deliveries;  // echo-protocol: one location per frame
    return;
  }
  switch (classify_v1(msg)) {
    case message_kind::locations: {
      auto n = for_each_ts(msg, record);
      if (n == 0) ++st.without_ts;
      st.deliveries += n;
      break;
    }
    case message_kind::snapshot:
      // Last known positions, possibly old: counted, but not a latency.
      st.snapshot_locations += for_each_ts(msg, [](std::int64_t) {});
      on_snapshot_end();
      break;
    case message_kind::status:
    case message_kind::other:
      break;
  }
}

void viewer::send_control(opcode op, std::string_view payload) {
  append_client_frame(writing_ ? pending_ : out_, op, payload, w_.random32());
  if (!writing_) do_write();
}

void viewer::do_write() {
  writing_ = true;
  net::async_write(
      socket_, net::buffer(out_),
      [self = shared_from_this()](error_code ec, std::size_t n) { self->on_write(ec, n); });
}

void viewer::on_write(error_code ec, std::size_t) {
  writing_ = false;
  out_.clear();
  if (ec) {
    if (closing_ || finished_) return finish();
    return fail(ec, "write");
  }
  if (!pending_.empty()) {
    out_.swap(pending_);
    do_write();
  }
}

void viewer::close(std::chrono::milliseconds grace) {
  if (finished_) return;
  if (!open_) return finish();  // still connecting: nothing to say goodbye to
  if (closing_) return;
  closing_ = true;
  static constexpr char normal[2] = {0x03, static_cast<char>(0xe8)};  // 1000
  send_control(opcode::close, std::string_view(normal, 2));
  deadline_.expires_after(grace);
  deadline_.async_wait([self = shared_from_this()](error_code ec) { self->on_deadline(ec); });
}

void viewer::fail(error_code ec, const char* what) {
  fail(std::string(what) + ": " + ec.message());
}

void viewer::fail(const std::string& reason) {
  if (finished_) return;
  auto& st = w_.st();
  ++st.errors[reason];
  if (open_ && !closing_) ++st.viewers_lost;
  if (!open_) ++st.viewers_failed;
  finish();
}

void viewer::finish() {
  if (finished_) return;
  finished_ = true;
  error_code ignored;
  deadline_.cancel();
  socket_.close(ignored);
  if (open_) --w_.st().viewers_open;
  if (open_ && !got_snapshot_ && w_.opts().protocol == ws_protocol::v1) {
    ++w_.st().closed_before_snapshot;
  }
  buf_.reset();
  cap_ = len_ = 0;
  stream_ = message_stream{};
  if (!attempt_done_) {
    attempt_done_ = true;
    w_.on_attempt_done();
  }
}

}  // namespace peyk::loadgen
