// The strata CLI's schema commands: `schema diff` and `schema apply`. They
// talk to PostgreSQL directly and need no Strata service.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"

namespace strata::cli {

struct SchemaCommands {
  CLI::App* diff = nullptr;
  CLI::App* apply = nullptr;

  std::string from, to, shadow_url, script, url;
  std::vector<std::string> renames, column_renames, value_renames;  // hints: KIND:FROM=TO, S.T.C=NEW, S.T.LABEL=NEW
  bool reverse = false;
  bool allow_data_loss = false;
  bool quiet = false;
};

void AddSchemaCommands(CLI::App& app, SchemaCommands* cmds);

// Runs the schema command the user gave; nullopt when it was another one.
std::optional<int> RunSchemaCommand(const SchemaCommands& cmds);

}  // namespace strata::cli
