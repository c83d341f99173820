#include "gateway/gateway.hpp"

#include <malloc.h>

#include <utility>

#include <boost/asio/post.hpp>

#include "core/clock.hpp"
#include "gateway/ws_session.hpp"

namespace peyk::gateway {

namespace net = boost::asio;

namespace {
constexpr auto sweep_period = std::chrono::milliseconds(250);
}

shard::shard(net::io_context& ioc, const options& opts, store::last_known& store,
             core::metrics& metrics)
    : ioc_(ioc),
      opts_(opts),
      store_(store),
      metrics_(metrics),
      hub_(opts.feed_retain_bytes),
      sweep_timer_(ioc) {}

void shard::post(update_ptr u) {
  {
    std::lock_guard lock(inbox_mu_);
    inbox_.push_back(std::move(u));
    if (scheduled_) return;
    scheduled_ = true;
  }
  net::post(ioc_, [this] { drain(); });
}

void shard::drain() {
  {
    std::lock_guard lock(inbox_mu_);
    batch_.swap(inbox_);
    scheduled_ = false;
  }
  if (batch_.size() > 1) conflate();
  if (!stopped_) hub_.dispatch(batch_);
  batch_.clear();
}

// Keeps the newest update of each courier, at the position of its first arrival.
void shard::conflate() {
  newest_.clear();
  for (std::size_t i = 0; i < batch_.size(); ++i) {
    auto [it, fresh] = newest_.try_emplace(batch_[i]->loc->courier_id, i);
    if (fresh) continue;
    // The map's key views the older update's id: keep that update alive until the end.
    superseded_.push_back(std::exchange(batch_[it->second], std::move(batch_[i])));
  }
  newest_.clear();
  if (superseded_.empty()) return;
  metrics_.conflated.inc(superseded_.size());
  superseded_.clear();
  std::erase(batch_, nullptr);
}

void shard::start() {
  sweep();
}

void shard::sweep() {
  if (stopped_) return;
  auto now = ws_session::clock::now();
  auto now_s = core::now_s();
  hub_.for_each([&](viewer& v) { static_cast<ws_session&>(v).check(now, now_s); });
  sweep_timer_.expires_after(sweep_period);
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) sweep();
  });
}

void shard::close_all(std::uint16_t code) {
  hub_.for_each([&](viewer& v) {
    auto& s = static_cast<ws_session&>(v);
    if (code == 1001 && s.drainable()) metrics_.dropped_drain.inc();
    s.close(code);
  });
}

void shard::drain_step(std::size_t steps_left) {
  if (stopped_) return;
  if (steps_left <= 1) return close_all(1001);
  std::size_t open = 0;
  hub_.for_each([&](viewer& v) { open += static_cast<ws_session&>(v).drainable() ? 1 : 0; });
  // Each step owes open / steps_left viewers; the fraction carries over, so 3 viewers over
  // 50 steps close at steps ~17, ~34 and 50 rather than all at the first.
  drain_share_ += static_cast<double>(open) / static_cast<double>(steps_left);
  auto n = static_cast<std::size_t>(drain_share_);
  drain_share_ -= static_cast<double>(n);
  if (n == 0) return;
  hub_.for_each([&](viewer& v) {
    auto& s = static_cast<ws_session&>(v);
    if (n == 0 || !s.drainable()) return;
    --n;
    metrics_.dropped_drain.inc();
    s.close(1001);
  });
}

bool shard::acquire_snapshot(const std::shared_ptr<ws_session>& s) {
  if (snapshots_active_ < opts_.snapshot_concurrency) {
    ++snapshots_active_;
    return true;
  }
  snapshots_waiting_.push_back(s);
  return false;
}

void shard::release_snapshot() {
  --snapshots_active_;
  while (!snapshots_waiting_.empty()) {
    auto next = snapshots_waiting_.front().lock();
    snapshots_waiting_.pop_front();
    if (!next) continue;  // left while it waited
    ++snapshots_active_;
    // Not inline: this runs inside another session's write completion.
    net::post(ioc_, [next] { next->start_snapshot(); });
    return;
  }
}

void shard::stop() {
  stopped_ = true;
  sweep_timer_.cancel();
  hub_.for_each([&](viewer& v) { static_cast<ws_session&>(v).abort(nullptr); });
}

gateway::gateway(options opts, store::last_known& store, core::metrics& metrics,
                 const std::vector<net::io_context*>& contexts)
    : opts_(opts), store_(store), metrics_(metrics) {
  for (auto* ioc : contexts)
    shards_.push_back(std::make_unique<shard>(*ioc, opts_, store_, metrics_));
}

gateway::~gateway() = default;

void gateway::on_message(const broker::location_ptr& loc) {
  metrics_.messages_in.inc();
  auto u = make_update(loc, customers_.load(std::memory_order_relaxed) > 0);
  auto json = std::shared_ptr<const std::string>(u, &u->full->json);
  if (!store_.update(loc, std::move(json))) return;  // older than what viewers have seen
  for (auto& s : shards_) s->post(u);
}

void gateway::sweep_couriers() {
  if (liveness_stopped_) return;
  constexpr std::size_t slices = 8;  // every stripe each 8 sweeps: 2 s
  constexpr std::size_t per_sweep = store::last_known::stripe_count / slices;
  auto now = core::now_us();
  auto offline_before =
      now - std::chrono::duration_cast<std::chrono::microseconds>(opts_.offline_after).count();
  auto forget_before =
      now - std::chrono::duration_cast<std::chrono::microseconds>(opts_.courier_ttl).count();
  if (trim_) {
    trim_ = false;
    ::malloc_trim(0);  // glibc keeps freed memory otherwise; after a mass forget, return it
  }
  store::last_known::swept out;
  store_.sweep(next_stripe_, per_sweep, offline_before, forget_before, out);
  next_stripe_ = (next_stripe_ + per_sweep) % store::last_known::stripe_count;
  metrics_.couriers.set(static_cast<std::int64_t>(store_.size()));
  if (!out.offline.empty()) {
    metrics_.couriers_offline.inc(out.offline.size());
    auto list = std::make_shared<const std::vector<store::location_ptr>>(std::move(out.offline));
    for (auto& s : shards_) {
      net::post(s->ioc(), [p = s.get(), list] { p->viewers().offline(*list); });
    }
  }
  if (!out.forgotten.empty()) {
    metrics_.couriers_forgotten.inc(out.forgotten.size());
    trim_ = out.forgotten.size() >= 1000;
    auto list = std::make_shared<const std::vector<store::location_ptr>>(std::move(out.forgotten));
    for (auto& s : shards_) {
      net::post(s->ioc(), [p = s.get(), list] { p->viewers().forget(*list); });
    }
  }
  liveness_timer_->expires_after(sweep_period);
  liveness_timer_->async_wait([this](boost::system::error_code ec) {
    if (!ec) sweep_couriers();
  });
}

void gateway::accept(std::size_t index, net::ip::tcp::socket socket,
                     boost::beast::http::request<boost::beast::http::string_body> req,
                     std::shared_ptr<const auth::identity> who, subprotocol proto) {
  auto& sh = *shards_.at(index);
  std::make_shared<ws_session>(*this, sh, std::move(socket), std::move(who), proto)
      ->run(std::move(req));
}

void gateway::need(const auth::identity& who, int delta) {
  // A connected customer watches the couriers carrying its orders (PROTOCOL.md §10).
  if (watches_ && who.role == auth::role::customer) {
    for (const auto& o : who.orders) watches_->local(policy::kind::order, o, delta);
  }
  if (!broker_) return;
  switch (who.role) {
    case auth::role::admin:
    case auth::role::dispatcher:  // a fleet's couriers may be in any partition
      return broker_->need_all(delta);
    case auth::role::customer:
      return broker_->need_orders(who.orders, delta);
    case auth::role::courier:
      return;
  }
}

void gateway::focus(std::string_view courier, int delta) {
  if (watches_) watches_->local(policy::kind::courier, courier, delta);
}

void gateway::start() {
  for (auto& s : shards_) net::post(s->ioc(), [p = s.get()] { p->start(); });
  if (shards_.empty()) return;
  liveness_timer_ = std::make_unique<net::steady_timer>(shards_.front()->ioc());
  net::post(shards_.front()->ioc(), [this] { sweep_couriers(); });
}

void gateway::close_all(std::uint16_t code) {
  for (auto& s : shards_) net::post(s->ioc(), [p = s.get(), code] { p->close_all(code); });
}

void gateway::drain_step(std::size_t steps_left) {
  for (auto& s : shards_) {
    net::post(s->ioc(), [p = s.get(), steps_left] { p->drain_step(steps_left); });
  }
}

void gateway::stop() {
  for (auto& s : shards_) net::post(s->ioc(), [p = s.get()] { p->stop(); });
  if (liveness_timer_) {
    net::post(shards_.front()->ioc(), [this] {
      liveness_stopped_ = true;
      liveness_timer_->cancel();
    });
  }
}

std::size_t gateway::viewers() const {
  auto n = metrics_.ws_connections.value();
  return n > 0 ? static_cast<std::size_t>(n) : 0;
}

}  // namespace peyk::gateway
