#pragma once
// The next layer under Beast's websocket::stream: a TCP socket whose writes are
// serialized, so that peyk can write many WebSocket frames in one gathered write straight
// to the socket (the cork, ARCHITECTURE.md "Hot path") while Beast keeps the handshake,
// reads and control frames (pong replies, keep-alive pings, close).
//
// Every async_write_some here writes its whole buffer sequence before completing, and
// writes run one at a time in the order they were started, so a Beast control frame and
// a batch of data frames never interleave on the wire. Single-threaded: all calls come
// from the socket's own io_context thread.

#include <list>
#include <optional>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/websocket/teardown.hpp>

namespace peyk::gateway {

class write_gate {
 public:
  using socket_type = boost::asio::ip::tcp::socket;
  using executor_type = socket_type::executor_type;
  using next_layer_type = socket_type;
  using buffers = std::vector<boost::asio::const_buffer>;
  using handler_type =
      boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;

  explicit write_gate(socket_type s) : sock_(std::move(s)) {}

  executor_type get_executor() noexcept { return sock_.get_executor(); }
  socket_type& next_layer() noexcept { return sock_; }
  const socket_type& next_layer() const noexcept { return sock_; }

  template <class MutableBufferSequence, class ReadToken>
  auto async_read_some(const MutableBufferSequence& b, ReadToken&& token) {
    return sock_.async_read_some(b, std::forward<ReadToken>(token));
  }

  // Used by Beast: copies the buffer descriptors (control frames are rare and small).
  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& b, WriteToken&& token) {
    return boost::asio::async_initiate<WriteToken, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const ConstBufferSequence& bufs) {
          op o;
          o.owned.assign(boost::asio::buffer_sequence_begin(bufs),
                         boost::asio::buffer_sequence_end(bufs));
          o.handler.emplace(std::move(handler));
          enqueue(std::move(o));
        },
        token, b);
  }

  // peyk's own data path: `bufs` is referenced, not copied, and must stay valid (and
  // unchanged) until `handler` runs.
  template <class Handler>
  void write_all(const buffers& bufs, Handler&& handler) {
    op o;
    o.ref = &bufs;
    o.handler.emplace(std::forward<Handler>(handler));
    enqueue(std::move(o));
  }

  bool busy() const noexcept { return busy_; }

 private:
  // Boost 1.81's any_completion_handler move-assignment recurses forever (it copies
  // from an lvalue into its own converting constructor), so handlers are only ever
  // move-constructed here: held in optionals, set by emplace, never assigned.
  struct op {
    buffers owned;
    const buffers* ref = nullptr;
    std::optional<handler_type> handler;
  };

  void enqueue(op o) {
    if (busy_) {
      pending_.push_back(std::move(o));  // rare: only a write behind a write
      return;
    }
    start(std::move(o));
  }

  void start(op&& o) {
    busy_ = true;
    current_.emplace(std::move(o));
    const buffers& b = current_->ref ? *current_->ref : current_->owned;
    boost::asio::async_write(sock_, b, [this](boost::system::error_code ec, std::size_t n) {
      busy_ = false;
      handler_type h(std::move(*current_->handler));
      current_.reset();
      if (!pending_.empty()) {
        op next(std::move(pending_.front()));
        pending_.pop_front();
        start(std::move(next));
      }
      std::move(h)(ec, n);
    });
  }

  socket_type sock_;
  bool busy_ = false;
  std::optional<op> current_;
  // Writes waiting behind the current one: rare (a control frame during a data write)
  // and few. A list: empty, it allocates nothing (a std::deque allocates ~600 bytes up
  // front, which every idle viewer paid), and it never move-assigns an op.
  std::list<op> pending_;
};

// Beast closes a websocket stream by tearing down its lowest layer: the socket.
inline void teardown(boost::beast::role_type role, write_gate& g, boost::system::error_code& ec) {
  boost::beast::websocket::teardown(role, g.next_layer(), ec);
}

template <class TeardownHandler>
void async_teardown(boost::beast::role_type role, write_gate& g, TeardownHandler&& handler) {
  boost::beast::websocket::async_teardown(role, g.next_layer(),
                                          std::forward<TeardownHandler>(handler));
}

}  // namespace peyk::gateway
