#pragma once
// Publishes straight to Redis, as peyk's ingest does after accepting a POST: one
// `PUBLISH <channel> <§4 message>` per location, `ts` stamped here when the message is
// formatted (in the pacer's tick, microseconds before the write). Nothing else is
// written: the gateway needs only the channel (its snapshot hash is ingest's business,
// and an empty hash just makes a v1 viewer's first snapshot empty).
//
// Each connection is pipelined: commands due in one pacer tick leave in one write, at
// most --pipeline await their replies, and replies (read with hiredis's reader, matched
// in order) complete them; an integer reply counts as accepted, an error reply as a
// refusal. A connection that fails is reopened after a short pause; what it had in
// flight is counted as errors.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "publisher.hpp"

struct redisReader;

namespace peyk::loadgen {

// Replies read from a byte stream with hiredis's RESP reader.
class reply_counter {
 public:
  reply_counter();
  ~reply_counter();
  reply_counter(const reply_counter&) = delete;
  reply_counter& operator=(const reply_counter&) = delete;

  struct counts {
    std::uint64_t ok = 0;      // integer replies (PUBLISH answers with a receiver count)
    std::uint64_t errors = 0;  // error replies, or replies of another type
    std::string first_error;   // text of the first error reply in this batch
    bool broken = false;       // the stream is not RESP: the connection must be dropped
  };
  // Feeds bytes and counts the replies they complete (a partial one waits for more).
  counts feed(const char* data, std::size_t n);

 private:
  redisReader* reader_;
};

std::unique_ptr<publisher> make_redis_publisher(boost::asio::io_context& ioc, const options& o,
                                                stats& st, boost::asio::ip::tcp::endpoint target,
                                                std::size_t connections);

}  // namespace peyk::loadgen
