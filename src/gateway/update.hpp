#pragma once
// One broker message ready for fan-out: decoded once, encoded once per view.

#include <memory>
#include <vector>

#include "gateway/frame.hpp"
#include "store/last_known.hpp"

namespace peyk::gateway {

struct update {
  store::location_ptr loc;
  frame_ptr full;                    // admin and dispatcher view: every field
  std::vector<frame_ptr> per_order;  // customer views, parallel to loc->orders; empty when
                                     // no customer is connected anywhere
};

using update_ptr = std::shared_ptr<const update>;

// Builds the views of `loc` (per_order only when `with_customer_views`).
update_ptr make_update(store::location_ptr loc, bool with_customer_views);

// A frame of `loc` whose orders list only `visible` (customer view).
frame_ptr make_frame(const core::location& loc, std::span<const std::string> visible);

}  // namespace peyk::gateway
