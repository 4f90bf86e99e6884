// DeployServiceImpl (deploy_service_impl.h): reference data in plans. The
// rows Strata deployed to an environment (its state's "data:" entries) are
// taken to the release's rows by keyed INSERT / UPDATE / DELETE statements
// that run after the schema steps, in the deployment's one transaction; the
// rollback script runs the reverse before the schema steps back. Rows of
// tracked tables changed outside Strata are drift; deletes that rows of
// other tables still reference are findings, with counts from the database.
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "deploy/deploy_projection.h"
#include "deploy/deploy_service_impl.h"
#include "fmt/format.h"
#include "model/object_id.h"
#include "refdata/live.h"
#include "sql/analyze.h"
#include "sql/parse.h"

namespace strata::deploy {
namespace {

// Rows of a drifted table shown per plan or drift report.
constexpr size_t kDriftLines = 20;

std::map<std::string, uint64_t> DataVersions(const Entries& entries) {
  std::map<std::string, uint64_t> out;
  for (const auto& e : entries)
    if (detail::IsDataEntry(e.object())) out[e.object().substr(5)] = e.version();
  return out;
}

struct Step {
  std::string table;  // qualified
  refdata::RowSet to_shape, back_shape;
  refdata::RowDiff forward, backward;
  std::set<std::string> parents;  // tracked tables of this plan it references
};

// Parents before children; tables in a cycle (or referencing themselves)
// keep their name order.
std::vector<const Step*> InForeignKeyOrder(const std::vector<Step>& steps) {
  std::vector<const Step*> out;
  std::set<std::string> placed;
  while (out.size() < steps.size()) {
    bool progress = false;
    for (const auto& s : steps) {
      if (placed.count(s.table)) continue;
      if (std::all_of(s.parents.begin(), s.parents.end(),
                      [&](const std::string& p) { return p == s.table || placed.count(p); })) {
        out.push_back(&s);
        placed.insert(s.table);
        progress = true;
      }
    }
    if (!progress)
      for (const auto& s : steps)
        if (!placed.count(s.table)) {
          out.push_back(&s);
          placed.insert(s.table);
          break;
        }
  }
  return out;
}

// Deletes children first, then updates and inserts parents first.
int Render(const std::vector<const Step*>& order, bool forward, std::string* sql) {
  int n = 0;
  auto emit = [&](const std::vector<std::string>& statements) {
    for (const auto& s : statements) {
      *sql += s;
      *sql += ";\n";
      ++n;
    }
  };
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Step& s = **it;
    refdata::RowDiff deletes;
    deletes.deleted = forward ? s.forward.deleted : s.backward.deleted;
    if (deletes.empty()) continue;
    *sql += fmt::format("-- reference data {}: delete {} rows\n", s.table, deletes.deleted.size());
    emit(refdata::Statements(deletes, forward ? s.to_shape : s.back_shape, s.table));
  }
  for (const Step* s : order) {
    refdata::RowDiff rest;
    rest.updated = forward ? s->forward.updated : s->backward.updated;
    rest.inserted = forward ? s->forward.inserted : s->backward.inserted;
    if (rest.empty()) continue;
    *sql += fmt::format("-- reference data {}: update {}, insert {} rows\n", s->table, rest.updated.size(),
                        rest.inserted.size());
    emit(refdata::Statements(rest, forward ? s->to_shape : s->back_shape, s->table));
  }
  return n;
}

}  // namespace

schemadiff::Plan DeployServiceImpl::StepsNeedingData(schemadiff::Plan* forward, const std::set<std::string>& tables) {
  schemadiff::Plan after;
  if (tables.empty()) return after;
  std::vector<schemadiff::Step> kept;
  for (auto& step : forward->steps) {
    bool needs = false;
    if (auto parsed = sql::ParsedSql::Parse(step.sql); parsed.ok() && parsed->size() == 1 &&
                                                        parsed->statement(0).has_alter_table_stmt())
      for (const auto& cmd : parsed->statement(0).alter_table_stmt().cmds()) {
        const auto& c = cmd.alter_table_cmd();
        if (c.subtype() != pg_query::AT_AddConstraint || !c.def().has_constraint()) continue;
        const auto& con = c.def().constraint();
        if (con.contype() != pg_query::CONSTR_FOREIGN) continue;
        const std::string ref = model::QuoteIdentifier(con.pktable().schemaname()) + "." +
                                model::QuoteIdentifier(con.pktable().relname());
        needs |= tables.count(ref) > 0;
      }
    (needs ? after.steps : kept).push_back(std::move(step));
  }
  forward->steps = std::move(kept);
  return after;
}

absl::StatusOr<std::vector<std::string>> DeployServiceImpl::DataDrift(const v1::Environment& env,
                                                                      const Entries& current) {
  std::vector<std::string> out;
  const auto have = DataVersions(current);
  if (have.empty()) return out;
  auto session = Connect(env);
  if (!session.ok()) return session.status();
  for (const auto& [table, version] : have) {
    auto rows = DataRows(table, version);
    if (!rows.ok()) return rows.status();
    auto drift = refdata::CompareRows(**session, table, *rows, kDriftLines);
    if (!drift.ok()) {
      // A missing table is schema drift, reported by the catalog comparison.
      if (drift.status().code() == absl::StatusCode::kNotFound) continue;
      if (drift.status().code() == absl::StatusCode::kUnavailable) return InEnvironment(env, drift.status());
      out.push_back(fmt::format("data {}: rows not compared: {}", table, std::string(drift.status().message())));
      continue;
    }
    for (const auto& line : drift->lines) out.push_back(fmt::format("data {}: {}", table, line));
  }
  return out;
}

absl::StatusOr<DeployServiceImpl::DataPlan> DeployServiceImpl::PlanData(const v1::Environment& env,
                                                                         const Entries& current,
                                                                         const Entries& target) {
  DataPlan plan;
  const auto have = DataVersions(current);
  const auto want = DataVersions(target);
  if (have.empty() && want.empty()) return plan;
  auto drift = DataDrift(env, current);
  if (!drift.ok()) return drift.status();
  plan.drift = std::move(*drift);
  auto session = Connect(env);
  if (!session.ok()) return session.status();

  std::map<std::string, uint64_t> table_versions;
  for (const auto& e : target)
    if (e.object().rfind("table:", 0) == 0) table_versions[e.object().substr(6)] = e.version();
  std::vector<Step> steps;
  for (const auto& [table, version] : want) {
    const auto had = have.find(table);
    if (had != have.end() && had->second == version) continue;
    auto to = DataRows(table, version);
    if (!to.ok()) return to.status();
    // From what Strata deployed there; an environment Strata never gave
    // these rows: from the rows it holds now (none when the table is new).
    refdata::RowSet from;
    std::string from_text;
    bool table_there = true;
    if (had != have.end()) {
      auto rows = DataRows(table, had->second);
      if (!rows.ok()) return rows.status();
      from = std::move(*rows);
      from_text = fmt::format("v{}", had->second);
    } else {
      auto live = refdata::LiveColumns(**session, table);
      if (!live.ok() && live.status().code() != absl::StatusCode::kNotFound) return live.status();
      table_there = live.ok();
      std::vector<refdata::Column> columns;
      if (table_there)
        for (const auto& c : to->columns)
          if (std::any_of(live->begin(), live->end(), [&](const auto& l) { return l.name == c.name; }))
            columns.push_back(c);
      std::vector<std::string> key;
      for (size_t k : to->key) key.push_back(to->columns[k].name);
      if (table_there) {
        auto rows = refdata::ReadRows(**session, table, columns, key);
        if (!rows.ok())
          return absl::Status(rows.status().code(), fmt::format("reference data {} in {}: {}", table, env.name(),
                                                                std::string(rows.status().message())));
        from = std::move(*rows);
      } else {
        from.columns = to->columns;
        from.key = to->key;
      }
      from_text = table_there ? std::string("the rows there now") : std::string("no rows");
    }
    Step step;
    step.table = table;
    auto forward = refdata::Diff(from, *to);
    if (!forward.ok()) return forward.status();
    step.forward = std::move(*forward);
    // Back in the columns both versions have (those only the target has
    // are dropped by the schema steps back, which run afterwards).
    if (table_there) {
      std::vector<std::string> common;
      for (const auto& c : to->columns)
        if (std::any_of(from.columns.begin(), from.columns.end(), [&](const auto& f) { return f.name == c.name; }))
          common.push_back(c.name);
      auto to_common = refdata::Project(*to, common);
      auto from_common = refdata::Project(from, common);
      if (!to_common.ok()) return to_common.status();
      if (!from_common.ok()) return from_common.status();
      auto backward = refdata::Diff(*to_common, *from_common);
      if (!backward.ok()) return backward.status();
      step.backward = std::move(*backward);
      step.back_shape = std::move(*from_common);
    }
    plan.changes.push_back(fmt::format("{}: data {} -> v{}: {} inserted, {} updated, {} deleted", table, from_text,
                                       version, step.forward.inserted.size(), step.forward.updated.size(),
                                       step.forward.deleted.size()));
    // Deleted rows that rows of other tables still reference.
    if (table_there && !step.forward.deleted.empty()) {
      auto refs = refdata::RowsReferencing(**session, table, *to, step.forward.deleted);
      if (!refs.ok()) return refs.status();
      for (const auto& r : *refs) {
        v1::Finding* f = &plan.findings.emplace_back();
        f->set_code("data-delete-referenced");
        f->set_object("data:" + table);
        const bool fails = r.on_delete == "no action" || r.on_delete == "restrict";
        f->set_severity(fails ? "high" : "medium");
        f->set_reason(fmt::format(
            "deletes rows of {} that {} rows of {} reference (foreign key {}, ON DELETE {}): {}", table, r.rows,
            r.table, r.constraint, absl::AsciiStrToUpper(r.on_delete),
            fails ? "the deployment will fail and change nothing"
                  : r.on_delete == "cascade" ? "those rows are deleted too" : "their reference is reset"));
      }
    }
    // Parents: tracked tables of this plan its target definition references.
    if (auto tv = table_versions.find(table); tv != table_versions.end()) {
      auto def = DeployProjection::ReadDefinition(db(), "table:" + table, tv->second);
      if (def.ok())
        if (auto info = sql::AnalyzeDefinition(*def); info.ok())
          for (const auto& fk : info->foreign_keys) step.parents.insert(fk.ref_schema + "." + fk.ref_table);
    }
    step.to_shape = std::move(*to);
    steps.push_back(std::move(step));
  }
  if (steps.empty()) return plan;
  for (const auto& s : steps) plan.tables.insert(s.table);
  const auto order = InForeignKeyOrder(steps);
  plan.statements = Render(order, /*forward=*/true, &plan.forward);
  Render(order, /*forward=*/false, &plan.backward);
  return plan;
}

}  // namespace strata::deploy
