#include "proc.hpp"

#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

namespace peyk::loadgen {

std::optional<proc_sample> sample_process(int pid) {
  std::string dir = pid == 0 ? "/proc/self" : "/proc/" + std::to_string(pid);
  proc_sample s;
  s.at = std::chrono::steady_clock::now();
  {
    std::ifstream in(dir + "/stat");
    std::string line;
    if (!std::getline(in, line)) return std::nullopt;
    // The command name (field 2) may hold spaces and parentheses: fields count from
    // the last ')'. utime and stime are fields 14 and 15.
    auto close = line.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream fields(line.substr(close + 2));
    std::string skip;
    for (int field = 3; field < 14; ++field) fields >> skip;
    unsigned long long utime = 0, stime = 0;
    if (!(fields >> utime >> stime)) return std::nullopt;
    s.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }
  {
    std::ifstream in(dir + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("VmRSS:", 0) == 0) {
        std::istringstream value(line.substr(6));
        unsigned long long kb = 0;
        value >> kb;
        s.rss_bytes = kb * 1024;
        break;
      }
    }
  }
  return s;
}

double cpu_percent(const proc_sample& from, const proc_sample& to) {
  double wall = std::chrono::duration<double>(to.at - from.at).count();
  return wall > 0 ? 100.0 * (to.cpu_s - from.cpu_s) / wall : 0.0;
}

std::vector<core_times> sample_cores() {
  std::vector<core_times> cores;
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line)) {
    // "cpuN user nice system idle iowait irq softirq steal ..." (skip the "cpu" total).
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] < '0' || line[3] > '9') continue;
    std::istringstream fields(line);
    std::string name;
    fields >> name;
    core_times t;
    unsigned long long v = 0;
    for (int i = 0; i < 8 && (fields >> v); ++i) {
      t.total += v;
      if (i != 3 && i != 4) t.busy += v;
      if (i < 3) t.tasks += v;
    }
    cores.push_back(t);
  }
  return cores;
}

std::vector<double> core_busy(const std::vector<core_times>& from,
                              const std::vector<core_times>& to) {
  std::vector<double> busy;
  if (from.size() != to.size()) return busy;
  for (std::size_t i = 0; i < from.size(); ++i) {
    auto total = to[i].total - from[i].total;
    busy.push_back(total ? 100.0 * static_cast<double>(to[i].busy - from[i].busy) /
                               static_cast<double>(total)
                         : 0.0);
  }
  return busy;
}

double tasks_percent(const std::vector<core_times>& from, const std::vector<core_times>& to) {
  if (from.size() != to.size() || from.empty()) return 0;
  double tasks = 0;
  double total = 0;
  for (std::size_t i = 0; i < from.size(); ++i) {
    tasks += static_cast<double>(to[i].tasks - from[i].tasks);
    total += static_cast<double>(to[i].total - from[i].total);
  }
  // total / cores is the window in jiffies.
  return total > 0 ? 100.0 * tasks * static_cast<double>(from.size()) / total : 0;
}

}  // namespace peyk::loadgen
