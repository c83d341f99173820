#include "policy/watch_registry.hpp"

#include <algorithm>
#include <mutex>

namespace peyk::policy {

namespace {
constexpr auto never = clock::time_point::max();
}

watch_registry::watch_registry(watch_limits limits) : limits_(limits) {
  sources_.push_back({"", 0, {}, true});  // local
}

bool watch_registry::live(const std::vector<watch>& ws, clock::time_point now) {
  for (const auto& w : ws) {
    if (w.count > 0 && w.expires > now) return true;
  }
  return false;
}

void watch_registry::note_change(kind k, std::string_view id) {
  if (!tracking_ || overflow_) return;
  auto& set = k == kind::order ? changed_orders_ : changed_couriers_;
  set.emplace(id);
  if (changed_orders_.size() + changed_couriers_.size() > limits_.max_changes) {
    overflow_ = true;
    changed_orders_.clear();
    changed_couriers_.clear();
  }
}

void watch_registry::remove_watch(table& t, table::iterator it, std::size_t i) {
  auto& ws = it->second;
  auto src = ws[i].source;
  if (src != 0) {
    --remote_;
    --sources_[src].watches;
  }
  ws[i] = ws.back();
  ws.pop_back();
  if (ws.empty()) t.erase(it);
}

void watch_registry::local(kind k, std::string_view id, int delta) {
  if (delta == 0 || id.empty()) return;
  std::unique_lock lock(mu_);
  auto& t = of(k);
  auto it = t.find(id);
  if (it == t.end()) {
    if (delta < 0) return;  // nothing to take back
    it = t.emplace(std::string(id), std::vector<watch>{}).first;
  }
  auto& ws = it->second;
  auto w = std::find_if(ws.begin(), ws.end(), [](const watch& x) { return x.source == 0; });
  if (w == ws.end()) {
    if (delta < 0) return;
    ws.push_back({0, static_cast<std::uint32_t>(delta), never});
  } else {
    auto n = static_cast<std::int64_t>(w->count) + delta;
    if (n <= 0) {
      remove_watch(t, it, static_cast<std::size_t>(w - ws.begin()));
    } else {
      w->count = static_cast<std::uint32_t>(n);
    }
  }
  note_change(k, id);
}

std::uint32_t watch_registry::source_index(std::string_view name, clock::time_point heard) {
  if (auto it = source_by_name_.find(name); it != source_by_name_.end()) {
    sources_[it->second].last = std::max(sources_[it->second].last, heard);
    return it->second;
  }
  if (source_by_name_.size() >= limits_.max_sources) return 0;
  std::uint32_t i;
  if (!free_sources_.empty()) {
    i = free_sources_.back();
    free_sources_.pop_back();
  } else {
    i = static_cast<std::uint32_t>(sources_.size());
    sources_.emplace_back();
  }
  sources_[i] = {std::string(name), 0, heard, true};
  source_by_name_.emplace(std::string(name), i);
  return i;
}

bool watch_registry::remote(std::string_view source, kind k, std::string_view id,
                            std::uint32_t count, clock::time_point expires) {
  if (id.empty() || source.empty()) return false;
  std::unique_lock lock(mu_);
  // A source counts as heard until its assertion expires; it is reclaimed once it holds
  // nothing and that moment is a minute past (expire()).
  auto src = source_index(source, expires);
  if (src == 0) {
    ++dropped_;
    return false;
  }
  auto& t = of(k);
  auto it = t.find(id);
  if (it == t.end()) {
    if (count == 0) return true;
    if (remote_ >= limits_.max_remote) {
      ++dropped_;
      return false;
    }
    it = t.emplace(std::string(id), std::vector<watch>{}).first;
  }
  auto& ws = it->second;
  auto w = std::find_if(ws.begin(), ws.end(), [src](const watch& x) { return x.source == src; });
  if (w == ws.end()) {
    if (count == 0) return true;
    if (remote_ >= limits_.max_remote) {
      ++dropped_;
      return false;
    }
    ws.push_back({src, count, expires});
    ++remote_;
    ++sources_[src].watches;
    return true;
  }
  if (count == 0) {
    remove_watch(t, it, static_cast<std::size_t>(w - ws.begin()));
  } else {
    w->count = count;
    w->expires = expires;
  }
  return true;
}

void watch_registry::forget_source(std::string_view source) {
  std::unique_lock lock(mu_);
  auto s = source_by_name_.find(source);
  if (s == source_by_name_.end()) return;
  auto src = s->second;
  for (auto* t : {&orders_, &couriers_}) {
    for (auto it = t->begin(); it != t->end();) {
      auto& ws = it->second;
      for (std::size_t i = 0; i < ws.size();) {
        if (ws[i].source == src) {
          --remote_;
          --sources_[src].watches;
          ws[i] = ws.back();
          ws.pop_back();
        } else {
          ++i;
        }
      }
      it = ws.empty() ? t->erase(it) : std::next(it);
    }
  }
  sources_[src] = {};
  free_sources_.push_back(src);
  source_by_name_.erase(s);
}

void watch_registry::expire(clock::time_point now) {
  std::unique_lock lock(mu_);
  for (auto* t : {&orders_, &couriers_}) {
    for (auto it = t->begin(); it != t->end();) {
      auto& ws = it->second;
      for (std::size_t i = 0; i < ws.size();) {
        if (ws[i].expires <= now) {
          --remote_;
          --sources_[ws[i].source].watches;
          ws[i] = ws.back();
          ws.pop_back();
        } else {
          ++i;
        }
      }
      it = ws.empty() ? t->erase(it) : std::next(it);
    }
  }
  // A source that holds nothing and whose last assertion lapsed a minute ago is forgotten
  // (its slot reused); one that holds nothing but spoke recently is kept, cheaply.
  for (std::uint32_t i = 1; i < sources_.size(); ++i) {
    auto& s = sources_[i];
    if (!s.used || s.watches > 0 || now - s.last < std::chrono::minutes(1)) continue;
    source_by_name_.erase(s.name);
    s = {};
    free_sources_.push_back(i);
  }
}

bool watch_registry::watched(std::string_view courier, std::span<const std::string> orders,
                             clock::time_point now) const {
  std::shared_lock lock(mu_);
  if (!couriers_.empty()) {
    if (auto it = couriers_.find(courier); it != couriers_.end() && live(it->second, now)) {
      return true;
    }
  }
  if (orders_.empty()) return false;
  for (const auto& o : orders) {
    if (auto it = orders_.find(o); it != orders_.end() && live(it->second, now)) return true;
  }
  return false;
}

std::size_t watch_registry::count(kind k) const {
  std::shared_lock lock(mu_);
  return of(k).size();
}

std::uint64_t watch_registry::dropped() const {
  std::shared_lock lock(mu_);
  return dropped_;
}

void watch_registry::for_each_local(const std::function<void(const entry&)>& fn) const {
  std::vector<entry> out;
  {
    std::shared_lock lock(mu_);
    for (auto k : {kind::order, kind::courier}) {
      for (const auto& [id, ws] : of(k)) {
        for (const auto& w : ws) {
          if (w.source == 0) out.push_back({k, id, w.count});
        }
      }
    }
  }
  for (const auto& e : out) fn(e);  // outside the lock: fn may take its time
}

void watch_registry::track_changes(bool on) {
  std::unique_lock lock(mu_);
  tracking_ = on;
  overflow_ = false;
  changed_orders_.clear();
  changed_couriers_.clear();
}

std::vector<watch_registry::entry> watch_registry::take_changes(bool& overflow) {
  std::unique_lock lock(mu_);
  overflow = overflow_;
  overflow_ = false;
  std::vector<entry> out;
  if (overflow) return out;
  auto local_count = [&](kind k, const std::string& id) -> std::uint32_t {
    auto& t = of(k);
    auto it = t.find(id);
    if (it == t.end()) return 0;
    for (const auto& w : it->second) {
      if (w.source == 0) return w.count;
    }
    return 0;
  };
  out.reserve(changed_orders_.size() + changed_couriers_.size());
  for (const auto& id : changed_orders_)
    out.push_back({kind::order, id, local_count(kind::order, id)});
  for (const auto& id : changed_couriers_) {
    out.push_back({kind::courier, id, local_count(kind::courier, id)});
  }
  changed_orders_.clear();
  changed_couriers_.clear();
  return out;
}

}  // namespace peyk::policy
