// The differ: two catalog models in, the ordered steps that turn the first
// into the second out.
//
// Order: (1) drop what must go first: objects that change in a way ALTER
// cannot express, everything that depends on them, and removed constraints,
// indexes, triggers, policies, views and comments; dependents before what
// they depend on. (2) create and alter in dependency order of the target:
// ALTER TABLE for columns, ALTER SEQUENCE/TYPE/DOMAIN, CREATE OR REPLACE for
// functions and views where PostgreSQL allows it, re-creation of what (1)
// dropped. (3) drop removed tables, columns, sequences, types, functions,
// schemas and extensions, dependents first; last, so that nothing created in
// (2) still needs them.
//
// Steps that lose data (dropping a table or a column, a column type change
// that is not a widening, removing enum values) are marked; Diff refuses them
// unless DiffOptions::allow_data_loss.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "schemadiff/catalog.h"

namespace strata::schemadiff {

struct Step {
  std::string sql;        // one statement, no trailing ';'
  std::string object;     // key of the object it is about
  std::string data_loss;  // "" or what is lost, e.g. "drops table public.t and its rows"
};

struct Plan {
  std::vector<Step> steps;
  int created = 0, altered = 0, dropped = 0, recreated = 0;
  std::vector<std::string> data_loss;  // one line per step that loses data
  bool empty() const { return steps.empty(); }
};

struct DiffOptions {
  bool allow_data_loss = false;
};

// The steps from `from` to `to`. FAILED_PRECONDITION when a step loses data
// and options.allow_data_loss is false (the message lists every such step).
absl::StatusOr<Plan> Diff(const Catalog& from, const Catalog& to, const DiffOptions& options = {});

// The plan as a script psql or ApplyScript runs: a header, then each step
// followed by ';', data-loss steps preceded by a "-- DATA LOSS:" comment.
std::string RenderScript(const Plan& plan, const std::string& title);

// The summary for people: counts, then each data-loss step.
std::string Summary(const Plan& plan);

}  // namespace strata::schemadiff
