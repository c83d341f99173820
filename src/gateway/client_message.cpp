// What a peyk.v1 viewer may send (PROTOCOL.md §11): JSON objects of at most 4 KiB, each
// a text message, one at a time.
//
//   {"type":"focus","courier":ID}  focus that courier (its interval tightens, §10); a new
//                                  focus replaces the last one
//   {"type":"focus"}               no focus
//
// What is done with the rest (docs/protocol.md, "Client messages"):
//   - not a JSON object with a string `type`, or a focus whose `courier` is neither a
//     string nor an integer: close 1008 (a broken client, better told than ignored);
//   - any other `type` (`view` is a later issue's): ignored, so that a newer page still
//     works against this server;
//   - a focus on a courier this viewer may not see, or from a customer: no effect
//     (counted in peyk_focus_refused_total); a customer's orders make its couriers
//     watched already;
//   - more than a burst of 10 messages, refilled at 2 a second: close 1008.
// A viewer's focus ends with its connection.
#include <algorithm>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "auth/visibility.hpp"
#include "gateway/client_message.hpp"

namespace peyk::gateway {

namespace json = boost::json;

namespace {
constexpr double messages_per_second = 2;
constexpr std::size_t max_courier_id = 128;
}  // namespace

std::uint16_t ws_session::on_client_text(std::string_view text, const char*& reason) {
  if (!client_) client_ = std::make_unique<client_state>();
  auto& st = *client_;
  auto now = clock::now();
  st.budget = std::min(
      client_state::burst,
      st.budget + messages_per_second * std::chrono::duration<double>(now - st.refilled).count());
  st.refilled = now;
  if (st.budget < 1) {
    reason = "too many messages";
    return 1008;
  }
  st.budget -= 1;

  boost::system::error_code ec;
  json::parse_options opt;
  opt.max_depth = 8;
  auto v = json::parse(json::string_view(text.data(), text.size()), ec, {}, opt);
  const json::object* o = !ec && v.is_object() ? &v.get_object() : nullptr;
  const json::value* type = o ? o->if_contains("type") : nullptr;
  if (!type || !type->is_string()) {
    reason = "expected a JSON object with a \"type\"";
    return 1008;
  }
  if (type->get_string() != "focus") return 0;  // not (yet) ours: ignored

  std::string courier;
  if (const auto* c = o->if_contains("courier"); c && !c->is_null()) {
    if (c->is_string()) {
      courier = std::string(c->get_string());
    } else if (c->is_int64()) {
      courier = std::to_string(c->get_int64());
    } else {
      reason = "focus: courier must be a string or an integer";
      return 1008;
    }
    if (courier.empty() || courier.size() > max_courier_id) {
      reason = "focus: bad courier id";
      return 1008;
    }
  }
  if (!courier.empty()) {
    bool allowed = false;
    switch (who_->role) {
      case auth::role::admin:
        allowed = true;  // any courier, even one not heard from yet
        break;
      case auth::role::dispatcher: {
        // The courier's fleet, from its newest location here.
        auto e = shard_.store().find(courier);
        allowed = e.loc && auth::may_see(*who_, *e.loc);
        break;
      }
      default:
        break;
    }
    if (!allowed) {
      shard_.metrics().focus_refused.inc();
      return 0;
    }
  }
  if (courier == st.focus) return 0;
  if (!st.focus.empty()) gw_.focus(st.focus, -1);
  st.focus = std::move(courier);
  if (!st.focus.empty()) gw_.focus(st.focus, +1);
  return 0;
}

void ws_session::end_client_state() {
  if (!client_) return;
  if (!client_->focus.empty()) gw_.focus(client_->focus, -1);
  client_.reset();
}

}  // namespace peyk::gateway
