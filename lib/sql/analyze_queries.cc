// Names, types and the walk of expressions and queries (see analyzer.h).
#include <algorithm>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "sql/analyzer.h"

namespace strata::sql::analysis {

std::vector<std::string> Strs(const RepeatedPtrField<Node>& list) {
  std::vector<std::string> out;
  for (const auto& n : list)
    if (n.has_string()) out.push_back(n.string().sval());
  return out;
}

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

Reference* Analyzer::WriteScope(const pg_query::WithClause* with, const pg_query::RangeVar& relation,
                                const RepeatedPtrField<Node>& from, Scope* scope) {
  if (with) With(*with, scope);
  Reference* target = WriteTarget(relation);
  scope->items.push_back(RelationItem(relation, target));
  for (const auto& f : from) FromItem(f, scope);
  return target;
}

void Analyzer::Update(const pg_query::UpdateStmt& s, Scope* parent) {
  Scope scope;
  scope.parent = parent;
  Reference* target =
      WriteScope(s.has_with_clause() ? &s.with_clause() : nullptr, s.relation(), s.from_clause(), &scope);
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
  WriteScope(s.has_with_clause() ? &s.with_clause() : nullptr, s.relation(), s.using_clause(), &scope);
  if (s.has_where_clause()) Walk(s.where_clause(), &scope);
  WalkList(s.returning_list(), &scope);
}

}  // namespace strata::sql::analysis

namespace strata::sql {

bool CallsVolatileFunction(const google::protobuf::Message& m) {
  if (m.GetDescriptor() == pg_query::FuncCall::descriptor()) {
    const auto names = analysis::Strs(static_cast<const pg_query::FuncCall&>(m).funcname());
    if (!names.empty() && analysis::IsVolatileFunction(names.back())) return true;
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

}  // namespace strata::sql
