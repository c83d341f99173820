#include "broker/redis_broker.hpp"

#include <cmath>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/url/parse.hpp>

#include "broker/channel_message.hpp"
#include "broker/courier_reaper.hpp"
#include "broker/redis_link.hpp"

#include "core/codec.hpp"
#include "core/log.hpp"

namespace peyk::broker {

namespace net = boost::asio;
using clock = std::chrono::steady_clock;

namespace {
link_target target(const redis_config& c) {
  return {c.host, c.port, c.password, c.db, c.max_backoff};
}
}  // namespace

redis_config parse_redis_url(const std::string& url) {
  auto u = boost::urls::parse_uri(url);
  if (!u || (u->scheme() != "redis")) {
    throw std::invalid_argument("--redis takes redis://[:password@]host[:port][/db], not " +
                                std::string(u ? u->scheme() : "a malformed URL"));
  }
  redis_config c;
  if (!u->has_authority() || u->host().empty()) throw std::invalid_argument("--redis: no host");
  c.host = u->host();
  if (c.host.size() > 2 && c.host.front() == '[') c.host = c.host.substr(1, c.host.size() - 2);
  if (u->has_port()) {
    if (u->port_number() == 0) throw std::invalid_argument("--redis: bad port");
    c.port = u->port_number();
  }
  if (u->has_password()) c.password = u->password();
  auto path = std::string(u->path());
  if (!path.empty() && path != "/") {
    try {
      c.db = std::stoi(path.substr(1));
    } catch (...) {
      throw std::invalid_argument("--redis: the path must be a database number");
    }
    if (c.db < 0) throw std::invalid_argument("--redis: bad database number");
  }
  return c;
}

struct redis_broker::impl : std::enable_shared_from_this<redis_broker::impl> {
  impl(redis_config c, core::metrics& m)
      : cfg(std::move(c)),
        metrics(m),
        cmd(std::make_shared<redis_link>(ioc, target(cfg), metrics, "command")),
        sub(std::make_shared<redis_link>(ioc, target(cfg), metrics, "subscriber")),
        ticker(ioc) {}

  redis_config cfg;
  core::metrics& metrics;
  net::io_context ioc{1};
  std::shared_ptr<redis_link> cmd, sub;
  net::steady_timer ticker;
  std::shared_ptr<courier_reaper> reaper;
  std::vector<message_handler> handlers;
  std::vector<control_handler> control;  // set before start: the subscriber link is needed
  std::string control_name = control_channel(cfg.channel);
  std::atomic<bool> cmd_up{false}, subscribed{false};
  std::atomic<bool> warmed{false};  // the first read of the last-known hash was applied
  bool warm_needed = false;
  core::log_limiter invalid_log{5};

  // The subscriber link carries the locations (a gateway) and/or the control channel.
  bool listens() const { return cfg.subscribe || !control.empty(); }

  // A gateway is ready only once its snapshot is complete: subscribed, and the hash read.
  bool connected() const {
    return cmd_up.load() && (!cfg.subscribe || (subscribed.load() && warmed.load()));
  }
  void update_gauge() { metrics.broker_connected.set(connected() ? 1 : 0); }

  void deliver(std::string_view payload) {
    if (auto p = decode_channel_message(payload, cfg.channel, metrics, invalid_log)) {
      for (auto& h : handlers) h(p);
    }
  }

  // Reads every courier's newest location from the hash ingest keeps, so that a gateway
  // that (re)starts or reconnects has a complete snapshot.
  void warm() {
    if (!warm_needed || !cmd->up() || !subscribed) return;
    warm_needed = false;
    std::string c;
    append_command(c, {"HGETALL", hash_key(cfg.channel)});
    cmd->command(c, 1, [self = shared_from_this()](bool ok, redisReply* r, std::string_view) {
      if (!ok || !r || r->type != REDIS_REPLY_ARRAY) {
        self->warm_needed = true;  // retried on the next tick
        return;
      }
      for (std::size_t i = 1; i < r->elements; i += 2) self->deliver(reply_text(r->element[i]));
      self->warmed = true;
      self->update_gauge();
    });
  }

  void wire() {
    cmd->on_up = [this] {
      cmd_up = true;
      update_gauge();
      warm();
    };
    cmd->on_down = [this] {
      cmd_up = false;
      update_gauge();
    };
    if (!listens()) return;
    sub->on_up = [this] {
      std::string c;
      if (cfg.subscribe) append_command(c, {"SUBSCRIBE", cfg.channel});
      if (!control.empty()) append_command(c, {"SUBSCRIBE", control_name});
      sub->send_only(c);  // confirmed by a "subscribe" push
    };
    sub->on_down = [this] {
      subscribed = false;
      update_gauge();
    };
    sub->on_push = [this](redisReply* r) {
      if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) return false;
      auto kind = reply_text(r->element[0]);
      bool ctl = reply_text(r->element[1]) == control_name;
      if (kind == "message") {
        if (!ctl) {
          deliver(reply_text(r->element[2]));
        } else {
          for (auto& h : control) h(reply_text(r->element[2]));
        }
        return true;
      }
      if (kind == "subscribe" && ctl) return true;
      if (kind == "subscribe") {
        subscribed = true;
        warm_needed = true;
        update_gauge();
        warm();
        return true;
      }
      return false;
    };
  }

  void tick() {
    auto now = clock::now();
    cmd->check(now);
    if (listens()) sub->check(now);
    warm();
    ticker.expires_after(std::chrono::milliseconds(250));
    ticker.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->tick();
    });
  }
};

redis_broker::redis_broker(redis_config cfg, core::metrics& metrics)
    : impl_(std::make_shared<impl>(std::move(cfg), metrics)) {}

redis_broker::~redis_broker() {
  stop();
}

void redis_broker::subscribe(message_handler handler) {
  impl_->handlers.push_back(std::move(handler));
}

void redis_broker::start() {
  impl_->wire();
  impl_->cmd->start();
  if (impl_->listens()) impl_->sub->start();
  impl_->tick();
  if (auto ttl = impl_->cfg.courier_ttl; ttl.count() > 0) {
    const auto& ch = impl_->cfg.channel;
    impl_->reaper = std::make_shared<courier_reaper>(
        impl_->ioc, ttl, std::vector<reaper_keys>{{seen_key(ch), hash_key(ch), geo_key(ch)}},
        [i = impl_.get()](std::size_t, const std::string& cmd, redis_link::done_fn done) {
          i->cmd->command(cmd, 1, std::move(done));
        });
    impl_->reaper->start();
  }
  thread_ = std::thread([i = impl_] { i->ioc.run(); });
}

void redis_broker::stop() {
  if (!thread_.joinable()) return;
  net::post(impl_->ioc, [i = impl_] {
    if (i->reaper) i->reaper->stop();
    i->cmd->stop();
    i->sub->stop();
    i->ticker.cancel();
    i->ioc.stop();
  });
  thread_.join();
}

bool redis_broker::ready() const {
  return impl_->connected();
}

bool redis_broker::can_publish() const {
  return impl_->cmd_up.load();  // what publish() needs
}

void redis_broker::subscribe_control(control_handler handler) {
  impl_->control.push_back(std::move(handler));
}

void redis_broker::publish_control(std::string payload) {
  if (!impl_->cmd_up.load()) return;  // best effort: the next refresh repeats it
  std::string c;
  append_command(c, {"PUBLISH", impl_->control_name, payload});
  net::post(impl_->ioc, [i = impl_, c = std::move(c)] {
    i->cmd->command(c, 1, [](bool, redisReply*, std::string_view) {});
  });
}

void redis_broker::publish(std::span<const location_ptr> batch, publish_handler done) {
  if (!impl_->cmd_up.load()) return done(make_error_code(boost::system::errc::not_connected));
  // Formatting happens on the caller's thread; the broker thread only appends bytes.
  std::string cmds;
  cmds.reserve(batch.size() * 400);
  std::size_t replies = 0;
  const auto& cfg = impl_->cfg;
  auto hash = hash_key(cfg.channel), geo = geo_key(cfg.channel), seen = seen_key(cfg.channel);
  auto now_ms = std::to_string(seen_now_ms());
  for (const auto& loc : batch) {
    auto json = core::encode_location(*loc);
    append_command(cmds, {"PUBLISH", cfg.channel, json});
    ++replies;
    if (cfg.write_last_known) {
      // Before the HSET: a sweep running in between cannot forget what the HSET writes.
      append_command(cmds, {"ZADD", seen, now_ms, loc->courier_id});
      ++replies;
      append_command(cmds, {"HSET", hash, loc->courier_id, json});
      ++replies;
      // Redis GEO covers latitudes within +-85.05112878 only.
      if (std::abs(loc->latitude) <= 85.05112878) {
        char lon[32], lat[32];
        std::snprintf(lon, sizeof lon, "%.6f", loc->longitude);
        std::snprintf(lat, sizeof lat, "%.6f", loc->latitude);
        append_command(cmds, {"GEOADD", geo, lon, lat, loc->courier_id});
        ++replies;
      }
    }
  }
  net::post(impl_->ioc, [i = impl_, cmds = std::move(cmds), replies,
                         done = std::move(done)]() mutable {
    i->cmd->command(
        cmds, replies, [done = std::move(done)](bool ok, redisReply*, std::string_view) {
          done(ok ? boost::system::error_code{} : make_error_code(boost::system::errc::io_error));
        });
  });
}

}  // namespace peyk::broker
