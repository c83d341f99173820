#pragma once
// Publishes through the ingest API: HTTP/1.1 keep-alive connections, one request in flight
// on each (a courier app's pattern), each request signed with its courier's token. A
// connection that fails is reopened after a short pause, so a server restart costs
// errors, not the run.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "publisher.hpp"

namespace peyk::loadgen {

class http_connection;

class http_publisher : public publisher {
 public:
  http_publisher(boost::asio::io_context& ioc, const options& o, const token_book& tokens,
                 stats& st, boost::asio::ip::tcp::endpoint target, std::size_t connections);
  ~http_publisher() override;

  void start() override;
  bool try_publish(std::size_t courier_id) override;
  std::size_t in_flight() const override;
  void close() override;

 private:
  friend class http_connection;
  void on_idle(http_connection* c) {
    idle_.push_back(c);
    ready();
  }

  boost::asio::io_context& ioc_;
  const token_book& tokens_;
  stats& st_;
  boost::asio::ip::tcp::endpoint target_;
  std::string host_header_;
  std::vector<std::shared_ptr<http_connection>> connections_;
  std::vector<http_connection*> idle_;  // connected and not waiting for an answer
  std::uint64_t seq_ = 0;               // varies the coordinates from one message to the next
  bool osmand_ = false;                 // --ingest-format osmand
  bool closed_ = false;
};

}  // namespace peyk::loadgen
