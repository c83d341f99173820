// `peyk simulate`: the simulator on this thread, with a status line every 5 s.
#include <csignal>
#include <cstdio>
#include <iostream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "simulator/simulator.hpp"

namespace peyk::simulator {

namespace net = boost::asio;

namespace {

void print(const stats& s, const stats& before, double elapsed_s, double window_s) {
  char line[320];
  double rate =
      window_s > 0 ? static_cast<double>(s.requests_ok - before.requests_ok) / window_s : 0;
  std::snprintf(
      line, sizeof line,
      "simulate %6.0fs  posted ok %llu (%.0f/s, %llu points) | 429 %llu | 503 %llu | "
      "errors %llu | rejected %llu | couriers active %zu/%zu | buffered %llu dropped "
      "%llu | connections %zu\n",
      elapsed_s, static_cast<unsigned long long>(s.requests_ok), rate,
      static_cast<unsigned long long>(s.points_ok), static_cast<unsigned long long>(s.rate_limited),
      static_cast<unsigned long long>(s.unavailable), static_cast<unsigned long long>(s.errors),
      static_cast<unsigned long long>(s.rejected), s.couriers_active, s.couriers,
      static_cast<unsigned long long>(s.points_buffered),
      static_cast<unsigned long long>(s.points_dropped), s.connections_open);
  std::cout << line << std::flush;
}

std::string seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

}  // namespace

int simulate_main(int argc, const char* const* argv) {
  int code = 0;
  auto o = parse_options(argc, argv, std::cout, std::cerr, code);
  if (!o) return code;

  net::io_context ioc(1);
  net::signal_set signals(ioc, SIGINT, SIGTERM);
  net::steady_timer status(ioc);
  // A handler whose timer already fired still runs after cancel(): `done` stops it re-arming.
  bool done = false;
  o->on_stop = [&] {
    done = true;
    signals.cancel();
    status.cancel();
  };
  std::cout << "simulate: " << o->couriers << " couriers -> " << o->target << ", interval "
            << (o->interval_s > 0 ? seconds(o->interval_s) : "from the server") << ", duration "
            << (o->duration_s > 0 ? seconds(o->duration_s) : "until Ctrl-C") << std::endl;
  std::optional<simulator> sim;
  try {
    sim.emplace(ioc, *o);
  } catch (const std::exception& e) {
    std::cerr << "peyk simulate: " << e.what() << "\n";
    return 2;
  }
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (!ec && !done) sim->stop();
  });

  auto started = std::chrono::steady_clock::now();
  stats last{};
  auto last_at = started;
  std::function<void()> arm = [&] {
    status.expires_after(std::chrono::seconds(5));
    status.async_wait([&](boost::system::error_code ec) {
      if (ec || done) return;
      auto now = std::chrono::steady_clock::now();
      auto s = sim->get_stats();
      print(s, last, std::chrono::duration<double>(now - started).count(),
            std::chrono::duration<double>(now - last_at).count());
      last = s;
      last_at = now;
      arm();
    });
  };
  arm();
  sim->start();
  ioc.run();

  auto s = sim->get_stats();
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  stats zero{};
  std::cout << "final: ";
  print(s, zero, elapsed, elapsed);
  if (s.points_buffered > 0) {
    std::cout << "simulate: " << s.points_buffered << " points were still buffered at exit\n";
  }
  return s.requests_ok > 0 ? 0 : 1;
}

}  // namespace peyk::simulator
