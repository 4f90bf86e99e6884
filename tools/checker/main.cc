// strata-check-history FILE [--initial OBJECT=VERSION ...]: checks a history
// (JSON lines, as `make chaos` writes them) and prints the verdict. Exit 0:
// linearizable; 1: an anomaly or an inconclusive search; 2: bad input.
#include <fstream>
#include <iostream>

#include "checker/checker.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: strata-check-history HISTORY.jsonl [OBJECT=VERSION ...]\n";
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::cerr << argv[1] << ": cannot read\n";
    return 2;
  }
  strata::checker::Options options;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    const auto eq = a.rfind('=');
    if (eq == std::string::npos) {
      std::cerr << a << ": expected OBJECT=VERSION\n";
      return 2;
    }
    options.initial_versions.emplace_back(a.substr(0, eq), std::stoull(a.substr(eq + 1)));
  }
  std::vector<strata::checker::Op> ops;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    auto op = strata::checker::FromJsonLine(line);
    if (!op.ok()) {
      std::cerr << argv[1] << ":" << n << ": " << op.status().message() << "\n";
      return 2;
    }
    ops.push_back(std::move(*op));
  }
  const strata::checker::Report r = strata::checker::Check(ops, options);
  std::cout << r.Summary() << "\n";
  return r.valid() ? 0 : 1;
}
