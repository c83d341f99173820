#pragma once
// One viewer's WebSocket connection.
//
// Reads (and so control frames, pings, close) go through Beast; data leaves through
// write_gate::write_all as ready-made frames: one outstanding write per socket. What
// arrives meanwhile waits — for an admin in the shard's feed past its cursor, for others
// in the conflating queue — then leaves in one gathered write: in peyk.v1 as one batched
// `locations` frame, in echo-protocol as back-to-back frames.
// Lifetime: shared_from_this in every handler, plus the hub's reference until removed.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/beast/websocket/stream.hpp>

#include "gateway/gateway.hpp"
#include "gateway/write_gate.hpp"

namespace peyk::gateway {

class ws_session : public viewer, public std::enable_shared_from_this<ws_session> {
 public:
  using clock = std::chrono::steady_clock;

  ws_session(gateway& gw, shard& sh, boost::asio::ip::tcp::socket socket,
             std::shared_ptr<const auth::identity> who, subprotocol proto);
  ~ws_session() override;

  void run(boost::beast::http::request<boost::beast::http::string_body> req);

  const auth::identity& who() const override { return *who_; }
  subprotocol protocol() const override { return proto_; }
  bool push(const frame_ptr& f) override;
  void flush() override;

  // Called by the shard's sweep: closes at token expiry (4001) and stalled sockets.
  void check(clock::time_point now, std::int64_t now_s);
  void close(std::uint16_t code);     // a close handshake with `code`
  void abort(core::counter* reason);  // drops the TCP connection at once

 private:
  void on_accept(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t n);
  void on_write(boost::beast::error_code ec, std::size_t n);
  void start_write(std::string_view prefix, std::string_view suffix);
  bool flush_feed(const feed& f);
  void start_feed_write();
  void begin_write(std::size_t frames, std::size_t deliveries, std::int64_t oldest_ts_us);
  std::string snapshot() const;
  void finish();

  gateway& gw_;
  shard& shard_;
  boost::beast::websocket::stream<write_gate> ws_;
  std::shared_ptr<const auth::identity> who_;
  subprotocol proto_;

  conflating_queue queue_;
  std::vector<frame_ptr> inflight_;
  std::vector<feed::batch_ptr> inflight_batches_;
  write_gate::buffers bufs_;
  std::string headers_;   // frame headers of the write in flight
  std::string snapshot_;  // the first frame (peyk.v1), until written
  bool open_ = false;     // handshake done, registered in the hub
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  clock::time_point write_started_{};
  clock::time_point close_started_{};
};

}  // namespace peyk::gateway
