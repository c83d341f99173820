#include "core/codec.hpp"

#include <cmath>
#include <string>

#include <gtest/gtest.h>
#include <boost/json.hpp>

namespace peyk::core {
namespace {

namespace json = boost::json;

location one(std::string_view body) {
  auto r = parse_ingest_body(body);
  EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
  EXPECT_EQ(r->size(), 1u);
  return r->front();
}

error fails(std::string_view body) {
  auto r = parse_ingest_body(body);
  EXPECT_FALSE(r.has_value()) << body;
  return r ? error{} : r.error();
}

TEST(IngestBody, AcceptsOnePointWithAllFields) {
  auto loc = one(R"({"latitude": 35.7001, "longitude": 51.4011, "accuracy": 6.5, "speed": 8.2,
    "heading": 270, "recorded_at": "2026-11-28T12:00:00Z", "orders": ["A123", 77]})");
  EXPECT_DOUBLE_EQ(loc.latitude, 35.7001);
  EXPECT_DOUBLE_EQ(loc.longitude, 51.4011);
  EXPECT_DOUBLE_EQ(*loc.accuracy, 6.5);
  EXPECT_DOUBLE_EQ(*loc.speed, 8.2);
  EXPECT_DOUBLE_EQ(*loc.heading, 270);
  EXPECT_EQ(loc.recorded_at, "2026-11-28T12:00:00Z");
  ASSERT_EQ(loc.orders.size(), 2u);
  EXPECT_EQ(loc.orders[1], "77");
}

TEST(IngestBody, BoundsAreInclusive) {
  EXPECT_DOUBLE_EQ(one(R"({"latitude": 90, "longitude": -180})").latitude, 90);
  EXPECT_DOUBLE_EQ(one(R"({"latitude": -90, "longitude": 180})").longitude, 180);
  EXPECT_EQ(fails(R"({"latitude": 90.0000001, "longitude": 0})").field, "latitude");
  EXPECT_EQ(fails(R"({"latitude": 0, "longitude": -180.5})").field, "longitude");
}

TEST(IngestBody, RoundsToSixDecimals) {
  auto loc = one(R"({"latitude": 35.12345649, "longitude": 51.1234565})");
  EXPECT_DOUBLE_EQ(loc.latitude, 35.123456);
  EXPECT_DOUBLE_EQ(loc.longitude, 51.123457);
  EXPECT_FALSE(std::signbit(one(R"({"latitude": -0.0000001, "longitude": 0})").latitude));
}

TEST(IngestBody, AcceptsDecimalStringsLikeDrf) {
  auto loc = one(R"({"latitude": "35.7001", "longitude": " -51.5 "})");
  EXPECT_DOUBLE_EQ(loc.latitude, 35.7001);
  EXPECT_DOUBLE_EQ(loc.longitude, -51.5);
  EXPECT_DOUBLE_EQ(one(R"({"latitude": "+1e1", "longitude": "0"})").latitude, 10);
}

TEST(IngestBody, RejectsNonFiniteAndNonNumbers) {
  for (const char* bad : {R"("NaN")", R"("nan")", R"("Infinity")", R"("-inf")", R"("abc")", R"("")",
                          R"("0x10")", "true", "null", "[]", "{}", "1e400"}) {
    std::string body = std::string(R"({"latitude": )") + bad + R"(, "longitude": 1})";
    auto e = fails(body);
    EXPECT_EQ(e.field, "latitude") << body;
  }
}

TEST(IngestBody, RequiresCoordinates) {
  auto e = fails(R"({"longitude": 1})");
  EXPECT_EQ(e.code, "missing_field");
  EXPECT_EQ(e.field, "latitude");
}

TEST(IngestBody, RejectsBadJsonAndNonObjects) {
  EXPECT_EQ(fails("{").code, "invalid_json");
  EXPECT_EQ(fails("").code, "invalid_json");
  EXPECT_EQ(fails("[1,2]").code, "invalid_body");
  EXPECT_EQ(fails(R"("x")").code, "invalid_body");
}

TEST(IngestBody, ValidatesOptionalFields) {
  EXPECT_EQ(fails(R"({"latitude": 1, "longitude": 1, "heading": 361})").field, "heading");
  EXPECT_EQ(fails(R"({"latitude": 1, "longitude": 1, "accuracy": -1})").field, "accuracy");
  EXPECT_EQ(fails(R"({"latitude": 1, "longitude": 1, "speed": "fast"})").field, "speed");
  EXPECT_EQ(fails(R"({"latitude": 1, "longitude": 1, "recorded_at": "yesterday"})").field,
            "recorded_at");
  EXPECT_EQ(fails(R"({"latitude": 1, "longitude": 1, "orders": "A1"})").field, "orders");
  EXPECT_EQ(fails(R"({"latitude": 1, "longitude": 1, "orders": [""]})").field, "orders");
  EXPECT_EQ(fails(R"({"latitude": 1, "longitude": 1, "orders": [{}]})").field, "orders");
  auto loc = one(R"({"latitude": 1, "longitude": 1, "heading": null, "user": {"id": 99}})");
  EXPECT_FALSE(loc.heading.has_value());
  EXPECT_TRUE(loc.courier_id.empty());  // identity never comes from the body
}

TEST(IngestBody, LimitsOrdersAndStrings) {
  std::string many = R"({"latitude": 1, "longitude": 1, "orders": [)";
  for (int i = 0; i < 33; ++i) many += (i ? ",\"o" : "\"o") + std::to_string(i) + "\"";
  many += "]}";
  EXPECT_EQ(fails(many).field, "orders");
  std::string long_id =
      R"({"latitude": 1, "longitude": 1, "orders": [")" + std::string(129, 'x') + "\"]}";
  EXPECT_EQ(fails(long_id).field, "orders");
}

TEST(IngestBody, Batches) {
  auto r = parse_ingest_body(
      R"({"points": [{"latitude": 1, "longitude": 2}, {"latitude": 3, "longitude": 4}]})");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->size(), 2u);
  EXPECT_DOUBLE_EQ((*r)[1].latitude, 3);

  EXPECT_EQ(fails(R"({"points": []})").field, "points");
  EXPECT_EQ(fails(R"({"points": {}})").field, "points");
  EXPECT_EQ(fails(R"({"points": [1]})").field, "points[0]");
  EXPECT_EQ(fails(R"({"points": [{"latitude": 1, "longitude": 2}, {"latitude": 100,
    "longitude": 2}]})")
                .field,
            "points[1].latitude");

  std::string big = R"({"points": [)";
  for (int i = 0; i < 1001; ++i)
    big += (i ? "," : "") + std::string(R"({"latitude":1,"longitude":1})");
  big += "]}";
  EXPECT_EQ(fails(big).field, "points");
  ingest_limits lim;
  lim.max_points = 1001;
  EXPECT_TRUE(parse_ingest_body(big, lim));
}

TEST(NumericId, DecimalIntegersOnly) {
  EXPECT_TRUE(is_numeric_id("10"));
  EXPECT_TRUE(is_numeric_id("0"));
  EXPECT_FALSE(is_numeric_id("010"));
  EXPECT_FALSE(is_numeric_id("-1"));
  EXPECT_FALSE(is_numeric_id("1a"));
  EXPECT_FALSE(is_numeric_id(""));
  EXPECT_FALSE(is_numeric_id("1234567890123456789"));
}

location sample() {
  location loc;
  loc.courier_id = "10";
  loc.username = "test_driver1";
  loc.latitude = 35.0001;
  loc.longitude = 53.12111;
  loc.accuracy = 6.5;
  loc.heading = 270;
  loc.recorded_at = "2026-11-28T12:00:00Z";
  loc.fleet = "store-7";
  loc.orders = {"A123", "B9"};
  loc.ts_us = 1764331200123456;
  return loc;
}

TEST(BrokerCodec, EncodesOriginalFormatWithNumericId) {
  auto v = json::parse(encode_location(sample())).as_object();
  EXPECT_EQ(v.at("latitude").as_double(), 35.0001);
  EXPECT_EQ(v.at("longitude").as_double(), 53.12111);
  EXPECT_EQ(v.at("user").at("id").as_int64(), 10);
  EXPECT_EQ(v.at("user").at("username").as_string(), "test_driver1");
  EXPECT_EQ(v.at("ts").as_int64(), 1764331200123456);
  EXPECT_EQ(v.at("heading").to_number<double>(), 270);
  EXPECT_FALSE(v.contains("speed"));
  EXPECT_EQ(v.at("orders").as_array().size(), 2u);
}

TEST(BrokerCodec, TextIdsStayStrings) {
  auto loc = sample();
  loc.courier_id = "c-\"7\"";
  auto v = json::parse(encode_location(loc)).as_object();
  EXPECT_EQ(v.at("user").at("id").as_string(), "c-\"7\"");
}

TEST(BrokerCodec, RoundTrip) {
  auto in = sample();
  auto out = decode_broker_message(encode_location(in));
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->courier_id, in.courier_id);
  EXPECT_EQ(out->username, in.username);
  EXPECT_EQ(out->latitude, in.latitude);
  EXPECT_EQ(out->longitude, in.longitude);
  EXPECT_EQ(out->accuracy, in.accuracy);
  EXPECT_EQ(out->speed, in.speed);
  EXPECT_EQ(out->heading, in.heading);
  EXPECT_EQ(out->recorded_at, in.recorded_at);
  EXPECT_EQ(out->fleet, in.fleet);
  EXPECT_EQ(out->orders, in.orders);
  EXPECT_EQ(out->ts_us, in.ts_us);
  EXPECT_EQ(encode_location(*out), encode_location(in));
}

TEST(BrokerCodec, PhoneAppFieldsRoundTrip) {
  auto in = sample();
  in.altitude = 1250.5;
  in.battery = 17;
  in.charging = false;
  in.source = "owntracks";
  auto text = encode_location(in);
  auto v = json::parse(text).as_object();
  EXPECT_EQ(v.at("battery").to_number<double>(), 17);
  EXPECT_EQ(v.at("charging").as_bool(), false);
  EXPECT_EQ(v.at("source").as_string(), "owntracks");
  auto out = decode_broker_message(text);
  ASSERT_TRUE(out) << out.error().message;
  EXPECT_EQ(out->altitude, in.altitude);
  EXPECT_EQ(out->battery, in.battery);
  EXPECT_EQ(out->charging, in.charging);
  EXPECT_EQ(out->source, in.source);
  // Absent stays absent: the original design's message has none of them.
  auto plain = json::parse(encode_location(sample())).as_object();
  EXPECT_FALSE(plain.contains("battery") || plain.contains("charging") || plain.contains("source"));
}

TEST(IngestBody, BatteryAndChargingAreChecked) {
  auto loc = one(R"({"latitude": 1, "longitude": 2, "battery": 55.5, "charging": true})");
  EXPECT_EQ(loc.battery, 55.5);
  EXPECT_EQ(loc.charging, true);
  EXPECT_EQ(fails(R"({"latitude": 1, "longitude": 2, "battery": 101})").field, "battery");
  EXPECT_EQ(fails(R"({"latitude": 1, "longitude": 2, "charging": "yes"})").field, "charging");
}

TEST(BrokerCodec, CustomerViewListsOnlyGivenOrders) {
  std::vector<std::string> mine{"B9"};
  auto v = json::parse(encode_location(sample(), mine)).as_object();
  ASSERT_EQ(v.at("orders").as_array().size(), 1u);
  EXPECT_EQ(v.at("orders").as_array()[0].as_string(), "B9");
  EXPECT_FALSE(json::parse(encode_location(sample(), {})).as_object().contains("orders"));
}

TEST(BrokerCodec, DecodesTheOriginalDesignsMessage) {
  auto r = decode_broker_message(
      R"({"latitude": 35.0001, "longitude": 53.12111, "user": {"id": 10, "username": "test_driver1"}})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->courier_id, "10");
  EXPECT_EQ(r->ts_us, 0);
  EXPECT_TRUE(r->fleet.empty());
  // DRF serialises DecimalField as a string.
  auto s = decode_broker_message(
      R"({"latitude": "35.000100", "longitude": "53.121110", "user": {"id": "abc"}})");
  ASSERT_TRUE(s);
  EXPECT_DOUBLE_EQ(s->latitude, 35.0001);
  EXPECT_EQ(s->courier_id, "abc");
}

TEST(BrokerCodec, RejectsInvalidMessages) {
  for (const char* bad :
       {"", "not json", "[]", R"({"latitude": 1, "longitude": 2})",
        R"({"latitude": 1, "longitude": 2, "user": {}})",
        R"({"latitude": 1, "longitude": 2, "user": {"id": 1.5}})",
        R"({"latitude": 1, "longitude": 2, "user": {"id": ""}})",
        R"({"latitude": 100, "longitude": 2, "user": {"id": 1}})",
        R"({"latitude": 1, "longitude": 2, "user": {"id": 1}, "ts": -5})",
        R"({"latitude": 1, "longitude": 2, "user": {"id": 1}, "ts": "x"})",
        R"({"latitude": 1, "longitude": 2, "user": {"id": 1}, "fleet": []})", "\xff\xfe"}) {
    EXPECT_FALSE(decode_broker_message(bad)) << bad;
  }
  std::string huge(20000, ' ');
  huge += R"({"latitude": 1, "longitude": 2, "user": {"id": 1}})";
  auto r = decode_broker_message(huge);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, "too_large");
}

TEST(BrokerCodec, DeepNestingIsRejectedNotCrashing) {
  std::string deep(5000, '[');
  EXPECT_FALSE(decode_broker_message(deep));
  EXPECT_FALSE(parse_ingest_body(deep));
}

}  // namespace
}  // namespace peyk::core
