#include "broker/redis_cluster_impl.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <stdexcept>

#include <boost/asio/post.hpp>

#include "broker/courier_reaper.hpp"
#include "core/codec.hpp"

namespace peyk::broker {

using cluster::family;

std::vector<std::pair<std::string, unsigned short>> parse_cluster_seeds(const std::string& list) {
  std::vector<std::pair<std::string, unsigned short>> out;
  std::size_t start = 0;
  while (start <= list.size()) {
    auto end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    auto item = list.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    auto colon = item.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == item.size()) {
      throw std::invalid_argument("--redis-cluster takes host:port[,host:port...], not '" + item +
                                  "'");
    }
    auto host = item.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    }
    int port = 0;
    try {
      std::size_t used = 0;
      port = std::stoi(item.substr(colon + 1), &used);
      if (used != item.size() - colon - 1) port = 0;
    } catch (...) {
      port = 0;
    }
    if (port <= 0 || port > 65535) {
      throw std::invalid_argument("--redis-cluster: bad port in '" + item + "'");
    }
    out.emplace_back(host, static_cast<unsigned short>(port));
  }
  if (out.empty()) throw std::invalid_argument("--redis-cluster: no seed node given");
  return out;
}

redis_cluster_broker::redis_cluster_broker(cluster_config cfg, core::metrics& metrics)
    : impl_(std::make_shared<impl>(std::move(cfg), metrics)) {
  if (impl_->cfg.seeds.empty()) throw std::invalid_argument("--redis-cluster: no seed node given");
}

redis_cluster_broker::~redis_cluster_broker() {
  stop();
}

void redis_cluster_broker::subscribe(message_handler handler) {
  impl_->handlers.push_back(std::move(handler));
}

void redis_cluster_broker::start() {
  net::post(impl_->ioc, [i = impl_] {
    i->refresh();
    i->tick();
    i->start_reaper();
  });
  thread_ = std::thread([i = impl_] { i->ioc.run(); });
}

void redis_cluster_broker::stop() {
  if (!thread_.joinable()) return;
  net::post(impl_->ioc, [i = impl_] { i->stop_all(); });
  thread_.join();
}

bool redis_cluster_broker::ready() const {
  return impl_->ready.load();
}

bool redis_cluster_broker::can_publish() const {
  return impl_->publishable.load();
}

void redis_cluster_broker::need_all(int delta) {
  net::post(impl_->ioc, [i = impl_, delta] {
    i->all_need += delta;
    i->set_wanted();
  });
}

void redis_cluster_broker::need_orders(std::span<const std::string> orders, int delta) {
  if (orders.empty()) return;
  net::post(impl_->ioc,
            [i = impl_, orders = std::vector<std::string>(orders.begin(), orders.end()), delta] {
              for (auto& o : orders) {
                auto p = cluster::partition_of(o, i->names.partitions());
                int& n = i->order_count[o];
                int before = n;
                n += delta;
                if (before <= 0 && n > 0) ++i->order_need[p];
                if (before > 0 && n <= 0) --i->order_need[p];
                if (n <= 0) i->order_count.erase(o);
              }
              i->set_wanted();
            });
}

void redis_cluster_broker::subscribe_control(control_handler handler) {
  impl_->control.push_back(std::move(handler));
}

void redis_cluster_broker::publish_control(std::string payload) {
  std::string c;
  append_command(c, {"SPUBLISH", impl_->control_name, payload});
  net::post(impl_->ioc, [i = impl_, c = std::move(c)] {
    auto* o = i->owner.empty() ? nullptr : i->owner[0];
    if (!o || !o->cmd->up()) return;  // best effort: the next refresh repeats it
    o->cmd->command(c, 1, [](bool, redisReply*, std::string_view) {});
  });
}

void redis_cluster_broker::publish(std::span<const location_ptr> batch, publish_handler done) {
  const auto& names = impl_->names;
  const auto& cfg = impl_->cfg;
  // Formatting happens on the caller's thread; one group per partition touched.
  std::vector<std::shared_ptr<impl::group>> groups;
  // Partition p of both families shares a slot: one group per p.
  auto group_for = [&](std::size_t p) -> impl::group& {
    for (auto& g : groups) {
      if (g->p == p) return *g;
    }
    groups.push_back(std::make_shared<impl::group>(impl::group{p, {}, {}}));
    return *groups.back();
  };
  auto ttl = std::to_string(cfg.order_ttl.count());
  auto add = [](impl::group& g, std::initializer_list<std::string_view> args) {
    append_command(g.bytes, args);
    g.ends.push_back(static_cast<std::uint32_t>(g.bytes.size()));
  };
  // An order's key holds the newest point naming it: one SET per distinct order of the
  // batch, whatever the number of points (order -> index of that point; npos once written).
  std::unordered_map<std::string_view, std::size_t> newest;
  if (cfg.write_last_known) {
    for (std::size_t i = 0; i < batch.size(); ++i) {
      for (const auto& order : batch[i]->orders) newest[order] = i;
    }
  }
  auto now_ms = std::to_string(seen_now_ms());
  std::vector<std::size_t> sent_to;  // order partitions this point was published on
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& loc = batch[i];
    auto json = core::encode_location(*loc);
    auto p = cluster::partition_of(loc->courier_id, names.partitions());
    auto& g = group_for(p);
    add(g, {"SPUBLISH", names.channel(family::courier, p), json});
    if (cfg.write_last_known) {
      // Before the HSET: a sweep running in between cannot forget what the HSET writes.
      add(g, {"ZADD", names.seen(p), now_ms, loc->courier_id});
      add(g, {"HSET", names.courier_hash(p), loc->courier_id, json});
      if (std::abs(loc->latitude) <= 85.05112878) {  // Redis GEO's latitude range
        char lon[32], lat[32];
        std::snprintf(lon, sizeof lon, "%.6f", loc->longitude);
        std::snprintf(lat, sizeof lat, "%.6f", loc->latitude);
        add(g, {"GEOADD", names.geo(p), lon, lat, loc->courier_id});
      }
    }
    sent_to.clear();
    for (const auto& order : loc->orders) {
      auto q = cluster::partition_of(order, names.partitions());
      auto& og = group_for(q);
      // Once per partition: a gateway there gets the whole point (every order) anyway.
      if (std::find(sent_to.begin(), sent_to.end(), q) == sent_to.end()) {
        sent_to.push_back(q);
        add(og, {"SPUBLISH", names.channel(family::order, q), json});
      }
      if (auto it = newest.find(order); it != newest.end() && it->second == i) {
        it->second = std::string_view::npos;
        add(og, {"SET", names.order_key(q, order), json, "EX", ttl});
      }
    }
  }
  if (groups.empty()) return done({});
  net::post(impl_->ioc, [i = impl_, groups = std::move(groups), done = std::move(done)]() mutable {
    auto st = std::make_shared<impl::publish_state>(
        impl::publish_state{groups.size(), false, std::move(done)});
    for (auto& g : groups) i->send_new(st, g, 0);
  });
}

}  // namespace peyk::broker
