// Lint (policy.h): the definitions of a text, gathered into a small model
// (tables with their columns, constraints and comments; indexes; other
// objects), then each rule over it.
#include <algorithm>
#include <cctype>
#include <map>
#include <memory>
#include <set>

#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "model/object_id.h"
#include "policy/policy.h"
#include "re2/re2.h"
#include "sql/analyze.h"
#include "sql/parse.h"

namespace strata::policy {
namespace {

struct Pos {
  int line = 0, column = 0;
};

struct Column {
  std::string name;
  std::string type;      // canonical, e.g. "timestamp without time zone"
  std::string raw_type;  // as written, e.g. "serial"
  Pos pos;
  bool commented = false;
};

struct Constraint {
  char kind = 'p';  // p primary key, u unique, f foreign key
  std::string name;  // "" when PostgreSQL names it
  std::vector<std::string> columns;
  std::string ref_table;  // f: the referenced table's name (unqualified, raw)
  Pos pos;
};

struct Table {
  std::string id, qualified, schema, name;
  std::string written_name;  // when the text's name is longer (truncated by PostgreSQL)
  bool inherits = false;     // CREATE TABLE ... INHERITS (not PARTITION OF)
  Pos pos;
  std::vector<Column> columns;
  std::vector<Constraint> constraints;
  bool commented = false;
};

struct Index {
  std::string id, schema, name, table;  // table: qualified
  std::vector<std::string> columns;       // plain columns in order (expressions: empty name)
  bool concurrently = false;
  Pos pos;
};

struct Other {
  std::string id, kind, schema, name;
  Pos pos;
  bool select_star = false;           // views
  bool security_definer = false;      // functions
  bool sets_search_path = false;
  bool domain_check = false;          // domains
};

struct Model {
  std::map<std::string, Table> tables;  // by qualified name
  std::vector<Index> indexes;
  std::vector<Other> others;
};

// A name as PostgreSQL stores it (unquoted).
std::string Raw(const std::string& canonical) {
  if (canonical.size() < 2 || canonical.front() != '"') return canonical;
  std::string out;
  for (size_t i = 1; i + 1 < canonical.size(); ++i) {
    out.push_back(canonical[i]);
    if (canonical[i] == '"' && canonical[i + 1] == '"') ++i;
  }
  return out;
}

std::string Qualified(const pg_query::RangeVar& rv) {
  return model::QuoteIdentifier(rv.schemaname().empty() ? "public" : rv.schemaname()) + "." +
         model::QuoteIdentifier(rv.relname());
}

std::vector<std::string> Names(const google::protobuf::RepeatedPtrField<pg_query::Node>& list) {
  std::vector<std::string> out;
  for (const auto& n : list)
    if (n.has_string()) out.push_back(n.string().sval());
  return out;
}

std::string RawTypeName(const pg_query::TypeName& t) {
  auto names = Names(t.names());
  return names.empty() ? std::string() : names.back();
}

void AddConstraint(const pg_query::Constraint& c, const std::string& column, Pos pos, Table* t) {
  Constraint out;
  out.name = c.conname();
  out.pos = pos;
  switch (c.contype()) {
    case pg_query::CONSTR_PRIMARY: out.kind = 'p'; break;
    case pg_query::CONSTR_UNIQUE: out.kind = 'u'; break;
    case pg_query::CONSTR_FOREIGN: out.kind = 'f'; break;
    default: return;
  }
  if (out.kind == 'f') {
    out.columns = column.empty() ? Names(c.fk_attrs()) : std::vector<std::string>{column};
    out.ref_table = c.pktable().relname();
  } else {
    out.columns = column.empty() ? Names(c.keys()) : std::vector<std::string>{column};
  }
  t->constraints.push_back(std::move(out));
}

// The last part of the (possibly qualified, possibly quoted) name written at
// `offset`, as the text spells it: PostgreSQL truncates long names to 63
// bytes while parsing, the text still has them whole.
std::string WrittenName(std::string_view text, size_t offset) {
  std::string part;
  size_t i = offset;
  while (i < text.size()) {
    if (text[i] == '"') {
      part.clear();
      for (++i; i < text.size(); ++i) {
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            part.push_back('"');
            ++i;
            continue;
          }
          ++i;
          break;
        }
        part.push_back(text[i]);
      }
    } else {
      const size_t start = i;
      while (i < text.size() && (std::isalnum(static_cast<unsigned char>(text[i])) || text[i] == '_' || text[i] == '$' ||
                                 static_cast<unsigned char>(text[i]) >= 0x80))
        ++i;
      if (i == start) break;
      part = std::string(text.substr(start, i - start));
    }
    if (i < text.size() && text[i] == '.') {
      ++i;
      continue;
    }
    break;
  }
  return part;
}

class Builder {
 public:
  Builder(std::string_view sql, const sql::ParsedSql& parsed, const sql::ObjectInfo* info)
      : sql_(sql), parsed_(parsed), lines_(sql), info_(info) {}

  Pos At(int statement, int location) const {
    const auto lc = lines_.At(location < 0 ? parsed_.StatementStartOffset(statement)
                                           : parsed_.StatementOffset(statement) + location);
    return {lc.line, lc.column};
  }

  void Statement(int i, Model* m) {
    const pg_query::Node& n = parsed_.statement(i);
    const Pos start = At(i, -1);
    if (n.has_alter_table_stmt()) return AlterTable(i, n.alter_table_stmt(), m);
    if (n.has_comment_stmt()) return Comment(n.comment_stmt(), m);
    if (!sql::IsDefinitionStatement(n)) return;
    // The check-in analyzed its one definition already.
    auto info = info_ ? absl::StatusOr<sql::ObjectInfo>(*info_) : sql::AnalyzeDefinition(parsed_.StatementText(i));
    if (!info.ok()) return;  // not one object's definition (e.g. CREATE SCHEMA with elements)
    const model::ObjectId& id = info->id;
    if (n.has_create_stmt()) {
      Table& t = m->tables[id.QualifiedName()];
      t.id = id.ToString();
      t.qualified = id.QualifiedName();
      t.schema = Raw(id.schema);
      t.name = Raw(id.name);
      t.pos = start;
      const auto& cs = n.create_stmt();
      t.inherits = !cs.inh_relations().empty() && !cs.has_partbound();
      if (cs.relation().location() >= 0) {
        const std::string written =
            WrittenName(sql_, static_cast<size_t>(parsed_.StatementOffset(i) + cs.relation().location()));
        if (written.size() > t.name.size()) t.written_name = written;
      }
      for (const auto& e : cs.table_elts()) {
        if (e.has_column_def()) {
          const auto& cd = e.column_def();
          Column c;
          c.name = cd.colname();
          c.raw_type = RawTypeName(cd.type_name());
          if (const sql::Column* ac = info->FindColumn(cd.colname())) c.type = ac->type;
          c.pos = At(i, cd.location());
          for (const auto& con : cd.constraints())
            if (con.has_constraint()) AddConstraint(con.constraint(), cd.colname(), At(i, con.constraint().location()), &t);
          t.columns.push_back(std::move(c));
        } else if (e.has_constraint()) {
          AddConstraint(e.constraint(), "", At(i, e.constraint().location()), &t);
        }
      }
      for (const auto& con : cs.constraints())
        if (con.has_constraint()) AddConstraint(con.constraint(), "", At(i, con.constraint().location()), &t);
      return;
    }
    if (n.has_index_stmt()) {
      const auto& is = n.index_stmt();
      Index x;
      x.id = id.ToString();
      x.schema = Raw(id.schema);
      x.name = is.idxname();
      x.table = info->index_table;
      for (const auto& p : is.index_params()) x.columns.push_back(p.index_elem().name());
      x.concurrently = is.concurrent();
      x.pos = start;
      m->indexes.push_back(std::move(x));
      return;
    }
    Other o;
    o.id = id.ToString();
    o.kind = id.kind;
    o.schema = Raw(id.schema);
    o.name = Raw(id.name.substr(0, id.name.find('(')));
    if (id.kind == "trigger") o.name = o.name.substr(o.name.rfind('.') + 1);
    o.pos = start;
    for (const auto& r : info->references) o.select_star |= r.all_columns && (id.kind == "view" || id.kind == "materialized_view");
    if (n.has_create_function_stmt())
      for (const auto& opt : n.create_function_stmt().options()) {
        const auto& d = opt.def_elem();
        if (d.defname() == "security" && d.arg().has_boolean()) o.security_definer = d.arg().boolean().boolval();
        if (d.defname() == "set" && d.arg().has_variable_set_stmt() && d.arg().variable_set_stmt().name() == "search_path")
          o.sets_search_path = true;
      }
    if (n.has_create_domain_stmt())
      for (const auto& c : n.create_domain_stmt().constraints())
        o.domain_check |= c.has_constraint() && c.constraint().contype() == pg_query::CONSTR_CHECK;
    m->others.push_back(std::move(o));
  }

 private:
  void AlterTable(int i, const pg_query::AlterTableStmt& s, Model* m) {
    auto it = m->tables.find(Qualified(s.relation()));
    if (it == m->tables.end()) return;
    for (const auto& cmd : s.cmds()) {
      const auto& c = cmd.alter_table_cmd();
      if (c.subtype() == pg_query::AT_AddConstraint && c.def().has_constraint())
        AddConstraint(c.def().constraint(), "", At(i, c.def().constraint().location()), &it->second);
    }
  }

  void Comment(const pg_query::CommentStmt& s, Model* m) {
    if (s.comment().empty()) return;
    std::vector<std::string> names;
    if (s.object().has_list()) names = Names(s.object().list().items());
    if (s.objtype() == pg_query::OBJECT_TABLE && !names.empty()) {
      const std::string q = model::QuoteIdentifier(names.size() > 1 ? names[names.size() - 2] : "public") + "." +
                            model::QuoteIdentifier(names.back());
      if (auto it = m->tables.find(q); it != m->tables.end()) it->second.commented = true;
    } else if (s.objtype() == pg_query::OBJECT_COLUMN && names.size() >= 2) {
      const std::string column = names.back();
      const std::string table = names[names.size() - 2];
      const std::string schema = names.size() >= 3 ? names[names.size() - 3] : "public";
      if (auto it = m->tables.find(model::QuoteIdentifier(schema) + "." + model::QuoteIdentifier(table));
          it != m->tables.end())
        for (auto& col : it->second.columns)
          if (col.name == column) col.commented = true;
    }
  }

  std::string_view sql_;
  const sql::ParsedSql& parsed_;
  sql::LineIndex lines_;
  const sql::ObjectInfo* info_;  // one object's, analyzed by the caller (or null)
};

const std::set<std::string>& Reserved() {
  static const std::set<std::string> kWords = {
      "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "authorization", "binary",
      "both", "case", "cast", "check", "collate", "collation", "column", "concurrently", "constraint", "create",
      "cross", "current_catalog", "current_date", "current_role", "current_schema", "current_time",
      "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end",
      "except", "false", "fetch", "for", "foreign", "freeze", "from", "full", "grant", "group", "having", "ilike",
      "in", "initially", "inner", "intersect", "into", "is", "isnull", "join", "lateral", "leading", "left", "like",
      "limit", "localtime", "localtimestamp", "natural", "not", "notnull", "null", "offset", "on", "only", "or",
      "order", "outer", "overlaps", "placing", "primary", "references", "returning", "right", "select",
      "session_user", "similar", "some", "symmetric", "table", "tablesample", "then", "to", "trailing", "true",
      "union", "unique", "user", "using", "variadic", "verbose", "when", "where", "window", "with"};
  return kWords;
}

std::string EscapeRegex(const std::string& s) { return RE2::QuoteMeta(s); }

class Checker {
 public:
  Checker(const Policy& policy, std::vector<Finding>* out) : policy_(policy), out_(out) {}

  void Add(const std::string& code, const std::string& schema, const std::string& object, Pos pos,
           const std::string& message) {
    const RuleConfig c = policy_.For(code, schema);
    if (c.severity == Severity::kOff) return;
    std::string text = message;
    if (auto hint = c.options.find("hint"); hint != c.options.end() && !hint->second.empty())
      text += fmt::format(" (hint: {})", hint->second);
    out_->push_back({code, c.severity, object, text, pos.line, pos.column});
  }

  // Compiled once per lint (patterns with placeholders: once per filled-in form).
  const RE2& Compiled(const std::string& pattern) {
    auto& slot = compiled_[pattern];
    if (!slot) slot = std::make_unique<RE2>(pattern, RE2::Quiet);
    return *slot;
  }

  // naming-*: `name` against the rule's pattern, placeholders filled in.
  // `generated`: PostgreSQL chose the name (and truncates it itself).
  void Name(const std::string& code, const std::string& what, const std::string& schema, const std::string& object,
            const std::string& name, Pos pos, const std::map<std::string, std::string>& placeholders = {},
            bool generated = false) {
    const RuleConfig c = policy_.For(code, schema);
    if (c.severity != Severity::kOff) {
      auto pat = c.options.find("pattern");
      if (pat != c.options.end()) {
        std::string pattern = pat->second;
        for (const auto& [ph, value] : placeholders)
          for (size_t at = pattern.find(ph); at != std::string::npos; at = pattern.find(ph, at + value.size()))
            pattern.replace(at, ph.size(), EscapeRegex(value));
        const RE2& re = Compiled(pattern);
        // A pattern that does not compile was refused when the policy was parsed.
        const bool matches = !re.ok() || RE2::PartialMatch(name, re);
        if (!matches)
          Add(code, schema, object, pos,
              fmt::format("{} name \"{}\" does not match {}", what, name, pat->second == pattern
                                                                             ? pattern
                                                                             : fmt::format("{} ({})", pat->second, pattern)));
      }
    }
    if (generated) return;
    const RuleConfig len = policy_.For("naming-max-length", schema);
    if (len.severity != Severity::kOff) {
      const int max = std::stoi(len.options.count("max") ? len.options.at("max") : "63");
      if (static_cast<int>(name.size()) > max)
        Add("naming-max-length", schema, object, pos,
            fmt::format("{} name \"{}\" is {} bytes, more than {}", what, name, name.size(), max));
    }
    if (Reserved().count(name))
      Add("naming-reserved-word", schema, object, pos,
          fmt::format("{} name \"{}\" is a reserved word; every use must quote it", what, name));
  }

  void Run(const Model& m) {
    for (const auto& [q, t] : m.tables) Table(m, t);
    for (const auto& x : m.indexes) {
      std::string table_name = x.table.substr(x.table.find('.') + 1);
      std::vector<std::string> cols;
      for (const auto& c : x.columns) cols.push_back(c.empty() ? "expr" : c);
      Name("naming-index", "index", x.schema, x.id, x.name, x.pos,
           {{"{table}", Raw(table_name)}, {"{columns}", absl::StrJoin(cols, "_")}});
      // With min_rows, the table's size decides: plans read it in the environment.
      if (!x.concurrently && !policy_.For("require-concurrent-index-creation", x.schema).options.count("min_rows"))
        Add("require-concurrent-index-creation", x.schema, x.id, x.pos,
            "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds");
    }
    static const std::map<std::string, std::pair<std::string, std::string>> kNaming = {
        {"view", {"naming-view", "view"}},
        {"materialized_view", {"naming-materialized-view", "materialized view"}},
        {"function", {"naming-function", "function"}},
        {"procedure", {"naming-function", "procedure"}},
        {"sequence", {"naming-sequence", "sequence"}},
        {"trigger", {"naming-trigger", "trigger"}},
        {"type", {"naming-type", "type"}},
        {"domain", {"naming-type", "domain"}}};
    for (const auto& o : m.others) {
      if (auto k = kNaming.find(o.kind); k != kNaming.end())
        Name(k->second.first, k->second.second, o.schema, o.id, o.name, o.pos);
      if (o.select_star)
        Add("ban-select-star", o.schema, o.id, o.pos,
            "SELECT * fixes the column list when the view is created; name the columns");
      if (o.security_definer && !o.sets_search_path)
        Add("security-definer-search-path", o.schema, o.id, o.pos,
            "SECURITY DEFINER without SET search_path: a caller's objects can run with the owner's rights; add SET "
            "search_path = pg_catalog, <schema>");
      if (o.domain_check)
        Add("ban-create-domain-with-constraint", o.schema, o.id, o.pos,
            "a domain with CHECK: changing it later validates every column of the type; put the CHECK on the columns");
    }
  }

 private:
  void Table(const Model& m, const policy::Table& t) {
    Name("naming-table", "table", t.schema, t.id, t.written_name.empty() ? t.name : t.written_name, t.pos);
    if (!t.commented) Add("require-table-comment", t.schema, t.id, t.pos, fmt::format("table {} has no COMMENT", t.name));
    for (const auto& c : t.columns) {
      Name("naming-column", "column", t.schema, t.id, c.name, c.pos);
      if (!c.commented)
        Add("require-column-comment", t.schema, t.id, c.pos, fmt::format("column {}.{} has no COMMENT", t.name, c.name));
      const std::string raw = c.raw_type;
      if (c.type.rfind("timestamp without time zone", 0) == 0 || raw == "timestamp")
        Add("prefer-timestamptz", t.schema, t.id, c.pos,
            fmt::format("column {} is timestamp without time zone; use timestamptz", c.name));
      if (raw == "serial" || raw == "serial4" || raw == "bigserial" || raw == "serial8" || raw == "smallserial" ||
          raw == "serial2")
        Add("prefer-identity", t.schema, t.id, c.pos,
            fmt::format("column {} is {}; use {} GENERATED ALWAYS AS IDENTITY", c.name, raw,
                        raw.find("big") == 0 || raw == "serial8" ? "bigint" : "integer"));
      if (raw == "money") Add("ban-money-type", t.schema, t.id, c.pos, fmt::format("column {} is money; use numeric", c.name));
      if (raw == "bpchar" || c.type.rfind("character(", 0) == 0 || c.type == "character")
        Add("ban-char-field", t.schema, t.id, c.pos, fmt::format("column {} is {}; use text", c.name, c.type));
      if (c.type == "json" || c.type == "json[]")
        Add("prefer-jsonb", t.schema, t.id, c.pos, fmt::format("column {} is {}; use jsonb", c.name, c.type));
      if (c.type.rfind("character varying(", 0) == 0)
        Add("prefer-text-field", t.schema, t.id, c.pos,
            fmt::format("column {} is {}; use text (with a CHECK on its length if it needs one)", c.name, c.type));
      if (c.type == "integer" && raw != "serial" && raw != "serial4" && IsKeyColumn(t, c.name))
        Add("prefer-bigint-over-int", t.schema, t.id, c.pos, fmt::format("key column {} is integer; use bigint", c.name));
      if (c.type == "smallint" && IsKeyColumn(t, c.name))
        Add("prefer-bigint-over-smallint", t.schema, t.id, c.pos,
            fmt::format("key column {} is smallint; use bigint", c.name));
    }
    if (t.inherits)
      Add("ban-inherits", t.schema, t.id, t.pos,
          fmt::format("table {} uses INHERITS; use declarative partitioning", t.name));
    bool has_pk = false;
    for (const auto& k : t.constraints) {
      if (k.name.empty())
        Add("require-constraint-name", t.schema, t.id, k.pos,
            fmt::format("an unnamed {} constraint on {}: name it (CONSTRAINT name ...) so every database has the same one",
                        k.kind == 'p' ? "primary key" : k.kind == 'u' ? "unique" : "foreign key", t.name));
      const std::string cols = absl::StrJoin(k.columns, "_");
      if (k.kind == 'p') {
        has_pk = true;
        Name("naming-primary-key", "primary key", t.schema, t.id, k.name.empty() ? t.name + "_pkey" : k.name, k.pos,
             {{"{table}", t.name}, {"{columns}", cols}}, k.name.empty());
      } else if (k.kind == 'u') {
        Name("naming-unique", "unique constraint", t.schema, t.id,
             k.name.empty() ? t.name + "_" + cols + "_key" : k.name, k.pos, {{"{table}", t.name}, {"{columns}", cols}},
             k.name.empty());
      } else {
        Name("naming-foreign-key", "foreign key", t.schema, t.id,
             k.name.empty() ? t.name + "_" + cols + "_fkey" : k.name, k.pos,
             {{"{table}", t.name}, {"{columns}", cols}, {"{ref_table}", k.ref_table}}, k.name.empty());
        if (!Indexed(m, t, k.columns))
          Add("require-fk-index", t.schema, t.id, k.pos,
              fmt::format("foreign key ({}) of {} has no index starting with its columns; deletes on {} scan {}",
                          absl::StrJoin(k.columns, ", "), t.name, k.ref_table, t.name));
      }
    }
    if (!has_pk) Add("require-primary-key", t.schema, t.id, t.pos, fmt::format("table {} has no primary key", t.name));
  }

  static bool IsKeyColumn(const policy::Table& t, const std::string& column) {
    for (const auto& k : t.constraints)
      if (k.kind == 'p' && std::find(k.columns.begin(), k.columns.end(), column) != k.columns.end()) return true;
    return false;
  }

  // An index (or primary/unique key) whose leading columns are `columns`, in any order.
  static bool Indexed(const Model& m, const policy::Table& t, const std::vector<std::string>& columns) {
    auto covers = [&](const std::vector<std::string>& lead) {
      if (lead.size() < columns.size()) return false;
      std::vector<std::string> a(lead.begin(), lead.begin() + static_cast<long>(columns.size())), b = columns;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      return a == b;
    };
    for (const auto& k : t.constraints)
      if (k.kind != 'f' && covers(k.columns)) return true;
    for (const auto& x : m.indexes)
      if (x.table == t.qualified && covers(x.columns)) return true;
    return false;
  }

  const Policy& policy_;
  std::vector<Finding>* out_;
  std::map<std::string, std::unique_ptr<RE2>> compiled_;
};

}  // namespace

absl::StatusOr<std::vector<Finding>> Lint(const Policy& policy, std::string_view sql, const LintOptions& options) {
  absl::StatusOr<sql::ParsedSql> own = absl::UnknownError("");
  const sql::ParsedSql* parsed = options.parsed;
  if (!parsed) {
    own = sql::ParsedSql::Parse(sql);
    if (!own.ok()) return own.status();
    parsed = &*own;
  }
  Model m;
  Builder b(sql, *parsed, options.one_object ? options.info : nullptr);
  for (int i = 0; i < parsed->size(); ++i) b.Statement(i, &m);
  std::vector<Finding> out;
  Checker(policy, &out).Run(m);
  if (options.one_object)
    std::erase_if(out, [](const Finding& f) { return f.code == "require-fk-index"; });
  std::sort(out.begin(), out.end(), [](const Finding& a, const Finding& b) {
    return std::tie(a.line, a.column, a.code, a.message) < std::tie(b.line, b.column, b.code, b.message);
  });
  return out;
}

}  // namespace strata::policy
