// The strata CLI's `lint` and `policy` commands. `lint`: a team's policy
// (lib/policy) over definition files and folders — the file given with
// --policy, else the policy in force on the server when it can be reached,
// else the rules' defaults. Exit 0 clean or warnings only, 1 errors, 2 a
// policy file or SQL that cannot be read. `policy set|show|diff|waive`: the
// policy versioned in the log (lock service).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common.h"

namespace strata::cli {

struct LintCommands {
  CLI::App* lint = nullptr;
  CLI::App *policy_set = nullptr, *policy_show = nullptr, *policy_diff = nullptr, *policy_waive = nullptr;
  std::string file, message, object, rule, reason;
  uint64_t version = 0, from = 0, to = 0;
  std::vector<std::string> paths;
  std::string policy_file, format = "text";
  bool rules = false;
  bool json = false;  // `lint --json` (the global --json works too)
};

void AddLintCommands(CLI::App& app, LintCommands* cmds);

// Runs `lint` or `policy ...` when the user gave it; nullopt otherwise.
std::optional<int> RunLintCommand(const LintCommands& cmds, Client& client, const Globals& g);

}  // namespace strata::cli
