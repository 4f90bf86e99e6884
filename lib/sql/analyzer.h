// The analyzer of lib/sql/analyze.h, shared by its files; not a public
// header (nothing outside lib/sql includes it).
//
//   analyze.cc              the public entry points (a definition, a prepared
//                           definition, CheckDefines/AnalyzeDefines)
//   analyze_bodies.cc       function bodies, parsed without a catalog
//                           (PrepareBody, PrepareBodies), so a dump's bodies
//                           are parsed on several threads
//   analyze_queries.cc      names, types and the walk of expressions and
//                           queries (columns through aliases, joins,
//                           subqueries and CTEs)
//   analyze_definitions.cc  what each kind of CREATE defines, and the
//                           statements allowed beside it (Run, Define,
//                           Auxiliary)
//   analyze_dump.cc         whole dumps (AnalyzeDump): definitions in order,
//                           regions parsed on every core
//
// Thread-safety: an Analyzer is used by one thread; the free functions are
// thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "fmt/format.h"
#include "sql/analyze.h"
#include "sql/parse.h"

namespace strata::sql::analysis {

using google::protobuf::Message;
using google::protobuf::RepeatedPtrField;
using pg_query::Node;

inline std::string Str(const Node& n) { return n.has_string() ? n.string().sval() : std::string(); }
std::vector<std::string> Strs(const RepeatedPtrField<Node>& list);
inline std::string Q(std::string_view ident) { return model::QuoteIdentifier(ident); }

// A dotted name written as text ('sales.orders_seq' for nextval() and
// regclass, "sales.orders%ROWTYPE" in PL/pgSQL), split and folded as
// PostgreSQL reads identifiers: lower case unless double-quoted.
std::vector<std::string> NameParts(const std::string& text);

// Functions whose result differs per row: a DEFAULT calling them makes
// ADD COLUMN rewrite the table (non-volatile defaults are stored once).
bool IsVolatileFunction(std::string_view name);

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

// Prepares the bodies of the functions among statements [begin, end) of
// `parsed` on `threads` threads; keyed by statement index.
std::map<int, PreparedBody> PrepareBodies(const ParsedSql& parsed, int begin, int end, size_t threads);

// Parses a function's body (`stmt_text` is its CREATE statement, at byte
// `stmt_offset` of the whole text). Thread-safe; no catalog.
PreparedBody PrepareBody(const std::string& language, const std::string& body, std::string_view stmt_text,
                         int stmt_offset);

// The language and body text of CREATE FUNCTION (body "" for BEGIN ATOMIC).
std::pair<std::string, std::string> LanguageAndBody(const pg_query::CreateFunctionStmt& s);

// The schema of a relation's name, or `fallback` when it is unqualified.
std::string RelationSchema(const pg_query::RangeVar& rv, const std::string& fallback);

// What ALTER ... OWNER, ALTER TABLE, ALTER SEQUENCE and ALTER FUNCTION are
// about (nullopt for other statements).
std::optional<std::vector<std::string>> AlteredObject(const Node& stmt);

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
    Resolved r;
    r.cls = cls;
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
  // The scope of an UPDATE or DELETE: its WITH, the relation it writes
  // (returned), and its FROM or USING items.
  Reference* WriteScope(const pg_query::WithClause* with, const pg_query::RangeVar& relation,
                        const RepeatedPtrField<Node>& from, Scope* scope);
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

}  // namespace strata::sql::analysis
