#include "core/timestamp.hpp"

#include <gtest/gtest.h>

namespace peyk::core {
namespace {

TEST(Timestamp, ParsesUtcZoneAndFraction) {
  EXPECT_EQ(parse_rfc3339_us("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_rfc3339_us("2025-11-28T12:00:00Z"), 1764331200LL * 1'000'000);
  EXPECT_EQ(parse_rfc3339_us("2025-11-28T12:00:00.25Z"), 1764331200LL * 1'000'000 + 250'000);
  EXPECT_EQ(parse_rfc3339_us("2025-11-28T15:30:00+03:30"), 1764331200LL * 1'000'000);
  EXPECT_EQ(parse_rfc3339_us("2025-11-28T08:00:00-04:00"), 1764331200LL * 1'000'000);
  EXPECT_EQ(parse_rfc3339_us("2025-11-28T12:00:00"), 1764331200LL * 1'000'000);   // no zone: UTC
  EXPECT_EQ(parse_rfc3339_us("2024-02-29T00:00:00Z"), 1709164800LL * 1'000'000);  // leap day
}

TEST(Timestamp, RefusesWhatIsNotADateTime) {
  for (const char* bad : {"", "yesterday", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                          "2025-11-28T24:00:00Z", "2025-11-28T12:00:00.Z", "2025-11-28T12:00:00+3",
                          "2025-11-28T12:00:00Zjunk", "2026-11-28"}) {
    EXPECT_FALSE(parse_rfc3339_us(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace peyk::core
