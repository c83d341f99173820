#pragma once
// The results of a run, as text for people and as JSON for bench scripts.

#include <cstdint>
#include <iosfwd>
#include <optional>

#include <boost/json/object.hpp>

#include "options.hpp"
#include "proc.hpp"
#include "stats.hpp"

namespace peyk::loadgen {

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
};

void print_report(std::ostream& out, const options& o, const run_result& r);
boost::json::object report_json(const options& o, const run_result& r);

// One --progress line for an interval of `seconds`; `window` holds its differences.
void print_progress(std::ostream& out, const char* phase, double at_s, double seconds,
                    const stats& window);

}  // namespace peyk::loadgen
