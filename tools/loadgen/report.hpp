#pragma once
// The results of a run, as text for people and as JSON for bench scripts.

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "options.hpp"
#include "proc.hpp"
#include "stats.hpp"

namespace peyk::loadgen {

// One --interval of the run (connecting, warmup, window), for the JSON timeline.
struct timeline_entry {
  double end_s = 0;    // since the start of the run
  double seconds = 0;  // its length
  double unix_s = 0;   // wall-clock time at its end
  std::string phase;   // connect, warmup, run, idle
  std::int64_t viewers_open = 0;
  std::uint64_t connected = 0, failed = 0, snapshots = 0;  // so far
  std::uint64_t deliveries = 0, published = 0;             // in this interval
  std::uint64_t p50 = 0, p99 = 0, max = 0;                 // latency, µs, in this interval
  std::uint64_t gap_max = 0;                               // longest delivery gap ended in it
};

// A part of the window between two SIGUSR1 marks (or its start or end).
struct phase_result {
  double start_s = 0, end_s = 0;  // since the start of the run
  stats diff;
};

struct run_result {
  double connect_s = 0;  // time to open every viewer
  double window_s = 0;   // the measured window
  stats window;          // counters over the window (gauges: at its end)
  stats total;           // since the start, at the end of the window
  std::optional<proc_sample> server_start, server_end;
  std::optional<proc_sample> self_start, self_end;
  std::optional<proc_sample> server_before_connect, server_after_connect;  // --idle
  std::vector<double> core_busy;  // percent per core over the window, softirq included
  double tasks_cpu = 0;           // all processes' CPU over the window, % of one core
  double all_connected_s = -1;    // connecting started -> the last handshake (-1: none)
  double all_snapshots_s = -1;    // connecting started -> the last first snapshot (v1)
  std::optional<std::uint64_t> server_rss_peak;  // VmRSS sampled every 50 ms, highest seen
  std::vector<timeline_entry> timeline;
  std::vector<phase_result> phases;
};

// The fewest deliveries/s over any run of entries lasting about a second (at least
// one entry) that overlaps [from_s, to_s]; nullopt without such entries.
std::optional<double> worst_second(const std::vector<timeline_entry>& t, double from_s,
                                   double to_s);

void print_report(std::ostream& out, const options& o, const run_result& r);
boost::json::object report_json(const options& o, const run_result& r);

// One --progress line for an interval of `seconds`; `window` holds its differences.
void print_progress(std::ostream& out, const char* phase, double at_s, double seconds,
                    const stats& window);

}  // namespace peyk::loadgen
