#include "broker/courier_reaper.hpp"

#include <algorithm>
#include <random>

#include "core/clock.hpp"
#include "core/log.hpp"

namespace peyk::broker {

namespace {

// KEYS: seen, hash, geo. ARGV: cutoff (ms, exclusive), batch. Returns the number forgotten.
constexpr std::string_view reap_script = R"lua(
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #ids > 0 then
  redis.call('ZREM', KEYS[1], unpack(ids))
  redis.call('HDEL', KEYS[2], unpack(ids))
  redis.call('ZREM', KEYS[3], unpack(ids))
end
return #ids
)lua";

}  // namespace

void append_reap_command(std::string& out, const reaper_keys& keys, std::int64_t cutoff_ms,
                         std::size_t batch) {
  auto cutoff = std::to_string(cutoff_ms), n = std::to_string(batch);
  append_command(out, {"EVAL", reap_script, "3", keys.seen, keys.hash, keys.geo, cutoff, n});
}

std::int64_t seen_now_ms() {
  return core::now_us() / 1000;
}

courier_reaper::courier_reaper(boost::asio::io_context& ioc, std::chrono::seconds ttl,
                               std::vector<reaper_keys> keys, send_fn send, std::size_t batch)
    : timer_(ioc),
      ttl_(ttl),
      keys_(std::move(keys)),
      send_(std::move(send)),
      batch_(std::max<std::size_t>(1, std::min<std::size_t>(batch, 5000))) {}

std::chrono::milliseconds courier_reaper::interval_for(std::chrono::seconds ttl) {
  auto quarter = std::chrono::duration_cast<std::chrono::milliseconds>(ttl) / 4;
  return std::clamp(quarter, std::chrono::milliseconds(250), std::chrono::milliseconds(60'000));
}

void courier_reaper::start() {
  stopped_ = false;
  schedule();
}

void courier_reaper::stop() {
  stopped_ = true;
  timer_.cancel();
  log_progress(true);
}

void courier_reaper::schedule() {
  if (stopped_) return;
  // +-20 % jitter: the processes sharing a Redis do not sweep in step.
  static thread_local std::minstd_rand rng{std::random_device{}()};
  auto base = interval_for(ttl_);
  auto jitter = std::uniform_real_distribution<double>(0.8, 1.2)(rng);
  timer_.expires_after(std::chrono::milliseconds(static_cast<long>(base.count() * jitter)));
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec && !self->stopped_) self->sweep();
  });
}

void courier_reaper::sweep() {
  auto cutoff = seen_now_ms() - static_cast<std::int64_t>(ttl_.count()) * 1000;
  run(0, cutoff);
}

// Partition p, then the next; a partition that yielded a full batch goes again first.
void courier_reaper::run(std::size_t p, std::int64_t cutoff_ms) {
  if (stopped_) return;
  if (p >= keys_.size()) {
    log_progress(false);
    return schedule();
  }
  std::string cmd;
  append_reap_command(cmd, keys_[p], cutoff_ms, batch_);
  send_(p, cmd,
        [self = shared_from_this(), p, cutoff_ms](bool ok, redisReply* r, std::string_view) {
          long long n = ok && r && r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
          self->forgotten_ += static_cast<std::uint64_t>(n);
          self->unlogged_ += static_cast<std::uint64_t>(n);
          // An unreachable node or an error (MOVED during a failover): the next sweep.
          self->run(static_cast<std::size_t>(n) >= self->batch_ ? p : p + 1, cutoff_ms);
        });
}

void courier_reaper::log_progress(bool force) {
  auto now = std::chrono::steady_clock::now();
  if (unlogged_ == 0 || (!force && now - last_log_ < std::chrono::seconds(60))) return;
  core::log(core::log_level::info, "redis: forgot " + std::to_string(unlogged_) +
                                       " couriers silent for over " + std::to_string(ttl_.count()) +
                                       "s");
  unlogged_ = 0;
  last_log_ = now;
}

}  // namespace peyk::broker
