// The strata CLI's impact commands: deps, impact, order.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common.h"

namespace strata::cli {

struct ImpactCommands {
  CLI::App* deps = nullptr;
  CLI::App* impact = nullptr;
  CLI::App* order = nullptr;

  std::vector<std::string> objects;
  std::string object, proposed, rename;
  uint32_t depth = 0;
  bool drop = false;
};

void AddImpactCommands(CLI::App& app, ImpactCommands* cmds);

// Runs the impact command the user gave; nullopt when it was another one.
std::optional<int> RunImpactCommand(const ImpactCommands& cmds, Client& client, const Globals& g);

}  // namespace strata::cli
