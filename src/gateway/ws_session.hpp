#pragma once
// One viewer's WebSocket connection.
//
// peyk answers the upgrade itself (RFC 6455 §4.2.2) and then reads the client's frames
// with ws_reader into the shard's scratch buffer — data is checked (and, from peyk.v1
// viewers, each text message handed to client_message.cpp), pings answered, a close
// echoed — so an idle viewer holds no buffer and no stream state of its own. Every write goes
// through write_gate, one at a time: data as ready-made frames, one outstanding write per socket,
// and control frames in order between them. What arrives meanwhile waits — for an admin in the
// shard's feed past its cursor, for others in the conflating queue — then leaves in one gathered
// write: in peyk.v1 as one batched `locations` frame, in echo-protocol as back-to-back frames. A
// peyk.v1 viewer's first frame is the snapshot. A customer's is built at once from the store's
// order index (a few couriers). An admin's or dispatcher's may hold every courier: it is streamed
// as one message in fragments of about --snapshot-chunk-bytes, each read from a few stripes of the
// store when the previous one has been written (backpressure), so neither the store nor the
// delivering thread is held for longer than one fragment, and at most --snapshot-concurrency of
// them stream at once per shard. Updates wait meanwhile (the feed past the cursor, or the queue)
// and follow the snapshot. Lifetime: shared_from_this in every handler, plus the hub's reference
// until removed.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "gateway/gateway.hpp"
#include "gateway/write_gate.hpp"
#include "gateway/ws_reader.hpp"

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
  void push_status(const std::shared_ptr<const std::string>& payload) override;
  // The shard let this viewer's snapshot start (a slot of --snapshot-concurrency).
  void start_snapshot();

  // Called by the shard's sweep: handshake and close deadlines, keep-alive pings and
  // silent peers, stalled sockets, token expiry (4001).
  void check(clock::time_point now, std::int64_t now_s);
  void close(std::uint16_t code);     // a close handshake with `code`
  void abort(core::counter* reason);  // drops the TCP connection at once
  // Open and not yet closing: what a SIGTERM drain still has to close.
  bool drainable() const { return open_ && !closing_ && !finished_; }

 private:
  void on_accept(boost::beast::error_code ec);
  void refuse(boost::beast::http::status status, std::string_view why);
  void send_control(std::uint8_t opcode, std::string_view payload);
  void send_close(std::uint16_t code, std::string_view reason);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t n);
  void on_write(boost::beast::error_code ec, std::size_t n);
  void start_write(std::string_view prefix, std::string_view suffix);
  bool flush_feed(const feed& f);
  void start_feed_write();
  void begin_write(std::size_t frames, std::size_t deliveries, std::int64_t oldest_ts_us);
  std::string customer_snapshot(std::string& offline_ids) const;
  void next_snapshot_chunk();
  void write_status();
  void release_snapshot_slot();
  void finish();
  void close_now(std::uint16_t code, std::string_view reason);  // after a peer's fault

  // peyk.v1 client messages (PROTOCOL.md §11; client_message.cpp): returns 0, or the
  // close code the message earns. What a viewer that spoke keeps (its focus, its rate
  // budget) is allocated at its first message.
  struct client_state;
  std::uint16_t on_client_text(std::string_view text, const char*& reason);
  void end_client_state();

  // What only some viewers need for a while: a snapshot being streamed, status frames
  // waiting. Allocated on demand, so an idle viewer pays one pointer for it.
  struct side_state;
  side_state& side();

  gateway& gw_;
  shard& shard_;
  write_gate gate_;
  ws_reader reader_;
  std::unique_ptr<boost::beast::http::response<boost::beast::http::empty_body>> answer_;
  std::shared_ptr<const auth::identity> who_;
  subprotocol proto_;

  conflating_queue queue_;
  std::vector<frame_ptr> inflight_;
  std::vector<feed::batch_ptr> inflight_batches_;
  write_gate::buffers bufs_;
  std::string headers_;   // frame headers of the write in flight
  std::string snapshot_;  // the first frame (peyk.v1), or its fragment in flight
  std::unique_ptr<side_state> side_;
  std::unique_ptr<client_state> client_;
  bool open_ = false;  // handshake done, registered in the hub
  bool writing_ = false;
  bool closing_ = false;
  bool finished_ = false;
  bool needs_ = false;  // told the gateway (and its broker) what this viewer needs
  bool close_sent_ = false;
  bool wait_peer_close_ = false;  // we closed first: the peer's close ends it
  bool ping_sent_ = false;
  clock::time_point started_ = clock::now();  // handshake deadline
  clock::time_point last_rx_{};               // idle deadline, keep-alive pings
  clock::time_point close_started_{};
};

}  // namespace peyk::gateway
