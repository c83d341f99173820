#include "gateway/hub.hpp"

#include <algorithm>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "auth/visibility.hpp"
#include "core/codec.hpp"

namespace peyk::gateway {

update_ptr make_update(store::location_ptr loc, bool with_customer_views) {
  auto u = std::make_shared<update>();
  u->full = make_frame_ptr(loc->courier_id, core::encode_location(*loc), loc->ts_us);
  if (with_customer_views) {
    u->per_order.reserve(loc->orders.size());
    for (const auto& o : loc->orders) {
      u->per_order.push_back(make_frame(*loc, std::span<const std::string>(&o, 1)));
    }
  }
  u->loc = std::move(loc);
  return u;
}

frame_ptr make_frame(const core::location& loc, std::span<const std::string> visible) {
  return make_frame_ptr(loc.courier_id, core::encode_location(loc, visible), loc.ts_us);
}

bool hub::add(std::shared_ptr<viewer> v) {
  const auto& id = v->who();
  switch (id.role) {
    case auth::role::admin:
      admins_.push_back(v.get());
      ++(v->protocol() == subprotocol::echo ? echo_admins_ : v1_admins_);
      v->feed_ = &feed_;
      v->cursor_ = feed_.end();  // from now on; a v1 viewer's snapshot covers the past
      break;
    case auth::role::dispatcher:
      for (const auto& f : id.fleets) by_fleet_[f].push_back(v.get());
      break;
    case auth::role::customer:
      for (const auto& o : id.orders) by_order_[o].push_back(v.get());
      ++customers_;
      break;
    case auth::role::courier:
      return false;
  }
  v->slot_ = all_.size();
  all_.push_back(std::move(v));
  return true;
}

void hub::erase_from(std::vector<viewer*>& list, viewer* v) {
  auto it = std::find(list.begin(), list.end(), v);
  if (it == list.end()) return;
  *it = list.back();
  list.pop_back();
}

void hub::remove(viewer* v) {
  if (v->slot_ >= all_.size() || all_[v->slot_].get() != v) return;  // not ours / gone
  const auto& id = v->who();
  switch (id.role) {
    case auth::role::admin:
      erase_from(admins_, v);
      --(v->protocol() == subprotocol::echo ? echo_admins_ : v1_admins_);
      v->feed_ = nullptr;
      break;
    case auth::role::dispatcher:
      for (const auto& f : id.fleets) {
        auto it = by_fleet_.find(f);
        if (it == by_fleet_.end()) continue;
        erase_from(it->second, v);
        if (it->second.empty()) by_fleet_.erase(it);
      }
      break;
    case auth::role::customer:
      for (const auto& o : id.orders) {
        auto it = by_order_.find(o);
        if (it == by_order_.end()) continue;
        erase_from(it->second, v);
        if (it->second.empty()) by_order_.erase(it);
      }
      --customers_;
      break;
    case auth::role::courier:
      break;
  }
  erase_from(dirty_, v);
  std::size_t slot = v->slot_;
  if (slot + 1 != all_.size()) {
    all_[slot] = std::move(all_.back());
    all_[slot]->slot_ = slot;
  }
  all_.pop_back();  // may destroy v
}

void hub::deliver(viewer* v, const frame_ptr& f) {
  if (v->push(f)) dirty_.push_back(v);
}

void hub::dispatch(std::span<const update_ptr> batch) {
  if (batch.empty()) return;
  if (!admins_.empty()) feed_.append(batch, echo_admins_ > 0, v1_admins_ > 0);
  for (const auto& u : batch) {
    ++seq_;
    const auto& loc = *u->loc;
    if (!loc.fleet.empty() && !by_fleet_.empty()) {
      if (auto it = by_fleet_.find(loc.fleet); it != by_fleet_.end()) {
        for (auto* v : it->second) deliver(v, u->full);
      }
    }
    if (customers_ == 0) continue;
    for (std::size_t i = 0; i < loc.orders.size(); ++i) {
      auto it = by_order_.find(loc.orders[i]);
      if (it == by_order_.end()) continue;
      for (auto* v : it->second) {
        if (v->stamp_ == seq_) continue;  // already reached through another of its orders
        v->stamp_ = seq_;
        auto visible = auth::visible_orders(v->who(), loc);
        if (visible.size() == 1 && i < u->per_order.size()) {
          deliver(v, u->per_order[i]);
        } else {
          deliver(v, make_frame(loc, visible));
        }
      }
    }
  }
  // A flush starts a write (completions never run inline) or, on a closed socket, does
  // nothing; it never removes a viewer, so the admin list is stable here.
  for (auto* v : admins_) v->flush();
  // Flushing queued viewers may close them (and so remove them); work on a copy.
  auto dirty = std::move(dirty_);
  dirty_.clear();
  for (auto* v : dirty) v->flush();
  if (dirty_.empty()) {
    dirty.clear();
    dirty_ = std::move(dirty);  // keep the capacity
  }
}

std::shared_ptr<const std::string> status_frame(const std::string& ids) {
  auto out = std::make_shared<std::string>(R"({"type":"status","couriers":[)");
  out->append(ids, ids.empty() ? 0 : 1);
  *out += "]}";
  return out;
}

void append_offline(std::string& ids, const std::string& courier) {
  ids += R"(,{"id":)";
  if (core::is_numeric_id(courier)) {
    ids += courier;
  } else {
    ids += boost::json::serialize(boost::json::value(courier));
  }
  ids += R"(,"state":"offline"})";
}

void hub::offline(std::span<const store::location_ptr> couriers) {
  if (couriers.empty()) return;
  if (v1_admins_ > 0) {
    std::string ids;
    for (const auto& c : couriers) append_offline(ids, c->courier_id);
    auto f = status_frame(ids);
    for (auto* v : admins_) {
      if (v->protocol() == subprotocol::v1) v->push_status(f);
    }
  }
  if (!by_fleet_.empty()) {
    std::unordered_map<std::string_view, std::string> per_fleet;
    for (const auto& c : couriers) {
      if (!c->fleet.empty() && by_fleet_.contains(c->fleet)) {
        append_offline(per_fleet[c->fleet], c->courier_id);
      }
    }
    for (const auto& [fleet, ids] : per_fleet) {
      auto f = status_frame(ids);
      for (auto* v : by_fleet_.find(std::string(fleet))->second) {
        if (v->protocol() == subprotocol::v1) v->push_status(f);
      }
    }
  }
  if (customers_ == 0) return;
  std::unordered_map<viewer*, std::string> per_customer;
  for (const auto& c : couriers) {
    ++seq_;
    for (const auto& o : c->orders) {
      auto it = by_order_.find(o);
      if (it == by_order_.end()) continue;
      for (auto* v : it->second) {
        if (v->stamp_ == seq_ || v->protocol() != subprotocol::v1) continue;
        v->stamp_ = seq_;
        append_offline(per_customer[v], c->courier_id);
      }
    }
  }
  for (const auto& [v, ids] : per_customer) v->push_status(status_frame(ids));
}

void hub::forget(std::span<const store::location_ptr> couriers) {
  std::vector<std::string_view> ids;
  ids.reserve(couriers.size());
  for (const auto& c : couriers) ids.push_back(c->courier_id);
  feed_.forget(ids);
}

void hub::for_each(const std::function<void(viewer&)>& fn) const {
  // Copy: fn may close (and so remove) viewers.
  auto copy = all_;
  for (const auto& v : copy) fn(*v);
}

}  // namespace peyk::gateway
