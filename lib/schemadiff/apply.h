// Running a migration script in one transaction.
#pragma once

#include <string>

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
absl::StatusOr<ApplyResult> ApplyScript(pg::Session& session, const std::string& script,
                                        const std::string& script_name);

}  // namespace strata::schemadiff
