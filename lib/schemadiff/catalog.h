// The catalog model: a PostgreSQL database's schema objects as read from
// pg_catalog, canonicalized by PostgreSQL itself (pg_get_viewdef,
// pg_get_indexdef, format_type, ...; read with an empty search_path, so every
// name outside pg_catalog is schema-qualified).
//
// Each object has a key ("table public.posts", "index public.posts_pkey"
// ...) that is the same in any database holding that object, a signature
// (everything that defines it: equal signatures mean no change), the SQL that
// creates and drops it, and what it depends on, from pg_depend. Objects that
// belong to an extension are the extension's; ownership and privileges are
// environment-specific and not part of the model.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "pg/pg.h"

namespace strata::schemadiff {

enum class Kind {
  kSchema,
  kExtension,
  kType,       // enum, domain, composite, range
  kSequence,
  kSequenceOwner,  // ALTER SEQUENCE ... OWNED BY, apart so tables and their sequences do not form a cycle
  kTable,
  kConstraint,
  kIndex,
  kView,
  kMaterializedView,
  kFunction,   // functions, procedures, aggregates
  kTrigger,
  kPolicy,
  kOperator,
  kTextSearch,  // parsers, dictionaries, configurations
  kComment,
};
const char* KindName(Kind kind);

// One edge from pg_depend, resolved to keys. `from_column` is the column of
// the dependent table through which it depends (its type or default),
// `on_column` the column of the referenced relation.
struct Dependency {
  std::string on;
  std::string on_column;
  std::string from_column;
  bool via_default = false;  // the dependent column's default expression needs it
  bool automatic = false;    // deptype 'a': dropped together with what it depends on
};

struct Column {
  std::string name;
  std::string type;       // format_type, qualified
  std::string collation;  // "" = the type's default
  bool not_null = false;
  std::string default_expr;  // or the generation expression when generated
  char identity = 0;         // 'a' ALWAYS, 'd' BY DEFAULT
  std::string identity_options;
  bool generated = false;    // GENERATED ALWAYS AS (default_expr) STORED
  int statistics = -1;
  bool local = true;         // false: inherited from a parent table only (partitions: always)
  std::string Signature() const;
};

struct SequenceOptions {
  std::string type, start, increment, min, max, cache;
  bool cycle = false;
};

struct Object {
  Kind kind;
  std::string key;
  std::string name;       // qualified and quoted as SQL writes it
  std::string signature;  // equal signatures: nothing to do
  std::vector<std::string> create;  // statements, without the trailing ';'
  std::string drop;       // "" when it cannot be dropped alone (dropped with its parent)
  std::string parent;     // table of an index, constraint, trigger...; object of a comment
  std::vector<Dependency> deps;
  std::vector<std::string> claims;  // names in shared namespaces ("rel public.x"), for clash checks

  // Kind-specific details the differ uses to ALTER instead of re-creating.
  char subkind = 0;              // relkind for tables ('r','p'), typtype for types
  std::vector<Column> columns;   // tables, views, composite types (name and type)
  std::vector<std::string> labels;  // enum values, in order
  SequenceOptions sequence;
  std::string persistence;       // tables: "p" or "u"
  std::string options;           // reloptions
  std::string partition_key;     // partitioned tables: pg_get_partkeydef
  bool is_partition = false;
  std::string partition_of;      // parent key and bound for partitions
  std::string partition_bound;
  std::vector<std::string> inherits;  // parent table keys
  bool row_security = false, force_row_security = false;
  std::string function_result;   // functions: result type, input argument names, defaults
  std::string function_inputs;
  int function_defaults = 0;
  std::string comment_on;        // how COMMENT ON names this object: "TABLE public.x"
  std::string comment_target;    // comments: what they are on, "TABLE public.x", "COLUMN public.x.c"
  std::string comment_text;
  std::string base_type;         // domains: base type, default, NOT NULL and named CHECKs
  std::string default_expr;
  bool not_null = false;
  std::vector<std::pair<std::string, std::string>> checks;
  std::string owned_by;          // sequences: "public.t.c" of their OWNED BY, "" none
  std::string owned_by_table;    // key of that table
  std::string owned_by_column;
};

struct Catalog {
  std::map<std::string, Object> objects;  // by key
  // Casts the server knows (pg_cast), as (source, target) type names without
  // modifiers: how a column's values can be converted to a new type.
  std::set<std::pair<std::string, std::string>> casts;
  const Object* Find(const std::string& key) const;
};

// A column as CREATE TABLE and ADD COLUMN write it.
std::string ColumnDefinition(const Column& column);
// The statements that create table `t` (partitions: PARTITION OF its parent).
std::vector<std::string> CreateTable(const Object& t, const Catalog& catalog);

// Reads the catalog model of the database `session` is connected to: the
// user schemas, without PostgreSQL's own and Strata's guard (strata_guard).
// In its own REPEATABLE READ transaction; with `in_open_transaction`, in the
// transaction the session is in (seeing what it created, uncommitted), which
// it leaves open.
absl::StatusOr<Catalog> ReadCatalog(pg::Session& session, bool in_open_transaction = false);

// A catalog as bytes (for a cache on disk) and back. DecodeCatalog gives
// DATA_LOSS for bytes EncodeCatalog of this format did not write (another
// version's, truncated, damaged); a decoded catalog equals the encoded one
// in every field.
std::string EncodeCatalog(const Catalog& catalog);
absl::StatusOr<Catalog> DecodeCatalog(std::string_view bytes);

// One line per fact ("<key> <signature>") in a stable order: two databases
// with equal facts have the same schema in everything the model holds.
std::vector<std::string> Facts(const Catalog& catalog);

}  // namespace strata::schemadiff
