#include "redis_publisher.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "core/codec.hpp"
#include "options.hpp"
#include "stats.hpp"

namespace peyk::loadgen {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

TEST(loadgen_redis_publisher, counts_replies_split_across_reads) {
  reply_counter r;
  auto a = r.feed(":1\r\n:0\r", 7);
  EXPECT_EQ(a.ok, 1u);
  EXPECT_EQ(a.errors, 0u);
  auto b = r.feed("\n:12\r\n", 6);
  EXPECT_EQ(b.ok, 2u);
  EXPECT_FALSE(b.broken);
}

TEST(loadgen_redis_publisher, error_replies_are_refusals) {
  reply_counter r;
  std::string in = ":3\r\n-ERR wrong number of arguments\r\n+OK\r\n-LATER\r\n";
  auto c = r.feed(in.data(), in.size());
  EXPECT_EQ(c.ok, 1u);
  EXPECT_EQ(c.errors, 3u);
  EXPECT_EQ(c.first_error, "ERR wrong number of arguments");
}

TEST(loadgen_redis_publisher, garbage_breaks_the_stream) {
  reply_counter r;
  auto c = r.feed("HTTP/1.1 200 OK\r\n", 17);
  EXPECT_TRUE(c.broken);
}

// A stand-in Redis on a loopback port: answers every PUBLISH it reads with `:1`, except
// the third, which it refuses, and keeps the messages.
struct fake_redis {
  explicit fake_redis(net::io_context& ioc)
      : acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)), socket(ioc) {
    acceptor.async_accept(socket, [this](boost::system::error_code ec) {
      if (!ec) read();
    });
  }
  void read() {
    socket.async_read_some(net::buffer(buf), [this](boost::system::error_code ec, std::size_t n) {
      if (ec) return;
      in.append(buf, n);
      std::string out;
      // Each command is *3 $7 PUBLISH $len channel $len message; take whole ones.
      for (;;) {
        reply_like_redis(out);
        if (!consumed) break;
      }
      if (!out.empty()) net::write(socket, net::buffer(out));
      read();
    });
  }
  void reply_like_redis(std::string& out) {
    consumed = false;
    std::size_t pos = 0;
    std::vector<std::string> args;
    if (in.compare(0, 4, "*3\r\n") != 0) return;
    pos = 4;
    for (int i = 0; i < 3; ++i) {
      auto eol = in.find("\r\n", pos);
      if (eol == std::string::npos || in[pos] != '$') return;
      auto len = std::stoul(in.substr(pos + 1, eol - pos - 1));
      if (in.size() < eol + 2 + len + 2) return;
      args.push_back(in.substr(eol + 2, len));
      pos = eol + 2 + len + 2;
    }
    in.erase(0, pos);
    consumed = true;
    ++commands;
    if (args[0] != "PUBLISH" || args[1] != "dlchannel") {
      out += "-ERR unexpected\r\n";
      return;
    }
    messages.push_back(args[2]);
    out += commands == 3 ? "-ERR refused\r\n" : ":1\r\n";
  }

  tcp::acceptor acceptor;
  tcp::socket socket;
  char buf[4096];
  std::string in;
  bool consumed = false;
  int commands = 0;
  std::vector<std::string> messages;
};

TEST(loadgen_redis_publisher, publishes_pipelined_and_counts_replies) {
  net::io_context ioc;
  fake_redis redis(ioc);
  options o;
  o.publisher = "redis";
  o.pipeline = 4;
  stats st;
  auto pub = make_redis_publisher(ioc, o, st, redis.acceptor.local_endpoint(), 1);
  int ready_calls = 0;
  pub->on_ready([&] { ++ready_calls; });
  pub->start();
  for (int i = 0; i < 200 && st.publisher_connections == 0; ++i)
    ioc.run_one_for(std::chrono::milliseconds(10));
  ASSERT_EQ(st.publisher_connections, 1);

  // A pipeline of 4: the fifth does not fit until replies arrive.
  for (std::size_t c = 1; c <= 4; ++c) EXPECT_TRUE(pub->try_publish(c));
  EXPECT_FALSE(pub->try_publish(5));
  EXPECT_EQ(pub->in_flight(), 4u);
  for (int i = 0; i < 200 && st.publish_ok + st.publish_errors < 4; ++i)
    ioc.run_one_for(std::chrono::milliseconds(10));
  EXPECT_EQ(st.publish_sent, 4u);
  EXPECT_EQ(st.publish_ok, 3u);
  EXPECT_EQ(st.publish_errors, 1u);
  EXPECT_EQ(st.errors["redis: ERR refused"], 1u);
  EXPECT_EQ(st.ingest_rtt.count(), 4u);
  EXPECT_EQ(pub->in_flight(), 0u);
  EXPECT_GE(ready_calls, 2);  // connected, and replies made room
  EXPECT_TRUE(pub->try_publish(5));

  ASSERT_EQ(redis.messages.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    auto loc = core::decode_broker_message(redis.messages[i]);
    ASSERT_TRUE(loc.has_value()) << redis.messages[i];
    EXPECT_EQ(loc->courier_id, std::to_string(i + 1));
    // Stamped at send time: within the last minute.
    EXPECT_GT(loc->ts_us, 0);
  }
  pub->close();
}

TEST(loadgen_redis_publisher, no_server_means_no_connection) {
  net::io_context ioc;
  tcp::endpoint nowhere;
  {
    tcp::acceptor a(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    nowhere = a.local_endpoint();
  }  // closed: connecting is refused
  options o;
  stats st;
  auto pub = make_redis_publisher(ioc, o, st, nowhere, 1);
  pub->start();
  for (int i = 0; i < 20; ++i) ioc.run_one_for(std::chrono::milliseconds(10));
  EXPECT_EQ(st.publisher_connections, 0);
  EXPECT_FALSE(pub->try_publish(1));
  EXPECT_FALSE(st.errors.empty());
  pub->close();
}

}  // namespace
}  // namespace peyk::loadgen
