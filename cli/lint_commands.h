// The strata CLI's `lint`: a team's policy (lib/policy) over definition
// files and folders, offline. Exit 0 clean or warnings only, 1 errors, 2 a
// policy file or SQL that cannot be read.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace strata::cli {

struct LintCommands {
  CLI::App* lint = nullptr;
  std::vector<std::string> paths;
  std::string policy_file, format = "text";
  bool rules = false;
  bool json = false;  // `lint --json` (the global --json works too)
};

void AddLintCommands(CLI::App& app, LintCommands* cmds);

// Runs `lint` when the user gave it; nullopt otherwise. `json`: --json.
std::optional<int> RunLintCommand(const LintCommands& cmds, bool json);

}  // namespace strata::cli
