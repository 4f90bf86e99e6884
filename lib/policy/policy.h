// strata_policy: a team's rules for definitions (issue 23) — a naming scheme,
// structure rules (primary keys, indexed foreign keys, timestamptz, identity
// rather than serial, comments, ...), and the rules of PostgreSQL migration
// linters (squawk) that apply to definitions — stated once in a YAML file
// and evaluated with the SQL model (libpg_query).
//
// A policy file:
//
//   rules:
//     naming-table: {severity: error, pattern: "^[a-z][a-z0-9_]*$", hint: "snake_case"}
//     naming-index: {severity: error, pattern: "^ix_{table}_{columns}$"}
//     require-primary-key: {severity: warning, schemas: ["sales", "billing_*"]}
//
// Each rule has a code, a one-line rationale, a default severity and its
// options (Rules() lists them). A rule the file does not name keeps its
// default severity; `severity: off` turns one off. `schemas` limits a rule
// to schemas matching any of the globs (`*`, `?`).
//
// Contract:
//  * ParsePolicy: INVALID_ARGUMENT naming the line (and column) of an
//    unknown rule (with the nearest known code), an unknown option or
//    severity, or a pattern that does not compile. Never throws.
//  * Lint / Check are pure functions of their inputs; findings are sorted
//    by line, then column, then code, so equal inputs give equal output.
//  * Thread-safety: a Policy is immutable after parsing and may be shared.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace strata::sql {
class ParsedSql;
struct ObjectInfo;
}  // namespace strata::sql

namespace strata::policy {

enum class Severity { kOff, kWarning, kError };
const char* SeverityName(Severity s);

struct RuleInfo {
  std::string code;
  std::string rationale;  // one line: why the rule exists
  Severity default_severity = Severity::kOff;
  std::vector<std::string> options;  // besides severity, schemas and hint
  std::string default_pattern;       // naming rules
};
// Every rule Strata knows, in code order.
const std::vector<RuleInfo>& Rules();
const RuleInfo* FindRule(std::string_view code);

struct RuleConfig {
  Severity severity = Severity::kOff;
  std::map<std::string, std::string> options;  // pattern, max, hint, ...
  std::vector<std::string> schemas;            // globs; empty: every schema
  int line = 0;                                // where the file names it (0: default)
};

struct Policy {
  std::map<std::string, RuleConfig> rules;  // every known rule, by code
  // The rule's configuration for an object in `schema`: its severity is off
  // when the rule's schema globs leave the schema out.
  RuleConfig For(std::string_view code, std::string_view schema) const;
};

// The default policy: every rule at its default severity.
Policy DefaultPolicy();
absl::StatusOr<Policy> ParsePolicy(std::string_view yaml);

struct Finding {
  std::string code;
  Severity severity = Severity::kWarning;
  std::string object;   // Strata id, e.g. "table:sales.orders"
  std::string message;  // "table name \"Orders\" does not match ^[a-z][a-z0-9_]*$ (hint: ...)"
  int line = 0, column = 0;  // in the linted text (1-based; 0: unknown)
};

struct LintOptions {
  // The text is one object's definition (a check-in): rules that need the
  // other objects (require-fk-index: an index is an object of its own) are
  // left to `strata lint` over a whole schema.
  bool one_object = false;
  // With one_object: the definition parsed and analyzed already (by the
  // check-in), so that the lint parses nothing again. Not owned.
  const sql::ParsedSql* parsed = nullptr;
  const sql::ObjectInfo* info = nullptr;
};

// Lints SQL text holding definitions (one object's, a folder's files
// concatenated, or a schema dump): each CREATE statement, with the
// constraints, indexes and comments the text adds to it. INVALID_ARGUMENT
// when it does not parse (line, column).
absl::StatusOr<std::vector<Finding>> Lint(const Policy& policy, std::string_view sql,
                                          const LintOptions& options = {});

// The safety of a change: the previous version's definition `before` to
// `after` (a check-in), by the rules of the same codes as sql::risk's
// (add-not-null-without-default, change-column-type, drop-column, ...).
// Nothing when `before` does not parse; INVALID_ARGUMENT when `after` does not.
absl::StatusOr<std::vector<Finding>> CheckChange(const Policy& policy, std::string_view before,
                                                 std::string_view after);
// The same for definitions analyzed already.
std::vector<Finding> CheckChange(const Policy& policy, const sql::ObjectInfo& before, const sql::ObjectInfo& after);

// At check-out: what the policy's rule require-task (at error) says of
// `task` for an object in `schema` ("" : nothing; else the reason).
std::string CheckTask(const Policy& policy, std::string_view schema, const std::string& task);

// "error naming-table: table:sales.Orders: ..." (no position).
std::string Format(const Finding& f);

}  // namespace strata::policy
