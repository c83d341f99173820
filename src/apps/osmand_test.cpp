// OsmAnd parameters and Traccar Client's JSON. The fixtures are the request formats of
// Traccar's OsmAndProtocolDecoderTest, of Traccar Client (its version 9 location template
// and its newer SDK's form and JSON uploads) and of the OsmAnd app's URL template.
#include <gtest/gtest.h>

#include "apps/apps.hpp"
#include "core/timestamp.hpp"

namespace peyk::apps {
namespace {

core::location one(std::string_view q, speed_unit u = speed_unit::knots) {
  auto r = parse_osmand_params(q, u);
  EXPECT_TRUE(r) << q << ": " << (r ? "" : r.error().message);
  if (!r || r->points.size() != 1) return {};
  return r->points[0];
}

core::error bad(std::string_view q) {
  auto r = parse_osmand_params(q, speed_unit::knots);
  EXPECT_FALSE(r) << q;
  return r ? core::error{} : r.error();
}

TEST(AppTime, SecondsMillisecondsIsoAndTraccarsLocalForm) {
  EXPECT_EQ(parse_app_time_us("1377177267"), 1377177267000000);
  EXPECT_EQ(parse_app_time_us("1442068686579"), 1442068686579000);
  EXPECT_EQ(parse_app_time_us("1377177267.25"), 1377177267250000);
  EXPECT_EQ(parse_app_time_us("2016-01-27T18:55:47Z"),
            core::parse_rfc3339_us("2016-01-27T18:55:47Z"));
  EXPECT_EQ(parse_app_time_us("2025-06-15T13:45:12.862Z"), 1749995112862000);
  EXPECT_EQ(parse_app_time_us("2014-06-04 09:10:11"),
            core::parse_rfc3339_us("2014-06-04T09:10:11Z"));
  EXPECT_FALSE(parse_app_time_us(""));
  EXPECT_FALSE(parse_app_time_us("yesterday"));
  EXPECT_FALSE(parse_app_time_us("-5"));
  EXPECT_FALSE(parse_app_time_us("1e400"));
  EXPECT_FALSE(parse_app_time_us("99999999999999999999"));
}

TEST(AppTime, FormatsRfc3339Utc) {
  EXPECT_EQ(format_rfc3339(1749995112862000), "2025-06-15T13:45:12.862Z");
  EXPECT_EQ(format_rfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339(1000001), "1970-01-01T00:00:01.000001Z");
  EXPECT_EQ(core::parse_rfc3339_us(format_rfc3339(1377177267123456)), 1377177267123456);
}

TEST(SpeedUnit, ParsesAndConverts) {
  EXPECT_EQ(parse_speed_unit("kn"), speed_unit::knots);
  EXPECT_EQ(parse_speed_unit("kmh"), speed_unit::kmh);
  EXPECT_EQ(parse_speed_unit("mps"), speed_unit::mps);
  EXPECT_EQ(parse_speed_unit("mph"), speed_unit::mph);
  EXPECT_FALSE(parse_speed_unit("furlongs"));
  EXPECT_NEAR(to_mps(1, speed_unit::knots), 0.514444, 1e-6);
  EXPECT_NEAR(to_mps(36, speed_unit::kmh), 10, 1e-9);
  EXPECT_NEAR(to_mps(10, speed_unit::mph), 4.4704, 1e-9);
  EXPECT_EQ(to_mps(7, speed_unit::mps), 7);
}

// Traccar's decoder test, query requests.
TEST(OsmAndParams, TraccarDecoderSamples) {
  auto a =
      one("id=902064&lat=42.06288&lon=-88.23412&timestamp=2016-01-27T18%3A55%3A47Z&hdop=6.0&"
          "altitude=224.0&speed=0.0");
  EXPECT_DOUBLE_EQ(a.latitude, 42.06288);
  EXPECT_DOUBLE_EQ(a.longitude, -88.23412);
  EXPECT_EQ(a.recorded_at, "2016-01-27T18:55:47.000Z");
  EXPECT_EQ(a.altitude, 224.0);
  EXPECT_EQ(a.speed, 0.0);
  EXPECT_EQ(a.source, "osmand");

  auto b = one("id=902064&lat=42.06288&lon=-88.23412&timestamp=1442068686579&hdop=6.0");
  EXPECT_EQ(b.recorded_at, "2015-09-12T14:38:06.579Z");

  auto c =
      one("lat=49.60688&lon=6.15788&timestamp=2014-06-04+09%3A10%3A11&altitude=384.7&"
          "speed=0.0&id=353861053849681");
  EXPECT_EQ(c.recorded_at, "2014-06-04T09:10:11.000Z");

  auto d =
      one("id=123456&timestamp=1377177267&lat=60.0&lon=30.0&speed=0.0&bearing=0.0&"
          "altitude=0&hdop=0.0");
  EXPECT_EQ(d.heading, 0.0);
  EXPECT_EQ(d.recorded_at, "2013-08-22T13:14:27.000Z");

  auto e = one("lat=60.0&lon=30.0&speed=0.0&heading=0.0&vacc=0&hacc=0&altitude=0&deviceid=123456");
  EXPECT_EQ(e.heading, 0.0);
  EXPECT_TRUE(e.recorded_at.empty());  // no time: the server's (ts)

  auto f =
      one("id=861001000719969&lat=41.666667&lon=-0.883333&altitude=350.059479&"
          "speed=0.000000&batt=87");
  EXPECT_EQ(f.battery, 87.0);

  auto g = one("id=123456&timestamp=1377177267&location=60.0,30.0");
  EXPECT_DOUBLE_EQ(g.latitude, 60.0);
  EXPECT_DOUBLE_EQ(g.longitude, 30.0);

  auto h =
      one("id=123456789012345&timestamp=1504763810&lat=40.7232948571&lon=-74.0061408571&"
          "bearing=7.19889788244&speed=40&ignition=true&rpm=933&fuel=24");
  EXPECT_DOUBLE_EQ(h.latitude, 40.723295);     // rounded to 6 decimals
  EXPECT_NEAR(*h.speed, 40 * 0.514444, 1e-3);  // knots
  EXPECT_NEAR(*h.heading, 7.19889788244, 1e-9);
}

TEST(OsmAndParams, TokenFromEachSpelling) {
  for (std::string key : {"id", "deviceid", "device_id", "token"}) {
    auto r = parse_osmand_params(key + "=tok.en-1&lat=1&lon=2", speed_unit::knots);
    ASSERT_TRUE(r) << key;
    EXPECT_EQ(r->token, "tok.en-1") << key;
    EXPECT_EQ(r->app, "osmand");
  }
  // `token` wins over the device id (a fleet may keep its own device ids).
  auto r = parse_osmand_params("id=phone7&token=abc&lat=1&lon=2", speed_unit::knots);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->token, "abc");
  EXPECT_TRUE(parse_osmand_params("lat=1&lon=2", speed_unit::knots)->token.empty());
  // Percent-encoded and '+' forms decode.
  EXPECT_EQ(parse_osmand_params("id=a%2Bb+c&lat=1&lon=2", speed_unit::knots)->token, "a+b c");
}

TEST(OsmAndParams, TokenInParamsForTheHead) {
  EXPECT_EQ(token_in_params("id=abc&lat=1"), "abc");
  EXPECT_EQ(token_in_params("deviceid=abc"), "abc");
  EXPECT_EQ(token_in_params("device_id=abc"), "abc");
  EXPECT_EQ(token_in_params("id=dev&token=jwt"), "jwt");
  EXPECT_FALSE(token_in_params("lat=1&lon=2"));
  EXPECT_FALSE(token_in_params(""));
  EXPECT_FALSE(token_in_params("id="));
  EXPECT_FALSE(token_in_params("id=%zz"));  // not a query string
  EXPECT_FALSE(token_in_params("id=" + std::string(5000, 'a')));
}

// Traccar Client's form POST (its SDK's HttpUploader) and the OsmAnd app's URL template.
TEST(OsmAndParams, TraccarClientFormAndOsmAndTemplate) {
  auto t =
      one("id=tok&lat=35.7001&lon=51.4011&timestamp=1764331200&accuracy=6.5&altitude=1200.0&"
          "speed=15.55&bearing=270.0&batt=64&charge=true&battery_health=good");
  EXPECT_EQ(t.recorded_at, "2025-11-28T12:00:00.000Z");
  EXPECT_EQ(t.accuracy, 6.5);
  EXPECT_EQ(t.altitude, 1200.0);
  EXPECT_NEAR(*t.speed, 8.0, 0.001);  // 15.55 kn
  EXPECT_EQ(t.heading, 270.0);
  EXPECT_EQ(t.battery, 64.0);
  EXPECT_EQ(t.charging, true);

  // OsmAnd: {2} is milliseconds, {5} m/s (the speed_unit parameter or --osmand-speed-unit).
  auto o =
      one("id=tok&lat=35.7001&lon=51.4011&timestamp=1764331200250&hdop=4.0&altitude=1200&"
          "speed=8.0&bearing=90&speed_unit=mps");
  EXPECT_EQ(o.recorded_at, "2025-11-28T12:00:00.250Z");
  EXPECT_EQ(o.speed, 8.0);
  EXPECT_EQ(one("lat=1&lon=2&speed=8", speed_unit::mps).speed, 8.0);
  EXPECT_NEAR(*one("lat=1&lon=2&speed=36", speed_unit::kmh).speed, 10.0, 1e-9);
  EXPECT_NEAR(*one("lat=1&lon=2&speed=10&speed_unit=mph").speed, 4.470, 1e-3);
  EXPECT_EQ(one("lat=1&lon=2&charge=false").charging, false);
  EXPECT_EQ(one("lat=1&lon=2&charge=1").charging, true);
}

TEST(OsmAndParams, UnknownsAreLeftOut) {
  auto p = one("lat=1&lon=2&speed=-1&bearing=-1&accuracy=-1&batt=-1");
  EXPECT_FALSE(p.speed);
  EXPECT_FALSE(p.heading);
  EXPECT_FALSE(p.accuracy);
  EXPECT_FALSE(p.battery);
  EXPECT_FALSE(p.charging);
  EXPECT_FALSE(p.altitude);
}

TEST(OsmAndParams, MissingAndGarbageAreClearErrors) {
  EXPECT_EQ(bad("id=x&lon=2").code, "missing_field");
  EXPECT_EQ(bad("id=x&lon=2").field, "lat");
  EXPECT_EQ(bad("id=x&lat=2").field, "lon");
  EXPECT_EQ(bad("").code, "missing_field");
  EXPECT_EQ(bad("lat=abc&lon=2").field, "lat");
  EXPECT_EQ(bad("lat=91&lon=2").field, "lat");
  EXPECT_EQ(bad("lat=1&lon=-180.5").field, "lon");
  EXPECT_EQ(bad("lat=nan&lon=2").field, "lat");
  EXPECT_EQ(bad("lat=1&lon=inf").field, "lon");
  EXPECT_EQ(bad("location=1;2").field, "location");
  EXPECT_EQ(bad("location=abc,2").field, "location");
  EXPECT_EQ(bad("lat=1&lon=2&timestamp=yesterday").field, "timestamp");
  EXPECT_EQ(bad("lat=1&lon=2&speed=fast").field, "speed");
  EXPECT_EQ(bad("lat=1&lon=2&bearing=400").field, "bearing");
  EXPECT_EQ(bad("lat=1&lon=2&batt=150").field, "batt");
  EXPECT_EQ(bad("lat=1&lon=2&charge=maybe").field, "charge");
  EXPECT_EQ(bad("lat=1&lon=2&altitude=0x10").field, "altitude");
  EXPECT_EQ(bad("lat=1&lon=2&speed_unit=furlongs").field, "speed_unit");
  EXPECT_EQ(bad("lat=1&lon=2&timestamp=" + std::string(300, '1')).field, "timestamp");
  EXPECT_EQ(bad("lat=%zz&lon=2").code, "invalid_body");
  EXPECT_EQ(bad(std::string_view("lat=1&lon=2\0&id=x", 17)).code, "invalid_body");
  std::string many = "lat=1&lon=2";
  for (int i = 0; i < 70; ++i) many += "&x=1";
  EXPECT_EQ(bad(many).code, "invalid_body");
  auto e = bad("lat=1&lon=2&batt=150");
  EXPECT_EQ(e.code, "invalid_field");
  EXPECT_FALSE(e.message.empty());
}

// Traccar Client 9's body (flutter_background_geolocation's template), from Traccar's
// decoder test.
TEST(TraccarJson, VersionNineTemplate) {
  auto r = parse_traccar_json(
      R"({"location":{"timestamp":"2025-06-15T13:45:12.862Z","coords":{"latitude":37.4219983,"longitude":-122.084,"accuracy":5,"speed":0,"heading":-1,"altitude":5},"is_moving":false,"odometer":0,"event":"motionchange","battery":{"level":1,"is_charging":false},"activity":{"type":"still"},"extras":{},"_":"&id=48241179&lat=37.4219983&lon=-122.084&timestamp=2025-06-15T13:45:12.862Z&"},"device_id":"48241179"})",
      speed_unit::knots);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->app, "traccar");
  EXPECT_EQ(r->token, "48241179");
  ASSERT_EQ(r->points.size(), 1u);
  const auto& p = r->points[0];
  EXPECT_DOUBLE_EQ(p.latitude, 37.421998);
  EXPECT_DOUBLE_EQ(p.longitude, -122.084);
  EXPECT_EQ(p.recorded_at, "2025-06-15T13:45:12.862Z");
  EXPECT_EQ(p.accuracy, 5.0);
  EXPECT_EQ(p.speed, 0.0);  // m/s
  EXPECT_FALSE(p.heading);  // -1: unknown
  EXPECT_EQ(p.altitude, 5.0);
  EXPECT_EQ(p.battery, 100.0);  // level 1 = 100 %
  EXPECT_EQ(p.charging, false);
  EXPECT_EQ(p.source, "traccar");

  auto ios = parse_traccar_json(
      R"({"location":{"extras":{},"mock":true,"coords":{"speed_accuracy":-1,"speed":-1,"longitude":-122.406417,"ellipsoidal_altitude":0,"floor":null,"heading_accuracy":-1,"latitude":37.785834000000001,"accuracy":5,"altitude_accuracy":-1,"altitude":0,"heading":-1},"is_moving":false,"age":188,"odometer":0,"uuid":"2FB04C65-99CF-42AB-8DD3-EBCB4B108BF8","event":"motionchange","battery":{"level":-1,"is_charging":false},"activity":{"type":"unknown","confidence":100},"timestamp":"2025-05-09T04:11:30.579Z"},"device_id":"658765"})",
      speed_unit::knots);
  ASSERT_TRUE(ios);
  EXPECT_FALSE(ios->points[0].speed);
  EXPECT_FALSE(ios->points[0].battery);  // -1: unknown

  auto moving = parse_traccar_json(
      R"({"location":{"event":"motionchange","is_moving":false,"uuid":"0e9a2473-a9a7-4c00-997b-fb97d2154e75","timestamp":"2021-07-21T08:06:34.444Z","odometer":0,"coords":{"latitude":-6.1148096,"longitude":106.6837015,"accuracy":3.8,"speed":18.67,"speed_accuracy":0.26,"heading":63,"heading_accuracy":0.28,"altitude":35.7,"altitude_accuracy":3.8},"activity":{"type":"still","confidence":100},"battery":{"is_charging":true,"level":0.79},"extras":{}},"device_id":8737767034})",
      speed_unit::knots);
  ASSERT_TRUE(moving);
  EXPECT_EQ(moving->token, "8737767034");
  EXPECT_EQ(moving->points[0].speed, 18.67);
  EXPECT_EQ(moving->points[0].heading, 63.0);
  EXPECT_EQ(moving->points[0].battery, 79.0);
  EXPECT_EQ(moving->points[0].charging, true);
}

TEST(TraccarJson, BatchOfLocations) {
  auto r = parse_traccar_json(
      R"({"device_id":"t","location":[{"timestamp":"2026-01-01T10:00:00Z","coords":{"latitude":1,"longitude":2}},{"timestamp":"2026-01-01T10:00:05Z","coords":{"latitude":1.1,"longitude":2.1}}]})",
      speed_unit::knots);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->points.size(), 2u);
  EXPECT_EQ(r->points[1].recorded_at, "2026-01-01T10:00:05.000Z");
  auto bad = parse_traccar_json(
      R"({"device_id":"t","location":[{"coords":{"latitude":1,"longitude":2}},{"coords":{"latitude":"x","longitude":2}}]})",
      speed_unit::knots);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "location[1].coords.latitude");
}

// The newer SDK's JSON upload: an array of flat objects, speed in knots.
TEST(TraccarJson, SdkFlatObjects) {
  auto r = parse_traccar_json(
      R"([{"id":"tok","lat":35.7,"lon":51.4,"timestamp":1764331200,"accuracy":4.0,"altitude":1200.0,"speed":15.55,"bearing":90.0,"batt":42,"charge":false},{"id":"tok","lat":35.71,"lon":51.41,"timestamp":1764331205}])",
      speed_unit::knots);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->token, "tok");
  ASSERT_EQ(r->points.size(), 2u);
  EXPECT_NEAR(*r->points[0].speed, 8.0, 0.001);
  EXPECT_EQ(r->points[0].battery, 42.0);
  EXPECT_EQ(r->points[0].charging, false);
  EXPECT_EQ(r->points[0].source, "traccar");
  EXPECT_EQ(r->points[1].recorded_at, "2025-11-28T12:00:05.000Z");
  auto single = parse_traccar_json(R"({"id":"tok","lat":1,"lon":2})", speed_unit::knots);
  ASSERT_TRUE(single);
  EXPECT_EQ(single->points.size(), 1u);
}

TEST(TraccarJson, MissingAndGarbage) {
  auto err = [](std::string_view body) {
    auto r = parse_traccar_json(body, speed_unit::knots);
    EXPECT_FALSE(r) << body;
    return r ? core::error{} : r.error();
  };
  EXPECT_EQ(err("{").code, "invalid_json");
  EXPECT_EQ(err("42").code, "invalid_body");
  EXPECT_EQ(err("[]").code, "invalid_body");
  EXPECT_EQ(err(R"({"device_id":"t"})").field, "location");
  EXPECT_EQ(err(R"({"device_id":"t","location":{}})").field, "location.coords");
  EXPECT_EQ(err(R"({"device_id":"t","location":{"coords":{"latitude":1}}})").field,
            "location.coords.longitude");
  EXPECT_EQ(err(R"({"device_id":"t","location":{"coords":{"latitude":100,"longitude":1}}})").field,
            "location.coords.latitude");
  EXPECT_EQ(
      err(R"({"device_id":"t","location":{"timestamp":"soon","coords":{"latitude":1,"longitude":1}}})")
          .field,
      "location.timestamp");
  EXPECT_EQ(
      err(R"({"device_id":"t","location":{"coords":{"latitude":1,"longitude":1},"battery":{"level":5}}})")
          .field,
      "location.battery.level");
  EXPECT_EQ(err(R"({"device_id":{},"location":{"coords":{"latitude":1,"longitude":1}}})").field,
            "device_id");
  EXPECT_EQ(err(R"([{"id":"t","lat":1,"lon":"x"}])").field, "[0].lon");
  std::string many = "[";
  for (int i = 0; i < 1001; ++i) many += std::string(i ? "," : "") + R"({"lat":1,"lon":2})";
  EXPECT_EQ(err(many + "]").code, "invalid_body");
  std::string deep(100, '[');
  EXPECT_EQ(err(deep).code, "invalid_json");
}

}  // namespace
}  // namespace peyk::apps
