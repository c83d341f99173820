#include "broker/redis_cluster_impl.hpp"

#include "broker/channel_message.hpp"

namespace peyk::broker {

using impl = redis_cluster_broker::impl;

// `from`: the channel it came on (null: a courier partition's hash, read back).
void impl::deliver(std::string_view payload, const channel* from) {
  auto loc = decode_channel_message(payload, from ? std::string_view(from->name) : cfg.channel,
                                    metrics, invalid_log);
  if (!loc) return;
  // An order partition repeats what the courier's partition carries: skip it when that
  // one is subscribed here.
  if (from && from->f == family::order &&
      chan(family::courier, cluster::partition_of(loc->courier_id, names.partitions())).confirmed) {
    return;
  }
  for (auto& h : handlers) h(loc);
}

void impl::forget(channel& c) {
  c.on = nullptr;
  c.confirmed = c.warmed = false;
}

// Subscriptions on `n` are gone (its connection, or the node itself).
void impl::forget_all_on(node* n) {
  for (auto& c : channels) {
    if (c.on == n) forget(c);
  }
  if (control_on == n) {
    control_on = nullptr;
    control_confirmed = false;
  }
}

// The control channel follows partition 0's master, like that partition's channels.
void impl::reconcile_control() {
  if (control.empty()) return;
  node* o = owner[0];
  if (control_on && control_on != o) {
    if (control_on->sub->up()) {
      std::string cmd;
      append_command(cmd, {"SUNSUBSCRIBE", control_name});
      control_on->sub->send_only(cmd);
    }
    control_on = nullptr;
    control_confirmed = false;
  }
  if (!control_on && o && o->sub && o->sub->up() && !hold[0]) {
    std::string cmd;
    append_command(cmd, {"SSUBSCRIBE", control_name});
    o->sub->send_only(cmd);
    control_on = o;
    control_confirmed = false;
  }
}

void impl::set_wanted() {
  bool all = cfg.subscribe && all_need > 0;
  auto now = clock::now();
  for (auto& c : channels) {
    bool w = cfg.subscribe && (c.f == family::courier ? all : (!all && order_need[c.p] > 0));
    if (c.wanted && !w) c.unwanted_since = now;
    c.wanted = w;
  }
  reconcile();
}

void impl::reconcile() {
  reconcile_control();
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

void impl::unsubscribe(channel& c) {
  if (c.on && c.on->sub->up()) {
    std::string cmd;
    append_command(cmd, {"SUNSUBSCRIBE", c.name});
    c.on->sub->send_only(cmd);
  }
  forget(c);
}

void impl::sub_lost(node* n) {
  forget_all_on(n);
  refresh_needed = true;
  update_ready();
}

bool impl::on_push(node* n, redisReply* r) {
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
    if (control_on == n && !control_confirmed) {
      control_on = nullptr;
      hold[0] = 1;
    }
    refresh_needed = true;
    return true;
  }
  if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return false;
  auto kind = reply_text(r->element[0]);
  if (reply_text(r->element[1]) == control_name) {
    if (kind == "smessage") {
      for (auto& h : control) h(reply_text(r->element[2]));
    } else if (kind == "ssubscribe" && control_on == n) {
      control_confirmed = true;
    } else if (kind == "sunsubscribe" && control_on == n) {
      control_on = nullptr;  // the slot moved: subscribed again where the map says
      control_confirmed = false;
      hold[0] = 1;
      refresh_needed = true;
    }
    return true;
  }
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
void impl::warm(channel& c) {
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
bool impl::still_warming(channel& ch, node* on, bool ok, redisReply* r) {
  ch.warming = false;
  return ch.on == on && ch.confirmed && ok && r && r->type == REDIS_REPLY_ARRAY;
}

void impl::warm_done(channel& ch) {
  ch.warmed = true;
  update_ready();
}

}  // namespace peyk::broker
