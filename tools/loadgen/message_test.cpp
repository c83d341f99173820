#include "message.hpp"

#include <gtest/gtest.h>

#include "core/codec.hpp"

namespace peyk::loadgen {
namespace {

// The message the Redis publisher sends must be what peyk's gateway accepts from the
// channel, with the identity, fleet and order that the viewers' tokens are built from.
TEST(loadgen_message, decodes_with_peyks_broker_codec) {
  auto pos = courier_position(1234, 7);
  auto json = broker_message(1234, pos, 1764331200123456, 10);
  auto loc = core::decode_broker_message(json);
  ASSERT_TRUE(loc.has_value()) << json;
  EXPECT_EQ(loc->courier_id, "1234");
  EXPECT_EQ(loc->username, "c1234");
  EXPECT_EQ(loc->ts_us, 1764331200123456);
  EXPECT_EQ(loc->fleet, "fleet-4");
  ASSERT_EQ(loc->orders.size(), 1u);
  EXPECT_EQ(loc->orders[0], "o1234");
  EXPECT_NEAR(loc->latitude, pos.latitude, 1e-6);
  EXPECT_NEAR(loc->longitude, pos.longitude, 1e-6);
  // user.id is a JSON number, as in the original design.
  EXPECT_NE(json.find(R"("user":{"id":1234,)"), std::string::npos) << json;
}

TEST(loadgen_message, positions_vary_from_one_message_to_the_next) {
  auto a = courier_position(5, 1), b = courier_position(5, 2), c = courier_position(6, 1);
  EXPECT_NE(a.latitude, b.latitude);
  EXPECT_NE(a.latitude, c.latitude);
  EXPECT_GT(a.latitude, 35.0);
  EXPECT_LT(a.latitude, 36.0);
}

TEST(loadgen_message, publish_is_a_resp_array_of_three_bulk_strings) {
  std::string out = "x";
  append_publish(out, "dlchannel", R"({"a":1})");
  EXPECT_EQ(out, "x*3\r\n$7\r\nPUBLISH\r\n$9\r\ndlchannel\r\n$7\r\n{\"a\":1}\r\n");
}

}  // namespace
}  // namespace peyk::loadgen
