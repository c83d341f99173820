#include "worker.hpp"

#include <future>

#include <boost/asio/post.hpp>

#include "viewer.hpp"

namespace peyk::loadgen {

namespace net = boost::asio;

worker::worker(std::size_t index, const options& o, const token_book& tokens, const targets& t)
    : guard_(net::make_work_guard(ioc_)),
      index_(index),
      opts_(o),
      tokens_(tokens),
      targets_(t),
      rng_(std::random_device{}() ^ (index * 0x9e3779b97f4a7c15ULL)),
      tick_(ioc_) {}

worker::~worker() {
  shutdown(std::chrono::milliseconds(0));
}

void worker::start() {
  running_ = true;
  thread_ = std::thread([this] {
    ioc_.run();
    running_ = false;
  });
}

void worker::connect_viewers(std::size_t first, std::size_t step, std::size_t count,
                             std::size_t concurrency) {
  net::post(ioc_, [=, this] {
    next_viewer_ = first;
    viewer_step_ = step;
    viewers_left_ = count;
    concurrency_ = std::max<std::size_t>(concurrency, 1);
    viewers_.reserve(count);
    launch_viewers();
  });
}

void worker::launch_viewers() {
  while (connecting_ < concurrency_ && viewers_left_ > 0) {
    auto v = std::make_shared<viewer>(*this, next_viewer_);
    next_viewer_ += viewer_step_;
    --viewers_left_;
    ++connecting_;
    viewers_.push_back(v);
    v->run();
  }
}

void worker::on_attempt_done() {
  --connecting_;
  // Posted, so a burst of failures does not recurse through launch_viewers.
  net::post(ioc_, [this] { launch_viewers(); });
}

void worker::open_publisher(std::size_t connections) {
  net::post(ioc_, [this, connections] {
    auto target = opts_.publisher == "redis" ? targets_.redis : targets_.ingest;
    publisher_ = make_publisher(ioc_, opts_, tokens_, st_, target, connections);
    publisher_->start();
  });
}

void worker::start_pacing(double rate, clock::time_point start, std::uint64_t limit) {
  net::post(ioc_, [this, rate, start, limit] {
    if (!publisher_) return;
    limit_ = limit;
    sent_ = 0;
    if (opts_.closed_loop) {
      pacing_ = true;
      next_courier_ = index_ % opts_.couriers;
      publisher_->on_ready([this] { publish_while_ready(); });
      publish_while_ready();
      return;
    }
    if (rate <= 0) return;
    pacing_ = true;
    rate_ = rate;
    pace_start_ = start;
    issued_ = 0;
    next_courier_ = index_ % opts_.couriers;
    tick_.expires_at(start);
    do_tick();
  });
}

void worker::publish_while_ready() {
  while (pacing_ && (limit_ == 0 || sent_ < limit_) && publisher_->try_publish(next_courier_ + 1)) {
    ++sent_;
    next_courier_ = (next_courier_ + opts_.threads) % opts_.couriers;
  }
}

void worker::do_tick() {
  tick_.async_wait([this](boost::system::error_code ec) { on_tick(ec); });
}

void worker::on_tick(boost::system::error_code ec) {
  if (ec || !pacing_) return;
  auto now = clock::now();
  auto due =
      static_cast<std::uint64_t>(std::chrono::duration<double>(now - pace_start_).count() * rate_);
  // Over a second behind (every connection busy that long): skip rather than burst later,
  // and say so in the report.
  auto slack = static_cast<std::uint64_t>(rate_) + 1;
  if (due > issued_ + slack) {
    st_.publish_unsent += due - issued_ - slack;
    issued_ = due - slack;
  }
  while (issued_ < due && (limit_ == 0 || sent_ < limit_) &&
         publisher_->try_publish(next_courier_ + 1)) {
    ++issued_;
    ++sent_;
    next_courier_ = (next_courier_ + opts_.threads) % opts_.couriers;
  }
  if (limit_ != 0 && sent_ >= limit_) return;  // all sent: the pacer stops
  auto next = tick_.expiry() + std::chrono::milliseconds(1);
  if (next < now) next = now + std::chrono::milliseconds(1);  // fell behind: no catch-up storm
  tick_.expires_at(next);
  do_tick();
}

void worker::stop_pacing() {
  net::post(ioc_, [this] {
    pacing_ = false;
    if (publisher_) publisher_->on_ready(nullptr);
    tick_.cancel();
  });
}

void worker::close_publisher() {
  net::post(ioc_, [this] {
    pacing_ = false;
    tick_.cancel();
    if (publisher_) publisher_->close();
  });
}

void worker::close_viewers(std::chrono::milliseconds grace) {
  net::post(ioc_, [this, grace] {
    viewers_left_ = 0;  // stop opening new ones
    for (auto& v : viewers_) v->close(grace);
  });
}

std::optional<stats> worker::snapshot(std::chrono::milliseconds timeout) {
  if (!running_) return std::nullopt;
  auto done = std::make_shared<std::promise<stats>>();
  auto result = done->get_future();
  net::post(ioc_, [this, done] { done->set_value(st_); });
  if (result.wait_for(timeout) != std::future_status::ready) return std::nullopt;
  return result.get();
}

void worker::shutdown(std::chrono::milliseconds timeout) {
  if (!thread_.joinable()) return;
  guard_.reset();
  auto until = clock::now() + timeout;
  while (running_ && clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ioc_.stop();
  thread_.join();
  // Handlers still queued hold viewers and connections; release them on this thread.
  viewers_.clear();
  publisher_.reset();
}

}  // namespace peyk::loadgen
