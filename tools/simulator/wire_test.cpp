#include "simulator/wire.hpp"

#include <regex>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "core/codec.hpp"

namespace peyk::simulator {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

const system_clock::time_point t0{milliseconds(1'764'331'200'123)};

TEST(wire, rfc3339_utc_with_milliseconds) {
  EXPECT_EQ(format_rfc3339(t0), "2025-11-28T12:00:00.123Z");
  EXPECT_EQ(format_rfc3339(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
}

TEST(wire, the_servers_own_parser_takes_our_points_and_batches) {
  fix f{{35.7001234, 51.4011239}, 8.25, 270.04, 6.5, {"A123", "A124"}};
  auto one = encode_point(f, t0);
  auto parsed = core::parse_ingest_body(one);
  ASSERT_TRUE(parsed) << parsed.error().message;
  ASSERT_EQ(parsed->size(), 1u);
  const auto& p = parsed->front();
  EXPECT_DOUBLE_EQ(p.latitude, 35.700123);
  EXPECT_DOUBLE_EQ(p.longitude, 51.401124);
  EXPECT_EQ(p.recorded_at, "2025-11-28T12:00:00.123Z");
  EXPECT_EQ(p.orders, (std::vector<std::string>{"A123", "A124"}));
  ASSERT_TRUE(p.heading.has_value());
  EXPECT_NEAR(*p.heading, 270.0, 0.05);
  EXPECT_NEAR(*p.speed, 8.2, 0.051);
  EXPECT_NEAR(*p.accuracy, 6.5, 1e-9);

  auto batch = R"({"points":[)" + one + "," + one + "]}";
  auto parsed_batch = core::parse_ingest_body(batch);
  ASSERT_TRUE(parsed_batch) << parsed_batch.error().message;
  EXPECT_EQ(parsed_batch->size(), 2u);
}

TEST(wire, no_orders_no_field_and_heading_stays_below_360) {
  fix f{{35.7, 51.4}, 0, 359.97, 3, {}};
  auto v = boost::json::parse(encode_point(f, t0)).as_object();
  EXPECT_FALSE(v.contains("orders"));
  EXPECT_LT(v.at("heading").to_number<double>(), 360);
  EXPECT_TRUE(std::regex_match(std::string(v.at("recorded_at").as_string()),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
}

TEST(wire, update_interval_from_the_200_answer) {
  EXPECT_EQ(parse_update_interval(R"({"update_interval":"1/m","update_interval_seconds":60})"),
            60.0);
  EXPECT_EQ(parse_update_interval(R"({"update_interval_seconds": 2.5})"), 2.5);
  EXPECT_FALSE(parse_update_interval(R"({"update_interval":"1/m"})"));
  EXPECT_FALSE(parse_update_interval(R"({"update_interval_seconds":0})"));
  EXPECT_FALSE(parse_update_interval(R"({"update_interval_seconds":"x"})"));
}

TEST(wire, retry_after_in_seconds_only) {
  EXPECT_EQ(parse_retry_after("1"), 1.0);
  EXPECT_EQ(parse_retry_after("30 "), 30.0);
  EXPECT_FALSE(parse_retry_after(""));
  EXPECT_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
  EXPECT_FALSE(parse_retry_after("-1"));
}

}  // namespace
}  // namespace peyk::simulator
