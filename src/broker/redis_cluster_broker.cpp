#include "broker/redis_cluster_broker.hpp"

#include <cmath>
#include <map>
#include <set>
#include <stdexcept>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker/channel_message.hpp"
#include "broker/cluster_slots.hpp"
#include "broker/redis_link.hpp"
#include "core/codec.hpp"
#include "core/log.hpp"

namespace peyk::broker {

namespace net = boost::asio;
using clock = std::chrono::steady_clock;
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

namespace {

std::string addr_of(const std::string& host, unsigned short port) {
  return host + ":" + std::to_string(port);
}

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381" -> the address; empty otherwise.
std::string redirect_target(std::string_view error, std::string_view kind) {
  if (error.substr(0, kind.size()) != kind) return {};
  auto sp = error.rfind(' ');
  if (sp == std::string_view::npos) return {};
  return std::string(error.substr(sp + 1));
}

}  // namespace

struct redis_cluster_broker::impl : std::enable_shared_from_this<impl> {
  struct node {
    std::string addr;
    std::shared_ptr<redis_link> cmd, sub;
  };
  // One sharded channel: family f, partition p.
  struct channel {
    family f;
    std::size_t p;
    std::string name;
    bool wanted = false;
    node* on = nullptr;  // where SSUBSCRIBE was sent
    bool confirmed = false;
    bool warmed = false;
    bool warming = false;
    clock::time_point unwanted_since{};
  };
  // The commands of one partition in one publish: they go to one master together.
  struct group {
    std::size_t p;
    std::string bytes;                // the commands, back to back
    std::vector<std::uint32_t> ends;  // where each one ends (ASK resends them one by one)
  };
  struct publish_state {
    std::size_t remaining;
    bool failed = false;
    publish_handler done;
  };

  impl(cluster_config c, core::metrics& m)
      : cfg(std::move(c)), metrics(m), names(cfg.channel, cfg.partitions), ticker(ioc) {
    for (auto f : {family::courier, family::order}) {
      for (std::size_t p = 0; p < names.partitions(); ++p) {
        channels.push_back({f, p, names.channel(f, p)});
      }
    }
    for (std::size_t i = 0; i < channels.size(); ++i) by_name[channels[i].name] = i;
    owner.assign(names.partitions(), nullptr);
    hold.assign(names.partitions(), 0);
    order_need.assign(names.partitions(), 0);
  }

  cluster_config cfg;
  core::metrics& metrics;
  cluster::naming names;
  net::io_context ioc{1};
  net::steady_timer ticker;
  std::vector<message_handler> handlers;

  std::map<std::string, std::unique_ptr<node>> nodes;  // masters (and ASK targets)
  std::vector<node*> owner;                            // per partition
  std::vector<char> hold;         // per partition: subscribe only after the next slot map read
  std::vector<channel> channels;  // c partitions, then o partitions
  struct name_hash : std::hash<std::string_view> {
    using is_transparent = void;
  };
  // channel name -> index in channels; looked up by string_view for every message
  std::unordered_map<std::string, std::size_t, name_hash, std::equal_to<>> by_name;
  bool topology_ok = false;
  bool refreshing = false;
  bool refresh_needed = true;
  clock::time_point last_refresh{};
  std::shared_ptr<redis_link> probe;  // to a seed, while no master is reachable
  std::size_t next_seed = 0;
  clock::time_point probe_since{};
  std::size_t next_query = 0;

  int all_need = 0;
  std::unordered_map<std::string, int> order_count;
  std::vector<int> order_need;  // per partition: orders with a viewer

  std::atomic<bool> ready{false};
  std::atomic<bool> publishable{false};  // a slot map and a master to write to (ingest)
  core::log_limiter invalid_log{5};
  core::log_limiter refresh_log{1};
  static constexpr int max_warm_keys = 1'000'000;

  channel& chan(family f, std::size_t p) {
    return channels[(f == family::courier ? 0 : names.partitions()) + p];
  }

  // ---- delivery

  // `from`: the channel it came on (null: a courier partition's hash, read back).
  void deliver(std::string_view payload, const channel* from) {
    auto loc = decode_channel_message(payload, from ? std::string_view(from->name) : cfg.channel,
                                      metrics, invalid_log);
    if (!loc) return;
    // An order partition repeats what the courier's partition carries: skip it when that
    // one is subscribed here.
    if (from && from->f == family::order &&
        chan(family::courier, cluster::partition_of(loc->courier_id, names.partitions()))
            .confirmed) {
      return;
    }
    for (auto& h : handlers) h(loc);
  }

  static void forget(channel& c) {
    c.on = nullptr;
    c.confirmed = c.warmed = false;
  }

  // Subscriptions on `n` are gone (its connection, or the node itself).
  void forget_all_on(node* n) {
    for (auto& c : channels) {
      if (c.on == n) forget(c);
    }
  }

  // ---- nodes and topology

  node* ensure_node(const std::string& host, unsigned short port) {
    auto a = addr_of(host, port);
    auto& slot = nodes[a];
    if (slot) return slot.get();
    slot = std::make_unique<node>();
    auto* n = slot.get();
    n->addr = a;
    link_target t{host, port, cfg.password, 0, cfg.max_backoff};
    n->cmd = std::make_shared<redis_link>(ioc, t, metrics, "command " + a);
    n->cmd->on_up = [this] {
      update_ready();
      reconcile();
    };
    n->cmd->on_down = [this] {
      refresh_needed = true;
      update_ready();
    };
    n->cmd->start();
    if (cfg.subscribe) {
      n->sub = std::make_shared<redis_link>(ioc, t, metrics, "subscriber " + a);
      n->sub->on_up = [this] { reconcile(); };
      n->sub->on_down = [this, n] { sub_lost(n); };
      n->sub->on_push = [this, n](redisReply* r) { return on_push(n, r); };
      n->sub->start();
    }
    return n;
  }

  void drop_node(node* n) {
    forget_all_on(n);
    for (auto& o : owner) {
      if (o == n) o = nullptr;
    }
    n->cmd->stop();
    if (n->sub) n->sub->stop();
    core::log(core::log_level::info, "redis cluster: " + n->addr + " is no longer a master");
    nodes.erase(n->addr);
  }

  void refresh() {
    if (refreshing) return;
    // Ask a master we are connected to, in turn; with none, a seed.
    std::vector<redis_link*> up;
    for (auto& [a, n] : nodes) {
      if (n->cmd->up()) up.push_back(n->cmd.get());
    }
    redis_link* via = nullptr;
    if (!up.empty()) {
      via = up[next_query++ % up.size()];
    } else {
      if (probe && !probe->up() && clock::now() - probe_since > std::chrono::seconds(1)) {
        probe->stop();
        probe.reset();
      }
      if (!probe) {
        auto& [host, port] = cfg.seeds[next_seed++ % cfg.seeds.size()];
        probe = std::make_shared<redis_link>(
            ioc, link_target{host, port, cfg.password, 0, cfg.max_backoff}, metrics,
            "seed " + addr_of(host, port));
        probe->on_up = [this] { refresh(); };
        probe_since = clock::now();
        probe->start();
      }
      if (!probe->up()) return;
      via = probe.get();
    }
    refreshing = true;
    refresh_needed = false;
    last_refresh = clock::now();
    metrics.cluster_refreshes.inc();
    std::string c;
    append_command(c, {"CLUSTER", "SLOTS"});
    auto via_host = via->target().host;
    via->command(
        c, 1,
        [self = shared_from_this(), via_host](bool ok, redisReply* r, std::string_view error) {
          self->refreshing = false;
          if (!ok || !r || r->type != REDIS_REPLY_ARRAY) {
            self->refresh_needed = true;
            if (!error.empty()) {
              core::log(core::log_level::warn, "redis cluster: CLUSTER SLOTS failed: " +
                                                   std::string(error.substr(0, 200)));
            }
            return;
          }
          self->apply_slots(r, via_host);
        });
  }

  void apply_slots(redisReply* r, const std::string& via_host) {
    struct range {
      int lo, hi;
      std::string host;
      unsigned short port;
    };
    std::vector<range> ranges;
    for (std::size_t i = 0; i < r->elements; ++i) {
      auto* e = r->element[i];
      if (e->type != REDIS_REPLY_ARRAY || e->elements < 3) continue;
      auto* m = e->element[2];
      if (e->element[0]->type != REDIS_REPLY_INTEGER ||
          e->element[1]->type != REDIS_REPLY_INTEGER || m->type != REDIS_REPLY_ARRAY ||
          m->elements < 2 || m->element[1]->type != REDIS_REPLY_INTEGER) {
        continue;
      }
      std::string host(reply_text(m->element[0]));
      if (host.empty() || host == "?") host = via_host;  // the node does not know its address
      ranges.push_back({static_cast<int>(e->element[0]->integer),
                        static_cast<int>(e->element[1]->integer), host,
                        static_cast<unsigned short>(m->element[1]->integer)});
    }
    std::vector<node*> next(names.partitions(), nullptr);
    std::set<std::string> masters;
    bool complete = true;
    for (std::size_t p = 0; p < names.partitions(); ++p) {
      int s = names.slot(p);
      for (auto& rg : ranges) {
        if (s >= rg.lo && s <= rg.hi) {
          next[p] = ensure_node(rg.host, rg.port);
          break;
        }
      }
      if (!next[p]) complete = false;
    }
    for (auto& rg : ranges) masters.insert(addr_of(rg.host, rg.port));
    bool changed = next != owner;
    owner = next;
    hold.assign(names.partitions(), 0);
    std::vector<node*> gone;
    for (auto& [a, n] : nodes) {
      if (!masters.count(a)) gone.push_back(n.get());
    }
    for (auto* n : gone) drop_node(n);
    if (probe) {
      probe->stop();
      probe.reset();
    }
    if (complete != topology_ok || changed) {
      core::log(complete ? core::log_level::info : core::log_level::warn,
                "redis cluster: " + std::to_string(masters.size()) + " masters" +
                    (complete ? "" : ", some partitions have no master") + "; " +
                    std::to_string(names.partitions()) + " partitions per family");
    }
    topology_ok = complete;
    if (!complete) refresh_needed = true;
    metrics.cluster_nodes.set(static_cast<std::int64_t>(masters.size()));
    reconcile();
    update_ready();
  }

  // ---- subscriptions

  void set_wanted() {
    bool all = cfg.subscribe && all_need > 0;
    auto now = clock::now();
    for (auto& c : channels) {
      bool w = cfg.subscribe && (c.f == family::courier ? all : (!all && order_need[c.p] > 0));
      if (c.wanted && !w) c.unwanted_since = now;
      c.wanted = w;
    }
    reconcile();
  }

  void reconcile() {
    if (!cfg.subscribe) return;
    auto now = clock::now();
    std::int64_t subscribed = 0;
    for (auto& c : channels) {
      node* o = owner[c.p];
      if (c.wanted || (c.on && now - c.unwanted_since < cfg.linger)) {
        if (c.on && c.on != o) unsubscribe(c);
        if (!c.on && o && o->sub->up() && !hold[c.p]) {
          std::string cmd;
          append_command(cmd, {"SSUBSCRIBE", c.name});
          o->sub->send_only(cmd);
          forget(c);
          c.on = o;
        }
      } else if (c.on) {
        unsubscribe(c);
      }
      if (c.confirmed) ++subscribed;
      if (c.confirmed && !c.warmed) warm(c);
    }
    metrics.cluster_partitions_subscribed.set(subscribed);
    update_ready();
  }

  void unsubscribe(channel& c) {
    if (c.on && c.on->sub->up()) {
      std::string cmd;
      append_command(cmd, {"SUNSUBSCRIBE", c.name});
      c.on->sub->send_only(cmd);
    }
    forget(c);
  }

  void sub_lost(node* n) {
    forget_all_on(n);
    refresh_needed = true;
    update_ready();
  }

  bool on_push(node* n, redisReply* r) {
    if (r->type == REDIS_REPLY_ERROR && !n->sub->awaiting_replies()) {
      // A refused SSUBSCRIBE (MOVED: the slot is not, or no longer, here). Errors carry no
      // channel name: every subscription still unconfirmed on this node is sent again,
      // once the slot map has been read again.
      if (refresh_log.allow()) {
        core::log(core::log_level::warn, "redis cluster: " + n->addr + " refused a subscription (" +
                                             std::string(reply_text(r).substr(0, 200)) + ")");
      }
      for (auto& c : channels) {
        if (c.on == n && !c.confirmed) {
          forget(c);
          hold[c.p] = 1;
        }
      }
      refresh_needed = true;
      return true;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return false;
    auto kind = reply_text(r->element[0]);
    auto it = by_name.find(reply_text(r->element[1]));
    channel* c = it == by_name.end() ? nullptr : &channels[it->second];
    if (kind == "smessage") {
      if (c) deliver(reply_text(r->element[2]), c);
      return true;
    }
    if (kind == "ssubscribe") {
      if (c && c->on == n) {
        c->confirmed = true;
        warm(*c);
        reconcile();
      }
      return true;
    }
    if (kind == "sunsubscribe") {
      // Unrequested (the slot moved away from this node, e.g. after a failover): find
      // the new owner.
      if (c && c->on == n) {
        forget(*c);
        hold[c->p] = 1;  // not here again before the slot map says where
        refresh_needed = true;
        update_ready();
      }
      return true;
    }
    return false;
  }

  // Reads a partition's last-known locations, so what was published while it was not
  // subscribed here still reaches viewers (newest location per courier): the courier
  // hash of a c partition; the order keys of an o partition, found with GETKEYSINSLOT
  // (they share the partition's slot) and read with one MGET.
  void warm(channel& c) {
    if (c.warmed || c.warming || !c.on || !c.on->cmd->up()) return;
    c.warming = true;
    std::string cmd;
    if (c.f == family::courier) {
      append_command(cmd, {"HGETALL", names.courier_hash(c.p)});
    } else {
      append_command(cmd, {"CLUSTER", "GETKEYSINSLOT", std::to_string(names.slot(c.p)),
                           std::to_string(max_warm_keys)});
    }
    std::size_t idx = static_cast<std::size_t>(&c - channels.data());
    c.on->cmd->command(
        cmd, 1,
        [self = shared_from_this(), idx, on = c.on](bool ok, redisReply* r, std::string_view) {
          auto& ch = self->channels[idx];
          if (!self->still_warming(ch, on, ok, r)) return;
          if (ch.f == family::courier) {
            for (std::size_t i = 1; i < r->elements; i += 2)
              self->deliver(reply_text(r->element[i]), nullptr);
            return self->warm_done(ch);
          }
          auto prefix = self->names.order_key_prefix(ch.p);
          std::vector<std::string_view> args{"MGET"};
          for (std::size_t i = 0; i < r->elements; ++i) {
            auto k = reply_text(r->element[i]);
            if (k.substr(0, prefix.size()) == prefix) args.push_back(k);
          }
          if (args.size() == 1) return self->warm_done(ch);
          std::string mget;
          append_command(mget, args);
          ch.warming = true;
          on->cmd->command(mget, 1, [self, idx, on](bool ok2, redisReply* r2, std::string_view) {
            auto& ch2 = self->channels[idx];
            if (!self->still_warming(ch2, on, ok2, r2)) return;
            for (std::size_t i = 0; i < r2->elements; ++i) {
              if (r2->element[i]->type == REDIS_REPLY_STRING) {
                self->deliver(reply_text(r2->element[i]), &ch2);
              }
            }
            self->warm_done(ch2);
          });
        });
  }

  // A warm-up reply still matters: the channel did not move meanwhile (it is warmed again
  // where it went) and the reply is an array (else it is retried on the next tick).
  bool still_warming(channel& ch, node* on, bool ok, redisReply* r) {
    ch.warming = false;
    return ch.on == on && ch.confirmed && ok && r && r->type == REDIS_REPLY_ARRAY;
  }

  void warm_done(channel& ch) {
    ch.warmed = true;
    update_ready();
  }

  void update_ready() {
    bool ok = topology_ok;
    bool any_up = false;
    for (auto& [a, n] : nodes) any_up = any_up || n->cmd->up();
    publishable = topology_ok && any_up;
    if (ok && !cfg.subscribe) {
      ok = false;
      for (auto& [a, n] : nodes) ok = ok || n->cmd->up();
    }
    if (ok && cfg.subscribe) {
      // Every partition needed here is subscribed and read, unless its master is
      // unreachable: then no gateway can do better, and this one still serves the rest.
      for (auto& c : channels) {
        if (!c.wanted) continue;
        node* o = owner[c.p];
        if (o && o->sub->up() && o->cmd->up() && !(c.confirmed && c.warmed)) {
          ok = false;
          break;
        }
      }
    }
    ready = ok;
    metrics.broker_connected.set(ok ? 1 : 0);
  }

  // ---- publishing

  void send_group(std::shared_ptr<publish_state> st, std::shared_ptr<group> g, node* to,
                  bool asking, int hops) {
    if (!to || !to->cmd->up()) return finish(st, false);
    std::string asked;  // each command after an ASKING, during a slot migration
    if (asking) {
      std::size_t begin = 0;
      for (auto end : g->ends) {
        append_command(asked, {"ASKING"});
        asked.append(g->bytes, begin, end - begin);
        begin = end;
      }
    }
    const std::string& bytes = asking ? asked : g->bytes;
    std::size_t replies = g->ends.size() * (asking ? 2 : 1);
    to->cmd->command(
        bytes, replies,
        [self = shared_from_this(), st, g, hops](bool ok, redisReply* r, std::string_view error) {
          if (ok) return self->finish(st, true);
          if (!r) {
            self->refresh_needed = true;  // the connection failed: maybe a failover
            return self->finish(st, false);
          }
          std::string err(error);
          auto moved = redirect_target(err, "MOVED ");
          auto ask = redirect_target(err, "ASK ");
          if ((moved.empty() && ask.empty()) || hops >= 3) return self->finish(st, false);
          self->metrics.cluster_redirects.inc();
          auto& target = moved.empty() ? ask : moved;
          auto colon = target.rfind(':');
          if (colon == std::string::npos) return self->finish(st, false);
          node* n = nullptr;
          try {
            n = self->ensure_node(target.substr(0, colon),
                                  static_cast<unsigned short>(std::stoi(target.substr(colon + 1))));
          } catch (...) {
            return self->finish(st, false);
          }
          if (!moved.empty()) {
            self->owner[g->p] = n;
            self->refresh_needed = true;
          }
          // A fresh connection is not up yet: wait for it briefly rather than fail.
          self->send_when_up(st, g, n, moved.empty(), hops + 1, 0);
        });
  }

  void send_when_up(std::shared_ptr<publish_state> st, std::shared_ptr<group> g, node* n,
                    bool asking, int hops, int waited) {
    if (n->cmd->up() || waited >= 20) return send_group(st, g, n, asking, hops);
    auto t = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(10));
    std::string addr = n->addr;
    t->async_wait([self = shared_from_this(), t, st, g, addr, asking, hops,
                   waited](boost::system::error_code) {
      auto it = self->nodes.find(addr);
      if (it == self->nodes.end()) return self->finish(st, false);
      self->send_when_up(st, g, it->second.get(), asking, hops, waited + 1);
    });
  }

  void finish(const std::shared_ptr<publish_state>& st, bool ok) {
    if (!ok) st->failed = true;
    if (--st->remaining == 0) {
      st->done(st->failed ? make_error_code(boost::system::errc::io_error)
                          : boost::system::error_code{});
    }
  }

  void tick() {
    auto now = clock::now();
    bool degraded = !topology_ok;
    for (auto& [a, n] : nodes) {
      n->cmd->check(now);
      if (n->sub) n->sub->check(now);
      degraded = degraded || !n->cmd->up() || (n->sub && !n->sub->up());
    }
    auto since = now - last_refresh;
    if ((refresh_needed && since > std::chrono::milliseconds(200)) ||
        (degraded && since > std::chrono::milliseconds(500)) || since > std::chrono::seconds(10)) {
      refresh();
    }
    reconcile();
    ticker.expires_after(std::chrono::milliseconds(100));
    ticker.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->tick();
    });
  }

  void stop_all() {
    for (auto& [a, n] : nodes) {
      n->cmd->stop();
      if (n->sub) n->sub->stop();
    }
    if (probe) probe->stop();
    ticker.cancel();
    ioc.stop();
  }
};

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
  for (const auto& loc : batch) {
    auto json = core::encode_location(*loc);
    auto p = cluster::partition_of(loc->courier_id, names.partitions());
    auto& g = group_for(p);
    add(g, {"SPUBLISH", names.channel(family::courier, p), json});
    if (cfg.write_last_known) {
      add(g, {"HSET", names.courier_hash(p), loc->courier_id, json});
      if (std::abs(loc->latitude) <= 85.05112878) {  // Redis GEO's latitude range
        char lon[32], lat[32];
        std::snprintf(lon, sizeof lon, "%.6f", loc->longitude);
        std::snprintf(lat, sizeof lat, "%.6f", loc->latitude);
        add(g, {"GEOADD", names.geo(p), lon, lat, loc->courier_id});
      }
    }
    for (const auto& order : loc->orders) {
      auto q = cluster::partition_of(order, names.partitions());
      auto& og = group_for(q);
      add(og, {"SPUBLISH", names.channel(family::order, q), json});
      if (cfg.write_last_known) add(og, {"SET", names.order_key(q, order), json, "EX", ttl});
    }
  }
  if (groups.empty()) return done({});
  net::post(impl_->ioc, [i = impl_, groups = std::move(groups), done = std::move(done)]() mutable {
    auto st = std::make_shared<impl::publish_state>(
        impl::publish_state{groups.size(), false, std::move(done)});
    for (auto& g : groups) i->send_group(st, g, i->owner[g->p], false, 0);
  });
}

}  // namespace peyk::broker
