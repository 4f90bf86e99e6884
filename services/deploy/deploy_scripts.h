// What a deployment runs, as text: the script (schema steps, reference data
// steps, then the release's data scripts, in order) and its rollback script
// (the data undo scripts in reverse order, the reference data steps back,
// then the schema steps back), and the set
// arithmetic on environment states the deploy service needs. No I/O.
#pragma once

#include <string>
#include <vector>

#include "schemadiff/diff.h"
#include "strata/v1/deploy.pb.h"

namespace strata::deploy {

using Entries = google::protobuf::RepeatedPtrField<v1::BaselineEntry>;

struct Scripts {
  std::string script;
  std::string rollback;
};

// `release` may be null (no data scripts). `title` heads both scripts.
// `data_forward` (reference data steps) runs after the schema steps and
// before the data scripts, followed by the schema steps of `after_data`
// (those that need its rows); `data_backward` after the undo data scripts and
// before the schema steps back.
Scripts ComposeScripts(const schemadiff::Plan& forward, const schemadiff::Plan& backward, const v1::Release* release,
                       const std::string& title, const std::string& data_forward = "",
                       const std::string& data_backward = "", const schemadiff::Plan* after_data = nullptr);

// `sql` ending in ';' (on a line of its own when it did not), so that what
// follows it in a script starts a new statement even after a line comment.
std::string Terminated(const std::string& sql);

// "release R to E (from R0 | its imported state | an empty schema)".
std::string DeploymentTitle(const std::string& release, const v1::Environment& env);

// Objects whose version differs between two states (added, removed or
// changed), sorted.
std::vector<std::string> ChangedObjects(const Entries& before, const Entries& after);

// Whether two states hold the same objects at the same versions.
bool SameEntries(const Entries& a, const Entries& b);

}  // namespace strata::deploy
