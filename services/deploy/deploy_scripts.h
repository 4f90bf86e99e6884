// What a deployment runs, as text: the script (schema steps, then the
// release's data scripts, in order) and its rollback script (the data undo
// scripts in reverse order, then the schema steps back), and the set
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
Scripts ComposeScripts(const schemadiff::Plan& forward, const schemadiff::Plan& backward, const v1::Release* release,
                       const std::string& title);

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
