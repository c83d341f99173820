#pragma once
// An encoded location as sent to viewers: built once per message and view, then shared
// (immutably) by every session that sends it.

#include <memory>
#include <string>

namespace peyk::gateway {

struct frame {
  std::string courier_id;  // conflation key
  std::string json;        // one location object in the broker format (§4)
  std::int64_t ts_us = 0;  // when the location entered peyk (for latency metrics)
};

using frame_ptr = std::shared_ptr<const frame>;

}  // namespace peyk::gateway
