#include "broker/redis_cluster_impl.hpp"

namespace peyk::broker {

using impl = redis_cluster_broker::impl;

namespace {

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381" -> the address; empty otherwise.
std::string redirect_target(std::string_view error, std::string_view kind) {
  if (error.substr(0, kind.size()) != kind) return {};
  auto sp = error.rfind(' ');
  if (sp == std::string_view::npos) return {};
  return std::string(error.substr(sp + 1));
}

}  // namespace

// A group's first send. Before the first slot map is read, or while its master's first
// connection is being set up (at start, or a master new after a failover), it waits for
// it (up to 1 s) rather than fail: that master is not down, only not reached yet. Failing
// there made a publish issued right after start() fail (issue #12, finding 8). A master
// whose connection failed is still answered at once (ingest: 503).
void impl::send_new(std::shared_ptr<publish_state> st, std::shared_ptr<group> g, int waited) {
  node* to = owner[g->p];  // read again at each step: the map may change meanwhile
  bool not_yet = to ? to->cmd->connecting() : !map_read;
  if (!not_yet || waited >= setup_wait_steps) return send_group(st, g, to, false, 0);
  auto t = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(10));
  t->async_wait([self = shared_from_this(), t, st, g, waited](boost::system::error_code) {
    self->send_new(st, g, waited + 1);
  });
}

void impl::send_group(std::shared_ptr<publish_state> st, std::shared_ptr<group> g, node* to,
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

void impl::send_when_up(std::shared_ptr<publish_state> st, std::shared_ptr<group> g, node* n,
                        bool asking, int hops, int waited) {
  if (n->cmd->up() || waited >= 20) return send_group(st, g, n, asking, hops);
  auto t = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(10));
  std::string addr = n->addr;
  t->async_wait(
      [self = shared_from_this(), t, st, g, addr, asking, hops, waited](boost::system::error_code) {
        auto it = self->nodes.find(addr);
        if (it == self->nodes.end()) return self->finish(st, false);
        self->send_when_up(st, g, it->second.get(), asking, hops, waited + 1);
      });
}

void impl::finish(const std::shared_ptr<publish_state>& st, bool ok) {
  if (!ok) st->failed = true;
  if (--st->remaining == 0) {
    st->done(st->failed ? make_error_code(boost::system::errc::io_error)
                        : boost::system::error_code{});
  }
}

}  // namespace peyk::broker
