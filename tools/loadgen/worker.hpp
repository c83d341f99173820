#pragma once
// One thread, one io_context, and everything that runs on it: a share of the viewers, a
// publisher with its share of the connections, the pacer, and the stats they write.
// Nothing here is shared between workers, so there are no locks; the main thread talks
// to a worker only by posting to its io_context (every public method below does that).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "options.hpp"
#include "publisher.hpp"
#include "stats.hpp"
#include "tokens.hpp"

namespace peyk::loadgen {

class viewer;

struct targets {
  std::vector<boost::asio::ip::tcp::endpoint> ws;  // one per --url (options::ws_targets)
  boost::asio::ip::tcp::endpoint ingest;
  boost::asio::ip::tcp::endpoint redis;  // --publisher redis
};

class worker {
 public:
  using clock = std::chrono::steady_clock;

  worker(std::size_t index, const options& o, const token_book& tokens, const targets& t);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  void start();  // starts the thread

  // Opens viewers first, first + step, ... (count of them), `concurrency` at a time.
  void connect_viewers(std::size_t first, std::size_t step, std::size_t count,
                       std::size_t concurrency);
  void open_publisher(std::size_t connections);
  // Sends `rate` messages/s from `start` on, evenly spaced (a tick every millisecond);
  // with --publish-rate max, sends whenever the publisher has room (closed loop). With a
  // `limit` (0: none), stops after that many.
  void start_pacing(double rate, clock::time_point start, std::uint64_t limit = 0);
  void stop_pacing();
  void close_publisher();
  // Starts a close handshake on every open viewer; forces them shut after `grace`.
  void close_viewers(std::chrono::milliseconds grace);

  // A copy of the stats, taken on the worker's thread; nullopt if it did not answer.
  std::optional<stats> snapshot(std::chrono::milliseconds timeout);
  // Lets the thread finish its work, stopping it after `timeout`, and joins it.
  void shutdown(std::chrono::milliseconds timeout);

  // For the viewers running on this worker.
  boost::asio::io_context& ioc() { return ioc_; }
  const options& opts() const { return opts_; }
  const token_book& tokens() const { return tokens_; }
  const targets& target() const { return targets_; }
  stats& st() { return st_; }
  std::uint32_t random32() { return static_cast<std::uint32_t>(rng_()); }
  void on_attempt_done();  // a viewer connected or gave up: start the next one

 private:
  void launch_viewers();
  void do_tick();
  void publish_while_ready();  // closed loop: fill every free slot of the publisher
  void on_tick(boost::system::error_code ec);

  // Declared first: destroyed last, after everything that holds its sockets and timers.
  // No reactor locks: every socket is opened, used and closed on this worker's thread
  // (the main thread only posts, which keeps its lock).
  boost::asio::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  std::size_t index_;
  const options& opts_;
  const token_book& tokens_;
  targets targets_;
  stats st_;
  std::mt19937_64 rng_;
  std::thread thread_;
  std::atomic<bool> running_{false};

  // Viewer connections still to open.
  std::vector<std::shared_ptr<viewer>> viewers_;
  std::size_t next_viewer_ = 0;
  std::size_t viewer_step_ = 1;
  std::size_t viewers_left_ = 0;
  std::size_t connecting_ = 0;
  std::size_t concurrency_ = 1;

  // Publishing.
  std::unique_ptr<publisher> publisher_;
  boost::asio::steady_timer tick_;
  bool pacing_ = false;
  double rate_ = 0;
  clock::time_point pace_start_{};
  std::uint64_t issued_ = 0;
  std::uint64_t limit_ = 0;       // messages to send in all (0: no limit)
  std::uint64_t sent_ = 0;        // messages handed to the publisher
  std::size_t next_courier_ = 0;  // 0-based; ids are 1-based
};

}  // namespace peyk::loadgen
