// The strata CLI's deployment commands: env, import, release, plan, approve,
// deploy, drift, rollback, pipeline, deployments, and reference data (data
// track/untrack/show/diff/list; `checkin --data` is in main.cc).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "common.h"

namespace strata::cli {

struct DeployCommands {
  CLI::App *env_list = nullptr, *env_add = nullptr, *env_show = nullptr;
  CLI::App* import = nullptr;
  CLI::App *release_create = nullptr, *release_show = nullptr, *release_list = nullptr;
  CLI::App *plan = nullptr, *approve = nullptr, *deploy = nullptr, *drift = nullptr, *rollback = nullptr;
  CLI::App *pipeline = nullptr, *deployments = nullptr, *abandon = nullptr;
  CLI::App *guard_install = nullptr, *guard_uninstall = nullptr, *guard_status = nullptr;
  CLI::App *data_track = nullptr, *data_untrack = nullptr, *data_show = nullptr, *data_diff = nullptr,
           *data_list = nullptr;
  std::string table;
  std::vector<std::string> key;
  uint64_t from_version = 0, to_version = 0;

  std::string name, url, description, env, release, message, since, override_drift, reason;
  int order = 0;
  bool is_protected = false, allow_data_loss = false, script_only = false, rollback_script = false;
  std::vector<std::string> deployers, objects, data, tasks;
  uint32_t limit = 0;
  std::optional<uint32_t> stale_after;
};

void AddDeployCommands(CLI::App& app, DeployCommands* cmds);

// Runs the deployment command the user gave; nullopt when it was another one.
std::optional<int> RunDeployCommand(const DeployCommands& cmds, Client& client, const Globals& g);

}  // namespace strata::cli
