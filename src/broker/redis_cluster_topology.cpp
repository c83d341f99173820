#include "broker/redis_cluster_impl.hpp"

#include <set>

namespace peyk::broker {

using impl = redis_cluster_broker::impl;

namespace {

std::string addr_of(const std::string& host, unsigned short port) {
  return host + ":" + std::to_string(port);
}

}  // namespace

impl::node* impl::ensure_node(const std::string& host, unsigned short port) {
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
  if (listens()) {
    n->sub = std::make_shared<redis_link>(ioc, t, metrics, "subscriber " + a);
    n->sub->on_up = [this] { reconcile(); };
    n->sub->on_down = [this, n] { sub_lost(n); };
    n->sub->on_push = [this, n](redisReply* r) { return on_push(n, r); };
    n->sub->start();
  }
  return n;
}

void impl::drop_node(node* n) {
  forget_all_on(n);
  for (auto& o : owner) {
    if (o == n) o = nullptr;
  }
  n->cmd->stop();
  if (n->sub) n->sub->stop();
  core::log(core::log_level::info, "redis cluster: " + n->addr + " is no longer a master");
  nodes.erase(n->addr);
}

void impl::refresh() {
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
      c, 1, [self = shared_from_this(), via_host](bool ok, redisReply* r, std::string_view error) {
        self->refreshing = false;
        if (!ok || !r || r->type != REDIS_REPLY_ARRAY) {
          self->refresh_needed = true;
          if (!error.empty()) {
            core::log(core::log_level::warn,
                      "redis cluster: CLUSTER SLOTS failed: " + std::string(error.substr(0, 200)));
          }
          return;
        }
        self->apply_slots(r, via_host);
      });
}

void impl::apply_slots(redisReply* r, const std::string& via_host) {
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
    if (e->element[0]->type != REDIS_REPLY_INTEGER || e->element[1]->type != REDIS_REPLY_INTEGER ||
        m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
        m->element[1]->type != REDIS_REPLY_INTEGER) {
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
  map_read = true;
  if (!complete) refresh_needed = true;
  metrics.cluster_nodes.set(static_cast<std::int64_t>(masters.size()));
  reconcile();
  update_ready();
}

void impl::update_ready() {
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

void impl::tick() {
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

void impl::start_reaper() {
  if (cfg.courier_ttl.count() <= 0) return;
  std::vector<reaper_keys> keys;
  for (std::size_t p = 0; p < names.partitions(); ++p) {
    keys.push_back({names.seen(p), names.courier_hash(p), names.geo(p)});
  }
  reaper = std::make_shared<courier_reaper>(
      ioc, cfg.courier_ttl, std::move(keys),
      [this](std::size_t p, const std::string& cmd, redis_link::done_fn done) {
        node* o = owner[p];
        if (!o || !o->cmd->up()) return done(false, nullptr, {});
        o->cmd->command(cmd, 1, std::move(done));
      });
  reaper->start();
}

void impl::stop_all() {
  if (reaper) reaper->stop();
  for (auto& [a, n] : nodes) {
    n->cmd->stop();
    if (n->sub) n->sub->stop();
  }
  if (probe) probe->stop();
  ticker.cancel();
  ioc.stop();
}

}  // namespace peyk::broker
