// What each kind of CREATE defines, and the statements allowed beside it
// (see analyzer.h).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sql/analyzer.h"

namespace strata::sql::analysis {

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
      for (auto& c : out) info_.columns.emplace_back().name = c;
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
      for (auto& col : out) info_.columns.emplace_back().name = col;
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

}  // namespace strata::sql::analysis
