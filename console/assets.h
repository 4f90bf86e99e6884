// The console's stylesheet and script (console/assets/), built into the
// binary by embed_assets.cmake.
#pragma once

#include <string_view>

namespace strata::console {
extern const std::string_view kConsoleCss;
extern const std::string_view kConsoleJs;
}  // namespace strata::console
