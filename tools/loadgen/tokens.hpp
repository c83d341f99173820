#pragma once
// Tokens the load generator mints itself from the shared HS256 key (PROTOCOL.md §2), and
// the claims that decide who sees whom: courier i (1-based id) drives in fleet
// "fleet-<i % fleets>" on order "o<i>"; viewer v is a dispatcher of fleet "fleet-<v % fleets>"
// or a customer of order "o<1 + v % couriers>"; viewers past --viewers (--customers) are
// customers c = v - viewers of order "o<1 + c % couriers>". Admins and dispatchers get one
// identity (sub) per viewer; customers one per order, shared past --couriers.

#include <cstdint>
#include <string>
#include <vector>

#include "options.hpp"

namespace peyk::loadgen {

std::string courier_fleet(std::size_t courier_id, std::size_t fleets);
std::string courier_order(std::size_t courier_id);

class token_book {
 public:
  // Throws std::invalid_argument on an empty secret. Tokens live for `ttl_s` seconds.
  token_book(const options& o, std::int64_t ttl_s);

  const std::string& viewer(std::size_t v) const;
  const std::string& courier(std::size_t courier_id) const { return couriers_[courier_id - 1]; }

 private:
  std::size_t fleets_;
  std::size_t couriers_n_;
  std::size_t role_viewers_;
  std::vector<std::string> viewers_;    // admins, dispatchers: one per viewer; customers: per order
  std::vector<std::string> customers_;  // --customers: one per order watched
  std::vector<std::string> couriers_;
};

}  // namespace peyk::loadgen
