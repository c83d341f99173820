#pragma once
// The pluggable message bus between ingest and gateways (ARCHITECTURE.md).
//
// Delivery guarantee: at most once, latest wins per courier. A publish completes with
// success only once the message has been handed to the broker (in-process: delivered to
// the subscribers; Redis: PUBLISH acknowledged), so ingest never answers 200 for a point
// that was not published. Subscribers receive messages in publish order per publisher.

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>

#include "core/location.hpp"

namespace peyk::broker {

using location_ptr = std::shared_ptr<const core::location>;

// Called with every message on the channel, on a broker-owned thread; must not block.
using message_handler = std::function<void(const location_ptr&)>;
// Called once per publish with the outcome.
using publish_handler = std::function<void(boost::system::error_code)>;
// Called with every control message (the watch channel), on a broker-owned thread.
using control_handler = std::function<void(std::string_view)>;

class broker {
 public:
  virtual ~broker() = default;

  // Publishes `batch` in order; `done` runs once, possibly inline.
  virtual void publish(std::span<const location_ptr> batch, publish_handler done) = 0;

  // Registers the handler for every message; call before start().
  virtual void subscribe(message_handler handler) = 0;

  virtual void start() = 0;
  virtual void stop() = 0;

  // True once this process is ready for viewers (drives /readyz): connected and, where
  // it subscribes, subscribed with its snapshot read.
  virtual bool ready() const = 0;

  // True while a publish may succeed (ingest answers 503 without it): a gateway still
  // reading its snapshot can publish, and an ingest never reads one.
  virtual bool can_publish() const = 0;

  // The old name of ready(), for existing callers.
  bool connected() const { return ready(); }

  virtual const char* name() const = 0;  // "memory", "redis", "redis-cluster"

  // What this process's viewers need (any thread; +1 when a viewer joins, -1 when it
  // leaves): every courier (admins, dispatchers), or the couriers carrying some orders
  // (customers). A broker that subscribes on demand (Redis Cluster) follows it; one that
  // carries every message anyway ignores it.
  virtual void need_all(int /*delta*/) {}
  virtual void need_orders(std::span<const std::string> /*orders*/, int /*delta*/) {}

  // The control channel between peyk processes: small JSON texts beside the locations
  // (today the watch state of PROTOCOL.md §10, docs/protocol.md "The watch channel"):
  // Redis `<channel>:watch`; Redis Cluster the sharded channel `<channel>:watch:{tag}` on
  // the slot of partition 0. Best effort, at most once: a message published while
  // disconnected is dropped (the watch state is re-sent every second anyway).
  // publish_control: any thread. subscribe_control: before start().
  virtual void publish_control(std::string /*payload*/) {}
  virtual void subscribe_control(control_handler /*handler*/) {}
};

}  // namespace peyk::broker
