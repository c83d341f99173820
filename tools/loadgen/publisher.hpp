#pragma once
// How locations enter the system under test. One instance per worker thread, used only
// on that thread; the worker's pacer decides when a message is due and calls
// try_publish. Delivery guarantee: none — a publisher counts what the system accepted
// (2xx for the ingest API) and what it refused, in the worker's stats.
// Implementations: http_publisher (POST /api/v1/locations) and redis_publisher (PUBLISH
// of the §4 broker message on the channel, as peyk's ingest would).

#include <cstddef>
#include <functional>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace peyk::loadgen {

class token_book;
struct options;
struct stats;

class publisher {
 public:
  virtual ~publisher() = default;
  // Starts opening connections; stats.publisher_connections counts those that are up.
  virtual void start() = 0;
  // Sends one location of courier `courier_id` (1-based) if a connection is free now;
  // false when every connection is busy (the pacer carries the message to its next tick).
  virtual bool try_publish(std::size_t courier_id) = 0;
  // Requests written and not yet answered.
  virtual std::size_t in_flight() const = 0;
  // Closes every connection; what is in flight is abandoned.
  virtual void close() = 0;
  // Called (on the worker's thread) whenever room to send appeared: a connection came up
  // or an answer arrived. The closed-loop mode sends from it; empty to stop.
  void on_ready(std::function<void()> f) { ready_ = std::move(f); }

 protected:
  void ready() {
    if (ready_) ready_();
  }

 private:
  std::function<void()> ready_;
};

// By --publisher; `connections` is this worker's share of --http-connections (http) or
// --redis-connections (redis); `target` the ingest API's or Redis's address.
std::unique_ptr<publisher> make_publisher(boost::asio::io_context& ioc, const options& o,
                                          const token_book& tokens, stats& st,
                                          boost::asio::ip::tcp::endpoint target,
                                          std::size_t connections);

}  // namespace peyk::loadgen
