// Running a migration script in one transaction.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "pg/pg.h"

namespace strata::schemadiff {

struct ApplyResult {
  int statements = 0;
  double seconds = 0;
};

// Runs `script` statement by statement inside one transaction on `session`:
// all of it or nothing. A failure rolls back and names the statement, its
// line in the script (`script_name`:line:column) and PostgreSQL's message.
// Transaction control in the script (BEGIN, COMMIT, ...) is refused, since it
// would break the one-transaction promise.
struct ApplyOptions {
  // Statements run in the same transaction after the script, before COMMIT
  // (a deployment records its id in the target database with them, so that
  // whether it committed can be read back after a crash).
  std::vector<std::string> epilogue;
  // Called inside the transaction after the epilogue, just before COMMIT
  // (tests' fault points).
  std::function<void()> before_commit;
};

absl::StatusOr<ApplyResult> ApplyScript(pg::Session& session, const std::string& script,
                                        const std::string& script_name, const ApplyOptions& options = {});

}  // namespace strata::schemadiff
