#include "deploy/deploy_scripts.h"

#include <algorithm>
#include <map>

#include "fmt/format.h"

namespace strata::deploy {
namespace {

std::map<std::string, uint64_t> Versions(const Entries& entries) {
  std::map<std::string, uint64_t> m;
  for (const auto& e : entries) m[e.object()] = e.version();
  return m;
}

}  // namespace

Scripts ComposeScripts(const schemadiff::Plan& forward, const schemadiff::Plan& backward, const v1::Release* release,
                       const std::string& title, const std::string& data_forward, const std::string& data_backward,
                       const schemadiff::Plan* after_data) {
  Scripts out;
  out.script = schemadiff::RenderScript(forward, title);
  // Only rows move: the schema part says so, not that nothing changes.
  auto no_schema_changes = [](std::string* script) {
    constexpr std::string_view kNone = "-- No changes.\n";
    if (script->size() >= kNone.size() && script->compare(script->size() - kNone.size(), kNone.size(), kNone) == 0)
      script->replace(script->size() - kNone.size(), kNone.size(), "-- No schema changes.\n");
  };
  if (!data_forward.empty()) {
    no_schema_changes(&out.script);
    out.script += "\n" + data_forward;
  }
  if (after_data && !after_data->steps.empty()) {
    out.script += "\n-- schema steps that need the rows above\n";
    for (const auto& s : after_data->steps) out.script += s.sql + ";\n";
  }
  std::string undo_data;
  if (release) {
    int n = 0;
    for (const auto& ds : release->data_scripts()) {
      out.script += fmt::format("\n-- data script {}/{}: {} (sha256 {})\n{}\n", ++n, release->data_scripts_size(),
                                ds.name(), ds.sha256(), Terminated(ds.sql()));
      if (!ds.rollback_sql().empty())
        undo_data = fmt::format("\n-- undo data script {}\n{}\n", ds.name(), Terminated(ds.rollback_sql())) + undo_data;
    }
  }
  if (!data_backward.empty()) undo_data += "\n" + data_backward;
  std::string schema_back = schemadiff::RenderScript(backward, "rollback of " + title);
  if (!data_backward.empty()) no_schema_changes(&schema_back);
  out.rollback = fmt::format("-- Undoes: {}\n", title) + undo_data + schema_back;
  return out;
}

std::string Terminated(const std::string& sql) {
  const size_t end = sql.find_last_not_of(" \t\r\n");
  if (end == std::string::npos) return sql;
  std::string out = sql.substr(0, end + 1);
  if (out.back() != ';') out += "\n;";
  return out;
}

std::string DeploymentTitle(const std::string& release, const v1::Environment& env) {
  std::string from = env.current_release();
  if (from.empty()) from = env.state().empty() ? "an empty schema" : "its imported state";
  return fmt::format("release {} to {} (from {})", release, env.name(), from);
}

std::vector<std::string> ChangedObjects(const Entries& before, const Entries& after) {
  const auto was = Versions(before), will = Versions(after);
  std::vector<std::string> changed;
  for (const auto& [id, v] : will)
    if (auto it = was.find(id); it == was.end() || it->second != v) changed.push_back(id);
  for (const auto& [id, v] : was)
    if (!will.count(id)) changed.push_back(id);
  std::sort(changed.begin(), changed.end());
  return changed;
}

bool SameEntries(const Entries& a, const Entries& b) { return Versions(a) == Versions(b); }

}  // namespace strata::deploy
