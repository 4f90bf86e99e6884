# Writes assets.cc: the console's CSS and JavaScript as string constants, so
# the binary serves them itself (no files to install, no network).
#   cmake -DSRC=<console dir> -DOUT=<file> -P embed_assets.cmake
file(READ "${SRC}/assets/console.css" CSS)
file(READ "${SRC}/assets/console.js" JS)
file(WRITE "${OUT}.tmp" "// Generated from console/assets by embed_assets.cmake; do not edit.\n#include \"console/assets.h\"\nnamespace strata::console {\nconst std::string_view kConsoleCss = R\"strata_css(${CSS})strata_css\";\nconst std::string_view kConsoleJs = R\"strata_js(${JS})strata_js\";\n}  // namespace strata::console\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
