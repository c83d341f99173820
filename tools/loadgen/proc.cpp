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

}  // namespace peyk::loadgen
