// OwnTracks' HTTP mode: the location message of the booklet's JSON page, its units, the
// other message types.
#include <gtest/gtest.h>

#include "apps/apps.hpp"

namespace peyk::apps {
namespace {

TEST(OwnTracks, LocationMessage) {
  // As the Android app posts it (booklet docs/tech/json.md fields).
  auto r = parse_owntracks(
      R"({"_type":"location","acc":12,"alt":1210,"batt":57,"bs":1,"conn":"m","created_at":1764331201,"lat":35.7001,"lon":51.4011,"t":"u","tid":"JJ","topic":"owntracks/jane/phone","tst":1764331200,"vac":3,"vel":36,"cog":270,"inregions":[]})");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->app, "owntracks");
  EXPECT_TRUE(r->token.empty());  // the token comes in the Basic password
  ASSERT_EQ(r->points.size(), 1u);
  const auto& p = r->points[0];
  EXPECT_DOUBLE_EQ(p.latitude, 35.7001);
  EXPECT_DOUBLE_EQ(p.longitude, 51.4011);
  EXPECT_EQ(p.recorded_at, "2025-11-28T12:00:00.000Z");
  EXPECT_EQ(p.accuracy, 12.0);
  EXPECT_EQ(p.altitude, 1210.0);
  EXPECT_EQ(p.heading, 270.0);
  EXPECT_NEAR(*p.speed, 10.0, 1e-9);  // 36 km/h
  EXPECT_EQ(p.battery, 57.0);
  EXPECT_EQ(p.charging, false);  // bs 1: unplugged
  EXPECT_EQ(p.source, "owntracks");
}

TEST(OwnTracks, BatteryStatus) {
  auto bs = [](int v) {
    auto r = parse_owntracks(R"({"_type":"location","lat":1,"lon":2,"tst":1,"bs":)" +
                             std::to_string(v) + "}");
    EXPECT_TRUE(r);
    return r->points.at(0).charging;
  };
  EXPECT_FALSE(bs(0).has_value());  // unknown
  EXPECT_EQ(bs(1), false);
  EXPECT_EQ(bs(2), true);
  EXPECT_EQ(bs(3), true);  // full, on the charger
}

TEST(OwnTracks, MinimalLocation) {
  auto r = parse_owntracks(R"({"_type":"location","lat":1.5,"lon":2.5})");
  ASSERT_TRUE(r);
  const auto& p = r->points.at(0);
  EXPECT_TRUE(p.recorded_at.empty());
  EXPECT_FALSE(p.speed);
  EXPECT_FALSE(p.battery);
  EXPECT_FALSE(p.charging);
}

TEST(OwnTracks, OtherTypesHaveNoPoints) {
  for (const char* body :
       {R"({"_type":"transition","wtst":1,"lat":1,"lon":2,"tst":1,"acc":5,"event":"enter"})",
        R"({"_type":"lwt","tst":1})", R"({"_type":"waypoint","desc":"Home","tst":1})",
        R"({"_type":"card","name":"Jane"})", R"({"_type":"encrypted","data":"abc"})"}) {
    auto r = parse_owntracks(body);
    ASSERT_TRUE(r) << body;
    EXPECT_TRUE(r->points.empty()) << body;
  }
}

TEST(OwnTracks, MissingAndGarbage) {
  auto err = [](std::string_view body) {
    auto r = parse_owntracks(body);
    EXPECT_FALSE(r) << body;
    return r ? core::error{} : r.error();
  };
  EXPECT_EQ(err("not json").code, "invalid_json");
  EXPECT_EQ(err("[]").code, "invalid_body");
  EXPECT_EQ(err(R"({"lat":1,"lon":2})").field, "_type");
  EXPECT_EQ(err(R"({"_type":"location","lon":2})").field, "lat");
  EXPECT_EQ(err(R"({"_type":"location","lat":1})").field, "lon");
  EXPECT_EQ(err(R"({"_type":"location","lat":"north","lon":2})").field, "lat");
  EXPECT_EQ(err(R"({"_type":"location","lat":1,"lon":2,"tst":"today"})").field, "tst");
  EXPECT_EQ(err(R"({"_type":"location","lat":1,"lon":2,"batt":101})").field, "batt");
  EXPECT_EQ(err(R"({"_type":"location","lat":1,"lon":2,"bs":7})").field, "bs");
  EXPECT_EQ(err(R"({"_type":"location","lat":1,"lon":2,"cog":720})").field, "cog");
  EXPECT_EQ(err(R"({"_type":"location","lat":1,"lon":2,"vel":"x"})").field, "vel");
}

}  // namespace
}  // namespace peyk::apps
