#pragma once
// CPU time and resident memory of a process, from /proc (Linux).

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace peyk::loadgen {

struct proc_sample {
  std::chrono::steady_clock::time_point at;
  double cpu_s = 0;             // utime + stime
  std::uint64_t rss_bytes = 0;  // VmRSS
};

// `pid` 0 samples this process. nullopt if the process is gone or /proc unreadable.
std::optional<proc_sample> sample_process(int pid);

// CPU use between two samples, in percent of one core (200 = two cores busy). Softirq
// time is not in a process's utime+stime: on loopback the receive path of the peer's
// sockets runs as softirq, so see core_busy for the whole picture.
double cpu_percent(const proc_sample& from, const proc_sample& to);

// Per-core jiffies from /proc/stat: busy (everything but idle and iowait), the part of it
// charged to processes (user, nice, system; not irq/softirq), and total.
struct core_times {
  std::uint64_t busy = 0;
  std::uint64_t tasks = 0;
  std::uint64_t total = 0;
};
std::vector<core_times> sample_cores();
// Per-core busy percentages between two samples (empty if they do not match).
std::vector<double> core_busy(const std::vector<core_times>& from,
                              const std::vector<core_times>& to);
// CPU charged to all processes between two samples, in percent of one core.
double tasks_percent(const std::vector<core_times>& from, const std::vector<core_times>& to);

}  // namespace peyk::loadgen
