#pragma once
// CPU time and resident memory of a process, from /proc (Linux).

#include <chrono>
#include <cstdint>
#include <optional>

namespace peyk::loadgen {

struct proc_sample {
  std::chrono::steady_clock::time_point at;
  double cpu_s = 0;             // utime + stime
  std::uint64_t rss_bytes = 0;  // VmRSS
};

// `pid` 0 samples this process. nullopt if the process is gone or /proc unreadable.
std::optional<proc_sample> sample_process(int pid);

// CPU use between two samples, in percent of one core (200 = two cores busy).
double cpu_percent(const proc_sample& from, const proc_sample& to);

}  // namespace peyk::loadgen
