#include "policy/watch_message.hpp"

#include <algorithm>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

namespace peyk::policy {

namespace json = boost::json;

namespace {

std::string json_text(std::string_view s) {
  return json::serialize(json::value(json::string_view(s.data(), s.size())));
}

}  // namespace

std::vector<std::string> encode_watch(std::string_view source, std::chrono::milliseconds ttl,
                                      std::span<const watch_registry::entry> entries,
                                      std::size_t max_bytes) {
  std::vector<std::string> out;
  const std::string head =
      R"({"v":1,"source":)" + json_text(source) + R"(,"ttl_ms":)" + std::to_string(ttl.count());
  // One message per pass over what is left; orders first, then couriers.
  std::size_t i = 0;
  std::vector<std::string> orders, couriers;
  while (i < entries.size()) {
    orders.clear();
    couriers.clear();
    std::size_t size = head.size() + 30;  // the two keys, braces, the end
    for (; i < entries.size(); ++i) {
      const auto& e = entries[i];
      if (e.id.empty() || e.id.size() > max_watch_id_bytes) continue;
      auto item = json_text(e.id) + ":" + std::to_string(e.count);
      if (size + item.size() + 1 > max_bytes && !(orders.empty() && couriers.empty())) break;
      size += item.size() + 1;
      (e.k == kind::order ? orders : couriers).push_back(std::move(item));
    }
    if (orders.empty() && couriers.empty()) break;
    std::string m = head;
    auto list = [&](const char* name, const std::vector<std::string>& items) {
      if (items.empty()) return;
      m += ",\"";
      m += name;
      m += "\":{";
      for (std::size_t j = 0; j < items.size(); ++j) {
        if (j) m += ',';
        m += items[j];
      }
      m += '}';
    };
    list("orders", orders);
    list("couriers", couriers);
    m += '}';
    out.push_back(std::move(m));
  }
  return out;
}

std::string encode_gone(std::string_view source) {
  return R"({"v":1,"source":)" + json_text(source) + R"(,"gone":true})";
}

std::optional<watch_message> decode_watch(std::string_view payload) {
  if (payload.empty() || payload.size() > max_watch_message_bytes) return std::nullopt;
  boost::system::error_code ec;
  json::parse_options opt;
  opt.max_depth = 4;
  auto v = json::parse(json::string_view(payload.data(), payload.size()), ec, {}, opt);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.get_object();
  auto ver = o.if_contains("v");
  if (!ver || !ver->is_int64() || ver->get_int64() != 1) return std::nullopt;
  auto src = o.if_contains("source");
  if (!src || !src->is_string() || src->get_string().empty() ||
      src->get_string().size() > max_source_bytes) {
    return std::nullopt;
  }
  watch_message m;
  m.source = std::string(src->get_string());
  if (auto g = o.if_contains("gone"); g && g->is_bool() && g->get_bool()) {
    m.gone = true;
    return m;
  }
  if (auto t = o.if_contains("ttl_ms")) {
    if (!t->is_int64()) return std::nullopt;
    // At least 100 ms, at most a minute: a wrong figure cannot pin a watch for long.
    m.ttl = std::chrono::milliseconds(std::clamp<std::int64_t>(t->get_int64(), 100, 60'000));
  }
  for (auto [name, k] : {std::pair{"orders", kind::order}, std::pair{"couriers", kind::courier}}) {
    auto list = o.if_contains(name);
    if (!list) continue;
    if (!list->is_object()) return std::nullopt;
    for (const auto& [id, count] : list->get_object()) {
      if (!count.is_int64() || count.get_int64() < 0) return std::nullopt;
      if (id.empty() || id.size() > max_watch_id_bytes) continue;
      auto n = std::min<std::int64_t>(count.get_int64(), 1'000'000'000);
      m.entries.push_back({k, std::string(id), static_cast<std::uint32_t>(n)});
    }
  }
  return m;
}

}  // namespace peyk::policy
