// Micro-benchmarks of the hot-path pieces (Google Benchmark). Run: build/peyk-micro-bench
#include <benchmark/benchmark.h>

#include <boost/json.hpp>

#include "auth/jwt.hpp"
#include "auth/token_cache.hpp"
#include "core/clock.hpp"
#include "core/codec.hpp"
#include "gateway/hub.hpp"

namespace {

using namespace peyk;

core::location sample() {
  core::location l;
  l.courier_id = "1042";
  l.username = "driver1042";
  l.latitude = 35.700123;
  l.longitude = 51.401145;
  l.accuracy = 6.5;
  l.speed = 8.2;
  l.heading = 270;
  l.recorded_at = "2026-11-28T12:00:00Z";
  l.fleet = "store-7";
  l.orders = {"A123"};
  l.ts_us = 1764331200123456;
  return l;
}

void encode_location(benchmark::State& s) {
  auto l = sample();
  for (auto _ : s) benchmark::DoNotOptimize(core::encode_location(l));
}
BENCHMARK(encode_location);

void decode_broker_message(benchmark::State& s) {
  auto text = core::encode_location(sample());
  for (auto _ : s) benchmark::DoNotOptimize(core::decode_broker_message(text));
}
BENCHMARK(decode_broker_message);

void parse_ingest_body(benchmark::State& s) {
  std::string body = R"({"latitude": 35.7001, "longitude": 51.4011, "accuracy": 6.5, "speed": 8.2,
    "heading": 270, "recorded_at": "2026-11-28T12:00:00Z", "orders": ["A123"]})";
  for (auto _ : s) benchmark::DoNotOptimize(core::parse_ingest_body(body));
}
BENCHMARK(parse_ingest_body);

std::string courier_token(const std::string& secret) {
  return auth::sign_hs256(
      {{"sub", "1042"}, {"role", "courier"}, {"name", "driver1042"}, {"exp", core::now_s() + 3600}},
      secret);
}

void jwt_verify(benchmark::State& s) {
  std::string secret(32, 'k');
  auth::jwt_verifier v(secret);
  auto t = courier_token(secret);
  for (auto _ : s) benchmark::DoNotOptimize(v.verify(t, core::now_s()));
}
BENCHMARK(jwt_verify);

void jwt_verify_cached(benchmark::State& s) {
  std::string secret(32, 'k');
  auth::jwt_verifier v(secret);
  auth::token_cache cache(v);
  auto t = courier_token(secret);
  for (auto _ : s) benchmark::DoNotOptimize(cache.verify(t, core::now_s()));
}
BENCHMARK(jwt_verify_cached);

// A hub fanning one update out to N admin viewers whose push only counts.
struct counting_viewer : gateway::viewer {
  auth::identity id;
  std::size_t n = 0;
  const auth::identity& who() const override { return id; }
  gateway::subprotocol protocol() const override { return gateway::subprotocol::echo; }
  bool push(const gateway::frame_ptr&) override { return ++n == 1; }
  void flush() override {
    // What a session does per batch: take the feed's new batches past its cursor.
    if (const auto* f = shared_feed()) {
      batches.clear();
      set_cursor(f->collect(cursor(), true, 60, 1u << 20, batches));
    }
  }
  void push_status(const std::shared_ptr<const std::string>&) override {}
  std::vector<gateway::feed::batch_ptr> batches;
};

void hub_dispatch_admins(benchmark::State& s) {
  gateway::hub h;
  std::vector<std::shared_ptr<counting_viewer>> vs;
  for (int i = 0; i < s.range(0); ++i) {
    auto v = std::make_shared<counting_viewer>();
    v->id.role = auth::role::admin;
    h.add(v);
    vs.push_back(v);
  }
  auto u = gateway::make_update(std::make_shared<core::location>(sample()), false);
  std::vector<gateway::update_ptr> batch{u};
  for (auto _ : s) h.dispatch(batch);
  s.SetItemsProcessed(s.iterations() * s.range(0));
}
BENCHMARK(hub_dispatch_admins)->Arg(1000)->Arg(10000);

}  // namespace

BENCHMARK_MAIN();
