#include "history/summary.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <numbers>
#include <vector>

#include "history/format.hpp"

namespace peyk::history {
namespace {

// One degree of a great circle with R = 6,371,008.8 m: R * pi / 180.
constexpr double metres_per_degree = 6'371'008.8 * std::numbers::pi / 180.0;  // 111195.0802...
constexpr std::int64_t s_us = 1'000'000;
constexpr std::int64_t base = 1'796'479'500'000'000;  // 2026-12-05T14:05:00Z

// A point on the meridian 0, `north_m` metres north of the equator, at `t_s` seconds.
point north(double north_m, double t_s, std::optional<double> speed = std::nullopt) {
  point p;
  p.courier_id = "7";
  p.latitude = north_m / metres_per_degree;
  p.longitude = 0;
  p.speed = speed;
  p.ts_us = base + static_cast<std::int64_t>(t_s * s_us);
  p.t_us = p.ts_us;
  return p;
}

TEST(Summary, HaversineHandValues) {
  EXPECT_NEAR(metres_per_degree, 111195.0802, 1e-4);
  EXPECT_NEAR(haversine_m(0, 0, 1, 0), 111195.0802, 1e-3);     // 1 degree of latitude
  EXPECT_NEAR(haversine_m(0, 0, 0, 1), 111195.0802, 1e-3);     // of longitude on the equator
  EXPECT_NEAR(haversine_m(60, 0, 60, 1), 55597.0109, 1e-3);    // haversine at 60 deg N
  EXPECT_NEAR(haversine_m(0, 0, 0, 180), 20015114.442, 1e-3);  // half the circumference
  EXPECT_NEAR(haversine_m(35.7, 51.4, 35.7, 51.4), 0.0, 1e-9);
  EXPECT_NEAR(haversine_m(10, 179.5, 10, -179.5), haversine_m(10, 0, 10, 1), 1e-6);
}

TEST(Summary, EmptyAndSinglePoint) {
  auto s = summarize({});
  EXPECT_EQ(s.points, 0u);
  EXPECT_FALSE(s.first);
  EXPECT_FALSE(s.last);
  std::string out;
  write_summary_json(out, s);
  EXPECT_EQ(out, R"({"points":0,"distance_m":0,"moving_s":0,"stopped_s":0,"max_speed_mps":0,)"
                 R"("first":null,"last":null})");

  std::vector<point> one{north(0, 0, 4.5)};
  s = summarize(one);
  EXPECT_EQ(s.points, 1u);
  EXPECT_EQ(s.distance_m, 0);
  EXPECT_EQ(s.moving_s + s.stopped_s, 0);
  EXPECT_EQ(s.max_speed_mps, 4.5);  // a reported speed counts
  ASSERT_TRUE(s.first && s.last);
  EXPECT_EQ(s.first->t_us, base);
  EXPECT_EQ(s.last->t_us, base);
}

TEST(Summary, DriveStopJumpGap) {
  std::vector<point> pts{
      north(0, 0),           north(1000, 100),  // 1000 m in 100 s: moving, 10 m/s
      north(1000, 160),                         // 60 s in place: stopped
      north(111195, 170),      // ~110 km in 10 s: a GPS jump (ignored, no speed: neither)
      north(1000, 180),        // and back: a jump again
      north(2000, 780),        // 600 s later: a gap (neither), its 1000 m count
      north(2000, 790, 0.6),   // 10 s in place, reported 0.6 m/s: moving
      north(2001, 800, 0.2),   // 1 m in 10 s (0.1 m/s), reported 0.2: stopped
      north(2301, 810, 0.0)};  // 300 m in 10 s (30 m/s), reported 0: moving (leg speed)
  auto s = summarize(pts);
  EXPECT_EQ(s.points, 9u);
  EXPECT_NEAR(s.distance_m, 1000 + 1000 + 1 + 300, 1e-6);
  EXPECT_NEAR(s.moving_s, 100 + 10 + 10, 1e-9);
  EXPECT_NEAR(s.stopped_s, 60 + 10, 1e-9);
  EXPECT_NEAR(s.max_speed_mps, 30, 1e-9);
  EXPECT_EQ(s.first->t_us, base);
  EXPECT_EQ(s.last->t_us, base + 810 * s_us);
  EXPECT_EQ(s.last->speed, 0.0);

  std::string out;
  write_summary_json(out, s);
  auto v = boost::json::parse(out);
  EXPECT_EQ(v.at("points").as_int64(), 9);
  EXPECT_EQ(v.at("distance_m").to_number<double>(), 2301);
  EXPECT_EQ(v.at("moving_s").to_number<double>(), 120);
  EXPECT_EQ(v.at("stopped_s").to_number<double>(), 70);
  EXPECT_EQ(v.at("max_speed_mps").to_number<double>(), 30);
  EXPECT_EQ(v.at("first").at("ts").as_int64(), base);
  EXPECT_EQ(v.at("last").at("ts").as_int64(), base + 810 * s_us);
}

TEST(Summary, JumpThresholdIs70MetresPerSecond) {
  std::vector<point> under{north(0, 0), north(699, 10)};  // 69.9 m/s
  auto s = summarize(under);
  EXPECT_NEAR(s.distance_m, 699, 1e-6);
  EXPECT_NEAR(s.max_speed_mps, 69.9, 1e-9);
  EXPECT_NEAR(s.moving_s, 10, 1e-9);

  std::vector<point> over{north(0, 0), north(701, 10, 12.0)};  // 70.1 m/s: a jump
  s = summarize(over);
  EXPECT_EQ(s.distance_m, 0);
  EXPECT_EQ(s.max_speed_mps, 12.0);   // the reported speed only
  EXPECT_NEAR(s.moving_s, 10, 1e-9);  // counted by the reported speed alone
  EXPECT_EQ(s.stopped_s, 0);

  std::vector<point> over_still{north(0, 0), north(701, 10, 0.1)};
  s = summarize(over_still);
  EXPECT_NEAR(s.stopped_s, 10, 1e-9);

  std::vector<point> same_time{north(0, 0), north(5, 0)};  // moved in no time: a jump
  s = summarize(same_time);
  EXPECT_EQ(s.distance_m, 0);
  EXPECT_EQ(s.max_speed_mps, 0);
  EXPECT_EQ(s.moving_s + s.stopped_s, 0);
}

TEST(Summary, GapThresholdIsFiveMinutes) {
  std::vector<point> five{north(0, 0), north(0, 300)};  // exactly 300 s: a stop
  auto s = summarize(five);
  EXPECT_NEAR(s.stopped_s, 300, 1e-9);

  std::vector<point> more{north(0, 0), north(600, 300.000001)};  // > 300 s: neither
  s = summarize(more);
  EXPECT_EQ(s.moving_s + s.stopped_s, 0);
  EXPECT_NEAR(s.distance_m, 600, 1e-6);  // its length still counts
  EXPECT_NEAR(s.max_speed_mps, 2, 1e-6);
}

TEST(Summary, OutOfOrderPointIsAZeroTimeLeg) {
  std::vector<point> pts{north(0, 10), north(0, 5), north(100, 20)};
  auto s = summarize(pts);
  EXPECT_NEAR(s.distance_m, 100, 1e-6);
  EXPECT_NEAR(s.moving_s, 15, 1e-9);  // from the point at 5 s to the one at 20 s
  EXPECT_EQ(s.stopped_s, 0);
}

TEST(Summary, PageByPageEqualsAllAtOnce) {
  std::vector<point> pts;
  for (int i = 0; i < 50; ++i) {
    pts.push_back(north(i * 37.0 + (i % 7 == 0 ? 5000 : 0), i * 5.0 + (i == 30 ? 400 : 0),
                        i % 3 ? std::optional<double>(i * 0.1) : std::nullopt));
  }
  auto whole = summarize(pts);
  summary_accumulator acc;
  std::span<const point> all(pts);
  acc.add(all.subspan(0, 13));
  for (const auto& p : all.subspan(13, 20)) acc.add(p);
  acc.add(all.subspan(33));
  const auto& paged = acc.result();
  EXPECT_EQ(paged.points, whole.points);
  EXPECT_EQ(paged.distance_m, whole.distance_m);
  EXPECT_EQ(paged.moving_s, whole.moving_s);
  EXPECT_EQ(paged.stopped_s, whole.stopped_s);
  EXPECT_EQ(paged.max_speed_mps, whole.max_speed_mps);
  EXPECT_EQ(paged.first->t_us, pts.front().t_us);
  EXPECT_EQ(paged.last->t_us, pts.back().t_us);
}

TEST(Summary, JsonExact) {
  auto a = north(0, 0);
  auto b = north(1000, 100, 9.5);
  b.name = "Z";
  std::vector<point> pts{a, b};
  std::string out;
  write_summary_json(out, summarize(pts));
  std::string pa, pb;
  write_point_json(pa, a);
  write_point_json(pb, b);
  // 1000 m at 10 m/s; the latitude is written with 6 decimals in first/last.
  EXPECT_EQ(out, R"({"points":2,"distance_m":1000,"moving_s":100,"stopped_s":0,)"
                 R"("max_speed_mps":10,"first":)" +
                     pa + R"(,"last":)" + pb + "}");
  EXPECT_NE(pb.find(R"("latitude":0.008993,)"), std::string::npos);
}

}  // namespace
}  // namespace peyk::history
