#include "simulator/outbox.hpp"

#include <algorithm>

namespace peyk::simulator {

bool outbox::push(std::string point) {
  bool dropped = false;
  if (capacity_ > 0 && points_.size() >= capacity_) {
    points_.pop_front();
    ++dropped_;
    dropped = true;
  }
  points_.push_back(std::move(point));
  return dropped;
}

std::size_t outbox::build_body(std::size_t max_bytes, std::string& body) const {
  body.clear();
  if (points_.empty()) return 0;
  if (points_.size() == 1) {
    body = points_.front();
    return 1;
  }
  constexpr std::string_view head = R"({"points":[)", tail = "]}";
  body += head;
  std::size_t n = 0;
  for (const auto& p : points_) {
    if (n == max_batch) break;
    std::size_t grown = body.size() + (n ? 1 : 0) + p.size() + tail.size();
    if (n > 0 && grown > max_bytes) break;
    if (n) body += ',';
    body += p;
    ++n;
  }
  body += tail;
  return n;
}

void outbox::pop(std::size_t n) {
  n = std::min(n, points_.size());
  points_.erase(points_.begin(), points_.begin() + static_cast<std::ptrdiff_t>(n));
}

}  // namespace peyk::simulator
