#include "schemadiff/definitions.h"

#include <algorithm>
#include <future>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pg/pg.h"
#include "sql/analyze.h"
#include "sql/parse.h"
#include "sql/validate.h"

namespace strata::schemadiff {
namespace {

bool IsAggregate(const Object& o) {
  return o.kind == Kind::kFunction && !o.create.empty() && absl::StartsWith(o.create[0], "CREATE AGGREGATE");
}

// The object whose definition carries `o` (itself for top-level objects);
// nullptr when it belongs to nothing Strata manages.
const Object* Carrier(const Object& o, const Catalog& catalog) {
  switch (o.kind) {
    case Kind::kOperator:
    case Kind::kTextSearch:
      return nullptr;
    case Kind::kFunction:
      return IsAggregate(o) ? nullptr : &o;
    case Kind::kSequenceOwner:
    case Kind::kConstraint:
    case Kind::kPolicy:
    case Kind::kComment: {
      const Object* parent = catalog.Find(o.parent);
      return parent ? Carrier(*parent, catalog) : nullptr;
    }
    default:
      return &o;
  }
}

// Statements of a definition: the object's own first, then what is about it
// in a stable order (constraints, policies, ownership, comments).
int PartRank(Kind kind) {
  switch (kind) {
    case Kind::kConstraint: return 1;
    case Kind::kPolicy: return 2;
    case Kind::kSequenceOwner: return 3;
    case Kind::kComment: return 4;
    default: return 0;
  }
}

std::string AsScript(const std::vector<std::string>& statements) {
  std::string out;
  for (const auto& s : statements) absl::StrAppend(&out, s, ";\n");
  return out;
}

// SQLSTATEs of "something this statement needs is not there (yet)".
bool MissingDependency(const std::string& sqlstate) {
  return sqlstate == "42P01"     // undefined_table
         || sqlstate == "42704"  // undefined_object (types, ...)
         || sqlstate == "42883"  // undefined_function
         || sqlstate == "3F000"  // invalid_schema_name
         || sqlstate == "42830"  // invalid_foreign_key: the referenced key is added later
         || sqlstate == "42703"; // undefined_column (a column another definition adds)
}

struct PendingStatement {
  size_t definition;
  int index;  // in the definition's parse
};

}  // namespace

bool IsManaged(const Object& object, const Catalog& catalog) { return Carrier(object, catalog) != nullptr; }

CatalogDefinitions DefinitionsOf(const Catalog& catalog) {
  CatalogDefinitions out;
  // Carrier key -> (rank, key) of its parts.
  std::map<std::string, std::vector<std::pair<int, std::string>>> parts;
  for (const auto& [key, o] : catalog.objects) {
    const Object* carrier = Carrier(o, catalog);
    if (!carrier) {
      if (o.kind != Kind::kComment) out.skipped.push_back(absl::StrCat(key, ": not managed by Strata"));
      continue;
    }
    // Every database has these (template0): not the team's objects.
    if (carrier->key == "schema public" || carrier->key == "extension plpgsql") continue;
    parts[carrier->key].push_back({PartRank(o.kind), key});
  }
  for (auto& [carrier, list] : parts) {
    std::sort(list.begin(), list.end());
    std::vector<std::string> statements;
    for (const auto& [rank, key] : list) {
      const Object& o = catalog.objects.at(key);
      if (o.kind == Kind::kTable) {
        for (auto& s : CreateTable(o, catalog)) statements.push_back(std::move(s));
      } else {
        statements.insert(statements.end(), o.create.begin(), o.create.end());
      }
    }
    ObjectDefinition d{.object = "", .sql = AsScript(statements)};
    // Every name in a catalog statement is qualified: no search path needed.
    auto info = sql::AnalyzeDefinition(d.sql, {.search_path = {"pg_catalog"}});
    if (!info.ok()) {
      out.skipped.push_back(absl::StrCat(carrier, ": ", info.status().message()));
      continue;
    }
    d.object = info->id.ToString();
    out.objects.push_back(std::move(d));
  }
  std::sort(out.objects.begin(), out.objects.end(),
            [](const ObjectDefinition& a, const ObjectDefinition& b) { return a.object < b.object; });
  return out;
}

absl::StatusOr<Catalog> LoadDefinitions(const std::vector<LabelledSql>& definitions, const ShadowOptions& shadow) {
  std::vector<sql::ParsedSql> parsed;
  parsed.reserve(definitions.size());
  std::vector<PendingStatement> creates, abouts;
  for (size_t i = 0; i < definitions.size(); ++i) {
    auto p = sql::ParsedSql::Parse(definitions[i].sql);
    if (!p.ok()) return absl::InvalidArgumentError(absl::StrCat(definitions[i].label, ": ", p.status().message()));
    for (int j = 0; j < p->size(); ++j) {
      if (IsOwnershipOrPrivilegeStatement(p->statement(j))) continue;
      (j == 0 ? creates : abouts).push_back({i, j});
    }
    parsed.push_back(std::move(*p));
  }
  auto db = ShadowDatabase::Create(shadow);
  if (!db.ok()) return db.status();
  auto session = pg::Session::Connect((*db)->url());
  if (!session.ok()) return session.status();
  // As pg_dump's scripts: bodies are checked when they run. The shadow is
  // thrown away: commits need not wait for the disk.
  if (absl::Status s = (*session)->Exec("SET check_function_bodies = false; SET synchronous_commit = off"); !s.ok())
    return s;

  // Runs the statements, retrying those that miss something until a round
  // makes no progress.
  auto run_all = [&](std::vector<PendingStatement> pending) -> absl::Status {
    while (!pending.empty()) {
      std::vector<PendingStatement> retry;
      std::vector<std::pair<PendingStatement, std::pair<absl::Status, pg::ErrorInfo>>> failures;
      for (const auto& st : pending) {
        pg::ErrorInfo info;
        absl::Status s = (*session)->Exec(parsed[st.definition].StatementText(st.index), &info);
        if (s.ok()) continue;
        if (s.code() == absl::StatusCode::kUnavailable) return s;
        if (!MissingDependency(info.sqlstate)) {
          failures.push_back({st, {s, info}});
          break;
        }
        retry.push_back(st);
        failures.push_back({st, {s, info}});
      }
      const bool fatal = !failures.empty() && !MissingDependency(failures.back().second.second.sqlstate);
      if (fatal || (retry.size() == pending.size())) {
        std::vector<std::string> lines;
        for (const auto& [st, err] : failures) {
          auto at = parsed[st.definition].ErrorLocation(st.index, err.second.position);
          lines.push_back(absl::StrCat(definitions[st.definition].label, ":", at.line, ":", at.column, ": ",
                                       err.first.message()));
          if (lines.size() == 10) break;
        }
        if (!fatal && failures.size() > lines.size())
          lines.push_back(absl::StrCat("... and ", failures.size() - lines.size(), " more"));
        return absl::InvalidArgumentError(absl::StrCat(
            fatal ? "a definition does not load into PostgreSQL:\n  "
                  : "these definitions need objects that no definition creates (or form a cycle):\n  ",
            absl::StrJoin(lines, "\n  ")));
      }
      pending = std::move(retry);
    }
    return absl::OkStatus();
  };
  // One list, CREATEs first: a CREATE may also need a statement about
  // another object (an inline foreign key needs the referenced table's key).
  creates.insert(creates.end(), abouts.begin(), abouts.end());
  if (absl::Status s = run_all(std::move(creates)); !s.ok()) return s;
  return ReadCatalog(**session);
}

absl::StatusOr<std::pair<Catalog, Catalog>> LoadDefinitionSets(const std::vector<LabelledSql>& a,
                                                               const std::vector<LabelledSql>& b,
                                                               const ShadowOptions& shadow) {
  auto later = std::async(std::launch::async, [&] { return LoadDefinitions(b, shadow); });
  auto first = LoadDefinitions(a, shadow);
  auto second = later.get();
  if (!first.ok()) return first.status();
  if (!second.ok()) return second.status();
  return std::make_pair(std::move(*first), std::move(*second));
}

namespace {

// One line, runs of blanks as one space, at most `max` bytes.
std::string Shorten(const std::string& text, size_t max = 160) {
  std::string s;
  for (char c : text) {
    const bool blank = c == ' ' || c == '\n' || c == '\t';
    if (blank && (s.empty() || s.back() == ' ')) continue;
    s.push_back(blank ? ' ' : c);
  }
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

std::string ColumnText(const Column& c) {
  std::string s = absl::StrCat(c.name, " ", c.type);
  if (c.not_null) s += " NOT NULL";
  if (!c.default_expr.empty()) absl::StrAppend(&s, c.generated ? " GENERATED AS " : " DEFAULT ", c.default_expr);
  return s;
}

// Column by column for tables; otherwise the first statement of each side.
std::string DescribeChange(const Object& expected, const Object& actual) {
  std::vector<std::string> what;
  if (expected.kind == Kind::kTable && actual.kind == Kind::kTable) {
    std::map<std::string, const Column*> want, have;
    for (const auto& c : expected.columns) want[c.name] = &c;
    for (const auto& c : actual.columns) have[c.name] = &c;
    for (const auto& [name, c] : have)
      if (!want.count(name)) what.push_back(absl::StrCat("column ", ColumnText(*c), " is there but not expected"));
    for (const auto& [name, c] : want) {
      auto it = have.find(name);
      if (it == have.end()) {
        what.push_back(absl::StrCat("column ", ColumnText(*c), " is expected but missing"));
      } else if (c->Signature() != it->second->Signature()) {
        what.push_back(absl::StrCat("column ", name, " is ", ColumnText(*it->second), ", expected ", ColumnText(*c)));
      }
    }
  }
  if (what.empty()) {
    const std::string want = expected.create.empty() ? expected.signature : expected.create[0];
    const std::string have = actual.create.empty() ? actual.signature : actual.create[0];
    what.push_back(absl::StrCat("is `", Shorten(have), "`, expected `", Shorten(want), "`"));
  }
  return absl::StrCat(actual.key, ": ", absl::StrJoin(what, "; "));
}

}  // namespace

std::vector<std::string> DescribeDrift(const Catalog& expected, const Catalog& actual) {
  std::vector<std::string> out;
  for (const auto& [key, o] : expected.objects) {
    if (!IsManaged(o, expected)) continue;
    const Object* live = actual.Find(key);
    if (!live) {
      out.push_back(absl::StrCat(key, ": expected but missing"));
    } else if (live->signature != o.signature) {
      out.push_back(DescribeChange(o, *live));
    }
  }
  for (const auto& [key, o] : actual.objects) {
    if (!IsManaged(o, actual) || expected.Find(key)) continue;
    out.push_back(absl::StrCat(key, ": is there but not expected (`",
                               Shorten(o.create.empty() ? o.signature : o.create[0]), "`)"));
  }
  return out;
}

}  // namespace strata::schemadiff
