#pragma once
// The ingest API's wire format as the simulator speaks it (PROTOCOL.md §3). Pure.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "simulator/courier.hpp"

namespace peyk::simulator {

// "2026-11-28T12:00:00.123Z"
std::string format_rfc3339(std::chrono::system_clock::time_point t);

// One point object: latitude/longitude with 6 decimals (the server's precision), accuracy,
// speed (m/s) and heading with one, recorded_at, and orders (omitted when empty).
std::string encode_point(const fix& f, std::chrono::system_clock::time_point recorded_at);

// `update_interval_seconds` of a 200 answer; nullopt when absent or not positive.
std::optional<double> parse_update_interval(std::string_view body);

// A Retry-After header in delta-seconds; nullopt for an HTTP-date or garbage (the caller
// then falls back to its own backoff).
std::optional<double> parse_retry_after(std::string_view value);

}  // namespace peyk::simulator
