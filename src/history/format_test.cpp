#include "history/format.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace peyk::history {
namespace {

namespace json = boost::json;

// 2026-12-05T14:05:00.250Z and 14:05:05.000Z in microseconds since the epoch.
constexpr std::int64_t t0 = 1'796'479'500'250'000;
constexpr std::int64_t t1 = 1'796'479'505'000'000;

point full_point() {
  point p;
  p.courier_id = "42";
  p.name = "Ali";
  p.fleet = "store-7";
  p.orders = {"A1"};
  p.latitude = 35.7001;
  p.longitude = 51.4011;
  p.accuracy = 6.5;
  p.speed = 8.25;
  p.heading = 270;
  p.battery = 80;
  p.ts_us = t0 + 50'000;
  p.recorded_us = t0;
  p.t_us = t0;
  return p;
}

point bare_point() {  // no optional value, no fleet, no orders, no recorded_at
  point p;
  p.courier_id = "42";
  p.name = "Ali";
  p.latitude = 35.7002;
  p.longitude = 51.4013;
  p.ts_us = t1;
  p.t_us = t1;
  return p;
}

point at(std::string id, double lat, double lon, std::int64_t t) {
  point p;
  p.courier_id = std::move(id);
  p.latitude = lat;
  p.longitude = lon;
  p.ts_us = t;
  p.t_us = t;
  return p;
}

const std::string p1_json =
    R"({"latitude":35.700100,"longitude":51.401100,"ts":1796479500300000,)"
    R"("recorded_at":"2026-12-05T14:05:00.250Z","speed":8.25,"heading":270,"accuracy":6.5,)"
    R"("battery":80,"fleet":"store-7","orders":["A1"]})";
const std::string p2_json =
    R"({"latitude":35.700200,"longitude":51.401300,"ts":1796479505000000,"recorded_at":null,)"
    R"("speed":null,"heading":null,"accuracy":null,"battery":null,"fleet":null,"orders":[]})";

template <class F>
std::string text(F&& f) {
  std::string out;
  f(out);
  return out;
}

// ---- numbers, times, escaping ----

TEST(FormatTime, Rfc3339UtcWithMillisecondsTruncated) {
  auto t = [](std::int64_t us) { return text([&](std::string& o) { append_time(o, us); }); };
  EXPECT_EQ(t(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(t(t0), "2026-12-05T14:05:00.250Z");
  EXPECT_EQ(t(t0 + 999), "2026-12-05T14:05:00.250Z");
  EXPECT_EQ(t(t1), "2026-12-05T14:05:05.000Z");
  EXPECT_EQ(t(1'709'251'199'999'000), "2024-02-29T23:59:59.999Z");
  EXPECT_EQ(t(-1), "1969-12-31T23:59:59.999Z");
}

TEST(FormatNumber, CoordinatesSixDecimalsFixed) {
  auto c = [](double v) { return text([&](std::string& o) { append_coordinate(o, v); }); };
  EXPECT_EQ(c(35.7001), "35.700100");
  EXPECT_EQ(c(-12.3456789), "-12.345679");
  EXPECT_EQ(c(180), "180.000000");
  EXPECT_EQ(c(1e-7), "0.000000");
  EXPECT_EQ(c(-1e-7), "0.000000");  // no "-0.000000"
  EXPECT_EQ(c(-0.0), "0.000000");
  EXPECT_EQ(c(35.7000006), "35.700001");
  EXPECT_EQ(c(-179.9999996), "-180.000000");
}

TEST(FormatNumber, ShortestFixedNeverExponent) {
  auto n = [](double v) { return text([&](std::string& o) { append_number(o, v); }); };
  EXPECT_EQ(n(0.5), "0.5");
  EXPECT_EQ(n(270), "270");
  EXPECT_EQ(n(8.25), "8.25");
  EXPECT_EQ(n(1e-7), "0.0000001");
  EXPECT_EQ(n(1e21), "1000000000000000000000");
  EXPECT_EQ(n(-0.0), "0");
  EXPECT_EQ(n(std::nan("")), "0");
}

TEST(FormatJson, EscapesUserText) {
  auto s = [](std::string_view v) {
    return text([&](std::string& o) { append_json_string(o, v); });
  };
  EXPECT_EQ(s(R"(a"b\c)"), R"("a\"b\\c")");
  EXPECT_EQ(s(std::string("x\n\r\t\b\f\x01\x1f\x7f", 9) + std::string(1, '\0')),
            R"("x\n\r\t\b\f\u0001\u001f\u007f\u0000")");
  EXPECT_EQ(s("Ali \xE2\x9C\x93 \xD8\xB9\xD9\x84\xDB\x8C"),
            "\"Ali \xE2\x9C\x93 \xD8\xB9\xD9\x84\xDB\x8C\"");
  // Invalid UTF-8 (a lone continuation byte, an overlong '/', a surrogate) -> U+FFFD.
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(s("a\x80z\xC0\xAF\xED\xA0\x80"),
            "\"a" + fffd + "z" + fffd + fffd + fffd + fffd + fffd + "\"");
  // Whatever goes in comes back from a JSON parser unchanged (valid UTF-8).
  const std::string nasty = "q\"uo\\te\x01\x02\n\xF0\x9F\x9A\xB2 </script> \xE2\x80\xA8";
  EXPECT_EQ(json::parse(s(nasty)).as_string(), nasty);
}

TEST(FormatXml, EscapesUserText) {
  auto x = [](std::string_view v) { return text([&](std::string& o) { append_xml_text(o, v); }); };
  EXPECT_EQ(x(R"(<a href="x">&'</a>)"), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
  EXPECT_EQ(x("a\tb\nc\rd"), "a&#9;b&#10;c&#13;d");
  EXPECT_EQ(x(std::string("n\x01u\0l", 5)), "n\xEF\xBF\xBDu\xEF\xBF\xBDl");
  EXPECT_EQ(x("\xEF\xBF\xBF"), "\xEF\xBF\xBD");            // U+FFFF: not an XML character
  EXPECT_EQ(x("a\xE2\x9C"), "a\xEF\xBF\xBD\xEF\xBF\xBD");  // truncated sequence
  EXPECT_EQ(x("\xD8\xB9\xD9\x84\xDB\x8C"), "\xD8\xB9\xD9\x84\xDB\x8C");
}

TEST(FormatJson, ParseFormatAndContentTypes) {
  EXPECT_EQ(parse_format("json"), format::json);
  EXPECT_EQ(parse_format("geojson"), format::geojson);
  EXPECT_EQ(parse_format("gpx"), format::gpx);
  EXPECT_EQ(parse_format("csv"), format::csv);
  EXPECT_EQ(parse_format("GPX"), std::nullopt);
  EXPECT_EQ(parse_format(""), std::nullopt);
  EXPECT_EQ(content_type(format::geojson), "application/geo+json");
  EXPECT_EQ(content_type(format::gpx), "application/gpx+xml");
  EXPECT_EQ(file_extension(format::csv), "csv");
}

// ---- JSON ----

TEST(FormatJson, PointEveryKeyNullWhenAbsent) {
  EXPECT_EQ(text([](std::string& o) { write_point_json(o, full_point()); }), p1_json);
  EXPECT_EQ(text([](std::string& o) { write_point_json(o, bare_point()); }), p2_json);
}

TEST(FormatJson, CourierTrackExact) {
  std::vector<point> pts{full_point(), bare_point()};
  std::string out;
  write_courier_track_json(out, "42", pts, std::string("c1"));
  EXPECT_EQ(out, R"({"courier":{"id":42,"name":"Ali"},"points":[)" + p1_json + "," + p2_json +
                     R"(],"next":"c1"})");
}

TEST(FormatJson, CourierTrackZeroAndOnePoint) {
  std::string out;
  write_courier_track_json(out, "007", {}, std::nullopt);  // not a decimal integer: a string
  EXPECT_EQ(out, R"({"courier":{"id":"007","name":null},"points":[],"next":null})");
  std::vector<point> one{full_point()};
  out.clear();
  write_courier_track_json(out, "42", one, std::nullopt);
  EXPECT_EQ(out, R"({"courier":{"id":42,"name":"Ali"},"points":[)" + p1_json + R"(],"next":null})");
}

TEST(FormatJson, CourierNameIsTheNewestNonEmpty) {
  auto a = full_point();
  auto b = bare_point();
  b.name = "Ali \"the\" fast";
  auto c = bare_point();
  c.name.clear();
  std::vector<point> pts{a, b, c};
  std::string out;
  write_courier_track_json(out, "42", pts, std::nullopt);
  auto v = json::parse(out);
  EXPECT_EQ(v.at("courier").at("name").as_string(), "Ali \"the\" fast");
  EXPECT_EQ(v.at("points").as_array().size(), 3u);
}

TEST(FormatJson, OrderTrackCarriesTheCourierPerPoint) {
  auto a = full_point();
  auto b = at("courier-b", 35.71, 51.41, t1);
  b.name = "B\\n";
  b.orders = {"A1"};
  std::vector<point> pts{a, b};
  std::string out;
  write_order_track_json(out, "A\"1", pts, std::nullopt);
  EXPECT_TRUE(out.starts_with(
      R"({"order":{"id":"A\"1"},"points":[{"courier":{"id":42,"name":"Ali"},"latitude":)"))
      << out;
  auto v = json::parse(out);
  EXPECT_EQ(v.at("order").at("id").as_string(), "A\"1");
  const auto& ps = v.at("points").as_array();
  ASSERT_EQ(ps.size(), 2u);
  EXPECT_EQ(ps[0].at("courier").at("id").as_int64(), 42);
  EXPECT_EQ(ps[1].at("courier").at("id").as_string(), "courier-b");
  EXPECT_EQ(ps[1].at("courier").at("name").as_string(), "B\\n");
  EXPECT_TRUE(v.at("next").is_null());

  out.clear();
  write_order_track_json(out, "A1", {}, std::nullopt);
  EXPECT_EQ(out, R"({"order":{"id":"A1"},"points":[],"next":null})");
}

TEST(FormatJson, WindowGroupsPerCourier) {
  auto a1 = at("a", 1, 2, t0);
  auto a2 = at("a", 1.5, 2.5, t1);
  a2.name = "Anna";
  auto b1 = at("b", 3, 4, t0);
  std::vector<point> pts{a1, a2, b1};
  std::string out;
  write_window_json(out, pts, std::string("n"));
  auto pj = [](const point& p) { return text([&](std::string& o) { write_point_json(o, p); }); };
  EXPECT_EQ(out, R"({"couriers":[{"id":"a","name":"Anna","points":[)" + pj(a1) + "," + pj(a2) +
                     R"(]},{"id":"b","name":null,"points":[)" + pj(b1) + R"(]}],"next":"n"})");
  out.clear();
  write_window_json(out, {}, std::nullopt);
  EXPECT_EQ(out, R"({"couriers":[],"next":null})");
}

// ---- GeoJSON ----

TEST(GeoJson, TwoPointsMakeALineStringLonLat) {
  std::vector<point> pts{full_point(), bare_point()};
  std::string out;
  write_geojson(out, pts, std::string("next-page"));
  EXPECT_EQ(out,
            R"({"type":"FeatureCollection","features":[{"type":"Feature","geometry":)"
            R"({"type":"LineString","coordinates":[[51.401100,35.700100],[51.401300,35.700200]]},)"
            R"("properties":{"courier_id":42,"name":"Ali","coordTimes":)"
            R"(["2026-12-05T14:05:00.250Z","2026-12-05T14:05:05.000Z"]}}],"next":"next-page"})");
  auto v = json::parse(out);
  const auto& f = v.at("features").as_array().at(0);
  const auto& coords = f.at("geometry").at("coordinates").as_array();
  EXPECT_DOUBLE_EQ(coords.at(0).as_array().at(0).as_double(), 51.4011);  // longitude first
  EXPECT_DOUBLE_EQ(coords.at(0).as_array().at(1).as_double(), 35.7001);
  EXPECT_EQ(f.at("properties").at("coordTimes").as_array().size(), coords.size());
}

TEST(GeoJson, OnePointIsAPointFeature) {
  std::vector<point> one{full_point()};
  std::string out;
  write_geojson(out, one, std::nullopt);
  EXPECT_EQ(out, R"({"type":"FeatureCollection","features":[{"type":"Feature","geometry":)"
                 R"({"type":"Point","coordinates":[51.401100,35.700100]},"properties":)"
                 R"({"courier_id":42,"name":"Ali","coordTimes":["2026-12-05T14:05:00.250Z"]}}],)"
                 R"("next":null})");
  auto v = json::parse(out);
  EXPECT_EQ(v.at("features").as_array().at(0).at("geometry").at("type").as_string(), "Point");
}

TEST(GeoJson, ZeroPointsIsAnEmptyCollection) {
  std::string out;
  write_geojson(out, {}, std::nullopt);
  EXPECT_EQ(out, R"({"type":"FeatureCollection","features":[],"next":null})");
  EXPECT_TRUE(json::parse(out).at("features").as_array().empty());
}

TEST(GeoJson, OneFeaturePerCourierInOrderOfFirstAppearance) {
  // An order handed from a to b and back: a's points stay in one feature.
  auto a1 = at("a", 1, 10, t0);
  auto b1 = at("b\"<x>", 2, 20, t0 + 1'000'000);
  auto a2 = at("a", 3, 30, t1);
  a1.name = "Ann\n\x01";
  std::vector<point> pts{a1, b1, a2};
  std::string out;
  write_geojson(out, pts, std::nullopt);
  auto v = json::parse(out);
  const auto& fs = v.at("features").as_array();
  ASSERT_EQ(fs.size(), 2u);
  EXPECT_EQ(fs[0].at("properties").at("courier_id").as_string(), "a");
  EXPECT_EQ(fs[0].at("properties").at("name").as_string(), "Ann\n\x01");
  EXPECT_EQ(fs[0].at("geometry").at("type").as_string(), "LineString");
  const auto& c = fs[0].at("geometry").at("coordinates").as_array();
  ASSERT_EQ(c.size(), 2u);
  EXPECT_DOUBLE_EQ(c[1].as_array()[0].as_double(), 30);
  EXPECT_DOUBLE_EQ(c[1].as_array()[1].as_double(), 3);
  EXPECT_EQ(fs[1].at("properties").at("courier_id").as_string(), "b\"<x>");
  EXPECT_EQ(fs[1].at("geometry").at("type").as_string(), "Point");
  EXPECT_TRUE(fs[1].at("properties").at("name").is_null());
}

// ---- GPX ----

const std::string gpx_head =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<gpx version=\"1.1\" creator=\"peyk\" xmlns=\"http://www.topografix.com/GPX/1/1\" "
    "xmlns:gpxtpx=\"http://www.garmin.com/xmlschemas/TrackPointExtension/v2\">\n";

// The schema, found from the working directory up (ctest runs in the build tree, which
// sits in the source tree) or under $PEYK_SOURCE_DIR.
std::filesystem::path schema_path() {
  const std::filesystem::path rel = "tests/data/gpx-1.1.xsd";
  if (const char* dir = std::getenv("PEYK_SOURCE_DIR")) return std::filesystem::path(dir) / rel;
  for (auto d = std::filesystem::current_path(); !d.empty(); d = d.parent_path()) {
    if (std::filesystem::exists(d / rel)) return d / rel;
    if (d == d.parent_path()) break;
  }
  return {};
}

struct lint_result {
  int status = -1;
  std::string output;
};

// Runs `xmllint --noout --schema gpx-1.1.xsd` on `doc`.
lint_result xmllint(const std::string& doc) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const auto base = std::filesystem::temp_directory_path() /
                    ("peyk-gpx-" + std::to_string(::getpid()) + "-" + info->name());
  const auto file = base.string() + ".gpx";
  const auto log = base.string() + ".log";
  std::ofstream(file, std::ios::binary) << doc;
  const std::string cmd = "xmllint --noout --schema '" + schema_path().string() + "' '" + file +
                          "' >'" + log + "' 2>&1";
  lint_result r;
  r.status = std::system(cmd.c_str());
  std::stringstream ss;
  ss << std::ifstream(log).rdbuf();
  r.output = ss.str();
  std::filesystem::remove(file);
  std::filesystem::remove(log);
  return r;
}

void expect_valid_gpx(const std::string& doc) {
  ASSERT_EQ(std::system("command -v xmllint >/dev/null 2>&1"), 0)
      << "xmllint is missing: apt-get install libxml2-utils (scripts/setup.sh)";
  ASSERT_FALSE(schema_path().empty()) << "tests/data/gpx-1.1.xsd not found above "
                                      << std::filesystem::current_path() << "; set PEYK_SOURCE_DIR";
  auto r = xmllint(doc);
  EXPECT_EQ(r.status, 0) << r.output << "\n" << doc;
}

TEST(Gpx, OnePointExact) {
  std::vector<point> one{full_point()};
  std::string out;
  write_gpx(out, one);
  EXPECT_EQ(out, gpx_head +
                     "<trk><name>Ali</name><desc>courier 42</desc><trkseg>\n"
                     "<trkpt lat=\"35.700100\" lon=\"51.401100\"><time>2026-12-05T14:05:00.250Z"
                     "</time><extensions><gpxtpx:TrackPointExtension><gpxtpx:speed>8.25"
                     "</gpxtpx:speed><gpxtpx:course>270</gpxtpx:course>"
                     "</gpxtpx:TrackPointExtension></extensions></trkpt>\n"
                     "</trkseg></trk>\n</gpx>\n");
  expect_valid_gpx(out);
}

TEST(Gpx, ZeroPointsExactAndValid) {
  std::string out;
  write_gpx(out, {});
  EXPECT_EQ(out, gpx_head + "</gpx>\n");
  expect_valid_gpx(out);
}

TEST(Gpx, SeveralCouriersValidAgainstTheSchema) {
  auto a1 = full_point();
  auto a2 = bare_point();  // the newest name of a courier names its track
  a2.name = "A&B <\"x\"> 'y' \x01\xFF \xD8\xB9\xD9\x84\xDB\x8C";
  a2.heading = 360;                           // course is [0, 360)
  auto b1 = at("b<&>", -89.999999, 180, t0);  // GPX longitude is [-180, 180)
  b1.speed = 0;
  auto b2 = at("b<&>", 90, -180, t1);
  auto b3 = at("b<&>", 0, 179.9999996, t1 + 1);  // rounds to 180
  std::vector<point> pts{a1, b1, a2, b2, b3};
  std::string out;
  write_gpx(out, pts);
  expect_valid_gpx(out);
  EXPECT_NE(out.find("<trkpt lat=\"-89.999999\" lon=\"-180.000000\">"), std::string::npos);
  EXPECT_NE(out.find("<trkpt lat=\"0.000000\" lon=\"-180.000000\">"), std::string::npos);
  EXPECT_NE(out.find("<gpxtpx:course>0</gpxtpx:course>"), std::string::npos);
  EXPECT_NE(out.find("<name>b&lt;&amp;&gt;</name><desc>courier b&lt;&amp;&gt;</desc>"),
            std::string::npos);
  EXPECT_NE(out.find("<name>A&amp;B &lt;&quot;x&quot;&gt; &apos;y&apos; \xEF\xBF\xBD\xEF\xBF\xBD "
                     "\xD8\xB9\xD9\x84\xDB\x8C</name>"),
            std::string::npos);
  // The track of courier 42 holds both its points, the other courier's in between.
  auto first_trk = out.substr(0, out.find("</trk>"));
  EXPECT_EQ(first_trk.find("lat=\"-89.999999\""), std::string::npos);
  EXPECT_NE(first_trk.find("lat=\"35.700200\""), std::string::npos);
}

TEST(Gpx, TheSchemaCheckCanFail) {
  // GPX 1.1 has no <speed> in a trkpt, and no longitude 180: xmllint must refuse both.
  expect_valid_gpx(gpx_head + "</gpx>\n");
  auto bad_speed = gpx_head +
                   "<trk><trkseg><trkpt lat=\"1\" lon=\"2\"><speed>3</speed></trkpt>"
                   "</trkseg></trk></gpx>\n";
  EXPECT_NE(xmllint(bad_speed).status, 0);
  auto bad_lon = gpx_head + "<trk><trkseg><trkpt lat=\"1\" lon=\"180\"/></trkseg></trk></gpx>\n";
  EXPECT_NE(xmllint(bad_lon).status, 0);
}

// ---- CSV ----

const std::string csv_p1 =
    "42,Ali,store-7,2026-12-05T14:05:00.250Z,1796479500300000,2026-12-05T14:05:00.250Z,"
    "35.700100,51.401100,6.5,8.25,270,80,A1\r\n";
const std::string csv_p2 =
    "42,Ali,,2026-12-05T14:05:05.000Z,1796479505000000,,35.700200,51.401300,,,,,\r\n";

TEST(Csv, HeaderAndRowsExact) {
  std::vector<point> pts{full_point(), bare_point()};
  std::string out;
  write_csv(out, pts);
  EXPECT_EQ(out,
            "courier_id,name,fleet,time,ts,recorded_at,latitude,longitude,accuracy,speed,heading,"
            "battery,orders\r\n" +
                csv_p1 + csv_p2);
}

TEST(Csv, ZeroAndOnePoint) {
  std::string out;
  write_csv(out, {});
  EXPECT_EQ(out, csv_header);
  std::vector<point> one{full_point()};
  out.clear();
  write_csv(out, one);
  EXPECT_EQ(out, std::string(csv_header) + csv_p1);
}

TEST(Csv, QuotingPerRfc4180) {
  auto p = bare_point();
  p.courier_id = "a,b";
  p.name = "say \"hi\"\nbye";
  p.fleet = "\xD8\xB9\xD9\x84\xDB\x8C";
  p.orders = {"o1", "o;2", "o,3"};
  std::string out;
  write_csv_row(out, p);
  EXPECT_EQ(out,
            "\"a,b\",\"say \"\"hi\"\"\nbye\",\xD8\xB9\xD9\x84\xDB\x8C,2026-12-05T14:05:05.000Z,"
            "1796479505000000,,35.700200,51.401300,,,,,\"o1;o;2;o,3\"\r\n");
}

TEST(Csv, FormulaInjectionGuard) {
  auto cell = [](std::string name) {
    auto p = bare_point();
    p.name = std::move(name);
    std::string out;
    write_csv_row(out, p);
    auto start = out.find(',') + 1;
    return out.substr(start, out.find(',', start) - start);
  };
  EXPECT_EQ(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
  EXPECT_EQ(cell("+1"), "'+1");
  EXPECT_EQ(cell("-2"), "'-2");
  EXPECT_EQ(cell("@SUM(A1)"), "'@SUM(A1)");
  EXPECT_EQ(cell("\tx"), "'\tx");
  EXPECT_EQ(cell("a=b"), "a=b");
  EXPECT_EQ(cell("Ali"), "Ali");

  auto p = bare_point();
  p.courier_id = "=1+1";
  p.fleet = "-fleet";
  p.orders = {"@o", "x"};
  std::string out;
  write_csv_row(out, p);
  EXPECT_EQ(out,
            "'=1+1,Ali,'-fleet,2026-12-05T14:05:05.000Z,1796479505000000,,35.700200,51.401300,,"
            ",,,'@o;x\r\n");
  // Numbers are never guarded: a negative coordinate stays a number.
  auto q = at("c", -33.5, -70.25, t1);
  q.speed = 0;
  out.clear();
  write_csv_row(out, q);
  EXPECT_EQ(out, "c,,,2026-12-05T14:05:05.000Z,1796479505000000,,-33.500000,-70.250000,,0,,,\r\n");
}

}  // namespace
}  // namespace peyk::history
