#include "history/blame.h"

#include <sstream>

#include "dtl/dtl.hpp"

namespace strata::history {
namespace {

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
  return lines;
}

}  // namespace

std::vector<BlamedLine> Blame(const std::vector<std::string>& definitions) {
  std::vector<std::string> lines;  // the latest non-empty definition's lines
  std::vector<size_t> sources;     // and the definition each came from
  for (size_t i = 0; i < definitions.size(); ++i) {
    if (definitions[i].empty()) continue;
    std::vector<std::string> next = Lines(definitions[i]);
    std::vector<size_t> next_sources;
    next_sources.reserve(next.size());
    dtl::Diff<std::string> diff(lines, next);
    diff.onHuge();
    diff.compose();
    size_t before = 0;  // position in `lines`
    for (const auto& [line, info] : diff.getSes().getSequence()) {
      switch (info.type) {
        case dtl::SES_COMMON:
          next_sources.push_back(sources[before++]);
          break;
        case dtl::SES_DELETE:
          ++before;
          break;
        case dtl::SES_ADD:
          next_sources.push_back(i);
          break;
      }
    }
    lines = std::move(next);
    sources = std::move(next_sources);
  }
  std::vector<BlamedLine> out;
  out.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) out.push_back({std::move(lines[i]), sources[i]});
  return out;
}

}  // namespace strata::history
