#pragma once
// The Redis broker: PUBLISH/SUBSCRIBE on one channel, so ingest and gateway processes can
// run apart and any other program can publish or listen (the original design's
// decoupling). Built on hiredis's RESP reader and command formatter over Asio sockets.
//
// Threading: the broker owns one io_context thread. publish() may be called from any
// thread: commands are formatted on the caller's thread, then appended to the command
// connection's pipeline. Subscribers are called on the broker thread.
// Delivery: a publish succeeds once Redis acknowledged every PUBLISH of the batch (and
// the last-known writes pipelined with it); while the broker is disconnected, publish
// fails at once, so ingest answers 503. Messages published while a subscriber is
// disconnected are lost to it (pub/sub); after a reconnect the last-known hash is read
// again, so every courier's newest location is recovered.
// Forgetting: every publisher records when each courier last posted, and every process
// (ingest and gateway) sweeps out couriers silent for `courier_ttl` (courier_reaper.hpp).
// Reconnects back off with jitter from 100 ms up to `max_backoff`.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>

#include "broker/broker.hpp"
#include "core/metrics.hpp"

namespace peyk::broker {

struct redis_config {
  std::string host = "127.0.0.1";
  unsigned short port = 6379;
  std::string password;
  int db = 0;
  std::string channel = "dlchannel";
  std::chrono::milliseconds max_backoff{5000};
  bool write_last_known = true;  // ingest: HSET + GEOADD with each PUBLISH
  bool subscribe = true;         // gateway: SUBSCRIBE and warm from the hash
  // A courier silent this long is removed from the hash and GEO set (courier_reaper.hpp);
  // 0: never.
  std::chrono::seconds courier_ttl{86400};
};

// Parses redis://[:password@]host[:port][/db]; throws std::invalid_argument.
redis_config parse_redis_url(const std::string& url);

class redis_broker final : public broker {
 public:
  redis_broker(redis_config cfg, core::metrics& metrics);
  ~redis_broker() override;

  void publish(std::span<const location_ptr> batch, publish_handler done) override;
  void subscribe(message_handler handler) override;
  void start() override;
  void stop() override;
  bool ready() const override;
  bool can_publish() const override;
  const char* name() const override { return "redis"; }
  void publish_control(std::string payload) override;
  void subscribe_control(control_handler handler) override;

  // Keys of the last-known store for a channel.
  static std::string hash_key(const std::string& channel) { return "peyk:last:" + channel; }
  static std::string geo_key(const std::string& channel) { return "peyk:geo:" + channel; }
  // courier id -> when it last posted (ms since the epoch), for forgetting silent ones
  static std::string seen_key(const std::string& channel) { return "peyk:seen:" + channel; }
  // The control channel (the watch state of PROTOCOL.md §10).
  static std::string control_channel(const std::string& channel) { return channel + ":watch"; }

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
  std::thread thread_;
};

}  // namespace peyk::broker
