#pragma once
// RFC 3339 timestamps ("2026-11-28T12:00:00Z", "2026-11-28T15:30:00.250+03:30") as
// microseconds since the Unix epoch. Pure: no clock, no locale.

#include <cstdint>
#include <optional>
#include <string_view>

namespace peyk::core {

// nullopt when `text` is not a valid RFC 3339 date-time (a missing zone is read as UTC,
// as the apps that omit it mean).
std::optional<std::int64_t> parse_rfc3339_us(std::string_view text);

// How far in the future a client's or publisher's time may be (PROTOCOL.md §12).
inline constexpr std::int64_t max_future_us = 5'000'000;

}  // namespace peyk::core
