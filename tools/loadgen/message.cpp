#include "message.hpp"

#include <hiredis/hiredis.h>

#include <charconv>

#include "tokens.hpp"

namespace peyk::loadgen {

position courier_position(std::size_t courier_id, std::uint64_t seq) {
  return {35.6 + static_cast<double>(courier_id % 1000) * 0.0003 +
              static_cast<double>(seq % 997) * 0.000001,
          51.3 + static_cast<double>(courier_id / 1000 % 1000) * 0.0003 +
              static_cast<double>(seq % 991) * 0.000001};
}

void append_fixed6(std::string& out, double v) {
  char num[32];
  out.append(num, std::to_chars(num, num + sizeof num, v, std::chars_format::fixed, 6).ptr);
}

std::string broker_message(std::size_t courier_id, position p, std::int64_t ts_us,
                           std::size_t fleets) {
  auto id = std::to_string(courier_id);
  std::string m;
  m.reserve(224);
  m += R"({"latitude":)";
  append_fixed6(m, p.latitude);
  m += R"(,"longitude":)";
  append_fixed6(m, p.longitude);
  m += R"(,"user":{"id":)";
  m += id;
  m += R"(,"username":"c)";
  m += id;
  m += R"("},"ts":)";
  m += std::to_string(ts_us);
  m += R"(,"accuracy":6.5,"speed":8.2,"heading":270,"fleet":")";
  m += courier_fleet(courier_id, fleets);
  m += R"(","orders":[")";
  m += courier_order(courier_id);
  m += R"("]})";
  return m;
}

void append_publish(std::string& out, std::string_view channel, std::string_view message) {
  const char* argv[3] = {"PUBLISH", channel.data(), message.data()};
  std::size_t lens[3] = {7, channel.size(), message.size()};
  char* cmd = nullptr;
  int len = redisFormatCommandArgv(&cmd, 3, argv, lens);
  if (len > 0) out.append(cmd, static_cast<std::size_t>(len));
  redisFreeCommand(cmd);
}

}  // namespace peyk::loadgen
