#pragma once
// A viewer's TCP socket whose writes are serialized: peyk writes many WebSocket frames in
// one gathered write straight to the socket (the cork, docs/architecture.md), and control
// frames (pongs, keep-alive pings, close) in between.
//
// Every write here writes its whole buffer sequence before completing, and writes run
// one at a time in the order they were started, so a control frame and a batch of data
// frames never interleave on the wire. Single-threaded: all calls come from the socket's
// own io_context thread.

#include <chrono>
#include <list>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

namespace peyk::gateway {

class write_gate {
 public:
  using socket_type = boost::asio::ip::tcp::socket;
  using buffers = std::vector<boost::asio::const_buffer>;
  using handler_type =
      boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;

  explicit write_gate(socket_type s) : sock_(std::move(s)) {}

  socket_type& next_layer() noexcept { return sock_; }
  const socket_type& next_layer() const noexcept { return sock_; }

  // peyk's own data path: `bufs` is referenced, not copied, and must stay valid (and
  // unchanged) until `handler` runs.
  template <class Handler>
  void write_all(const buffers& bufs, Handler&& handler) {
    op o;
    o.ref = &bufs;
    o.handler.emplace(std::forward<Handler>(handler));
    enqueue(std::move(o));
  }

  // Control frames (pongs, pings, close): `bytes` are owned by the gate until written.
  template <class Handler>
  void write_bytes(std::string bytes, Handler&& handler) {
    op o;
    o.bytes = std::move(bytes);
    o.handler.emplace(std::forward<Handler>(handler));
    enqueue(std::move(o));
  }

  bool busy() const noexcept { return busy_; }
  // Writes waiting behind the one in flight.
  std::size_t queued() const noexcept { return queued_; }
  // When the write in flight last moved bytes to the kernel, or started (meaningful while
  // busy()): a slow reader that keeps taking a large write is progressing, not stalled.
  std::chrono::steady_clock::time_point progress_at() const noexcept { return progress_at_; }

 private:
  // Boost 1.81's any_completion_handler move-assignment recurses forever (it copies
  // from an lvalue into its own converting constructor), so handlers are only ever
  // move-constructed here: held in optionals, set by emplace, never assigned.
  struct op {
    std::string bytes;  // write_bytes: pointed to only once the op sits in current_
    buffers owned;
    const buffers* ref = nullptr;
    std::optional<handler_type> handler;
  };

  void enqueue(op o) {
    if (busy_) {
      ++queued_;
      pending_.push_back(std::move(o));  // rare: only a write behind a write
      return;
    }
    start(std::move(o));
  }

  void start(op&& o) {
    busy_ = true;
    progress_at_ = std::chrono::steady_clock::now();
    written_ = 0;
    current_.emplace(std::move(o));
    if (!current_->bytes.empty()) current_->owned.assign(1, boost::asio::buffer(current_->bytes));
    const buffers& b = current_->ref ? *current_->ref : current_->owned;
    // The completion condition runs after every partial write: it notes the progress and
    // asks for the rest in pieces of at most 64 KiB (what transfer_all asks for).
    auto progress = [this](const boost::system::error_code& ec, std::size_t n) -> std::size_t {
      if (ec) return 0;
      if (n != written_) {
        written_ = n;
        progress_at_ = std::chrono::steady_clock::now();
      }
      return 65536;
    };
    boost::asio::async_write(sock_, b, progress,
                             [this](boost::system::error_code ec, std::size_t n) {
                               busy_ = false;
                               handler_type h(std::move(*current_->handler));
                               current_.reset();
                               if (!pending_.empty()) {
                                 op next(std::move(pending_.front()));
                                 pending_.pop_front();
                                 --queued_;
                                 start(std::move(next));
                               }
                               std::move(h)(ec, n);
                             });
  }

  socket_type sock_;
  bool busy_ = false;
  std::size_t queued_ = 0;
  std::chrono::steady_clock::time_point progress_at_{};
  std::size_t written_ = 0;  // bytes of the write in flight taken so far
  std::optional<op> current_;
  // Writes waiting behind the current one: rare (a control frame during a data write)
  // and few. A list: empty, it allocates nothing (a std::deque allocates ~600 bytes up
  // front, which every idle viewer paid), and it never move-assigns an op.
  std::list<op> pending_;
};

}  // namespace peyk::gateway
