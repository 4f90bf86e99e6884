#include "schemadiff/rename.h"

#include <algorithm>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pg/pg.h"
#include "schemadiff/apply.h"

namespace strata::schemadiff {
namespace {

// "a.b" -> {"a", "b"}; "b" -> {"", "b"}. Functions keep their argument list.
std::pair<std::string, std::string> SplitQualified(const std::string& name) {
  const size_t paren = name.find('(');
  const size_t dot = name.rfind('.', paren == std::string::npos ? name.size() : paren);
  if (dot == std::string::npos) return {"", name};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

std::string WithoutArguments(const std::string& name) { return name.substr(0, name.find('(')); }

// The ALTER that names objects of this kind, or "" for kinds a hint cannot rename.
std::string AlterOf(const std::string& kind) {
  if (kind == "table") return "ALTER TABLE";
  if (kind == "view") return "ALTER VIEW";
  if (kind == "materialized_view") return "ALTER MATERIALIZED VIEW";
  if (kind == "sequence") return "ALTER SEQUENCE";
  if (kind == "function") return "ALTER FUNCTION";
  if (kind == "procedure") return "ALTER PROCEDURE";
  if (kind == "type") return "ALTER TYPE";
  if (kind == "schema") return "ALTER SCHEMA";
  return "";
}

// The statements renaming `from` to `to` (both as the hint writes them).
std::vector<std::string> Statements(const std::string& kind, const std::string& from, const std::string& to) {
  const std::string alter = AlterOf(kind);
  if (kind == "schema") return {absl::StrCat(alter, " ", from, " RENAME TO ", to)};
  auto [from_schema, from_name] = SplitQualified(from);
  auto [to_schema, to_name] = SplitQualified(to);
  std::vector<std::string> out;
  std::string current = from;
  if (!to_schema.empty() && to_schema != from_schema) {
    out.push_back(absl::StrCat(alter, " ", current, " SET SCHEMA ", to_schema));
    current = absl::StrCat(to_schema, ".", from_name);
  }
  if (WithoutArguments(from_name) != to_name) out.push_back(absl::StrCat(alter, " ", current, " RENAME TO ", to_name));
  return out;
}

// The name an object has after the rename, as the hint's `from` writes it
// (functions keep their arguments).
std::string Renamed(const Rename& r) {
  if (r.kind == "schema") return r.to;
  auto [from_schema, from_name] = SplitQualified(r.from);
  auto [to_schema, to_name] = SplitQualified(r.to);
  const size_t paren = from_name.find('(');
  const std::string args = paren == std::string::npos ? "" : from_name.substr(paren);
  return absl::StrCat(to_schema.empty() ? from_schema : to_schema, ".", to_name, args);
}

std::string ColumnsSignature(const Object& o) {
  std::vector<std::string> cols;
  for (const auto& c : o.columns) cols.push_back(c.name + " " + c.type);
  return absl::StrJoin(cols, ", ");
}

}  // namespace

absl::StatusOr<Rename> ParseObjectRename(const std::string& text) {
  const size_t colon = text.find(':');
  const size_t eq = text.find('=');
  if (colon == std::string::npos || eq == std::string::npos || eq < colon || colon == 0 || eq == colon + 1 ||
      eq + 1 == text.size())
    return absl::InvalidArgumentError(absl::StrCat(
        "--rename ", text, ": write KIND:FROM=TO, e.g. table:sales.orders=sales.purchases"));
  Rename r{text.substr(0, colon), text.substr(colon + 1, eq - colon - 1), text.substr(eq + 1)};
  if (AlterOf(r.kind).empty())
    return absl::InvalidArgumentError(absl::StrCat(
        "--rename ", text, ": cannot rename a ", r.kind,
        "; kinds are table, view, materialized_view, sequence, function, procedure, type, schema "
        "(columns: --rename-column)"));
  if (r.kind != "schema" && SplitQualified(r.from).first.empty())
    return absl::InvalidArgumentError(absl::StrCat("--rename ", text, ": qualify FROM with its schema"));
  if ((r.kind == "function" || r.kind == "procedure") && r.from.find('(') == std::string::npos)
    return absl::InvalidArgumentError(
        absl::StrCat("--rename ", text, ": give the function's argument types, e.g. function:s.f(integer)=s.g"));
  return r;
}

absl::StatusOr<Rename> ParseColumnRename(const std::string& text) {
  const size_t eq = text.find('=');
  const std::string lhs = eq == std::string::npos ? "" : text.substr(0, eq);
  const size_t dot = lhs.rfind('.');
  if (eq == std::string::npos || dot == std::string::npos || SplitQualified(lhs.substr(0, dot)).first.empty() ||
      dot + 1 == lhs.size() || eq + 1 == text.size())
    return absl::InvalidArgumentError(
        absl::StrCat("--rename-column ", text, ": write SCHEMA.TABLE.COLUMN=NEW, e.g. sales.orders.total=amount"));
  return Rename{"column", lhs, text.substr(eq + 1)};
}

absl::StatusOr<Rename> ParseValueRename(const std::string& text) {
  // The type is the first two dot-separated names; the label, the rest up
  // to the last '=' (labels may hold dots, but a new label with '=' cannot
  // be given here).
  const size_t eq = text.rfind('=');
  const size_t first = text.find('.');
  const size_t second = first == std::string::npos ? std::string::npos : text.find('.', first + 1);
  if (eq == std::string::npos || first == 0 || second == std::string::npos || second == first + 1 || second > eq ||
      second + 1 == eq || eq + 1 == text.size())
    return absl::InvalidArgumentError(absl::StrCat(
        "--rename-value ", text, ": write SCHEMA.TYPE.LABEL=NEW, e.g. sales.status.shipped=sent"));
  return Rename{"value", text.substr(0, eq), text.substr(eq + 1)};
}

namespace {

// A string literal for an enum label.
std::string Literal(const std::string& label) {
  std::string out = "'";
  for (char c : label) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

// ALTER TYPE s.t RENAME VALUE 'a' TO 'b' for the hint "s.t.a" -> "b".
std::string ValueStatement(const Rename& r, bool undo) {
  const size_t second = r.from.find('.', r.from.find('.') + 1);
  const std::string type = r.from.substr(0, second), label = r.from.substr(second + 1);
  return absl::StrCat("ALTER TYPE ", type, " RENAME VALUE ", Literal(undo ? r.to : label), " TO ",
                      Literal(undo ? label : r.to));
}

}  // namespace

std::vector<Rename> InSchemaOrder(const std::vector<Rename>& renames) {
  std::map<std::string, std::string> schemas;  // old name -> new
  std::vector<Rename> out;
  for (const auto& r : renames)
    if (r.kind == "schema") {
      schemas[r.from] = r.to;
      out.push_back(r);
    }
  for (Rename r : renames) {
    if (r.kind == "schema") continue;
    if (r.kind != "column" && r.kind != "value") {
      auto [schema, name] = SplitQualified(r.from);
      if (auto moved = schemas.find(schema); moved != schemas.end()) {
        r.from = absl::StrCat(moved->second, ".", name);
        if (WithoutArguments(r.from) == r.to) continue;  // moved with its schema, nothing else
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

std::vector<std::string> RenameStatements(const std::vector<Rename>& renames) {
  std::vector<std::string> out;
  for (const auto& r : renames) {
    if (r.kind == "value") {
      out.push_back(ValueStatement(r, /*undo=*/false));
      continue;
    }
    if (r.kind == "column") {
      const size_t dot = r.from.rfind('.');
      out.push_back(absl::StrCat("ALTER TABLE ", r.from.substr(0, dot), " RENAME COLUMN ", r.from.substr(dot + 1),
                                 " TO ", r.to));
      continue;
    }
    for (auto& s : Statements(r.kind, r.from, r.to)) out.push_back(std::move(s));
  }
  return out;
}

std::vector<std::string> UndoRenameStatements(const std::vector<Rename>& renames) {
  std::vector<std::string> out;
  for (auto it = renames.rbegin(); it != renames.rend(); ++it) {
    const Rename& r = *it;
    if (r.kind == "value") {
      out.push_back(ValueStatement(r, /*undo=*/true));
      continue;
    }
    if (r.kind == "column") {
      const size_t dot = r.from.rfind('.');
      out.push_back(absl::StrCat("ALTER TABLE ", r.from.substr(0, dot), " RENAME COLUMN ", r.to, " TO ",
                                 r.from.substr(dot + 1)));
      continue;
    }
    std::string back = r.from;
    if (r.kind == "function" || r.kind == "procedure") back = WithoutArguments(back);
    for (auto& s : Statements(r.kind, Renamed(r), back)) out.push_back(std::move(s));
  }
  return out;
}

namespace {

// Schemas that renames move objects into but FROM does not have (nor does a
// schema rename among them make): they are created before the renames (and
// dropped after the renames back), so a release may move an object into a
// schema it creates.
std::vector<std::string> SchemasToCreate(const Catalog& from, const std::vector<Rename>& renames) {
  std::vector<std::string> out;
  for (const auto& r : renames) {
    if (r.kind == "schema" || r.kind == "column" || r.kind == "value") continue;
    const std::string schema = SplitQualified(r.to).first;
    if (schema.empty() || from.Find("schema " + schema) ||
        std::find(out.begin(), out.end(), schema) != out.end() ||
        std::any_of(renames.begin(), renames.end(),
                    [&](const Rename& other) { return other.kind == "schema" && other.to == schema; }))
      continue;
    out.push_back(schema);
  }
  return out;
}

}  // namespace

absl::StatusOr<Catalog> ApplyRenames(const Catalog& from, const std::vector<Rename>& renames,
                                     const ShadowOptions& shadow) {
  // FROM as a script that creates it: the diff from nothing.
  Catalog empty;
  empty.casts = from.casts;
  auto create = Diff(empty, from, {.allow_data_loss = true});
  if (!create.ok()) return create.status();
  auto db = ShadowDatabase::Create(shadow);
  if (!db.ok()) return db.status();
  auto session = pg::Session::Connect((*db)->url());
  if (!session.ok()) return session.status();
  if (absl::Status s = (*session)->Exec("SET check_function_bodies = false"); !s.ok()) return s;
  // A new database has schema public; FROM's script creates it when FROM has it.
  if (from.Find("schema public"))
    if (absl::Status s = (*session)->Exec("DROP SCHEMA public"); !s.ok()) return s;
  if (auto applied = ApplyScript(**session, RenderScript(*create, "FROM"), "FROM"); !applied.ok())
    return absl::InternalError(absl::StrCat("re-creating FROM in a shadow database failed: ", applied.status().message()));
  std::vector<std::string> statements;
  for (const auto& schema : SchemasToCreate(from, renames)) statements.push_back("CREATE SCHEMA " + schema);
  for (auto& statement : RenameStatements(renames)) statements.push_back(std::move(statement));
  for (const auto& statement : statements) {
    if (absl::Status s = (*session)->Exec(statement); !s.ok())
      return absl::InvalidArgumentError(absl::StrCat("the rename does not apply to FROM: ", statement, ": ", s.message()));
  }
  return ReadCatalog(**session);
}

absl::StatusOr<Plan> DiffWithRenames(const Catalog& from, const Catalog& to, const std::vector<Rename>& renames,
                                     const ShadowOptions& shadow, const DiffOptions& options, bool reverse) {
  auto renamed = ApplyRenames(from, renames, shadow);
  if (!renamed.ok()) return renamed.status();
  auto rest = reverse ? Diff(to, *renamed, options) : Diff(*renamed, to, options);
  if (!rest.ok()) return rest.status();
  Plan plan;
  const auto schemas = SchemasToCreate(from, renames);
  std::vector<std::string> statements;
  if (!reverse)
    for (const auto& schema : schemas) statements.push_back("CREATE SCHEMA " + schema);
  for (auto& s : reverse ? UndoRenameStatements(renames) : RenameStatements(renames)) statements.push_back(std::move(s));
  if (reverse)
    for (auto it = schemas.rbegin(); it != schemas.rend(); ++it) statements.push_back("DROP SCHEMA " + *it);
  auto rename_steps = [&] {
    for (const auto& s : statements) plan.steps.push_back(Step{s, "rename", ""});
  };
  if (!reverse) rename_steps();
  for (auto& s : rest->steps) plan.steps.push_back(std::move(s));
  if (reverse) rename_steps();
  plan.created = rest->created;
  plan.altered = rest->altered + static_cast<int>(renames.size());
  plan.dropped = rest->dropped;
  plan.recreated = rest->recreated;
  plan.data_loss = std::move(rest->data_loss);
  return plan;
}

std::vector<std::string> SuggestRenames(const Catalog& from, const Catalog& to) {
  std::vector<std::string> out;
  // Relations: dropped and created with the same columns.
  std::map<std::pair<Kind, std::string>, std::vector<const Object*>> created;
  for (const auto& [key, o] : to.objects)
    if ((o.kind == Kind::kTable || o.kind == Kind::kView || o.kind == Kind::kMaterializedView) && !o.columns.empty() &&
        !from.Find(key))
      created[{o.kind, ColumnsSignature(o)}].push_back(&o);
  for (const auto& [key, o] : from.objects) {
    if (to.Find(key)) continue;
    auto it = created.find({o.kind, ColumnsSignature(o)});
    if (it == created.end() || it->second.size() != 1) continue;  // none, or not one clear match
    const char* kind = o.kind == Kind::kTable ? "table" : o.kind == Kind::kView ? "view" : "materialized_view";
    out.push_back(absl::StrCat("--rename ", kind, ":", o.name, "=", it->second.front()->name));
  }
  // Columns: within a table of both sides, one dropped and one added of the same type.
  for (const auto& [key, before] : from.objects) {
    if (before.kind != Kind::kTable) continue;
    const Object* after = to.Find(key);
    if (!after) continue;
    std::vector<const Column*> gone, added;
    for (const auto& c : before.columns)
      if (std::none_of(after->columns.begin(), after->columns.end(), [&](const Column& a) { return a.name == c.name; }))
        gone.push_back(&c);
    for (const auto& c : after->columns)
      if (std::none_of(before.columns.begin(), before.columns.end(), [&](const Column& b) { return b.name == c.name; }))
        added.push_back(&c);
    if (gone.size() == 1 && added.size() == 1 && gone[0]->type == added[0]->type)
      out.push_back(absl::StrCat("--rename-column ", before.name, ".", gone[0]->name, "=", added[0]->name));
  }
  return out;
}

}  // namespace strata::schemadiff
