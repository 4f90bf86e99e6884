// The SQL model of one object definition: what it defines (its identity),
// its shape (columns, signature, enum labels) and what it references
// (relations and their columns, functions, types), read from PostgreSQL's
// own parse tree.
//
// Contract:
//  * A definition is one CREATE statement (table, view, materialized view,
//    function, procedure, sequence, index, trigger, type, domain, schema,
//    extension) plus statements about that same object only: COMMENT ON,
//    GRANT/REVOKE, ALTER ... OWNER TO, ALTER TABLE (e.g. ADD CONSTRAINT),
//    ALTER SEQUENCE ... OWNED BY, and for tables CREATE POLICY. Anything
//    else is INVALID_ARGUMENT naming the statement's line and column.
//  * Unqualified names resolve like PostgreSQL: pg_catalog first, then the
//    schemas of Options::search_path in order, taking the first schema where
//    the catalog knows the name; names nobody knows resolve to the first
//    schema of the search path and are marked unknown (not dropped).
//  * Built-in objects (pg_catalog, information_schema) are not references.
//  * Column references are resolved through aliases, joins, subqueries and
//    CTEs. A column whose relation cannot be decided (several relations in
//    scope whose columns are unknown) is attributed to each candidate.
//    SELECT * references every column of the relation when the catalog
//    knows them, and sets Reference::all_columns.
//  * Function bodies: SQL bodies are parsed as SQL; PL/pgSQL bodies with
//    libpg_query's PL/pgSQL parser (each embedded statement and expression);
//    dynamic SQL (EXECUTE) cannot be analyzed and is listed in
//    ObjectInfo::notes. Errors in bodies are INVALID_ARGUMENT with the line
//    and column in the definition, as PostgreSQL checks them at CREATE time.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "model/object_id.h"

namespace strata::sql {

// PostgreSQL's name spaces: relations (tables, views, materialized views,
// sequences, indexes), types (including domains), functions (and
// procedures), schemas, extensions.
enum class RefClass { kRelation, kType, kFunction, kSchema, kExtension };
const char* RefClassName(RefClass c);
// The name space an object kind lives in ("table" -> kRelation, ...); triggers
// are named within their table and are never referenced: nullopt.
std::optional<RefClass> RefClassOfKind(std::string_view kind);

struct Column {
  std::string name;
  std::string type;  // canonical, with modifiers: "character varying(100)", "numeric(12,2)"
  bool not_null = false;
  bool has_default = false;       // DEFAULT, identity, serial or generated
  bool volatile_default = false;  // the default calls a volatile function (random(), ...)
};

// One thing a definition uses.
struct Reference {
  RefClass cls = RefClass::kRelation;
  std::string schema;  // canonical identifier (quoted only when needed)
  std::string name;    // relation, type or function name, without arguments
  // Function calls: the number of arguments of the calls (-1: unknown);
  // trigger functions are called with none.
  int nargs = -1;
  std::vector<std::string> columns;  // relation columns used, sorted, unique
  bool all_columns = false;          // SELECT * (or %ROWTYPE) of the relation
  std::vector<std::string> via;      // how: "from", "foreign key", "trigger", "default", ... sorted
  bool known = false;                // the catalog knows the target
  int location = -1;                 // byte offset of the first use in the definition

  std::string QualifiedName() const;  // "schema.name"
};

// A foreign key of a table (the ordering splits them out of cycles).
struct ForeignKey {
  std::string name;  // constraint name ("" when PostgreSQL would generate it)
  std::vector<std::string> columns;
  std::string ref_schema, ref_table;
  std::vector<std::string> ref_columns;
};

struct ObjectInfo {
  model::ObjectId id;
  // Tables and composite types: their columns; views and materialized views:
  // their output columns (types unknown: empty).
  std::vector<Column> columns;
  std::vector<std::string> enum_labels;   // enum types
  std::vector<std::string> arg_types;     // functions and procedures (input arguments)
  std::string return_type;                // functions ("" for procedures)
  std::string language;                   // functions and procedures
  std::string index_table;                // indexes and triggers: schema.table they are on
  bool index_concurrently = false;        // CREATE INDEX CONCURRENTLY
  std::vector<Reference> references;      // sorted by (class, schema, name)
  std::vector<ForeignKey> foreign_keys;
  // Tables: the primary key's columns (empty: none) and each UNIQUE
  // constraint's columns, in the definition's order.
  std::vector<std::string> primary_key;
  std::vector<std::vector<std::string>> unique_keys;
  // Indexes: UNIQUE, and the columns of a key (plain columns only, no
  // expression, no WHERE: otherwise empty).
  bool index_unique = false;
  std::vector<std::string> index_key;
  std::vector<std::string> notes;         // what could not be analyzed, e.g. dynamic SQL

  const Column* FindColumn(std::string_view name) const;
};

// What the analysis may ask about objects other than the one being analyzed.
struct Catalog {
  // Whether an object of class `cls` named schema.name exists.
  std::function<bool(RefClass cls, const std::string& schema, const std::string& name)> exists;
  // The columns of relation schema.name (output columns of a view), if known.
  std::function<std::optional<std::vector<std::string>>(const std::string& schema, const std::string& name)>
      columns;
};

struct AnalyzeOptions {
  std::vector<std::string> search_path = {"public"};
  const Catalog* catalog = nullptr;  // null: nothing is known besides built-ins
};

// Analyzes an object's full definition (see the contract above).
absl::StatusOr<ObjectInfo> AnalyzeDefinition(std::string_view sql, const AnalyzeOptions& options = {});
class ParsedSql;
// The same, for a definition already parsed (no second parse).
absl::StatusOr<ObjectInfo> AnalyzeParsed(const ParsedSql& parsed, const AnalyzeOptions& options = {});

// What AnalyzeDefinition does that depends on the text alone: the parse of
// the definition and of its function bodies (PL/pgSQL included), which is
// most of the cost. Preparing is thread-safe and needs no catalog, so many
// definitions can be prepared on several threads ahead of analyses that
// must run in order (sql/prepare_ahead.h). Immutable once prepared; a
// prepared definition may be analyzed any number of times, with any catalog.
class PreparedDefinition {
 public:
  // Parse errors as AnalyzeDefinition, except those inside function bodies,
  // which AnalyzePrepared reports (as AnalyzeDefinition would).
  static absl::StatusOr<PreparedDefinition> Prepare(std::string_view sql);
  PreparedDefinition(PreparedDefinition&&) noexcept;
  PreparedDefinition& operator=(PreparedDefinition&&) noexcept;
  ~PreparedDefinition();

 private:
  friend absl::StatusOr<ObjectInfo> AnalyzePrepared(const PreparedDefinition& prepared,
                                                    const AnalyzeOptions& options);
  struct Bodies;  // function bodies by statement index (analyze.cc)
  PreparedDefinition() = default;
  std::unique_ptr<ParsedSql> parsed_;
  std::unique_ptr<Bodies> bodies_;
};
// The same result as AnalyzeDefinition on the prepared text.
absl::StatusOr<ObjectInfo> AnalyzePrepared(const PreparedDefinition& prepared, const AnalyzeOptions& options = {});

// A schema dump (pg_dump output, or definitions one after another): every
// object it defines, each analyzed with the statements about it found
// anywhere in the dump (pg_dump adds foreign keys and comments at the end).
// Statements about no object of the dump (SET, SELECT set_config(...), ...)
// are skipped and counted. Objects see the ones defined before them.
struct DumpAnalysis {
  std::vector<ObjectInfo> objects;  // in the order of their CREATE statements
  int skipped_statements = 0;
};
absl::StatusOr<DumpAnalysis> AnalyzeDump(std::string_view sql, const AnalyzeOptions& options = {});

// Refuses a definition that defines another object than `expected`, e.g.
//   "the definition defines view:sales.open_orders (line 1, column 1), not
//    table:sales.orders"
// OK when it defines `expected`. Parse errors as AnalyzeDefinition.
absl::Status CheckDefines(std::string_view sql, const model::ObjectId& expected,
                          const AnalyzeOptions& options = {});
// The same check, returning the analysis when the definition defines `expected`.
absl::StatusOr<ObjectInfo> AnalyzeDefines(const ParsedSql& parsed, const model::ObjectId& expected,
                                          const AnalyzeOptions& options = {});
absl::StatusOr<ObjectInfo> AnalyzeDefines(std::string_view sql, const model::ObjectId& expected,
                                          const AnalyzeOptions& options = {});

// Dependency keys: one text per name space and name, "relation:sales.orders",
// "type:sales.status", "function:sales.total" (overloads share a key: without
// argument types), "schema:sales", "extension:pgcrypto". What an object's
// definition uses (its references, the table an index or trigger is on, the
// schema it is in), sorted and unique, never the object itself ...
std::vector<std::string> DependencyKeys(const ObjectInfo& info);
// ... and the key under which others use `id`; nullopt for kinds nothing can
// name (triggers, policies).
std::optional<std::string> DependencyKeyOf(const model::ObjectId& id);

// Whether PostgreSQL defines this name itself.
bool IsBuiltinFunction(std::string_view name);
bool IsBuiltinType(std::string_view name);
bool IsBuiltinRelation(std::string_view schema, std::string_view name);

}  // namespace strata::sql
