#pragma once
// An encoded location as sent to viewers: built once per message and view, then shared
// (immutably) by every session that sends it.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace peyk::gateway {

struct frame {
  std::string courier_id;  // conflation key
  std::string json;        // one location object in the broker format (§4)
  std::int64_t ts_us = 0;  // when the location entered peyk (for latency metrics)
  std::uint64_t key = 0;   // hash of courier_id, computed once per frame, not per viewer
};

using frame_ptr = std::shared_ptr<const frame>;

inline frame_ptr make_frame_ptr(std::string courier_id, std::string json, std::int64_t ts_us) {
  auto key = std::hash<std::string>{}(courier_id);
  return std::make_shared<const frame>(frame{std::move(courier_id), std::move(json), ts_us, key});
}

}  // namespace peyk::gateway
