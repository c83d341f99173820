// peyk-loadgen: see --help and README.md. The main thread only orchestrates and reports;
// the work runs on --threads workers, one io_context each (worker.hpp).
#include <signal.h>
#include <sys/resource.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/json/serialize.hpp>

#include "options.hpp"
#include "proc.hpp"
#include "report.hpp"
#include "tokens.hpp"
#include "worker.hpp"

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace peyk::loadgen;
using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

std::atomic<bool> interrupted{false};
std::atomic<int> marks{0};  // SIGUSR1s received: each starts a new phase of the window

extern "C" void on_signal(int) {
  interrupted = true;
}

extern "C" void on_mark(int) {
  marks.fetch_add(1);
}

std::int64_t steady_us(clock_type::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

double unix_now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::optional<proc_sample> sample_server(const options& o);

void notify(const options& o) {
  if (o.notify_pid) ::kill(*o.notify_pid, SIGUSR1);
}

// 50k sockets need far more than the usual soft limit of 1024 descriptors.
rlim_t raise_nofile() {
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &lim);
    ::getrlimit(RLIMIT_NOFILE, &lim);
  }
  return lim.rlim_cur;
}

std::optional<tcp::endpoint> resolve(const std::string& host, std::uint16_t port) {
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) return std::nullopt;
  for (const auto& r : results) {
    if (r.endpoint().address().is_v4()) return r.endpoint();  // --source-ips are IPv4
  }
  return results.begin()->endpoint();
}

class run {
 public:
  run(const options& o, const token_book& tokens, const targets& t) : o_(o) {
    for (std::size_t i = 0; i < o.threads; ++i) {
      workers_.push_back(std::make_unique<worker>(i, o, tokens, t));
    }
    for (auto& w : workers_) w->start();
  }

  ~run() { close(); }

  // The sum over workers; nullopt if one of them did not answer in time.
  std::optional<stats> snapshot() {
    stats sum;
    for (auto& w : workers_) {
      auto s = w->snapshot(milliseconds(2000));
      if (!s) return std::nullopt;
      sum.merge(*s);
    }
    return sum;
  }

  // Every 50 ms while connecting or holding: the server's RSS peak, a timeline entry
  // (and a --progress line) per --interval, a phase boundary per SIGUSR1 in the window.
  void poll(const stats& s, const char* phase) {
    auto now = clock_type::now();
    if (o_.server_pid) {
      if (auto p = sample_server(o_)) {
        result_.server_rss_peak = std::max(result_.server_rss_peak.value_or(0), p->rss_bytes);
      }
    }
    if (!tick_stats_) {
      tick_stats_ = s;
      tick_at_ = now;
    }
    auto seconds = std::chrono::duration<double>(now - tick_at_).count();
    if (seconds >= o_.interval_s) {
      auto d = s.minus(*tick_stats_);
      timeline_entry e;
      e.end_s = since_origin(now);
      e.seconds = seconds;
      e.unix_s = unix_now();
      e.phase = phase;
      e.viewers_open = s.viewers_open;
      e.connected = s.viewers_connected;
      e.failed = s.viewers_failed;
      e.snapshots = s.snapshots;
      e.deliveries = d.deliveries;
      e.published = d.publish_ok;
      e.p50 = d.latency.percentile(0.5);
      e.p99 = d.latency.percentile(0.99);
      e.max = d.latency.max();
      e.gap_max = d.delivery_gap.max();
      result_.timeline.push_back(std::move(e));
      if (o_.progress) {
        print_progress(std::cout, phase, since_origin(now), seconds, d);
        std::cout.flush();
      }
      tick_stats_ = s;
      tick_at_ = now;
    }
    int m = marks.load();
    if (m != seen_marks_) {
      seen_marks_ = m;
      if (phase_stats_) {
        close_phase(s, now);
      } else {
        std::cerr << "peyk-loadgen: SIGUSR1 before the window started: ignored\n";
      }
    }
  }

  void begin_window(const stats& s) {
    phase_stats_ = s;
    phase_at_ = clock_type::now();
    seen_marks_ = marks.load();
  }
  void end_window(const stats& s) {
    if (phase_stats_) close_phase(s, clock_type::now());
    phase_stats_.reset();
  }

  // Sleeps until `until` or an interrupt (or, with --publish-count, every message
  // answered), polling every 50 ms.
  void hold(clock_type::time_point until, const char* phase) {
    while (!interrupted && clock_type::now() < until) {
      std::this_thread::sleep_for(std::min<clock_type::duration>(
          milliseconds(50), std::max<clock_type::duration>(until - clock_type::now(), {})));
      auto s = snapshot();
      if (!s) return;
      poll(*s, phase);
      if (o_.publish_count &&
          s->publish_ok + s->publish_errors + s->non_2xx() >= o_.publish_count) {
        return;
      }
    }
  }

  // Opens the viewers (peyk.v1: and waits for their first snapshots, up to
  // --snapshot-timeout); returns the seconds until every attempt ended.
  double connect_viewers(std::size_t n) {
    auto started = clock_type::now();
    notify(o_);
    auto t = workers_.size();
    auto per_worker = (o_.connect_concurrency + t - 1) / t;
    for (std::size_t i = 0; i < t; ++i) {
      std::size_t count = i < n ? (n - i + t - 1) / t : 0;
      if (count) workers_[i]->connect_viewers(i, t, count, per_worker);
    }
    // Every attempt ends within --connect-timeout; batches of --connect-concurrency.
    auto rounds = (n + o_.connect_concurrency - 1) / o_.connect_concurrency;
    auto bound =
        std::chrono::duration<double>(o_.connect_timeout_s * static_cast<double>(rounds) + 5);
    auto deadline = started + std::chrono::duration_cast<clock_type::duration>(bound);
    auto last_print = started;
    double attempts_s = -1;
    std::optional<clock_type::time_point> snapshot_deadline;
    std::optional<stats> s;
    while (!interrupted) {
      std::this_thread::sleep_for(milliseconds(50));
      s = snapshot();
      if (!s) break;
      poll(*s, "connect");
      auto now = clock_type::now();
      if (attempts_s < 0 && s->viewers_connected + s->viewers_failed >= n) {
        attempts_s = std::chrono::duration<double>(now - started).count();
        if (o_.protocol != ws_protocol::v1) break;
        snapshot_deadline = now + std::chrono::duration_cast<clock_type::duration>(
                                      std::chrono::duration<double>(o_.snapshot_timeout_s));
      }
      if (attempts_s < 0 && now >= deadline) break;
      if (snapshot_deadline && (s->snapshots + s->closed_before_snapshot >= s->viewers_connected ||
                                now >= *snapshot_deadline)) {
        break;
      }
      if (now - last_print >= std::chrono::seconds(1)) {
        last_print = now;
        std::cout << "connecting: " << s->viewers_connected << " connected, " << s->viewers_failed
                  << " failed of " << n;
        if (o_.protocol == ws_protocol::v1) std::cout << ", " << s->snapshots << " snapshots";
        std::cout << "\n";
        std::cout.flush();
      }
    }
    notify(o_);
    if (s) {
      auto start_us = steady_us(started);
      if (s->viewers_connected) result_.all_connected_s = (s->last_connected_us - start_us) / 1e6;
      if (s->snapshots) result_.all_snapshots_s = (s->last_snapshot_us - start_us) / 1e6;
    }
    if (attempts_s < 0)
      attempts_s = std::chrono::duration<double>(clock_type::now() - started).count();
    return attempts_s;
  }

  run_result& result() { return result_; }
  double since_origin(clock_type::time_point t) const {
    return std::chrono::duration<double>(t - origin_).count();
  }

  void open_publishers(std::size_t connections) {
    auto t = workers_.size();
    for (std::size_t i = 0; i < t; ++i) {
      auto share = connections / t + (i < connections % t ? 1 : 0);
      if (share) workers_[i]->open_publisher(share);
    }
  }

  // Waits until `connections` publisher connections are up, or the timeout; returns how many.
  std::int64_t wait_publishers(std::size_t connections, double timeout_s) {
    auto deadline = clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                            std::chrono::duration<double>(timeout_s));
    std::int64_t up = 0;
    while (!interrupted && clock_type::now() < deadline) {
      auto s = snapshot();
      if (!s) break;
      up = s->publisher_connections;
      if (up >= static_cast<std::int64_t>(connections)) break;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return up;
  }

  void start_pacing(double rate) {
    auto t = workers_.size();
    auto start = clock_type::now() + milliseconds(10);  // the same origin on every worker
    auto count = o_.publish_count;
    for (std::size_t i = 0; i < t; ++i) {
      auto share = count ? count / t + (i < count % t ? 1 : 0) : 0;
      if (count && share == 0) continue;  // fewer messages than workers
      workers_[i]->start_pacing(rate / static_cast<double>(t), start, share);
    }
  }

  // Stops publishing and lets answers in flight arrive (up to a second).
  void stop_publishing() {
    for (auto& w : workers_) w->stop_pacing();
    auto deadline = clock_type::now() + std::chrono::seconds(1);
    while (clock_type::now() < deadline) {
      auto s = snapshot();
      if (!s || s->publish_in_flight == 0) break;
      std::this_thread::sleep_for(milliseconds(10));
    }
  }

  // Close handshakes with every viewer, then the threads end. Bounded: ~3 s at most.
  void close() {
    if (closed_) return;
    closed_ = true;
    for (auto& w : workers_) w->close_publisher();
    for (auto& w : workers_) w->close_viewers(milliseconds(2000));
    auto deadline = clock_type::now() + milliseconds(2500);
    while (clock_type::now() < deadline) {
      auto s = snapshot();
      if (!s || (s->viewers_open == 0 && s->publisher_connections == 0)) break;
      std::this_thread::sleep_for(milliseconds(20));
    }
    for (auto& w : workers_) w->shutdown(milliseconds(500));
  }

 private:
  void close_phase(const stats& s, clock_type::time_point now) {
    phase_result p;
    p.start_s = since_origin(phase_at_);
    p.end_s = since_origin(now);
    p.diff = s.minus(*phase_stats_);
    result_.phases.push_back(std::move(p));
    phase_stats_ = s;
    phase_at_ = now;
  }

  const options& o_;
  std::vector<std::unique_ptr<worker>> workers_;
  bool closed_ = false;
  clock_type::time_point origin_ = clock_type::now();
  run_result result_;
  std::optional<stats> tick_stats_;  // at the last timeline entry
  clock_type::time_point tick_at_;
  std::optional<stats> phase_stats_;  // at the start of the current phase (in the window)
  clock_type::time_point phase_at_;
  int seen_marks_ = 0;
};

std::string top_error(const stats& s) {
  std::string best;
  std::uint64_t n = 0;
  for (const auto& [reason, count] : s.errors) {
    if (count > n) {
      best = reason;
      n = count;
    }
  }
  return best.empty() ? "no error recorded" : best + " (" + std::to_string(n) + "x)";
}

// Every --server-pid sampled as one server: CPU time and RSS added up; nullopt when one
// of them cannot be read.
std::optional<proc_sample> sample_server(const options& o) {
  std::optional<proc_sample> sum;
  for (int pid : o.server_pids) {
    auto s = sample_process(pid);
    if (!s) return std::nullopt;
    if (!sum) {
      sum = s;
    } else {
      sum->cpu_s += s->cpu_s;
      sum->rss_bytes += s->rss_bytes;
    }
  }
  return sum;
}

int fatal(const std::string& message) {
  std::cerr << "peyk-loadgen: " << message << "\n";
  return 1;
}

int execute(const options& o) {
  auto fds = raise_nofile();
  auto needed = o.total_viewers() + (o.idle ? 0 : o.http_connections) + 64;
  if (fds < needed) {
    std::cerr << "peyk-loadgen: warning: " << fds << " file descriptors allowed, " << needed
              << " needed; raise the hard limit (ulimit -Hn) or expect connect failures\n";
  }

  std::vector<tcp::endpoint> ws;
  for (const auto& t : o.ws_targets) {
    auto e = resolve(t.host, t.port);
    if (!e) return fatal("cannot resolve " + t.host);
    ws.push_back(*e);
  }
  auto ingest = resolve(o.ingest_host, o.ingest_port);
  if (!ingest) return fatal("cannot resolve " + o.ingest_host);
  tcp::endpoint redis;
  if (o.publisher == "redis") {
    auto r = resolve(o.redis_host, o.redis_port);
    if (!r) return fatal("cannot resolve " + o.redis_host);
    redis = *r;
  }
  if (o.source_ips > 1) {
    boost::system::error_code ec;
    net::ip::make_address_v4(o.source_base, ec);
    if (ec) return fatal("--source-base " + o.source_base + " is not an IPv4 address");
  }

  std::optional<proc_sample> server_before;
  if (o.server_pid) {
    server_before = sample_server(o);
    if (!server_before) return fatal("cannot read /proc/PID of every --server-pid");
  }

  // Tokens outlive the run, so no viewer is closed at `exp` (4001) mid-measurement.
  auto ttl = static_cast<std::int64_t>(o.warmup_s + o.duration_s) + 3600;
  std::optional<token_book> tokens;
  try {
    tokens.emplace(o, ttl);
  } catch (const std::exception& e) {
    return fatal(std::string("cannot mint tokens: ") + e.what());
  }

  run r(o, *tokens, targets{ws, *ingest, redis});
  run_result& result = r.result();
  result.server_before_connect = server_before;

  const auto viewers = o.total_viewers();
  if (viewers > 0) {
    result.connect_s = r.connect_viewers(viewers);
    auto s = r.snapshot();
    if (!s) return fatal("a worker thread stopped answering");
    std::printf("viewers: %llu of %zu connected in %.2f s, %llu failed\n",
                static_cast<unsigned long long>(s->viewers_connected), viewers, result.connect_s,
                static_cast<unsigned long long>(s->viewers_failed));
    std::fflush(stdout);
    if (s->viewers_connected == 0 && !interrupted) {
      return fatal("no viewer could connect to " + o.ws_host + ":" + std::to_string(o.ws_port) +
                   o.ws_path + ": " + top_error(*s));
    }
    if (s->viewers_connected < viewers) {
      std::cerr << "peyk-loadgen: warning: only " << s->viewers_connected << " of " << viewers
                << " viewers connected; first cause: " << top_error(*s) << "\n";
    }
  }

  if (o.idle) {
    // Let the server finish its side of the last handshakes before reading its RSS.
    std::this_thread::sleep_for(milliseconds(500));
    if (o.server_pid) result.server_after_connect = sample_server(o);
  } else if (o.publishing()) {
    const bool to_redis = o.publisher == "redis";
    const auto connections = to_redis ? o.redis_connections : o.http_connections;
    r.open_publishers(connections);
    auto up = r.wait_publishers(connections, o.connect_timeout_s);
    if (up == 0 && !interrupted) {
      auto s = r.snapshot();
      return fatal(std::string(to_redis ? "no Redis connection to " : "no ingest connection to ") +
                   (to_redis ? o.redis_host : o.ingest_host) + ":" +
                   std::to_string(to_redis ? o.redis_port : o.ingest_port) + ": " +
                   (s ? top_error(*s) : "?"));
    }
    if (up < static_cast<std::int64_t>(connections)) {
      std::cerr << "peyk-loadgen: warning: " << up << " of " << connections
                << " publisher connections up\n";
    }
    r.start_pacing(o.publish_rate);
    if (o.warmup_s > 0) {
      r.hold(clock_type::now() + std::chrono::duration_cast<clock_type::duration>(
                                     std::chrono::duration<double>(o.warmup_s)),
             "warmup");
    }
  }

  auto start = r.snapshot();
  if (!start) return fatal("a worker thread stopped answering");
  auto window_start = clock_type::now();
  r.begin_window(*start);
  std::printf("window: measuring for %.1f s (SIGUSR1 starts a new phase)\n", o.duration_s);
  std::fflush(stdout);
  if (o.server_pid) result.server_start = sample_server(o);
  result.self_start = sample_process(0);
  auto cores_start = sample_cores();
  r.hold(window_start + std::chrono::duration_cast<clock_type::duration>(
                            std::chrono::duration<double>(o.duration_s)),
         o.idle ? "idle" : "run");
  auto end = r.snapshot();
  if (end) r.end_window(*end);
  auto window_end = clock_type::now();
  if (o.server_pid) result.server_end = sample_server(o);
  result.self_end = sample_process(0);
  auto cores_end = sample_cores();
  result.core_busy = core_busy(cores_start, cores_end);
  result.tasks_cpu = tasks_percent(cores_start, cores_end);
  if (!end) return fatal("a worker thread stopped answering");
  result.window_s = std::chrono::duration<double>(window_end - window_start).count();
  result.window = end->minus(*start);
  result.total = *end;

  r.stop_publishing();
  r.close();

  print_report(std::cout, o, result);
  if (!o.json_path.empty()) {
    std::ofstream out(o.json_path);
    out << boost::json::serialize(report_json(o, result)) << "\n";
    if (!out) return fatal("cannot write " + o.json_path);
  }
  if (interrupted) std::cout << "(interrupted: the window was cut short)\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  auto o = parse_options(argc, argv, std::cout, std::cerr, exit_code);
  if (!o) return exit_code;
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGUSR1, on_mark);
  std::signal(SIGPIPE, SIG_IGN);
  try {
    return execute(*o);
  } catch (const std::exception& e) {
    return fatal(e.what());
  }
}
