#include "sql/risk.h"

#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "fmt/format.h"
#include "sql/parse.h"

namespace strata::sql {

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kLow: return "low";
    case Severity::kMedium: return "medium";
    case Severity::kHigh: return "high";
  }
  return "?";
}

namespace {

using pg_query::Node;

struct TypeParts {
  std::string base;
  std::vector<int> mods;
  bool array = false;
};

TypeParts Split(const std::string& type) {
  TypeParts p;
  std::string t = type;
  while (t.size() >= 2 && t.compare(t.size() - 2, 2, "[]") == 0) {
    p.array = true;
    t.resize(t.size() - 2);
  }
  const size_t open = t.find('(');
  p.base = t.substr(0, open);
  if (open != std::string::npos && t.back() == ')') {
    for (absl::string_view m : absl::StrSplit(t.substr(open + 1, t.size() - open - 2), ',')) {
      int v;
      if (absl::SimpleAtoi(m, &v)) p.mods.push_back(v);
    }
  }
  return p;
}

int IntegerRank(const std::string& base) {
  if (base == "smallint") return 1;
  if (base == "integer") return 2;
  if (base == "bigint") return 3;
  return 0;
}

// Classifies a column type change the way PostgreSQL executes it.
ColumnTypeChange ClassifyTypeChange(const std::string& column, const std::string& from, const std::string& to) {
  ColumnTypeChange c{column, from, to, /*narrowing=*/false, /*rewrite=*/true};
  const TypeParts a = Split(from), b = Split(to);
  if (a.array != b.array) return c;
  const bool a_var = a.base == "character varying", b_var = b.base == "character varying";
  if (a_var && (b_var || b.base == "text")) {
    if (b_var && !b.mods.empty() && (a.mods.empty() || b.mods[0] < a.mods[0])) c.narrowing = true;
    else c.rewrite = false;  // binary-compatible, no rewrite
    return c;
  }
  if (a.base == "text" && b_var) {
    if (b.mods.empty()) c.rewrite = false;
    else c.narrowing = true;
    return c;
  }
  if ((a.base == "character" || a.base == "text" || a_var) && b.base == "character") {
    c.narrowing = !b.mods.empty() && (a.mods.empty() || b.mods[0] < a.mods[0]);
    return c;
  }
  if (a.base == "numeric" && b.base == "numeric") {
    const int ap = a.mods.empty() ? 1000 : a.mods[0], as = a.mods.size() > 1 ? a.mods[1] : 0;
    const int bp = b.mods.empty() ? 1000 : b.mods[0], bs = b.mods.size() > 1 ? b.mods[1] : 0;
    if (b.mods.empty() || (bs == as && bp >= ap)) c.rewrite = false;
    else if (bp < ap || bs < as || bp - bs < ap - as) c.narrowing = true;
    return c;
  }
  const int ra = IntegerRank(a.base), rb = IntegerRank(b.base);
  if (ra && rb) {
    c.narrowing = rb < ra;
    return c;
  }
  if (ra && b.base == "numeric") return c;
  if ((a.base == "numeric" || a.base == "double precision" || a.base == "real") && rb) {
    c.narrowing = true;
    return c;
  }
  if (a.base == "double precision" && b.base == "real") c.narrowing = true;
  if (a.base == "timestamp with time zone" && b.base == "date") c.narrowing = true;
  if (a.base == "timestamp without time zone" && b.base == "date") c.narrowing = true;
  if (b.base == "text" || b_var) return c;  // everything has a text form
  if (a.base != b.base) c.narrowing = c.narrowing || (a.base != "date" && b.base != "timestamp with time zone" &&
                                                        b.base != "timestamp without time zone" && !rb);
  return c;
}

bool IsRelationKind(const std::string& kind) {
  return kind == "table" || kind == "view" || kind == "materialized_view";
}

void AddFinding(ProposedChange* change, std::string code, Severity severity, std::string reason) {
  change->findings.push_back({std::move(code), severity, change->object.ToString(), std::move(reason)});
}

void TypeChangeFindings(ProposedChange* change, const ColumnTypeChange& c) {
  if (c.narrowing) {
    AddFinding(change, "narrow-column-type", Severity::kHigh,
               fmt::format("column {} narrows from {} to {}: existing values may not fit, and the table is "
                           "rewritten under an ACCESS EXCLUSIVE lock",
                           c.column, c.from, c.to));
  } else if (c.rewrite) {
    AddFinding(change, "change-column-type", Severity::kHigh,
               fmt::format("column {} changes from {} to {}: the table and its indexes are rewritten under an "
                           "ACCESS EXCLUSIVE lock (slow on a large table)",
                           c.column, c.from, c.to));
  } else {
    AddFinding(change, "change-column-type", Severity::kLow,
               fmt::format("column {} changes from {} to {} (no rewrite needed)", c.column, c.from, c.to));
  }
}

void AddedColumnFindings(ProposedChange* change, const Column& c, bool table_exists) {
  if (!table_exists) return;
  if (c.not_null && !c.has_default)
    AddFinding(change, "add-not-null-without-default", Severity::kHigh,
               fmt::format("new column {} is NOT NULL without a default: fails if the table has rows", c.name));
  if (c.volatile_default)
    AddFinding(change, "volatile-default-rewrite", Severity::kHigh,
               fmt::format("new column {} has a volatile default: every row is rewritten under an ACCESS "
                           "EXCLUSIVE lock; add the column without it and backfill in batches",
                           c.name));
}

// Compares the current definition with a proposed full one.
void CompareDefinitions(ProposedChange* change, const ObjectInfo& before, const ObjectInfo& after) {
  const std::string& kind = after.id.kind;
  if (IsRelationKind(kind) || kind == "type") {
    for (const auto& c : before.columns) {
      const Column* now = after.FindColumn(c.name);
      if (!now) {
        change->dropped_columns.push_back(c.name);
        continue;
      }
      if (!c.type.empty() && !now->type.empty() && c.type != now->type) {
        change->type_changes.push_back(ClassifyTypeChange(c.name, c.type, now->type));
        if (kind == "table") TypeChangeFindings(change, change->type_changes.back());
      }
      if (kind == "table" && now->not_null && !c.not_null)
        AddFinding(change, "set-not-null", Severity::kMedium,
                   fmt::format("column {} becomes NOT NULL: the whole table is scanned under an ACCESS "
                               "EXCLUSIVE lock (add a CHECK ... NOT VALID and validate it first)",
                               c.name));
    }
    for (const auto& d : change->dropped_columns) {
      if (kind == "table")
        AddFinding(change, "drop-column", Severity::kHigh, fmt::format("drops column {}: its data is lost", d));
    }
    if (kind == "table")
      for (const auto& c : after.columns)
        if (!before.FindColumn(c.name)) AddedColumnFindings(change, c, /*table_exists=*/true);
  }
  if (kind == "table") {
    // Foreign keys new to the table validate every row.
    for (const auto& fk : after.foreign_keys) {
      const bool existed = std::any_of(before.foreign_keys.begin(), before.foreign_keys.end(), [&](const ForeignKey& o) {
        return o.columns == fk.columns && o.ref_schema == fk.ref_schema && o.ref_table == fk.ref_table;
      });
      if (!existed)
        AddFinding(change, "constraint-without-not-valid", Severity::kMedium,
                   fmt::format("new foreign key ({}) -> {}.{} validates every row while both tables are "
                               "locked; add it NOT VALID, then VALIDATE CONSTRAINT",
                               absl::StrJoin(fk.columns, ", "), fk.ref_schema, fk.ref_table));
    }
  }
  if ((kind == "function") && before.return_type != after.return_type) {
    change->return_type_changed = true;
    AddFinding(change, "function-return-type-change", Severity::kMedium,
               fmt::format("the return type changes from {} to {}: CREATE OR REPLACE cannot do that, the "
                           "function must be dropped and created",
                           before.return_type, after.return_type));
  }
  if (kind == "type" && !before.enum_labels.empty()) {
    for (const auto& l : before.enum_labels)
      if (std::find(after.enum_labels.begin(), after.enum_labels.end(), l) == after.enum_labels.end())
        AddFinding(change, "enum-value-removed", Severity::kHigh,
                   fmt::format("enum value '{}' is removed: PostgreSQL cannot drop enum values, the type must be "
                               "rebuilt and rows using the value fail",
                               l));
  }
}

class MigrationReader {
 public:
  MigrationReader(ProposedChange* change, const ObjectInfo* before, const AnalyzeOptions& options,
                  const ParsedSql& parsed)
      : change_(change), before_(before), options_(options), parsed_(parsed) {
    if (before) after_ = *before;
  }

  absl::Status Read() {
    for (int i = 0; i < parsed_.size(); ++i)
      if (absl::Status s = Statement(parsed_.statement(i), i); !s.ok()) return s;
    if (!change_->drops_object) change_->after = after_;
    return absl::OkStatus();
  }

 private:
  bool IsObject(const std::vector<std::string>& names) const {
    if (names.empty()) return false;
    std::string bare = change_->object.name;
    if (size_t p = bare.find('('); p != std::string::npos) bare = bare.substr(0, p);
    const std::string schema = names.size() >= 2 ? model::QuoteIdentifier(names[names.size() - 2])
                                                  : model::QuoteIdentifier(options_.search_path.empty()
                                                                               ? "public"
                                                                               : options_.search_path.front());
    return model::QuoteIdentifier(names.back()) == bare && schema == change_->object.schema;
  }
  absl::Status NotAbout(int i, const std::vector<std::string>& names) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: this statement is about {}, not {}; propose changes to one object at a time",
        WhereInText(parsed_.source(), parsed_.StatementOffset(i)), absl::StrJoin(names, "."),
        change_->object.ToString()));
  }
  Column* AfterColumn(const std::string& name) {
    for (auto& c : after_.columns)
      if (c.name == name) return &c;
    return nullptr;
  }

  absl::Status Statement(const Node& stmt, int i);
  absl::Status AlterTable(const pg_query::AlterTableStmt& a, int i);

  ProposedChange* change_;
  const ObjectInfo* before_;
  const AnalyzeOptions& options_;
  const ParsedSql& parsed_;
  ObjectInfo after_;
};

absl::Status MigrationReader::AlterTable(const pg_query::AlterTableStmt& a, int i) {
  if (!IsObject(RangeVarNames(a.relation()))) return NotAbout(i, RangeVarNames(a.relation()));
  for (const auto& n : a.cmds()) {
    const auto& cmd = n.alter_table_cmd();
    switch (cmd.subtype()) {
      case pg_query::AT_DropColumn: {
        change_->dropped_columns.push_back(cmd.name());
        AddFinding(change_, "drop-column", Severity::kHigh,
                   fmt::format("drops column {}: its data is lost", cmd.name()));
        after_.columns.erase(std::remove_if(after_.columns.begin(), after_.columns.end(),
                                            [&](const Column& c) { return c.name == cmd.name(); }),
                             after_.columns.end());
        break;
      }
      case pg_query::AT_AlterColumnType: {
        // The new type as the analysis spells it: analyze a one-column table.
        std::string to = "?";
        if (cmd.def().has_column_def()) {
          // Format the TypeName directly.
          const auto& t = cmd.def().column_def().type_name();
          std::vector<std::string> names;
          for (const auto& x : t.names()) names.push_back(x.string().sval());
          std::string base = names.size() == 2 && names[0] == "pg_catalog" ? model::CanonicalTypeName(names[1])
                                                                          : model::CanonicalTypeName(names.back());
          std::vector<std::string> mods;
          for (const auto& m : t.typmods())
            if (m.has_a_const() && m.a_const().has_ival()) mods.push_back(std::to_string(m.a_const().ival().ival()));
          if (!mods.empty()) base += "(" + absl::StrJoin(mods, ",") + ")";
          for (int k = 0; k < t.array_bounds_size(); ++k) base += "[]";
          to = base;
        }
        Column* c = AfterColumn(cmd.name());
        const std::string from = c ? c->type : "";
        ColumnTypeChange tc = from.empty() ? ColumnTypeChange{cmd.name(), "(unknown)", to, false, true}
                                           : ClassifyTypeChange(cmd.name(), from, to);
        change_->type_changes.push_back(tc);
        TypeChangeFindings(change_, tc);
        if (c) c->type = to;
        break;
      }
      case pg_query::AT_AddColumn: {
        if (!cmd.def().has_column_def()) break;
        const auto& cd = cmd.def().column_def();
        Column c;
        c.name = cd.colname();
        c.not_null = cd.is_not_null();
        for (const auto& k : cd.constraints()) {
          if (!k.has_constraint()) continue;
          const auto t = k.constraint().contype();
          if (t == pg_query::CONSTR_NOTNULL || t == pg_query::CONSTR_PRIMARY) c.not_null = true;
          if (t == pg_query::CONSTR_DEFAULT || t == pg_query::CONSTR_IDENTITY || t == pg_query::CONSTR_GENERATED) {
            c.has_default = true;
            if (t == pg_query::CONSTR_DEFAULT && k.constraint().has_raw_expr())
              c.volatile_default = CallsVolatileFunction(k.constraint().raw_expr());
          }
        }
        AddedColumnFindings(change_, c, /*table_exists=*/before_ != nullptr);
        after_.columns.push_back(c);
        break;
      }
      case pg_query::AT_SetNotNull:
        AddFinding(change_, "set-not-null", Severity::kMedium,
                   fmt::format("column {} becomes NOT NULL: the whole table is scanned under an ACCESS EXCLUSIVE "
                               "lock (add a CHECK ... NOT VALID and validate it first)",
                               cmd.name()));
        if (Column* c = AfterColumn(cmd.name())) c->not_null = true;
        break;
      case pg_query::AT_AddConstraint: {
        if (!cmd.def().has_constraint()) break;
        const auto& k = cmd.def().constraint();
        if ((k.contype() == pg_query::CONSTR_FOREIGN || k.contype() == pg_query::CONSTR_CHECK) &&
            !k.skip_validation())
          AddFinding(change_, "constraint-without-not-valid", Severity::kMedium,
                     fmt::format("constraint {} validates every row under lock; add it NOT VALID, then VALIDATE "
                                 "CONSTRAINT",
                                 k.conname().empty() ? "(unnamed)" : k.conname()));
        break;
      }
      default:
        break;
    }
  }
  return absl::OkStatus();
}

absl::Status MigrationReader::Statement(const Node& stmt, int i) {
  if (stmt.has_alter_table_stmt()) return AlterTable(stmt.alter_table_stmt(), i);
  if (stmt.has_drop_stmt()) {
    const auto& d = stmt.drop_stmt();
    for (const auto& o : d.objects()) {
      auto names = NamesOf(o);
      if (!IsObject(names)) return NotAbout(i, names);
    }
    ProposedChange dropped = DropChange(change_->object);
    change_->drops_object = true;
    change_->findings.insert(change_->findings.end(), dropped.findings.begin(), dropped.findings.end());
    return absl::OkStatus();
  }
  if (stmt.has_rename_stmt()) {
    const auto& r = stmt.rename_stmt();
    std::vector<std::string> names = r.has_relation() ? RangeVarNames(r.relation()) : NamesOf(r.object());
    if (!IsObject(names)) return NotAbout(i, names);
    if (r.rename_type() == pg_query::OBJECT_COLUMN || r.rename_type() == pg_query::OBJECT_ATTRIBUTE) {
      change_->renamed_columns.push_back({r.subname(), r.newname()});
      if (Column* c = AfterColumn(r.subname())) c->name = r.newname();
      AddFinding(change_, "rename-column", Severity::kMedium,
                 fmt::format("renames column {} to {}: queries and code using the old name break", r.subname(),
                             r.newname()));
    } else if (r.rename_type() != pg_query::OBJECT_TABCONSTRAINT && r.rename_type() != pg_query::OBJECT_TRIGGER) {
      change_->renamed_to = r.newname();
      AddFinding(change_, "rename-object", Severity::kMedium,
                 fmt::format("renames {} to {}: queries and code using the old name break",
                             change_->object.ToString(), r.newname()));
    }
    return absl::OkStatus();
  }
  if (stmt.has_index_stmt()) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: an index is an object of its own; analyze the index (index:{}.{}) with its CREATE INDEX",
        WhereInText(parsed_.source(), parsed_.StatementOffset(i)), change_->object.schema,
        stmt.index_stmt().idxname()));
  }
  if (stmt.has_comment_stmt() || stmt.has_grant_stmt() || stmt.has_alter_owner_stmt()) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format(
      "{}: a proposed change is a full definition (CREATE ...) or ALTER / DROP / RENAME statements about "
      "the object",
      WhereInText(parsed_.source(), parsed_.StatementOffset(i))));
}

}  // namespace

ProposedChange DropChange(const model::ObjectId& object) {
  ProposedChange change;
  change.object = object;
  change.drops_object = true;
  if (object.kind == "table")
    AddFinding(&change, "drop-table", Severity::kHigh,
               fmt::format("drops table {} and all its data", object.QualifiedName()));
  else
    AddFinding(&change, "drop-object", Severity::kMedium, fmt::format("drops {}", object.ToString()));
  return change;
}

ProposedChange DescribeDefinitionChange(const ObjectInfo& before, const ObjectInfo& after) {
  ProposedChange change;
  change.object = after.id;
  CompareDefinitions(&change, before, after);
  if (after.id.kind == "index" && !after.index_concurrently)
    AddFinding(&change, "index-without-concurrently", Severity::kMedium,
               fmt::format("rebuilding the index without CONCURRENTLY blocks writes to {} while it builds",
                           after.index_table));
  change.after = after;
  return change;
}

absl::StatusOr<ProposedChange> DescribeChange(const model::ObjectId& object, const ObjectInfo* before,
                                              std::string_view proposed, const AnalyzeOptions& options) {
  ProposedChange change;
  change.object = object;
  change.creates = before == nullptr;
  auto parsed = ParsedSql::Parse(proposed);
  if (!parsed.ok()) return parsed.status();
  if (parsed->size() == 0) return absl::InvalidArgumentError("the proposed change contains no SQL statement");
  bool has_create = false;
  for (int i = 0; i < parsed->size(); ++i) has_create = has_create || IsDefinitionStatement(parsed->statement(i));
  if (has_create) {
    if (absl::Status s = CheckDefines(proposed, object, options); !s.ok()) return s;
    auto after = AnalyzeDefinition(proposed, options);
    if (!after.ok()) return after.status();
    if (before) {
      CompareDefinitions(&change, *before, *after);
    } else if (after->id.kind == "index" && !after->index_concurrently) {
      // A new index on a table that exists already blocks its writes.
      const auto dot = after->index_table.find('.');
      const bool table_exists = options.catalog && options.catalog->exists &&
                                options.catalog->exists(RefClass::kRelation, after->index_table.substr(0, dot),
                                                        after->index_table.substr(dot + 1));
      if (table_exists)
        AddFinding(&change, "index-without-concurrently", Severity::kMedium,
                   fmt::format("CREATE INDEX without CONCURRENTLY blocks writes to {} while it builds",
                               after->index_table));
    }
    if (before && after->id.kind == "index" && !after->index_concurrently)
      AddFinding(&change, "index-without-concurrently", Severity::kMedium,
                 fmt::format("rebuilding the index without CONCURRENTLY blocks writes to {} while it builds",
                             after->index_table));
    change.after = std::move(*after);
    return change;
  }
  if (!before)
    return absl::FailedPreconditionError(fmt::format(
        "{} has no version yet; propose its full definition (CREATE ...)", object.ToString()));
  MigrationReader reader(&change, before, options, *parsed);
  if (absl::Status s = reader.Read(); !s.ok()) return s;
  return change;
}

std::vector<Breakage> BreakingDependents(ProposedChange* change, const std::vector<DependentUse>& dependents) {
  std::vector<Breakage> broken;
  const std::string target = change->object.ToString();
  auto uses_column = [](const DependentUse& d, const std::string& column) {
    return std::find(d.columns.begin(), d.columns.end(), column) != d.columns.end() ||
           (d.all_columns && d.columns.empty());
  };
  auto via = [](const DependentUse& d, std::string_view v) {
    return std::find(d.via.begin(), d.via.end(), v) != d.via.end();
  };
  std::vector<std::string> callers, users, renamed_users, column_users;
  for (const auto& d : dependents) {
    if (change->drops_object) {
      broken.push_back({d.object, fmt::format("uses {}, which would be dropped", target)});
      if (change->object.kind == "function" || change->object.kind == "procedure") {
        if (d.kind == "view" || d.kind == "materialized_view" || d.kind == "trigger") callers.push_back(d.object);
        else users.push_back(d.object);
      } else {
        users.push_back(d.object);
      }
      continue;
    }
    if (!change->renamed_to.empty() && via(d, "body")) {
      // Views, foreign keys and triggers follow a rename (PostgreSQL keeps
      // them by OID); function bodies are text and do not.
      broken.push_back({d.object, fmt::format("its body names {}, which would be renamed to {}",
                                              change->object.QualifiedName(), change->renamed_to)});
      renamed_users.push_back(d.object);
      continue;
    }
    bool done = false;
    for (const auto& c : change->dropped_columns) {
      if (!uses_column(d, c)) continue;
      broken.push_back({d.object, fmt::format("uses column {}, which would be dropped", c)});
      column_users.push_back(d.object);
      done = true;
      break;
    }
    if (done) continue;
    for (const auto& [from, to] : change->renamed_columns) {
      if (!uses_column(d, from) || !via(d, "body")) continue;
      broken.push_back({d.object, fmt::format("its body uses column {}, which would be renamed to {}", from, to)});
      renamed_users.push_back(d.object);
      done = true;
      break;
    }
    if (done) continue;
    for (const auto& tc : change->type_changes) {
      if (!uses_column(d, tc.column)) continue;
      if (d.kind == "view" || d.kind == "materialized_view") {
        broken.push_back({d.object, fmt::format("uses column {}, whose type would change from {} to {}: "
                                                "PostgreSQL refuses to change the type of a column a view uses",
                                                tc.column, tc.from, tc.to)});
        column_users.push_back(d.object);
        done = true;
        break;
      }
      if (via(d, "body") || via(d, "foreign key")) {
        broken.push_back({d.object, fmt::format("uses column {}, whose type would change from {} to {}", tc.column,
                                                tc.from, tc.to)});
        column_users.push_back(d.object);
        done = true;
        break;
      }
    }
    if (done) continue;
    if (change->return_type_changed) {
      broken.push_back({d.object, fmt::format("calls {}, whose return type would change", target)});
      callers.push_back(d.object);
    }
  }
  if (change->drops_object && !callers.empty())
    AddFinding(change, "drop-function-in-use", Severity::kHigh,
               fmt::format("views or triggers still call it: {}", absl::StrJoin(callers, ", ")));
  if (change->drops_object && !users.empty())
    AddFinding(change, "drop-in-use", Severity::kHigh,
               fmt::format("still used by: {}", absl::StrJoin(users, ", ")));
  if (!renamed_users.empty())
    AddFinding(change, "rename-breaks-dependents", Severity::kHigh,
               fmt::format("code that uses the old name breaks: {}", absl::StrJoin(renamed_users, ", ")));
  if (!column_users.empty())
    AddFinding(change, "column-change-breaks-dependents", Severity::kHigh,
               fmt::format("dependents use a dropped or changed column: {}", absl::StrJoin(column_users, ", ")));
  return broken;
}

absl::StatusOr<std::vector<std::string>> RenameStatements(const model::ObjectId& object, std::string_view to) {
  static const std::map<std::string, std::string, std::less<>> kAlter = {
      {"table", "ALTER TABLE"},         {"view", "ALTER VIEW"},           {"materialized_view", "ALTER MATERIALIZED VIEW"},
      {"sequence", "ALTER SEQUENCE"},   {"function", "ALTER FUNCTION"},   {"procedure", "ALTER PROCEDURE"},
      {"type", "ALTER TYPE"},           {"domain", "ALTER DOMAIN"},       {"schema", "ALTER SCHEMA"}};
  auto alter = kAlter.find(object.kind);
  if (alter == kAlter.end())
    return absl::InvalidArgumentError(fmt::format(
        "{} {} is not renamed on its own (it follows its table; rename the table)",
        object.kind == "index" ? "an" : "a", object.kind));
  const std::string target(to);
  if (target.empty()) return absl::InvalidArgumentError("the new name is empty");
  if (object.kind == "schema") return std::vector<std::string>{fmt::format("{} {} RENAME TO {}", alter->second, object.name, target)};
  const size_t dot = target.rfind('.');
  const std::string to_schema = dot == std::string::npos ? object.schema : target.substr(0, dot);
  const std::string to_name = dot == std::string::npos ? target : target.substr(dot + 1);
  std::vector<std::string> out;
  std::string current = object.QualifiedName();
  const std::string bare = object.name.substr(0, object.name.find('('));
  if (to_schema != object.schema) {
    out.push_back(fmt::format("{} {} SET SCHEMA {}", alter->second, current, to_schema));
    current = to_schema + "." + object.name;
  }
  if (to_name != bare) out.push_back(fmt::format("{} {} RENAME TO {}", alter->second, current, to_name));
  return out;
}

}  // namespace strata::sql
