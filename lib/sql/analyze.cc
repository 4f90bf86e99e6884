#include "sql/analyze.h"

extern "C" {
#include <pg_query.h>
}

#include <algorithm>
#include <map>
#include <set>
#include <thread>
#include <atomic>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "fmt/format.h"
#include "sql/json_tree.h"
#include "sql/parse.h"

namespace strata::sql {
namespace {

using google::protobuf::Message;
using google::protobuf::RepeatedPtrField;
using pg_query::Node;

std::string Str(const Node& n) { return n.has_string() ? n.string().sval() : std::string(); }

std::vector<std::string> Strs(const RepeatedPtrField<Node>& list) {
  std::vector<std::string> out;
  for (const auto& n : list)
    if (n.has_string()) out.push_back(n.string().sval());
  return out;
}

std::string Q(std::string_view ident) { return model::QuoteIdentifier(ident); }

// A dotted name written as text ('sales.orders_seq' for nextval() and
// regclass, "sales.orders%ROWTYPE" in PL/pgSQL), split and folded as
// PostgreSQL reads identifiers: lower case unless double-quoted.
std::vector<std::string> NameParts(const std::string& text) {
  std::vector<std::string> parts;
  for (absl::string_view p : absl::StrSplit(text, '.')) {
    std::string s(p.data(), p.size());
    if (s.size() >= 2 && s.front() == '"') s = s.substr(1, s.size() - 2);
    else std::transform(s.begin(), s.end(), s.begin(), ::tolower);
    parts.push_back(std::move(s));
  }
  return parts;
}

// Functions whose result differs per row: a DEFAULT calling them makes
// ADD COLUMN rewrite the table (non-volatile defaults are stored once).
bool IsVolatileFunction(std::string_view name) {
  static const absl::flat_hash_set<std::string_view> kVolatile = {
      "random", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
      "clock_timestamp", "timeofday", "nextval", "txid_current", "random_normal", "setseed"};
  return kVolatile.contains(name);
}

// A relation, subquery, CTE or function visible in a FROM clause.
struct Item {
  std::string alias;
  Reference* ref = nullptr;                          // a relation: what columns are attributed to
  std::optional<std::vector<std::string>> columns;  // known columns
  bool Has(const std::string& c) const {
    return columns && std::find(columns->begin(), columns->end(), c) != columns->end();
  }
};

struct Scope {
  Scope* parent = nullptr;
  std::vector<Item> items;
  std::map<std::string, std::optional<std::vector<std::string>>> ctes;

  const std::optional<std::vector<std::string>>* FindCte(const std::string& name) const {
    for (const Scope* s = this; s; s = s->parent) {
      auto it = s->ctes.find(name);
      if (it != s->ctes.end()) return &it->second;
    }
    return nullptr;
  }
};

// The parsed body of a function: what PostgreSQL's parsers say about it,
// before anything is resolved against a catalog. Computing it is most of
// the cost of analyzing a function, and needs no catalog, so a dump's bodies
// are prepared on several threads.
struct PreparedBody {
  std::string error;      // the body does not parse
  int error_offset = -1;  // byte offset of the error in the whole text, if known
  std::vector<std::string> variables;  // parameters and PL/pgSQL variables
  std::vector<std::string> notes;      // what cannot be analyzed
  std::vector<std::string> row_types;  // PL/pgSQL declarations with %ROWTYPE / %TYPE
  std::vector<ParsedSql> parsed;       // SQL bodies; PL/pgSQL statements and expressions
};
std::map<int, PreparedBody> PrepareBodies(const ParsedSql& parsed, int begin, int end, size_t threads);

// A PL/pgSQL expression as SQL: statements stay, "target := expr" and
// bare expressions become SELECT lists.
std::string PlpgsqlAsSql(const std::string& text) {
  std::string q = text;
  if (size_t assign = q.find(":="); assign != std::string::npos) {
    const std::string lhs = q.substr(0, assign);
    if (lhs.find_first_of("'()$") == std::string::npos) q = q.substr(assign + 2);
  }
  size_t start = q.find_first_not_of(" \t\r\n(");
  std::string word;
  for (size_t i = start; i != std::string::npos && i < q.size() && std::isalpha(static_cast<unsigned char>(q[i])); ++i)
    word += static_cast<char>(std::tolower(static_cast<unsigned char>(q[i])));
  static const absl::flat_hash_set<std::string> kStatements = {
      "select", "insert", "update", "delete", "with", "values", "table", "merge", "refresh", "truncate",
      "lock", "notify", "call", "create", "alter", "drop", "analyze", "vacuum", "copy", "set", "reset"};
  if (kStatements.contains(word)) return q;
  return "SELECT " + q;
}

// Collects from libpg_query's PL/pgSQL JSON what PrepareBody needs: the
// names of variables, the SQL of statements and expressions, declared types
// and dynamic SQL. A linear scan: the JSON is only ever read for these keys.
void CollectPlpgsql(std::string_view json, PreparedBody* out, std::vector<std::string>* sql) {
  std::string key;
  bool dynamic = false;
  for (size_t i = 0; i < json.size();) {
    if (json[i] != '"') {
      ++i;
      continue;
    }
    std::string s;
    if (!ReadJsonString(json, &i, &s)) break;
    size_t j = i;
    while (j < json.size() && std::isspace(static_cast<unsigned char>(json[j]))) ++j;
    if (j < json.size() && json[j] == ':') {
      key = std::move(s);
      if (key == "PLpgSQL_stmt_dynexecute" || key == "PLpgSQL_stmt_dynfors") dynamic = true;
      i = j + 1;
      continue;
    }
    if (key == "refname") {
      if (s != "(unnamed row)") out->variables.push_back(std::move(s));
    } else if (key == "query") {
      sql->push_back(PlpgsqlAsSql(s));
    } else if (key == "typname") {
      std::string lower = s;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      if (s == "UNKNOWN" || lower == "record" || IsBuiltinType(lower)) continue;
      if (lower.find('%') != std::string::npos) out->row_types.push_back(s);
      else sql->push_back("SELECT NULL::" + s);  // a user type: its references come from the cast
    }
  }
  if (dynamic) out->notes.push_back("dynamic SQL (EXECUTE) is not analyzed");
}

// Parses a function's body (`stmt_text` is its CREATE statement, at byte
// `stmt_offset` of the whole text). Thread-safe; no catalog.
PreparedBody PrepareBody(const std::string& language, const std::string& body, std::string_view stmt_text,
                         int stmt_offset) {
  PreparedBody out;
  if (language == "sql") {
    auto parsed = ParsedSql::Parse(body);
    if (!parsed.ok()) {
      out.error = fmt::format("the body does not parse: {} (in the body)", std::string(parsed.status().message()));
    } else {
      out.parsed.push_back(std::move(*parsed));
    }
    return out;
  }
  if (language != "plpgsql") {
    if (!body.empty()) out.notes.push_back(fmt::format("body in language {} is not analyzed", language));
    return out;
  }
  const std::string text(stmt_text);
  PgQueryPlpgsqlParseResult result = pg_query_parse_plpgsql(text.c_str());
  if (result.error) {
    // The PL/pgSQL parser reports no position; find the token its message
    // quotes (`syntax error at or near "RETRUN"`) in the body.
    out.error = result.error->message;
    if (result.error->cursorpos > 0) {
      out.error_offset = stmt_offset + CharPosToByte(text, result.error->cursorpos);
    } else if (const size_t q1 = out.error.find('"'); q1 != std::string::npos) {
      const size_t q2 = out.error.find('"', q1 + 1);
      const std::string token = out.error.substr(q1 + 1, q2 - q1 - 1);
      const size_t body_at = body.empty() ? std::string::npos : text.find(body);
      if (!token.empty() && body_at != std::string::npos) {
        const size_t at = text.find(token, body_at);
        if (at != std::string::npos) out.error_offset = stmt_offset + static_cast<int>(at);
      }
    }
    pg_query_free_plpgsql_parse_result(result);
    return out;
  }
  // The output is a JSON array of functions.
  const std::string json = result.plpgsql_funcs ? result.plpgsql_funcs : "";
  pg_query_free_plpgsql_parse_result(result);
  std::vector<std::string> sql;
  CollectPlpgsql(json, &out, &sql);
  // One parser call for all of them; one by one if that fails.
  std::string all;
  for (const auto& q : sql) absl::StrAppend(&all, q, ";\n");
  auto parsed = ParsedSql::Parse(all);
  if (parsed.ok() && parsed->size() == static_cast<int>(sql.size())) {
    out.parsed.push_back(std::move(*parsed));
    return out;
  }
  for (const auto& q : sql) {
    auto one = ParsedSql::Parse(q);
    if (one.ok()) out.parsed.push_back(std::move(*one));
    else out.notes.push_back(fmt::format("PL/pgSQL expression not analyzed: {}", q));
  }
  return out;
}

// The language and body text of CREATE FUNCTION (body "" for BEGIN ATOMIC).
std::pair<std::string, std::string> LanguageAndBody(const pg_query::CreateFunctionStmt& s) {
  std::string language = "sql", body;
  for (const auto& o : s.options()) {
    if (!o.has_def_elem()) continue;
    const auto& d = o.def_elem();
    if (d.defname() == "language") language = Str(d.arg());
    if (d.defname() == "as" && d.arg().has_list() && d.arg().list().items_size() >= 1)
      body = Str(d.arg().list().items(0));
  }
  return {language, body};
}

class Analyzer {
 public:
  // Analyzes the statements `statements` of `parsed` (all when empty).
  Analyzer(const ParsedSql& parsed, const AnalyzeOptions& options, std::vector<int> statements = {},
           const std::map<int, PreparedBody>* prepared = nullptr)
      : parsed_(parsed), options_(options), statements_(std::move(statements)), prepared_(prepared) {
    if (options_.search_path.empty()) options_.search_path = {"public"};
    if (statements_.empty())
      for (int i = 0; i < parsed_.size(); ++i) statements_.push_back(i);
  }

  absl::StatusOr<ObjectInfo> Run();

 private:
  // --- names and references ---
  struct Resolved {
    RefClass cls;
    std::string schema, name;
    bool builtin = false, known = false;
  };
  bool Exists(RefClass cls, const std::string& schema, const std::string& name) const {
    return options_.catalog && options_.catalog->exists && options_.catalog->exists(cls, schema, name);
  }
  bool IsBuiltin(RefClass cls, const std::string& name) const {
    switch (cls) {
      case RefClass::kFunction: return IsBuiltinFunction(name);
      case RefClass::kType: return IsBuiltinType(name);
      case RefClass::kRelation: return IsBuiltinRelation("", name);
      default: return false;
    }
  }
  Resolved Resolve(RefClass cls, std::vector<std::string> names) const {
    Resolved r{cls};
    if (names.size() > 2) names.erase(names.begin(), names.end() - 2);  // drop a database name
    if (names.size() == 2) {
      r.schema = Q(names[0]);
      r.name = Q(names[1]);
      r.builtin = names[0] == "pg_catalog" || names[0] == "information_schema";
      r.known = !r.builtin && Exists(cls, r.schema, r.name);
      return r;
    }
    r.name = Q(names.empty() ? "" : names[0]);
    // pg_catalog is searched first, before the search path.
    if (!names.empty() && IsBuiltin(cls, names[0])) {
      r.schema = "pg_catalog";
      r.builtin = true;
      return r;
    }
    for (const auto& s : options_.search_path) {
      if (Exists(cls, Q(s), r.name)) {
        r.schema = Q(s);
        r.known = true;
        return r;
      }
    }
    r.schema = Q(options_.search_path.front());
    return r;
  }
  std::string DefaultSchema() const { return Q(options_.search_path.front()); }

  Reference* AddRef(const Resolved& r, int location, int nargs = -1) {
    if (r.builtin) return nullptr;
    auto key = std::make_tuple(static_cast<int>(r.cls), r.schema, r.name);
    auto [it, inserted] = refs_.try_emplace(key);
    Reference& ref = it->second;
    if (inserted) {
      ref.cls = r.cls;
      ref.schema = r.schema;
      ref.name = r.name;
      ref.known = r.known;
      ref.location = location;
      ref.nargs = nargs;
    } else if (ref.nargs != nargs) {
      ref.nargs = -1;  // called with several argument counts
    }
    if (!via_.empty()) ref.via.push_back(via_);
    // Function bodies name what they use as text (they do not follow renames).
    if (in_body_) ref.via.push_back("body");
    return &ref;
  }
  Reference* RelationRef(const pg_query::RangeVar& rv) {
    std::vector<std::string> names;
    if (!rv.schemaname().empty()) names.push_back(rv.schemaname());
    names.push_back(rv.relname());
    return AddRef(Resolve(RefClass::kRelation, names), rv.location());
  }
  std::optional<std::vector<std::string>> ColumnsOf(const Reference* ref) const {
    if (!ref || !options_.catalog || !options_.catalog->columns) return std::nullopt;
    if (ref->schema == self_schema_ && ref->name == self_name_) return std::nullopt;
    return options_.catalog->columns(ref->schema, ref->name);
  }
  static void AddColumn(Reference* ref, const std::string& column) {
    if (ref) ref->columns.push_back(column);
  }
  // SELECT *, %ROWTYPE, LIKE: every column of the relation, those known too.
  static void UseAllColumns(Reference* ref, const std::optional<std::vector<std::string>>& known) {
    if (!ref) return;
    ref->all_columns = true;
    if (known) ref->columns.insert(ref->columns.end(), known->begin(), known->end());
  }

  // --- types ---
  // The type's name as PostgreSQL spells it in a signature (no modifiers)
  // or in a column (with them).
  std::string TypeString(const pg_query::TypeName& t, bool with_modifiers) const;
  void TypeRef(const pg_query::TypeName& t);

  // --- the walk ---
  void Walk(const Message& m, Scope* scope);
  void WalkList(const RepeatedPtrField<Node>& list, Scope* scope) {
    for (const auto& n : list) Walk(n, scope);
  }
  void ColumnRef(const pg_query::ColumnRef& c, Scope* scope);
  void FuncCall(const pg_query::FuncCall& f, Scope* scope);
  std::vector<std::string> Select(const pg_query::SelectStmt& s, Scope* parent);
  std::vector<std::string> SelectNode(const Node& n, Scope* parent) {
    if (n.has_select_stmt()) return Select(n.select_stmt(), parent);
    Walk(n, parent);
    return {};
  }
  void With(const pg_query::WithClause& w, Scope* scope);
  void FromItem(const Node& n, Scope* scope);
  void Insert(const pg_query::InsertStmt& s, Scope* parent);
  void Update(const pg_query::UpdateStmt& s, Scope* parent);
  void Delete(const pg_query::DeleteStmt& s, Scope* parent);
  // The relation an INSERT, UPDATE or DELETE writes, as a reference.
  Reference* WriteTarget(const pg_query::RangeVar& rv);
  Item RelationItem(const pg_query::RangeVar& rv, Reference* ref) {
    Item item;
    item.alias = rv.has_alias() ? rv.alias().aliasname() : rv.relname();
    item.ref = ref;
    item.columns = ColumnsOf(ref);
    return item;
  }
  static std::string OutputName(const pg_query::ResTarget& t);

  // --- definitions ---
  absl::Status Define(const Node& stmt, int index);
  absl::Status Auxiliary(const Node& stmt, int index);
  void Table(const pg_query::CreateStmt& s);
  void TableElement(const Node& elt, Scope* self);
  void Constraint(const pg_query::Constraint& c, const std::string& column, Column* col, Scope* self);
  absl::Status Function(const pg_query::CreateFunctionStmt& s, int index);
  absl::Status WalkBody(const struct PreparedBody& body, int index);
  void PlpgsqlType(const std::string& typname);
  void Sequence(const RepeatedPtrField<Node>& options);
  std::string StatementWhere(int index) const {
    const LineColumn lc = parsed_.StatementStart(index);
    return fmt::format("(line {}, column {})", lc.line, lc.column);
  }
  void SetSelf(const std::string& kind, const std::string& schema, const std::string& name) {
    info_.id.kind = kind;
    info_.id.schema = schema;
    info_.id.name = name;
    self_schema_ = schema;
    self_name_ = name;
  }
  bool IsSelfName(const std::vector<std::string>& names) const;

  const ParsedSql& parsed_;
  AnalyzeOptions options_;
  std::vector<int> statements_;
  const std::map<int, PreparedBody>* prepared_;
  ObjectInfo info_;
  std::string self_schema_, self_name_;  // relation/type name of the defined object
  std::map<std::tuple<int, std::string, std::string>, Reference> refs_;
  std::string via_;
  absl::flat_hash_set<std::string> variables_;  // function parameters and PL/pgSQL variables
  bool defined_ = false;
  bool in_body_ = false;
  size_t walk_depth_ = 0;
  std::vector<std::vector<const google::protobuf::FieldDescriptor*>> field_lists_;
  int define_index_ = -1;
};

class ViaScope {
 public:
  ViaScope(std::string* slot, std::string value) : slot_(slot), saved_(*slot) { *slot = std::move(value); }
  ~ViaScope() { *slot_ = saved_; }

 private:
  std::string* slot_;
  std::string saved_;
};

std::string Analyzer::TypeString(const pg_query::TypeName& t, bool with_modifiers) const {
  std::vector<std::string> names = Strs(t.names());
  std::string base;
  if (names.size() == 2 && names[0] == "pg_catalog") {
    base = model::CanonicalTypeName(names[1]);
  } else if (names.size() == 1 && IsBuiltinType(names[0])) {
    base = model::CanonicalTypeName(names[0]);
  } else {
    Resolved r = Resolve(RefClass::kType, names);
    if (!r.known && names.size() == 1) {
      Resolved rel = Resolve(RefClass::kRelation, names);
      if (rel.known) r = rel;
    }
    base = absl::StrCat(r.schema, ".", r.name);
  }
  if (t.pct_type()) base += "%TYPE";
  if (with_modifiers && t.typmods_size() > 0) {
    std::vector<std::string> mods;
    for (const auto& m : t.typmods()) {
      if (m.has_a_const() && m.a_const().has_ival()) mods.push_back(std::to_string(m.a_const().ival().ival()));
      else if (m.has_a_const() && m.a_const().has_sval()) mods.push_back(m.a_const().sval().sval());
      else if (m.has_column_ref()) mods.push_back(absl::StrJoin(Strs(m.column_ref().fields()), "."));
    }
    // interval fields are encoded as a bit mask: keep the plain name.
    if (base != "interval") base += "(" + absl::StrJoin(mods, ",") + ")";
  }
  for (int i = 0; i < t.array_bounds_size(); ++i) base += "[]";
  if (t.setof()) base = "SETOF " + base;
  return base;
}

void Analyzer::TypeRef(const pg_query::TypeName& t) {
  std::vector<std::string> names = Strs(t.names());
  if (names.empty()) return;
  if (t.pct_type()) {
    // table.column%TYPE (or schema.table.column%TYPE): a column reference.
    if (names.size() < 2) return;
    const std::string column = names.back();
    names.pop_back();
    Reference* ref = AddRef(Resolve(RefClass::kRelation, names), t.location());
    AddColumn(ref, column);
    return;
  }
  if (names.size() == 2 && names[0] == "pg_catalog") return;
  if (names.size() == 1 && IsBuiltinType(names[0])) return;
  Resolved r = Resolve(RefClass::kType, names);
  if (r.builtin) return;
  if (!r.known) {
    // A table's row type lives in the relation name space too.
    Resolved rel = Resolve(RefClass::kRelation, names);
    if (rel.known) {
      Reference* ref = AddRef(rel, t.location());
      UseAllColumns(ref, ColumnsOf(ref));
      return;
    }
  }
  if (r.schema == self_schema_ && r.name == self_name_) return;
  AddRef(r, t.location());
}

void Analyzer::Walk(const Message& m, Scope* scope) {
  // Descriptors looked up once: GetDescriptor() checks initialization each call.
  static const auto* const kColumnRef = pg_query::ColumnRef::descriptor();
  static const auto* const kFuncCall = pg_query::FuncCall::descriptor();
  static const auto* const kSelectStmt = pg_query::SelectStmt::descriptor();
  static const auto* const kTypeName = pg_query::TypeName::descriptor();
  static const auto* const kTypeCast = pg_query::TypeCast::descriptor();
  static const auto* const kRangeVar = pg_query::RangeVar::descriptor();
  static const auto* const kInsertStmt = pg_query::InsertStmt::descriptor();
  static const auto* const kUpdateStmt = pg_query::UpdateStmt::descriptor();
  static const auto* const kDeleteStmt = pg_query::DeleteStmt::descriptor();
  static const auto* const kAConst = pg_query::A_Const::descriptor();
  static const auto* const kAlias = pg_query::Alias::descriptor();
  static const auto* const kString = pg_query::String::descriptor();
  const auto* d = m.GetDescriptor();
  if (d == kColumnRef) return ColumnRef(static_cast<const pg_query::ColumnRef&>(m), scope);
  if (d == kFuncCall) return FuncCall(static_cast<const pg_query::FuncCall&>(m), scope);
  if (d == kSelectStmt) {
    Select(static_cast<const pg_query::SelectStmt&>(m), scope);
    return;
  }
  if (d == kTypeName) return TypeRef(static_cast<const pg_query::TypeName&>(m));
  if (d == kTypeCast) {
    const auto& tc = static_cast<const pg_query::TypeCast&>(m);
    const auto names = Strs(tc.type_name().names());
    // 'schema.name'::regclass names a relation.
    if (!names.empty() && names.back() == "regclass" && tc.arg().has_a_const() && tc.arg().a_const().has_sval()) {
      AddRef(Resolve(RefClass::kRelation, NameParts(tc.arg().a_const().sval().sval())), tc.location());
      return;
    }
    Walk(tc.arg(), scope);
    TypeRef(tc.type_name());
    return;
  }
  if (d == kRangeVar) {
    RelationRef(static_cast<const pg_query::RangeVar&>(m));
    return;
  }
  if (d == kInsertStmt) return Insert(static_cast<const pg_query::InsertStmt&>(m), scope);
  if (d == kUpdateStmt) return Update(static_cast<const pg_query::UpdateStmt&>(m), scope);
  if (d == kDeleteStmt) return Delete(static_cast<const pg_query::DeleteStmt&>(m), scope);
  if (d == kAConst || d == kAlias ||
      d == kString)
    return;
  const auto* refl = m.GetReflection();
  // One field list per depth, reused: ListFields appends to a vector.
  if (walk_depth_ >= field_lists_.size()) field_lists_.resize(walk_depth_ + 1);
  field_lists_[walk_depth_].clear();
  refl->ListFields(m, &field_lists_[walk_depth_]);
  const size_t depth = walk_depth_++;
  // Index, not reference: nested walks may grow field_lists_.
  for (size_t k = 0; k < field_lists_[depth].size(); ++k) {
    const auto* f = field_lists_[depth][k];
    if (f->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      const int n = refl->FieldSize(m, f);
      for (int i = 0; i < n; ++i) Walk(refl->GetRepeatedMessage(m, f, i), scope);
    } else {
      Walk(refl->GetMessage(m, f), scope);
    }
  }
  --walk_depth_;
}

void Analyzer::ColumnRef(const pg_query::ColumnRef& c, Scope* scope) {
  std::vector<std::string> fields;
  bool star = false;
  for (const auto& f : c.fields()) {
    if (f.has_a_star()) star = true;
    else fields.push_back(Str(f));
  }
  auto attribute_star = [&](Item& item) { UseAllColumns(item.ref, item.columns); };
  if (fields.empty() && star) {
    for (Scope* s = scope; s; s = s->parent) {
      if (s->items.empty()) continue;
      for (auto& item : s->items) attribute_star(item);
      return;
    }
    return;
  }
  if (fields.size() == 1 && !star) {
    const std::string& name = fields[0];
    if (variables_.contains(name)) return;
    for (Scope* s = scope; s; s = s->parent) {
      if (s->items.empty()) continue;
      bool found = false;
      for (auto& item : s->items)
        if (item.Has(name)) {
          AddColumn(item.ref, name);
          found = true;
        }
      if (found) return;
      // Not among the known columns here: if some relation's columns are
      // unknown, it may be one of theirs.
      bool unknown = false;
      for (auto& item : s->items)
        if (!item.columns) {
          AddColumn(item.ref, name);
          unknown = true;
        }
      if (unknown) return;
    }
    return;
  }
  // alias.column, alias.*, schema.table.column
  std::string alias = fields.size() >= 2 || star ? fields[fields.size() - (star ? 1 : 2)] : "";
  std::string schema = (fields.size() == 3 && !star) || (fields.size() == 2 && star) ? fields[0] : "";
  for (Scope* s = scope; s; s = s->parent) {
    for (auto& item : s->items) {
      if (item.alias != alias) continue;
      if (!schema.empty() && item.ref && item.ref->schema != Q(schema)) continue;
      if (star) attribute_star(item);
      else AddColumn(item.ref, fields.back());
      return;
    }
  }
}

void Analyzer::FuncCall(const pg_query::FuncCall& f, Scope* scope) {
  std::vector<std::string> names = Strs(f.funcname());
  const std::string last = names.empty() ? "" : names.back();
  const bool builtin_schema = names.size() == 2 && names[0] == "pg_catalog";
  // nextval('schema.seq') and friends name a sequence.
  if ((last == "nextval" || last == "currval" || last == "setval") && (names.size() == 1 || builtin_schema) &&
      f.args_size() >= 1) {
    const Node& a = f.args(0);
    const Node* text = &a;
    if (a.has_type_cast()) text = &a.type_cast().arg();
    if (text->has_a_const() && text->a_const().has_sval()) {
      ViaScope v(&via_, via_.empty() ? "sequence" : via_);
      AddRef(Resolve(RefClass::kRelation, NameParts(text->a_const().sval().sval())), f.location());
      for (int i = 1; i < f.args_size(); ++i) Walk(f.args(i), scope);
      return;
    }
  }
  if (!builtin_schema) {
    ViaScope v(&via_, via_.empty() ? "call" : via_);
    AddRef(Resolve(RefClass::kFunction, names), f.location(), f.args_size());
  }
  WalkList(f.args(), scope);
  WalkList(f.agg_order(), scope);
  if (f.has_agg_filter()) Walk(f.agg_filter(), scope);
  if (f.has_over()) Walk(f.over(), scope);
}

std::string Analyzer::OutputName(const pg_query::ResTarget& t) {
  if (!t.name().empty()) return t.name();
  const Node* v = &t.val();
  while (v->has_type_cast()) {
    if (!v->type_cast().arg().has_column_ref() && !v->type_cast().arg().has_func_call()) {
      auto names = v->type_cast().type_name().names();
      return names.empty() ? "?column?" : Str(names[names.size() - 1]);
    }
    v = &v->type_cast().arg();
  }
  if (v->has_column_ref()) {
    const auto& f = v->column_ref().fields();
    return f.empty() ? "?column?" : Str(f[f.size() - 1]);
  }
  if (v->has_func_call()) {
    const auto& n = v->func_call().funcname();
    return n.empty() ? "?column?" : Str(n[n.size() - 1]);
  }
  if (v->has_coalesce_expr()) return "coalesce";
  if (v->has_case_expr()) return "case";
  if (v->has_min_max_expr()) return v->min_max_expr().op() == pg_query::IS_GREATEST ? "greatest" : "least";
  if (v->has_sub_link()) {
    if (v->sub_link().sub_link_type() == pg_query::EXISTS_SUBLINK) return "exists";
    if (v->sub_link().sub_link_type() == pg_query::ARRAY_SUBLINK) return "array";
    const auto& sub = v->sub_link().subselect();
    if (sub.has_select_stmt() && sub.select_stmt().target_list_size() == 1)
      return OutputName(sub.select_stmt().target_list(0).res_target());
  }
  return "?column?";
}

void Analyzer::With(const pg_query::WithClause& w, Scope* scope) {
  for (const auto& c : w.ctes()) {
    const auto& cte = c.common_table_expr();
    std::optional<std::vector<std::string>> alias_cols;
    if (cte.aliascolnames_size() > 0) alias_cols = Strs(cte.aliascolnames());
    // A recursive CTE sees itself; its columns come from the first branch.
    if (w.recursive()) scope->ctes[cte.ctename()] = alias_cols;
    std::vector<std::string> out = SelectNode(cte.ctequery(), scope);
    scope->ctes[cte.ctename()] = alias_cols ? alias_cols : std::optional<std::vector<std::string>>(out);
  }
}

std::vector<std::string> Analyzer::Select(const pg_query::SelectStmt& s, Scope* parent) {
  Scope scope;
  scope.parent = parent;
  if (s.has_with_clause()) With(s.with_clause(), &scope);
  if (s.op() != pg_query::SETOP_NONE && s.op() != pg_query::SET_OPERATION_UNDEFINED) {
    std::vector<std::string> out = Select(s.larg(), &scope);
    Select(s.rarg(), &scope);
    return out;
  }
  std::vector<std::string> out;
  if (s.values_lists_size() > 0) {
    WalkList(s.values_lists(), &scope);
    const auto& first = s.values_lists(0);
    const int n = first.has_list() ? first.list().items_size() : 0;
    for (int i = 1; i <= n; ++i) out.push_back(fmt::format("column{}", i));
    return out;
  }
  for (const auto& f : s.from_clause()) FromItem(f, &scope);
  for (const auto& t : s.target_list()) {
    const auto& rt = t.res_target();
    if (rt.has_val()) Walk(rt.val(), &scope);
    // Output names; * expands to the columns of the relations in scope.
    if (rt.val().has_column_ref() && !rt.val().column_ref().fields().empty() &&
        rt.val().column_ref().fields(rt.val().column_ref().fields_size() - 1).has_a_star()) {
      const auto& fields = rt.val().column_ref().fields();
      const std::string alias = fields.size() >= 2 ? Str(fields[fields.size() - 2]) : "";
      for (const auto& item : scope.items)
        if ((alias.empty() || item.alias == alias) && item.columns)
          out.insert(out.end(), item.columns->begin(), item.columns->end());
    } else {
      out.push_back(OutputName(rt));
    }
  }
  if (s.has_where_clause()) Walk(s.where_clause(), &scope);
  WalkList(s.group_clause(), &scope);
  if (s.has_having_clause()) Walk(s.having_clause(), &scope);
  WalkList(s.window_clause(), &scope);
  WalkList(s.distinct_clause(), &scope);
  // ORDER BY may name output columns; those that are not input columns are
  // ignored by the resolution like any unknown name.
  WalkList(s.sort_clause(), &scope);
  if (s.has_limit_count()) Walk(s.limit_count(), &scope);
  if (s.has_limit_offset()) Walk(s.limit_offset(), &scope);
  return out;
}

void Analyzer::FromItem(const Node& n, Scope* scope) {
  if (n.has_range_var()) {
    const auto& rv = n.range_var();
    if (rv.schemaname().empty()) {
      if (const auto* cte = scope->FindCte(rv.relname())) {
        Item item;
        item.alias = rv.has_alias() ? rv.alias().aliasname() : rv.relname();
        item.columns = *cte;
        scope->items.push_back(std::move(item));
        return;
      }
    }
    ViaScope v(&via_, "from");
    Reference* ref = RelationRef(rv);
    scope->items.push_back(RelationItem(rv, ref));
    return;
  }
  if (n.has_range_subselect()) {
    const auto& rs = n.range_subselect();
    std::vector<std::string> out = SelectNode(rs.subquery(), scope);
    Item item;
    item.alias = rs.has_alias() ? rs.alias().aliasname() : "";
    if (rs.has_alias() && rs.alias().colnames_size() > 0) out = Strs(rs.alias().colnames());
    item.columns = std::move(out);
    scope->items.push_back(std::move(item));
    return;
  }
  if (n.has_join_expr()) {
    const auto& j = n.join_expr();
    FromItem(j.larg(), scope);
    FromItem(j.rarg(), scope);
    for (const auto& u : j.using_clause()) {
      const std::string c = Str(u);
      for (auto& item : scope->items)
        if (item.Has(c) || !item.columns) AddColumn(item.ref, c);
    }
    if (j.is_natural()) {
      // The common columns of the two sides, where known.
      std::map<std::string, int> seen;
      for (const auto& item : scope->items)
        if (item.columns)
          for (const auto& c : *item.columns) ++seen[c];
      for (auto& item : scope->items)
        if (item.columns)
          for (const auto& c : *item.columns)
            if (seen[c] > 1) AddColumn(item.ref, c);
    }
    if (j.has_quals()) Walk(j.quals(), scope);
    return;
  }
  if (n.has_range_function()) {
    const auto& rf = n.range_function();
    WalkList(rf.functions(), scope);
    Item item;
    item.alias = rf.has_alias() ? rf.alias().aliasname() : "";
    if (item.alias.empty() && rf.functions_size() > 0 && rf.functions(0).has_list() &&
        rf.functions(0).list().items_size() > 0 && rf.functions(0).list().items(0).has_func_call()) {
      const auto& fn = rf.functions(0).list().items(0).func_call().funcname();
      if (!fn.empty()) item.alias = Str(fn[fn.size() - 1]);
    }
    if (rf.has_alias() && rf.alias().colnames_size() > 0) item.columns = Strs(rf.alias().colnames());
    else item.columns = std::vector<std::string>{};  // no table columns to attribute to
    scope->items.push_back(std::move(item));
    return;
  }
  Walk(n, scope);
}

void Analyzer::Insert(const pg_query::InsertStmt& s, Scope* parent) {
  Scope scope;
  scope.parent = parent;
  if (s.has_with_clause()) With(s.with_clause(), &scope);
  Reference* target = WriteTarget(s.relation());
  for (const auto& c : s.cols()) AddColumn(target, c.res_target().name());
  if (s.has_select_stmt()) SelectNode(s.select_stmt(), &scope);
  scope.items.push_back(RelationItem(s.relation(), target));
  if (s.has_on_conflict_clause()) Walk(s.on_conflict_clause(), &scope);
  WalkList(s.returning_list(), &scope);
}

Reference* Analyzer::WriteTarget(const pg_query::RangeVar& rv) {
  ViaScope v(&via_, "writes");
  return RelationRef(rv);
}

void Analyzer::Update(const pg_query::UpdateStmt& s, Scope* parent) {
  Scope scope;
  scope.parent = parent;
  if (s.has_with_clause()) With(s.with_clause(), &scope);
  Reference* target = WriteTarget(s.relation());
  scope.items.push_back(RelationItem(s.relation(), target));
  for (const auto& f : s.from_clause()) FromItem(f, &scope);
  for (const auto& t : s.target_list()) {
    AddColumn(target, t.res_target().name());
    if (t.res_target().has_val()) Walk(t.res_target().val(), &scope);
  }
  if (s.has_where_clause()) Walk(s.where_clause(), &scope);
  WalkList(s.returning_list(), &scope);
}

void Analyzer::Delete(const pg_query::DeleteStmt& s, Scope* parent) {
  Scope scope;
  scope.parent = parent;
  if (s.has_with_clause()) With(s.with_clause(), &scope);
  Reference* target = WriteTarget(s.relation());
  scope.items.push_back(RelationItem(s.relation(), target));
  for (const auto& f : s.using_clause()) FromItem(f, &scope);
  if (s.has_where_clause()) Walk(s.where_clause(), &scope);
  WalkList(s.returning_list(), &scope);
}

// --- definitions ---

std::string RelationSchema(const pg_query::RangeVar& rv, const std::string& fallback) {
  return rv.schemaname().empty() ? fallback : Q(rv.schemaname());
}

void Analyzer::Constraint(const pg_query::Constraint& c, const std::string& column, Column* col, Scope* self) {
  switch (c.contype()) {
    case pg_query::CONSTR_UNIQUE:
      info_.unique_keys.push_back(column.empty() ? Strs(c.keys()) : std::vector<std::string>{column});
      break;
    case pg_query::CONSTR_NOTNULL:
    case pg_query::CONSTR_PRIMARY:
      if (c.contype() == pg_query::CONSTR_PRIMARY)
        info_.primary_key = column.empty() ? Strs(c.keys()) : std::vector<std::string>{column};
      if (col) col->not_null = true;
      for (const auto& k : c.keys())
        for (auto& other : info_.columns)
          if (other.name == Str(k)) other.not_null = true;
      break;
    case pg_query::CONSTR_DEFAULT: {
      if (col) col->has_default = true;
      ViaScope v(&via_, "default");
      if (c.has_raw_expr()) {
        Walk(c.raw_expr(), self);
        if (col) {
          col->volatile_default = CallsVolatileFunction(c.raw_expr());
        }
      }
      break;
    }
    case pg_query::CONSTR_IDENTITY:
      if (col) col->has_default = col->not_null = true;
      break;
    case pg_query::CONSTR_GENERATED: {
      if (col) col->has_default = true;
      ViaScope v(&via_, "generated");
      if (c.has_raw_expr()) Walk(c.raw_expr(), self);
      break;
    }
    case pg_query::CONSTR_CHECK: {
      ViaScope v(&via_, "check");
      if (c.has_raw_expr()) Walk(c.raw_expr(), self);
      break;
    }
    case pg_query::CONSTR_EXCLUSION: {
      ViaScope v(&via_, "check");
      Walk(c, self);
      break;
    }
    case pg_query::CONSTR_FOREIGN: {
      ForeignKey fk;
      fk.name = c.conname();
      fk.columns = column.empty() ? Strs(c.fk_attrs()) : std::vector<std::string>{column};
      fk.ref_columns = Strs(c.pk_attrs());
      Reference* ref;
      {
        ViaScope v(&via_, "foreign key");
        ref = RelationRef(c.pktable());
      }
      if (ref) {
        fk.ref_schema = ref->schema;
        fk.ref_table = ref->name;
        for (const auto& rc : fk.ref_columns) AddColumn(ref, rc);
      } else {
        fk.ref_schema = RelationSchema(c.pktable(), DefaultSchema());
        fk.ref_table = Q(c.pktable().relname());
      }
      info_.foreign_keys.push_back(std::move(fk));
      break;
    }
    default:
      break;
  }
}

void Analyzer::TableElement(const Node& elt, Scope* self) {
  if (elt.has_column_def()) {
    const auto& cd = elt.column_def();
    Column col;
    col.name = cd.colname();
    std::string type = TypeString(cd.type_name(), /*with_modifiers=*/true);
    static const std::map<std::string, std::string> kSerial = {
        {"serial", "integer"},   {"serial4", "integer"}, {"bigserial", "bigint"},
        {"serial8", "bigint"},   {"smallserial", "smallint"}, {"serial2", "smallint"}};
    if (auto it = kSerial.find(type); it != kSerial.end()) {
      type = it->second;
      col.has_default = col.not_null = true;
    }
    col.type = type;
    col.not_null = col.not_null || cd.is_not_null();
    {
      ViaScope v(&via_, "column type");
      TypeRef(cd.type_name());
    }
    info_.columns.push_back(col);
    const size_t index = info_.columns.size() - 1;
    for (const auto& c : cd.constraints())
      if (c.has_constraint()) Constraint(c.constraint(), cd.colname(), &info_.columns[index], self);
    if (cd.has_raw_default()) {
      info_.columns[index].has_default = true;
      ViaScope v(&via_, "default");
      Walk(cd.raw_default(), self);
    }
    return;
  }
  if (elt.has_constraint()) return Constraint(elt.constraint(), "", nullptr, self);
  if (elt.has_table_like_clause()) {
    ViaScope v(&via_, "like");
    Reference* ref = RelationRef(elt.table_like_clause().relation());
    UseAllColumns(ref, ColumnsOf(ref));
  }
}

void Analyzer::Table(const pg_query::CreateStmt& s) {
  SetSelf("table", RelationSchema(s.relation(), DefaultSchema()), Q(s.relation().relname()));
  Scope self;
  // Column names first, so that CHECK and DEFAULT expressions can name them.
  Item me;
  me.alias = s.relation().relname();
  me.columns = std::vector<std::string>{};
  for (const auto& e : s.table_elts())
    if (e.has_column_def()) me.columns->push_back(e.column_def().colname());
  self.items.push_back(me);
  for (const auto& e : s.table_elts()) TableElement(e, &self);
  for (const auto& c : s.constraints())
    if (c.has_constraint()) Constraint(c.constraint(), "", nullptr, &self);
  {
    ViaScope v(&via_, s.has_partbound() ? "partition of" : "inherits");
    for (const auto& inh : s.inh_relations())
      if (inh.has_range_var()) RelationRef(inh.range_var());
  }
  if (s.has_of_typename()) {
    ViaScope v(&via_, "of type");
    TypeRef(s.of_typename());
  }
  if (s.has_partspec()) {
    ViaScope v(&via_, "partition key");
    Walk(s.partspec(), &self);
  }
}

void Analyzer::Sequence(const RepeatedPtrField<Node>& options) {
  for (const auto& o : options) {
    if (!o.has_def_elem()) continue;
    const auto& d = o.def_elem();
    if (d.defname() == "owned_by" && d.arg().has_list()) {
      std::vector<std::string> names = Strs(d.arg().list().items());
      if (names.size() < 2) continue;  // OWNED BY NONE
      const std::string column = names.back();
      names.pop_back();
      ViaScope v(&via_, "owned by");
      AddColumn(AddRef(Resolve(RefClass::kRelation, names), d.location()), column);
    } else if (d.defname() == "as" && d.arg().has_type_name()) {
      TypeRef(d.arg().type_name());
    }
  }
}

void Analyzer::PlpgsqlType(const std::string& typname) {
  std::string t = typname;
  auto strip = [&](std::string_view suffix) {
    if (t.size() > suffix.size()) {
      std::string tail = t.substr(t.size() - suffix.size());
      std::transform(tail.begin(), tail.end(), tail.begin(), ::tolower);
      if (tail == suffix) {
        t.resize(t.size() - suffix.size());
        return true;
      }
    }
    return false;
  };
  if (strip("%rowtype")) {
    Reference* ref = AddRef(Resolve(RefClass::kRelation, NameParts(t)), -1);
    UseAllColumns(ref, ColumnsOf(ref));
    return;
  }
  if (strip("%type")) {
    auto parts = NameParts(t);
    if (parts.size() < 2) return;  // a variable's %TYPE
    const std::string column = parts.back();
    parts.pop_back();
    AddColumn(AddRef(Resolve(RefClass::kRelation, parts), -1), column);
  }
}

absl::Status Analyzer::WalkBody(const PreparedBody& body, int index) {
  if (!body.error.empty()) {
    if (body.error_offset >= 0)
      return absl::InvalidArgumentError(fmt::format("{}: {} {}", info_.id.ToString(), body.error,
                                                    WhereInText(parsed_.source(), body.error_offset)));
    return absl::InvalidArgumentError(fmt::format("{}: {} {}", info_.id.ToString(), body.error, StatementWhere(index)));
  }
  for (const auto& v : body.variables) variables_.insert(v);
  for (const auto& n : body.notes) info_.notes.push_back(fmt::format("{}: {}", info_.id.ToString(), n));
  for (const auto& t : body.row_types) PlpgsqlType(t);
  for (const auto& parsed : body.parsed)
    for (int i = 0; i < parsed.size(); ++i) {
      Scope root;
      Walk(parsed.statement(i), &root);
    }
  return absl::OkStatus();
}

absl::Status Analyzer::Function(const pg_query::CreateFunctionStmt& s, int index) {
  std::vector<std::string> names = Strs(s.funcname());
  const std::string schema = names.size() >= 2 ? Q(names[names.size() - 2]) : DefaultSchema();
  const std::string name = Q(names.back());
  std::vector<std::string> args, table_columns;
  ViaScope v(&via_, "signature");
  for (const auto& p : s.parameters()) {
    const auto& fp = p.function_parameter();
    if (!fp.name().empty()) variables_.insert(fp.name());
    TypeRef(fp.arg_type());
    const auto mode = fp.mode();
    if (mode == pg_query::FUNC_PARAM_OUT) continue;
    if (mode == pg_query::FUNC_PARAM_TABLE) {
      table_columns.push_back(fmt::format("{} {}", fp.name(), TypeString(fp.arg_type(), true)));
      continue;
    }
    std::string t = TypeString(fp.arg_type(), /*with_modifiers=*/false);
    if (mode == pg_query::FUNC_PARAM_VARIADIC) t = "variadic " + t;
    args.push_back(t);
    if (fp.has_defexpr()) {
      Scope none;
      Walk(fp.defexpr(), &none);
    }
  }
  SetSelf(s.is_procedure() ? "procedure" : "function", schema,
          absl::StrCat(name, "(", absl::StrJoin(args, ","), ")"));
  self_name_ = name;
  info_.arg_types = args;
  if (s.has_return_type()) {
    ViaScope r(&via_, "returns");
    TypeRef(s.return_type());
    info_.return_type = table_columns.empty() ? TypeString(s.return_type(), /*with_modifiers=*/false)
                                              : "TABLE(" + absl::StrJoin(table_columns, ", ") + ")";
  }
  const auto [language, body] = LanguageAndBody(s);
  info_.language = language;
  ViaScope b(&via_, "");
  in_body_ = true;
  if (s.has_sql_body()) {
    Scope root;
    Walk(s.sql_body(), &root);
    return absl::OkStatus();
  }
  if (prepared_) {
    if (auto it = prepared_->find(index); it != prepared_->end()) return WalkBody(it->second, index);
  }
  const PreparedBody prepared =
      PrepareBody(language, body, parsed_.StatementText(index), parsed_.StatementOffset(index));
  return WalkBody(prepared, index);
}

bool Analyzer::IsSelfName(const std::vector<std::string>& names) const {
  if (names.empty()) return false;
  std::string bare = info_.id.name;
  if (size_t paren = bare.find('('); paren != std::string::npos) bare = bare.substr(0, paren);
  if (info_.id.kind == "trigger") {
    // [schema.]table.trigger, or the trigger name alone with ON table.
    return Q(names.back()) == bare.substr(bare.rfind('.') + 1);
  }
  if (Q(names.back()) != bare) return false;
  if (info_.id.kind == "schema" || info_.id.kind == "extension") return names.size() == 1;
  const std::string schema = names.size() >= 2 ? Q(names[names.size() - 2]) : DefaultSchema();
  return schema == info_.id.schema;
}

// What ALTER ... OWNER, ALTER TABLE, ALTER SEQUENCE and ALTER FUNCTION are
// about (nullopt for other statements).
std::optional<std::vector<std::string>> AlteredObject(const Node& stmt) {
  if (stmt.has_alter_owner_stmt()) {
    const auto& a = stmt.alter_owner_stmt();
    return a.has_relation() ? RangeVarNames(a.relation()) : NamesOf(a.object());
  }
  if (stmt.has_alter_table_stmt()) return RangeVarNames(stmt.alter_table_stmt().relation());
  if (stmt.has_alter_seq_stmt()) return RangeVarNames(stmt.alter_seq_stmt().sequence());
  if (stmt.has_alter_function_stmt()) return Strs(stmt.alter_function_stmt().func().objname());
  return std::nullopt;
}

absl::Status Analyzer::Auxiliary(const Node& stmt, int index) {
  auto not_ours = [&](const std::vector<std::string>& names) {
    return absl::InvalidArgumentError(fmt::format(
        "{}: this statement is about {}, not {}; a definition holds one object and statements about it",
        StatementWhere(index), absl::StrJoin(names, "."), info_.id.ToString()));
  };
  if (stmt.has_comment_stmt()) {
    const auto& c = stmt.comment_stmt();
    std::vector<std::string> names = NamesOf(c.object());
    if (c.objtype() == pg_query::OBJECT_COLUMN && !names.empty()) names.pop_back();
    if (c.objtype() == pg_query::OBJECT_TABCONSTRAINT || c.objtype() == pg_query::OBJECT_TRIGGER ||
        c.objtype() == pg_query::OBJECT_POLICY) {
      if (info_.id.kind != "trigger" && !names.empty()) names.pop_back();
    }
    return IsSelfName(names) ? absl::OkStatus() : not_ours(names);
  }
  if (stmt.has_grant_stmt()) {
    for (const auto& o : stmt.grant_stmt().objects()) {
      auto names = NamesOf(o);
      if (!IsSelfName(names)) return not_ours(names);
    }
    return absl::OkStatus();
  }
  if (auto names = AlteredObject(stmt)) {
    if (!IsSelfName(*names)) return not_ours(*names);
    if (stmt.has_alter_seq_stmt()) Sequence(stmt.alter_seq_stmt().options());
    if (!stmt.has_alter_table_stmt()) return absl::OkStatus();
    // Constraints, columns and defaults added by ALTER TABLE.
    Scope self;
    Item me;
    me.alias = stmt.alter_table_stmt().relation().relname();
    me.columns = std::vector<std::string>{};
    for (const auto& c : info_.columns) me.columns->push_back(c.name);
    self.items.push_back(me);
    for (const auto& cmd : stmt.alter_table_stmt().cmds()) {
      const auto& c = cmd.alter_table_cmd();
      if (c.def().has_constraint()) {
        Constraint(c.def().constraint(), "", nullptr, &self);
      } else if (c.def().has_column_def()) {
        TableElement(c.def(), &self);
      } else if (c.has_def()) {
        ViaScope v(&via_, "default");
        Walk(c.def(), &self);
      }
    }
    return absl::OkStatus();
  }
  if (stmt.has_create_policy_stmt() && info_.id.kind == "table") {
    // Row security policies belong to their table's definition.
    const auto& p = stmt.create_policy_stmt();
    auto names = RangeVarNames(p.table());
    if (!IsSelfName(names)) return not_ours(names);
    Scope self;
    Item me;
    me.alias = p.table().relname();
    me.columns = std::vector<std::string>{};
    for (const auto& c : info_.columns) me.columns->push_back(c.name);
    self.items.push_back(me);
    ViaScope v(&via_, "policy");
    if (p.has_qual()) Walk(p.qual(), &self);
    if (p.has_with_check()) Walk(p.with_check(), &self);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(fmt::format(
      "{}: this statement is not part of an object's definition; besides its CREATE statement a "
      "definition may hold COMMENT ON, GRANT, REVOKE, ALTER ... OWNER TO, ALTER TABLE, ALTER "
      "SEQUENCE and (for tables) CREATE POLICY statements about the same object",
      StatementWhere(index)));
}

absl::Status Analyzer::Define(const Node& stmt, int index) {
  Scope none;
  switch (stmt.node_case()) {
    case Node::kCreateStmt:
      Table(stmt.create_stmt());
      return absl::OkStatus();
    case Node::kViewStmt: {
      const auto& v = stmt.view_stmt();
      SetSelf("view", RelationSchema(v.view(), DefaultSchema()), Q(v.view().relname()));
      std::vector<std::string> out = SelectNode(v.query(), &none);
      const auto aliases = Strs(v.aliases());
      for (size_t i = 0; i < aliases.size() && i < out.size(); ++i) out[i] = aliases[i];
      for (auto& c : out) info_.columns.push_back(Column{.name = c});
      return absl::OkStatus();
    }
    case Node::kCreateTableAsStmt: {
      const auto& c = stmt.create_table_as_stmt();
      const auto& rel = c.into().rel();
      SetSelf(c.objtype() == pg_query::OBJECT_MATVIEW ? "materialized_view" : "table",
              RelationSchema(rel, DefaultSchema()), Q(rel.relname()));
      std::vector<std::string> out = SelectNode(c.query(), &none);
      const auto names = Strs(c.into().col_names());
      for (size_t i = 0; i < names.size() && i < out.size(); ++i) out[i] = names[i];
      for (auto& col : out) info_.columns.push_back(Column{.name = col});
      return absl::OkStatus();
    }
    case Node::kIndexStmt: {
      const auto& s = stmt.index_stmt();
      if (s.idxname().empty())
        return absl::InvalidArgumentError(
            fmt::format("{}: give the index a name (CREATE INDEX name ON ...)", StatementWhere(index)));
      const std::string schema = RelationSchema(s.relation(), DefaultSchema());
      SetSelf("index", schema, Q(s.idxname()));
      info_.index_concurrently = s.concurrent();
      info_.index_unique = s.unique();
      if (!s.has_where_clause()) {
        for (const auto& p : s.index_params()) {
          if (p.index_elem().name().empty()) {
            info_.index_key.clear();
            break;
          }
          info_.index_key.push_back(p.index_elem().name());
        }
      }
      Reference* table;
      {
        ViaScope v(&via_, "index");
        table = RelationRef(s.relation());
      }
      info_.index_table = table ? table->QualifiedName() : schema + "." + Q(s.relation().relname());
      Scope scope;
      scope.items.push_back(RelationItem(s.relation(), table));
      ViaScope v(&via_, "index");
      for (const auto& p : s.index_params()) {
        const auto& e = p.index_elem();
        if (!e.name().empty()) AddColumn(table, e.name());
        if (e.has_expr()) Walk(e.expr(), &scope);
      }
      for (const auto& p : s.index_including_params())
        if (!p.index_elem().name().empty()) AddColumn(table, p.index_elem().name());
      if (s.has_where_clause()) Walk(s.where_clause(), &scope);
      return absl::OkStatus();
    }
    case Node::kCreateFunctionStmt:
      return Function(stmt.create_function_stmt(), index);
    case Node::kCreateTrigStmt: {
      const auto& t = stmt.create_trig_stmt();
      const std::string schema = RelationSchema(t.relation(), DefaultSchema());
      SetSelf("trigger", schema, Q(t.relation().relname()) + "." + Q(t.trigname()));
      Reference* table;
      {
        ViaScope v(&via_, "trigger");
        table = RelationRef(t.relation());
      }
      info_.index_table = table ? table->QualifiedName() : schema + "." + Q(t.relation().relname());
      for (const auto& c : t.columns()) AddColumn(table, Str(c));
      {
        ViaScope v(&via_, "trigger function");
        AddRef(Resolve(RefClass::kFunction, Strs(t.funcname())), -1, /*nargs=*/0);
      }
      if (t.has_when_clause()) {
        Scope scope;
        for (const char* alias : {"new", "old"}) {
          Item item = RelationItem(t.relation(), table);
          item.alias = alias;
          scope.items.push_back(item);
        }
        ViaScope v(&via_, "trigger");
        Walk(t.when_clause(), &scope);
      }
      return absl::OkStatus();
    }
    case Node::kCreateSeqStmt: {
      const auto& s = stmt.create_seq_stmt();
      SetSelf("sequence", RelationSchema(s.sequence(), DefaultSchema()), Q(s.sequence().relname()));
      Sequence(s.options());
      return absl::OkStatus();
    }
    case Node::kCreateEnumStmt: {
      const auto names = Strs(stmt.create_enum_stmt().type_name());
      SetSelf("type", names.size() >= 2 ? Q(names[names.size() - 2]) : DefaultSchema(), Q(names.back()));
      info_.enum_labels = Strs(stmt.create_enum_stmt().vals());
      return absl::OkStatus();
    }
    case Node::kCompositeTypeStmt: {
      const auto& c = stmt.composite_type_stmt();
      SetSelf("type", RelationSchema(c.typevar(), DefaultSchema()), Q(c.typevar().relname()));
      Scope self;
      for (const auto& e : c.coldeflist()) TableElement(e, &self);
      return absl::OkStatus();
    }
    case Node::kCreateRangeStmt: {
      const auto names = Strs(stmt.create_range_stmt().type_name());
      SetSelf("type", names.size() >= 2 ? Q(names[names.size() - 2]) : DefaultSchema(), Q(names.back()));
      ViaScope v(&via_, "subtype");
      WalkList(stmt.create_range_stmt().params(), &none);
      return absl::OkStatus();
    }
    case Node::kCreateDomainStmt: {
      const auto& d = stmt.create_domain_stmt();
      const auto names = Strs(d.domainname());
      SetSelf("domain", names.size() >= 2 ? Q(names[names.size() - 2]) : DefaultSchema(), Q(names.back()));
      {
        ViaScope v(&via_, "base type");
        TypeRef(d.type_name());
      }
      ViaScope v(&via_, "check");
      for (const auto& c : d.constraints())
        if (c.has_constraint() && c.constraint().has_raw_expr()) Walk(c.constraint().raw_expr(), &none);
      return absl::OkStatus();
    }
    case Node::kCreateSchemaStmt:
      SetSelf("schema", "", Q(stmt.create_schema_stmt().schemaname()));
      return absl::OkStatus();
    case Node::kCreateExtensionStmt:
      SetSelf("extension", "", Q(stmt.create_extension_stmt().extname()));
      return absl::OkStatus();
    default:
      return absl::NotFoundError("not a definition");
  }
}


absl::StatusOr<ObjectInfo> Analyzer::Run() {
  if (parsed_.size() == 0) return absl::InvalidArgumentError("the definition contains no SQL statement");
  // The defining statement first: the others are checked against it.
  for (int i : statements_) {
    if (!IsDefinitionStatement(parsed_.statement(i))) continue;
    if (defined_) {
      Analyzer other(parsed_, options_, {i});
      std::string what = "another object";
      if (other.Define(parsed_.statement(i), i).ok()) what = other.info_.id.ToString();
      return absl::InvalidArgumentError(fmt::format(
          "{}: the definition of {} also defines {}; check in each object separately",
          StatementWhere(i), info_.id.ToString(), what));
    }
    if (absl::Status s = Define(parsed_.statement(i), i); !s.ok()) return s;
    defined_ = true;
    define_index_ = i;
  }
  if (!defined_)
    return absl::InvalidArgumentError(
        "the definition has no CREATE statement; an object's definition is the statement that creates it");
  for (int i : statements_) {
    if (i == define_index_) continue;
    if (absl::Status s = Auxiliary(parsed_.statement(i), i); !s.ok()) return s;
  }
  // A relation does not reference itself (CHECK constraints, self-joins of
  // a view are not possible, a table's FK to itself is not an edge).
  for (auto& [key, ref] : refs_) {
    std::sort(ref.columns.begin(), ref.columns.end());
    ref.columns.erase(std::unique(ref.columns.begin(), ref.columns.end()), ref.columns.end());
    std::sort(ref.via.begin(), ref.via.end());
    ref.via.erase(std::unique(ref.via.begin(), ref.via.end()), ref.via.end());
    const bool self = ref.schema == self_schema_ && ref.name == self_name_ &&
                      RefClassOfKind(info_.id.kind) == ref.cls;
    if (!self) info_.references.push_back(std::move(ref));
  }
  return std::move(info_);
}

}  // namespace

bool CallsVolatileFunction(const google::protobuf::Message& m) {
  if (m.GetDescriptor() == pg_query::FuncCall::descriptor()) {
    const auto names = Strs(static_cast<const pg_query::FuncCall&>(m).funcname());
    if (!names.empty() && IsVolatileFunction(names.back())) return true;
  }
  const auto* refl = m.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  refl->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->type() != google::protobuf::FieldDescriptor::TYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(m, f); ++i)
        if (CallsVolatileFunction(refl->GetRepeatedMessage(m, f, i))) return true;
    } else if (CallsVolatileFunction(refl->GetMessage(m, f))) {
      return true;
    }
  }
  return false;
}

absl::StatusOr<ObjectInfo> AnalyzeDefinition(std::string_view sql, const AnalyzeOptions& options) {
  auto parsed = ParsedSql::Parse(sql);
  if (!parsed.ok()) return parsed.status();
  return AnalyzeParsed(*parsed, options);
}

absl::StatusOr<ObjectInfo> AnalyzeParsed(const ParsedSql& parsed, const AnalyzeOptions& options) {
  Analyzer analyzer(parsed, options);
  return analyzer.Run();
}

struct PreparedDefinition::Bodies {
  std::map<int, PreparedBody> by_statement;
};

PreparedDefinition::PreparedDefinition(PreparedDefinition&&) noexcept = default;
PreparedDefinition& PreparedDefinition::operator=(PreparedDefinition&&) noexcept = default;
PreparedDefinition::~PreparedDefinition() = default;

absl::StatusOr<PreparedDefinition> PreparedDefinition::Prepare(std::string_view sql) {
  auto parsed = ParsedSql::Parse(sql);
  if (!parsed.ok()) return parsed.status();
  PreparedDefinition out;
  out.parsed_ = std::make_unique<ParsedSql>(std::move(*parsed));
  out.bodies_ = std::make_unique<Bodies>();
  // One thread: callers prepare many definitions at once.
  out.bodies_->by_statement = PrepareBodies(*out.parsed_, 0, out.parsed_->size(), 1);
  return out;
}

absl::StatusOr<ObjectInfo> AnalyzePrepared(const PreparedDefinition& prepared, const AnalyzeOptions& options) {
  Analyzer analyzer(*prepared.parsed_, options, {}, &prepared.bodies_->by_statement);
  return analyzer.Run();
}

namespace {

// The object a statement that accompanies definitions is about, as
// "schema.name" (nullopt: about no object, e.g. SET).
std::optional<std::string> AboutObject(const Node& stmt, const std::string& default_schema) {
  std::vector<std::string> names;
  if (stmt.has_comment_stmt()) {
    const auto& c = stmt.comment_stmt();
    names = NamesOf(c.object());
    if ((c.objtype() == pg_query::OBJECT_COLUMN || c.objtype() == pg_query::OBJECT_TABCONSTRAINT ||
         c.objtype() == pg_query::OBJECT_TRIGGER) &&
        !names.empty())
      names.pop_back();
  } else if (stmt.has_grant_stmt() && stmt.grant_stmt().objects_size() == 1) {
    names = NamesOf(stmt.grant_stmt().objects(0));
  } else if (auto altered = AlteredObject(stmt)) {
    names = std::move(*altered);
  }
  if (names.empty()) return std::nullopt;
  if (names.size() == 1) return Q(default_schema) + "." + Q(names[0]);
  return Q(names[names.size() - 2]) + "." + Q(names.back());
}

std::string BareName(const model::ObjectId& id) {
  std::string q = id.QualifiedName();
  return q.substr(0, q.find('('));
}

}  // namespace

namespace {

// Prepares the bodies of the functions among statements [begin, end) of
// `parsed` on `threads` threads; keyed by statement index.
std::map<int, PreparedBody> PrepareBodies(const ParsedSql& parsed, int begin, int end, size_t threads) {
  std::vector<int> functions;
  for (int i = begin; i < end; ++i)
    if (parsed.statement(i).has_create_function_stmt() && !parsed.statement(i).create_function_stmt().has_sql_body())
      functions.push_back(i);
  std::vector<PreparedBody> bodies(functions.size());
  threads = std::clamp<size_t>(threads, 1, functions.size() / 8 + 1);
  auto work = [&](size_t t) {
    for (size_t k = t; k < functions.size(); k += threads) {
      const int i = functions[k];
      const auto [language, body] = LanguageAndBody(parsed.statement(i).create_function_stmt());
      bodies[k] = PrepareBody(language, body, parsed.StatementText(i), parsed.StatementOffset(i));
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  std::map<int, PreparedBody> out;
  for (size_t k = 0; k < functions.size(); ++k) out.emplace(functions[k], std::move(bodies[k]));
  return out;
}

// Analyzes a dump: definitions in order (each seeing those before it), then
// each object again with the statements about it elsewhere in the dump.
class DumpAnalyzer {
 public:
  explicit DumpAnalyzer(const AnalyzeOptions& options) : options_(options) {
    catalog_.exists = [this](RefClass cls, const std::string& schema, const std::string& name) {
      if (names_.count({static_cast<int>(cls), schema + "." + name})) return true;
      return options_.catalog && options_.catalog->exists && options_.catalog->exists(cls, schema, name);
    };
    catalog_.columns = [this](const std::string& schema,
                              const std::string& name) -> std::optional<std::vector<std::string>> {
      if (auto it = columns_.find(schema + "." + name); it != columns_.end()) return it->second;
      if (options_.catalog && options_.catalog->columns) return options_.catalog->columns(schema, name);
      return std::nullopt;
    };
    layered_ = options_;
    layered_.catalog = &catalog_;
    default_schema_ = options_.search_path.empty() ? "public" : options_.search_path.front();
  }

  // Analyzes the definitions among `parsed`'s statements [begin, end);
  // `base` is the index of statement `begin` in the whole dump.
  absl::Status Definitions(const ParsedSql& parsed, int begin, int end, int base,
                           const std::map<int, PreparedBody>& bodies) {
    for (int i = begin; i < end; ++i) {
      if (!IsDefinitionStatement(parsed.statement(i))) continue;
      Analyzer one(parsed, layered_, {i}, &bodies);
      auto info = one.Run();
      if (!info.ok()) return info.status();
      Learn(*info);
      group_of_.emplace(BareName(info->id), groups_.size());
      groups_.push_back({base + i - begin});
      out_.objects.push_back(std::move(*info));
    }
    return absl::OkStatus();
  }

  // The statements about objects, found anywhere in the whole dump.
  absl::StatusOr<DumpAnalysis> Finish(const ParsedSql& whole, const std::map<int, PreparedBody>& bodies) {
    for (int i = 0; i < whole.size(); ++i) {
      if (IsDefinitionStatement(whole.statement(i))) continue;
      auto about = AboutObject(whole.statement(i), default_schema_);
      auto it = about ? group_of_.find(*about) : group_of_.end();
      if (it == group_of_.end()) {
        ++out_.skipped_statements;
        continue;
      }
      groups_[it->second].push_back(i);
    }
    // pg_dump adds foreign keys and comments at the end: objects with such
    // statements are analyzed again with them.
    for (size_t g = 0; g < groups_.size(); ++g) {
      if (groups_[g].size() == 1) continue;
      Analyzer all(whole, layered_, groups_[g], &bodies);
      auto info = all.Run();
      if (!info.ok()) return info.status();
      out_.objects[g] = std::move(*info);
    }
    return std::move(out_);
  }

 private:
  void Learn(const ObjectInfo& info) {
    auto cls = RefClassOfKind(info.id.kind);
    if (!cls) return;
    names_.insert({static_cast<int>(*cls), BareName(info.id)});
    if (*cls == RefClass::kRelation && !info.columns.empty()) {
      std::vector<std::string> cols;
      for (const auto& c : info.columns) cols.push_back(c.name);
      columns_[BareName(info.id)] = std::move(cols);
    }
  }

  const AnalyzeOptions& options_;
  AnalyzeOptions layered_;
  Catalog catalog_;
  std::string default_schema_;
  std::set<std::pair<int, std::string>> names_;
  std::map<std::string, std::vector<std::string>> columns_;
  DumpAnalysis out_;
  std::vector<std::vector<int>> groups_;
  std::map<std::string, size_t> group_of_;
};

// Texts below this size are analyzed without a pipeline.
constexpr size_t kPipelineAbove = 16 << 10;
constexpr size_t kRegionBytes = 16 << 10;

// Cuts a dump into regions of about kRegionBytes at likely statement
// boundaries: a line that starts with CREATE, ALTER, COMMENT, GRANT or
// REVOKE after a line that ends with ';'. A cut inside a quoted body (a
// function body with such a line) makes a region fail to parse on its own,
// and the caller then parses the whole text instead: slow, never wrong.
bool StartsStatement(std::string_view line) {
  for (std::string_view k : {"CREATE ", "ALTER ", "COMMENT ", "GRANT ", "REVOKE "}) {
    if (line.size() < k.size()) continue;
    bool match = true;
    for (size_t i = 0; i < k.size() && match; ++i)
      match = std::toupper(static_cast<unsigned char>(line[i])) == k[i];
    if (match) return true;
  }
  return false;
}

std::vector<std::pair<size_t, size_t>> Regions(const std::string& sql) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t start = 0, line = 0;
  bool after_semicolon = false;
  while (line < sql.size()) {
    size_t end = sql.find('\n', line);
    if (end == std::string::npos) end = sql.size();
    if (after_semicolon && line - start >= kRegionBytes &&
        StartsStatement(std::string_view(sql).substr(line, end - line))) {
      out.push_back({start, line - start});
      start = line;
    }
    size_t last = end;
    while (last > line && std::isspace(static_cast<unsigned char>(sql[last - 1]))) --last;
    if (last > line) after_semicolon = sql[last - 1] == ';';
    line = end + 1;
  }
  if (start < sql.size()) out.push_back({start, sql.size() - start});
  return out;
}

// The pipeline: workers split regions into statements, parse them (and
// their function bodies) while this thread analyzes the regions already
// parsed, in order. nullopt when a region does not parse on its own (the
// caller then parses the whole text, which reports a real error precisely).
std::optional<absl::StatusOr<DumpAnalysis>> AnalyzeDumpPipelined(const std::string& sql,
                                                                 const AnalyzeOptions& options) {
  auto source = std::make_shared<const std::string>(sql);
  const std::vector<std::pair<size_t, size_t>> regions = Regions(sql);
  struct Chunk {
    std::optional<absl::StatusOr<ParsedSql>> parsed;
    std::map<int, PreparedBody> bodies;
  };
  const size_t n = regions.size();
  std::vector<Chunk> chunks(n);
  absl::Mutex mu;  // guards chunks[c] until this thread has waited for it (a worker fills it once); a leaf lock
  absl::CondVar ready;
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  auto worker = [&] {
    for (size_t c; !stop && (c = next++) < n;) {
      const auto [begin, length] = regions[c];
      absl::StatusOr<ParsedSql> parsed = absl::InvalidArgumentError("the region does not split");
      if (auto pieces = ParsedSql::SplitStatements(sql.substr(begin, length)); pieces.ok()) {
        for (auto& p : *pieces) p.first += static_cast<int>(begin);
        parsed = ParsedSql::ParsePieces(source, *pieces, 0, pieces->size());
      }
      std::map<int, PreparedBody> bodies;
      if (parsed.ok()) bodies = PrepareBodies(*parsed, 0, parsed->size(), 1);
      absl::MutexLock lock(&mu);
      chunks[c].parsed = std::move(parsed);
      chunks[c].bodies = std::move(bodies);
      ready.SignalAll();
    }
  };
  std::vector<std::thread> pool;
  const size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
  for (size_t t = 0; t < std::min(threads, n); ++t) pool.emplace_back(worker);

  DumpAnalyzer analyzer(options);
  absl::Status status = absl::OkStatus();
  bool split_wrongly = false;
  int base = 0;
  for (size_t c = 0; c < n && status.ok() && !split_wrongly; ++c) {
    {
      absl::MutexLock lock(&mu);
      while (!chunks[c].parsed.has_value()) ready.Wait(&mu);
    }
    if (!chunks[c].parsed->ok()) {
      split_wrongly = true;
      break;
    }
    const ParsedSql& parsed = **chunks[c].parsed;
    status = analyzer.Definitions(parsed, 0, parsed.size(), base, chunks[c].bodies);
    base += parsed.size();
  }
  stop = true;
  for (auto& t : pool) t.join();
  if (split_wrongly) return std::nullopt;
  if (!status.ok()) return absl::StatusOr<DumpAnalysis>(status);

  // One statement list for the statements about objects across chunks.
  std::vector<ParsedSql> parts;
  std::map<int, PreparedBody> bodies;
  base = 0;
  for (auto& chunk : chunks) {
    for (auto& [i, body] : chunk.bodies) bodies.emplace(base + i, std::move(body));
    base += (*chunk.parsed)->size();
    parts.push_back(std::move(**chunk.parsed));
  }
  const ParsedSql whole = ParsedSql::Merge(std::move(parts));
  return analyzer.Finish(whole, bodies);
}

}  // namespace

absl::StatusOr<DumpAnalysis> AnalyzeDump(std::string_view sql, const AnalyzeOptions& options) {
  const std::string text(sql);
  if (text.size() > kPipelineAbove)
    if (auto result = AnalyzeDumpPipelined(text, options)) return std::move(*result);
  auto parsed = ParsedSql::Parse(text);
  if (!parsed.ok()) return parsed.status();
  const auto bodies = PrepareBodies(*parsed, 0, parsed->size(), std::thread::hardware_concurrency());
  DumpAnalyzer analyzer(options);
  if (absl::Status s = analyzer.Definitions(*parsed, 0, parsed->size(), 0, bodies); !s.ok()) return s;
  return analyzer.Finish(*parsed, bodies);
}

absl::Status CheckDefines(std::string_view sql, const model::ObjectId& expected, const AnalyzeOptions& options) {
  return AnalyzeDefines(sql, expected, options).status();
}

absl::StatusOr<ObjectInfo> AnalyzeDefines(std::string_view sql, const model::ObjectId& expected,
                                          const AnalyzeOptions& options) {
  auto parsed = ParsedSql::Parse(sql);
  if (!parsed.ok()) return parsed.status();
  return AnalyzeDefines(*parsed, expected, options);
}

absl::StatusOr<ObjectInfo> AnalyzeDefines(const ParsedSql& parsed, const model::ObjectId& expected,
                                          const AnalyzeOptions& options) {
  auto info = AnalyzeParsed(parsed, options);
  if (!info.ok()) return info.status();
  if (info->id == expected) return info;
  std::string hint;
  if (info->id.kind == expected.kind && info->id.schema != expected.schema &&
      info->id.name == expected.name)
    hint = fmt::format("; qualify the name: {}", expected.QualifiedName());
  return absl::InvalidArgumentError(
      fmt::format("the definition defines {}, not {}{}", info->id.ToString(), expected.ToString(), hint));
}

}  // namespace strata::sql
