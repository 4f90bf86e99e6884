// The strata CLI's history commands: log, show OBJECT@N, diff, blame, audit,
// baseline, revert, status.
#pragma once

#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "common.h"

namespace strata::cli {

struct HistoryCommands {
  CLI::App* log = nullptr;
  CLI::App* diff = nullptr;
  CLI::App* blame = nullptr;
  CLI::App* audit = nullptr;
  CLI::App* baseline = nullptr;
  CLI::App* baseline_create = nullptr;
  CLI::App* baseline_list = nullptr;
  CLI::App* baseline_show = nullptr;
  CLI::App* baseline_diff = nullptr;
  CLI::App* revert = nullptr;
  CLI::App* status = nullptr;
  CLI::App* task_show = nullptr;
  std::string task;

  std::string object, name, other, description, message;
  uint64_t from = 0, to = 0;
  // audit filters
  std::string user, action, outcome, since, until, export_file;
  int limit = 50;
  bool oldest_first = false, verify = false;
  uint32_t recent = 10;
};

void AddHistoryCommands(CLI::App& app, HistoryCommands* cmds);

// Runs the history command the user gave; nullopt when it was another one.
std::optional<int> RunHistoryCommand(const HistoryCommands& cmds, Client& client, const Globals& g);

// `strata show OBJECT@N`: one version from the history.
int ShowVersion(Client& client, const Globals& g, const std::string& object_at_version,
                bool definition_only);

}  // namespace strata::cli
