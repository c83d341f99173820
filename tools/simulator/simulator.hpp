#pragma once
// The courier simulator (issue #4): N couriers, each with its own courier token, drive a
// street-like city inside a bounding box, pick up and deliver orders, and POST their
// locations to the ingest API over a shared pool of keep-alive connections, at the
// server's update interval, backing off and batching buffered points as a phone app would.
//
// Threading: everything runs on the io_context given to the constructor, which one thread
// runs (a single thread drives thousands of couriers: one tick timer walks a schedule
// instead of a timer per courier). start() and stop() may be called from any thread;
// get_stats() too. Delivery: every point is either accepted (200), still buffered, or
// counted in stats (dropped from a full outbox, rejected by a 4xx): never lost silently.
//
// Embedding (as `peyk demo` does):
//   boost::asio::io_context ioc;
//   peyk::simulator::options o;  o.target = url;  o.secret = key;  o.couriers = 200;
//   peyk::simulator::simulator sim(ioc, o);   // builds the city: may take a moment
//   sim.start();
//   std::thread t([&] { ioc.run(); });        // returns once stopped
//   ...  sim.stop();  t.join();

#include <memory>

#include <boost/asio/io_context.hpp>

#include "simulator/options.hpp"

namespace peyk::simulator {

class simulator {
 public:
  // Throws std::invalid_argument for a bad target URL, bounding box, count or empty secret.
  simulator(boost::asio::io_context& ioc, options o);
  ~simulator();  // stops
  simulator(const simulator&) = delete;
  simulator& operator=(const simulator&) = delete;

  void start();
  // Closes the connections and cancels the timers, so the io_context runs out of work;
  // then runs options::on_stop. Points still buffered stay counted in points_buffered.
  void stop();
  stats get_stats() const;

  struct impl;

 private:
  std::shared_ptr<impl> impl_;
};

// `peyk simulate`: parses the flags (argv[0] is "simulate"), runs a simulator on this
// thread until --duration elapses or SIGINT/SIGTERM, printing a status line every 5 s.
// Exit code: 0, 1 when no request got a 200, 2 for bad flags or no key.
int simulate_main(int argc, const char* const* argv);

}  // namespace peyk::simulator
