// Machine-readable benchmark figures. Every benchmark prints each figure it
// measures as one line
//   figure: <key> <value> <unit>
// beside its human-readable output; bench/figures.sh puts the value recorded
// in docs/benchmarks.md (table "Recorded figures") beside each, so that a
// regression shows the day it lands. Units ending in "/s" (and "x", a ratio
// to a peer) are better when higher, all others when lower.
#pragma once

#include <cstdio>
#include <string_view>

#include "fmt/format.h"

namespace strata::bench {

inline void Figure(std::string_view key, double value, std::string_view unit) {
  fmt::print("figure: {} {:.6g} {}\n", key, value, unit);
  std::fflush(stdout);
}

}  // namespace strata::bench
