// Blame: which version wrote each line of a definition.
//
// Given an object's definitions oldest first, Blame attributes each line of
// the last one to the earliest definition from which it survived unchanged
// to the end (a line diff, as `git blame` does, between each definition and
// the next). An empty definition (a dropped version) is skipped: lines that
// a revert brings back keep the versions that first wrote them.
//
// Pure function; thread-safe; never fails (a huge input costs time, as the
// line diff is O((N+M)·D)).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace strata::history {

struct BlamedLine {
  std::string text;   // without its newline
  size_t source = 0;  // index into the definitions given
};

std::vector<BlamedLine> Blame(const std::vector<std::string>& definitions);

}  // namespace strata::history
