#include "simulator/outbox.hpp"

#include <chrono>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "simulator/backoff.hpp"
#include "simulator/wire.hpp"

namespace peyk::simulator {
namespace {

std::string point(int i) {
  return R"({"latitude":35.7,"longitude":51.4,"seq":)" + std::to_string(i) + "}";
}

int seq(const boost::json::value& v) {
  return static_cast<int>(v.at("seq").as_int64());
}

TEST(outbox, keeps_the_newest_thousand_and_counts_the_dropped) {
  outbox box;
  int dropped = 0;
  for (int i = 0; i < 1500; ++i) dropped += box.push(point(i));
  EXPECT_EQ(box.size(), 1000u);
  EXPECT_EQ(dropped, 500);
  EXPECT_EQ(box.dropped(), 500u);
  EXPECT_EQ(box.front(), point(500));
  EXPECT_EQ(box.back(), point(1499));
}

TEST(outbox, one_point_goes_alone_several_as_one_batch_oldest_first) {
  outbox box;
  std::string body;
  EXPECT_EQ(box.build_body(65536, body), 0u);
  box.push(point(1));
  EXPECT_EQ(box.build_body(65536, body), 1u);
  EXPECT_EQ(body, point(1));
  for (int i = 2; i <= 5; ++i) box.push(point(i));
  ASSERT_EQ(box.build_body(65536, body), 5u);
  auto v = boost::json::parse(body);
  const auto& pts = v.at("points").as_array();
  ASSERT_EQ(pts.size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(seq(pts[i]), i + 1);
  box.pop(5);
  EXPECT_TRUE(box.empty());
}

TEST(outbox, a_batch_holds_at_most_a_thousand_points_and_fits_the_body_limit) {
  outbox box(5000);
  for (int i = 0; i < 3000; ++i) box.push(point(i));
  std::string body;
  EXPECT_EQ(box.build_body(100 << 20, body), 1000u);
  EXPECT_EQ(boost::json::parse(body).at("points").as_array().size(), 1000u);

  // At the server's 64 KiB limit a full outbox of real points takes several requests,
  // each within the limit, together carrying every point once, in order.
  outbox real;
  fix f{{35.712345, 51.412345}, 8.3, 271.5, 6.5, {"A1001", "A1002", "A1003"}};
  auto t = std::chrono::system_clock::now();
  for (int i = 0; i < 1000; ++i) real.push(encode_point(f, t + std::chrono::seconds(i)));
  std::size_t total = 0;
  int requests = 0;
  std::string last_time;
  while (!real.empty()) {
    auto n = real.build_body(64 * 1024, body);
    ASSERT_GT(n, 0u);
    EXPECT_LE(body.size(), 64u * 1024);
    auto pts = boost::json::parse(body).at("points").as_array();
    ASSERT_EQ(pts.size(), n);
    for (const auto& p : pts) {
      std::string ts(p.at("recorded_at").as_string());
      EXPECT_LT(last_time, ts);
      last_time = ts;
    }
    real.pop(n);
    total += n;
    ++requests;
  }
  EXPECT_EQ(total, 1000u);
  EXPECT_GE(requests, 3);
}

TEST(backoff, grows_exponentially_with_jitter_and_is_capped) {
  EXPECT_GE(backoff_delay(1, 0), 0.25);
  EXPECT_LE(backoff_delay(1, 0.999), 0.5);
  EXPECT_NE(backoff_delay(3, 0.1), backoff_delay(3, 0.9));  // jitter spreads retries
  double prev = 0;
  for (int a = 1; a <= 200; ++a) {
    double mid = backoff_delay(a, 0.5);
    EXPECT_GE(mid, prev);
    prev = mid;
    EXPECT_LE(backoff_delay(a, 0.999999), 10.0);
    EXPECT_GE(backoff_delay(a, 0), 0.25);
  }
  EXPECT_NEAR(backoff_delay(50, 0.999999), 10.0, 1e-3);  // reaches the cap
  EXPECT_NEAR(backoff_delay(50, 0), 5.0, 1e-9);          // half of it fixed
  EXPECT_NEAR(backoff_delay(4, 0), 2.0, 1e-9);           // 0.5 * 2^3 / 2
}

}  // namespace
}  // namespace peyk::simulator
