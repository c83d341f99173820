#pragma once
// One WebSocket viewer. Beast writes the upgrade request and parses the answer; after
// that the viewer reads the raw TCP stream itself: one read_some fills a buffer with
// many frames, which are parsed in place (scan.hpp) with no copy and no handler call per
// frame — Beast's websocket::stream reads one message per async_read and validates its
// UTF-8, which would make the generator, not the server, the bottleneck.
// Pings are answered, a server's close is echoed; the viewer never sends data.
// Lifetime: shared_from_this in every handler, plus the worker's list until the end.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "scan.hpp"

namespace peyk::loadgen {

class worker;

class viewer : public std::enable_shared_from_this<viewer> {
 public:
  viewer(worker& w, std::size_t index);

  void run();  // connect, handshake, then read until closed
  // Starts the close handshake; the socket is forced shut after `grace`.
  void close(std::chrono::milliseconds grace);

 private:
  void do_connect();
  void on_connect(boost::system::error_code ec);
  void on_handshake_write(boost::system::error_code ec, std::size_t n);
  void on_handshake_read(boost::system::error_code ec, std::size_t n);
  void on_deadline(boost::system::error_code ec);
  void do_read();
  void on_read(boost::system::error_code ec, std::size_t n);
  void on_read_error(boost::system::error_code ec);
  void resize(std::size_t capacity);    // keeps [0, len_)
  bool parse_frames(std::int64_t now);  // false: protocol error, connection dropped
  void on_message(std::string_view msg, std::int64_t now);
  // A data frame's payload bytes of a message received in pieces (message_stream).
  void on_stream_bytes(std::string_view piece, std::int64_t now);
  void on_stream_end(std::int64_t now);
  void on_snapshot_end();  // the first v1 snapshot is complete: its timing
  void send_control(opcode op, std::string_view payload);
  void do_write();
  void on_write(boost::system::error_code ec, std::size_t n);
  void fail(boost::system::error_code ec, const char* what);
  void fail(const std::string& reason);
  void finish();

  worker& w_;
  std::size_t index_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer deadline_;  // handshake, then close handshake

  // Handshake only.
  std::string key_;
  std::string request_;
  std::optional<boost::beast::http::response_parser<boost::beast::http::string_body>> parser_;
  boost::beast::flat_buffer hbuf_;

  // Frames as read: [0, len_) of buf_, of capacity cap_. The capacity is read_cap_
  // (doubled while reads fill it, up to 256 KiB) or, while one larger frame (up to
  // whole_frame_max) arrives, that frame's size. Larger frames and fragmented messages
  // are scanned piece by piece as they arrive (stream_), never held whole.
  std::unique_ptr<char[]> buf_;
  std::size_t cap_ = 0;
  std::size_t read_cap_ = 0;
  std::size_t len_ = 0;
  message_stream stream_;
  bool in_message_ = false;        // a streamed message has begun, its last frame not seen
  std::uint64_t stream_left_ = 0;  // payload bytes of the current streamed frame still due
  bool stream_fin_ = false;        // the current streamed frame ends the message

  std::int64_t started_us_ = 0;        // steady clock, when connecting began
  std::int64_t last_delivery_us_ = 0;  // receipt time of the last read carrying locations
  bool got_snapshot_ = false;

  std::string out_;      // control frames being written
  std::string pending_;  // control frames waiting for the write in flight
  bool writing_ = false;

  bool open_ = false;          // handshake done
  bool closing_ = false;       // we sent a close frame, or answered the server's
  bool attempt_done_ = false;  // told the worker the connect attempt ended
  bool finished_ = false;
};

}  // namespace peyk::loadgen
