// Machine-readable benchmark figures, and the CPU time a process used.
//
// Figures: Every benchmark prints each figure it
// measures as one line
//   figure: <key> <value> <unit>
// beside its human-readable output; bench/figures.sh puts the value recorded
// in docs/benchmarks.md (table "Recorded figures") beside each, so that a
// regression shows the day it lands. Units ending in "/s" (and "x", a ratio
// to a peer) are better when higher, all others when lower.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <string_view>

#include "fmt/format.h"

namespace strata::bench {

inline void Figure(std::string_view key, double value, std::string_view unit) {
  fmt::print("figure: {} {:.6g} {}\n", key, value, unit);
  std::fflush(stdout);
}

// CPU seconds (user + system) process `pid` has used, all threads included;
// -1 when unreadable.
inline double ProcessCpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), {});
  const size_t close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return -1;
  std::istringstream fields(stat.substr(close + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; fields >> field; ++i) {  // fields 14 and 15: utime, stime
    if (i == 14 || i == 15) ticks += std::stod(field);
    if (i == 15) return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return -1;
}

}  // namespace strata::bench
