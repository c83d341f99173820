#include "policy/watch_sync.hpp"

#include <cstdio>
#include <random>

#include "policy/watch_message.hpp"

namespace peyk::policy {

std::string make_source_id() {
  std::random_device rd;
  std::uint64_t v = (std::uint64_t{rd()} << 32) ^ rd();
  char buf[32];
  std::snprintf(buf, sizeof buf, "gw-%016llx", static_cast<unsigned long long>(v));
  return buf;
}

watch_sync::watch_sync(watch_registry& reg, sync_options opts, core::metrics& metrics,
                       std::function<void(std::string)> publish)
    : reg_(reg), opts_(std::move(opts)), metrics_(metrics), publish_(std::move(publish)) {
  if (opts_.publish) reg_.track_changes(true);
}

// The whole local state, plus `gone_ids` (local ids that just went to 0, sent as 0 so that
// the receivers drop them now rather than at their ttl).
void watch_sync::send_all(clock::time_point now, std::vector<watch_registry::entry> all) {
  reg_.for_each_local([&](const watch_registry::entry& e) { all.push_back(e); });
  last_full_ = now;
  last_change_ = now;
  for (auto& m : encode_watch(opts_.source, opts_.ttl, all, opts_.max_message_bytes)) {
    metrics_.watch_published.inc();
    publish_(std::move(m));
  }
}

void watch_sync::tick(clock::time_point now) {
  // Expired assertions already count for nothing (watched() checks the time); sweeping
  // them out, a pass over the whole registry, is for memory and the gauges: 4 times a
  // second is plenty.
  if (now - last_expire_ >= std::chrono::milliseconds(250)) {
    last_expire_ = now;
    reg_.expire(now);
  }
  metrics_.watched_orders.set(static_cast<std::int64_t>(reg_.count(kind::order)));
  metrics_.watched_couriers.set(static_cast<std::int64_t>(reg_.count(kind::courier)));
  if (!opts_.publish) return;
  if (!sent_any_ || now - last_full_ >= opts_.refresh) {
    sent_any_ = true;
    bool overflow = false;
    auto changes = reg_.take_changes(overflow);  // the whole state covers the rest
    std::erase_if(changes, [](const watch_registry::entry& e) { return e.count > 0; });
    return send_all(now, std::move(changes));
  }
  if (now - last_change_ < opts_.debounce) return;
  bool overflow = false;
  auto changes = reg_.take_changes(overflow);
  if (overflow) return send_all(now, {});  // the ids that went to 0 lapse by their ttl
  if (changes.empty()) return;
  last_change_ = now;
  for (auto& m : encode_watch(opts_.source, opts_.ttl, changes, opts_.max_message_bytes)) {
    metrics_.watch_published.inc();
    publish_(std::move(m));
  }
}

bool watch_sync::on_message(std::string_view payload, clock::time_point now) {
  auto m = decode_watch(payload);
  if (!m) {
    metrics_.watch_invalid.inc();
    return false;
  }
  if (m->source == opts_.source) return false;  // our own, back from the channel
  metrics_.watch_received.inc();
  if (m->gone) {
    reg_.forget_source(m->source);
    return true;
  }
  auto until = now + m->ttl;
  for (const auto& e : m->entries) reg_.remote(m->source, e.k, e.id, e.count, until);
  return true;
}

void watch_sync::stop() {
  if (!opts_.publish || !sent_any_) return;
  publish_(encode_gone(opts_.source));
}

}  // namespace peyk::policy
