// The catalog reader: routines, triggers, policies, operators, text search, comments and
// dependencies (see catalog_reader.h).
#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "schemadiff/catalog_reader.h"

namespace strata::schemadiff::catalog_internal {

absl::Status Reader::ReadFunctions() {
  ASSIGN_ROWS(rows, absl::StrCat(
      "SELECT p.oid, quote_ident(n.nspname) || '.' || quote_ident(p.proname), "
      "pg_get_function_identity_arguments(p.oid), p.prokind, "
      "CASE WHEN p.prokind IN ('f', 'p', 'w') THEN pg_get_functiondef(p.oid) END, pg_get_function_result(p.oid), "
      "array_to_string(p.proargnames, ',') || '|' || COALESCE(array_to_string(p.proargmodes, ','), ''), "
      "p.pronargdefaults, "
      "CASE WHEN p.prokind = 'a' THEN concat_ws(', ', 'SFUNC = ' || a.aggtransfn::regproc::text, "
      "  'STYPE = ' || format_type(a.aggtranstype, NULL), "
      "  CASE WHEN a.aggtransspace <> 0 THEN 'SSPACE = ' || a.aggtransspace END, "
      "  CASE WHEN a.aggfinalfn <> 0 THEN 'FINALFUNC = ' || a.aggfinalfn::regproc::text END, "
      "  CASE WHEN a.aggcombinefn <> 0 THEN 'COMBINEFUNC = ' || a.aggcombinefn::regproc::text END, "
      "  CASE WHEN a.aggserialfn <> 0 THEN 'SERIALFUNC = ' || a.aggserialfn::regproc::text END, "
      "  CASE WHEN a.aggdeserialfn <> 0 THEN 'DESERIALFUNC = ' || a.aggdeserialfn::regproc::text END, "
      "  CASE WHEN a.agginitval IS NOT NULL THEN 'INITCOND = ' || quote_literal(a.agginitval) END, "
      "  CASE WHEN a.aggsortop <> 0 THEN 'SORTOP = ' || a.aggsortop::regoperator::text END, "
      "  CASE WHEN p.proparallel = 's' THEN 'PARALLEL = SAFE' WHEN p.proparallel = 'r' THEN 'PARALLEL = RESTRICTED' END) END "
      "FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid "
      "WHERE ", kUserNamespace,
      // Functions PostgreSQL made as part of another object (a range type's constructors).
      " AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 1255 AND d.objid = p.oid AND d.deptype = 'i')"));
  for (int i = 0; i < rows.size(); ++i) {
    uint32_t oid = Oid(rows, i, 0);
    if (IsExtensionMember(kPgProc, oid)) continue;
    char prokind = rows.text(i, 3)[0];
    std::string word = prokind == 'p' ? "PROCEDURE" : prokind == 'a' ? "AGGREGATE" : "FUNCTION";
    std::string signature = absl::StrCat(rows.text(i, 1), "(", rows.text(i, 2), ")");
    Object o{.kind = Kind::kFunction, .key = "function " + signature, .name = signature};
    o.subkind = prokind;
    o.claims = {"function " + signature};
    o.function_result = rows.text(i, 5);
    o.function_inputs = rows.text(i, 6);
    o.function_defaults = static_cast<int>(rows.number(i, 7));
    std::string def = rows.text(i, 4);
    if (prokind == 'a') {
      std::string args = rows.text(i, 2).empty() ? "*" : rows.text(i, 2);
      def = absl::StrCat("CREATE AGGREGATE ", rows.text(i, 1), "(", args, ") (", rows.text(i, 8), ")");
    }
    while (!def.empty() && (def.back() == '\n' || def.back() == ' ')) def.pop_back();
    o.signature = def;
    o.create = {def};
    o.drop = absl::StrCat("DROP ", word, " ", signature);
    o.comment_on = absl::StrCat(word, " ", signature);
    keys[{kPgProc, oid}] = o.key;
    Add(std::move(o));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadTriggers() {
  ASSIGN_ROWS(rows, absl::StrCat(
      "SELECT t.oid, t.tgrelid, quote_ident(t.tgname), pg_get_triggerdef(t.oid), t.tgenabled "
      "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
      "WHERE NOT t.tgisinternal AND t.tgparentid = 0 AND ", kUserNamespace));
  for (int i = 0; i < rows.size(); ++i) {
    auto table = keys.find({kPgClass, Oid(rows, i, 1)});
    if (table == keys.end()) continue;
    const std::string& tname = catalog.objects.at(table->second).name;
    Object o{.kind = Kind::kTrigger, .name = rows.text(i, 2)};
    o.key = absl::StrCat("trigger ", tname, ".", o.name);
    o.parent = table->second;
    o.create = {rows.text(i, 3)};
    char enabled = rows.text(i, 4)[0];
    const char* state = enabled == 'D' ? "DISABLE" : enabled == 'R' ? "ENABLE REPLICA" : enabled == 'A' ? "ENABLE ALWAYS" : nullptr;
    if (state) o.create.push_back(absl::StrCat("ALTER TABLE ", tname, " ", state, " TRIGGER ", o.name));
    o.signature = absl::StrJoin(o.create, "; ");
    o.drop = absl::StrCat("DROP TRIGGER ", o.name, " ON ", tname);
    o.comment_on = absl::StrCat("TRIGGER ", o.name, " ON ", tname);
    keys[{kPgTrigger, Oid(rows, i, 0)}] = o.key;
    Add(std::move(o));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadPolicies() {
  ASSIGN_ROWS(rows,
              "SELECT p.oid, p.polrelid, quote_ident(p.polname), p.polpermissive, p.polcmd, "
              "CASE WHEN p.polroles = '{0}' THEN 'PUBLIC' ELSE (SELECT string_agg(quote_ident(r.rolname), ', ' "
              "ORDER BY r.rolname) FROM pg_roles r WHERE r.oid = ANY (p.polroles)) END, "
              "pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid) FROM pg_policy p");
  for (int i = 0; i < rows.size(); ++i) {
    auto table = keys.find({kPgClass, Oid(rows, i, 1)});
    if (table == keys.end()) continue;
    const std::string& tname = catalog.objects.at(table->second).name;
    Object o{.kind = Kind::kPolicy, .name = rows.text(i, 2)};
    o.key = absl::StrCat("policy ", tname, ".", o.name);
    o.parent = table->second;
    const std::string& cmd = rows.text(i, 4);
    const char* for_cmd = cmd == "r" ? "SELECT" : cmd == "a" ? "INSERT" : cmd == "w" ? "UPDATE" : cmd == "d" ? "DELETE" : "ALL";
    std::string def = absl::StrCat("CREATE POLICY ", o.name, " ON ", tname, " AS ",
                                   rows.is_true(i, 3) ? "PERMISSIVE" : "RESTRICTIVE", " FOR ", for_cmd, " TO ",
                                   rows.text(i, 5));
    if (rows.at(i, 6)) absl::StrAppend(&def, " USING (", rows.text(i, 6), ")");
    if (rows.at(i, 7)) absl::StrAppend(&def, " WITH CHECK (", rows.text(i, 7), ")");
    o.create = {def};
    o.signature = def;
    o.drop = absl::StrCat("DROP POLICY ", o.name, " ON ", tname);
    o.comment_on = absl::StrCat("POLICY ", o.name, " ON ", tname);
    keys[{kPgPolicy, Oid(rows, i, 0)}] = o.key;
    Add(std::move(o));
  }
  return absl::OkStatus();
}

// A function as CREATE OPERATOR / TEXT SEARCH options name it: qualified, no
// arguments; `column` holds its oid.
std::string ProcName(const std::string& column) {
  return absl::StrCat(
      "(SELECT quote_ident(pn.nspname) || '.' || quote_ident(pp.proname) FROM pg_proc pp "
      "JOIN pg_namespace pn ON pn.oid = pp.pronamespace WHERE pp.oid = ",
      column, ")");
}

absl::Status Reader::ReadOperators() {
  ASSIGN_ROWS(rows, absl::StrCat(
      "SELECT o.oid, quote_ident(n.nspname) || '.' || o.oprname, "
      "CASE WHEN o.oprleft = 0 THEN 'NONE' ELSE format_type(o.oprleft, NULL) END, "
      "CASE WHEN o.oprright = 0 THEN 'NONE' ELSE format_type(o.oprright, NULL) END, ",
      ProcName("o.oprcode"), ", "
      "(SELECT 'OPERATOR(' || quote_ident(cn.nspname) || '.' || c.oprname || ')' FROM pg_operator c "
      "  JOIN pg_namespace cn ON cn.oid = c.oprnamespace WHERE c.oid = o.oprcom), "
      "(SELECT 'OPERATOR(' || quote_ident(cn.nspname) || '.' || c.oprname || ')' FROM pg_operator c "
      "  JOIN pg_namespace cn ON cn.oid = c.oprnamespace WHERE c.oid = o.oprnegate), ",
      ProcName("o.oprrest"), ", ", ProcName("o.oprjoin"), ", o.oprcanhash, o.oprcanmerge "
      "FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace WHERE ", kUserNamespace));
  for (int i = 0; i < rows.size(); ++i) {
    uint32_t oid = Oid(rows, i, 0);
    if (IsExtensionMember(kPgOperator, oid)) continue;
    std::string args = absl::StrCat("(", rows.text(i, 2), ", ", rows.text(i, 3), ")");
    Object o{.kind = Kind::kOperator, .key = absl::StrCat("operator ", rows.text(i, 1), args), .name = rows.text(i, 1)};
    std::vector<std::string> opts = {"FUNCTION = " + rows.text(i, 4)};
    if (rows.text(i, 2) != "NONE") opts.push_back("LEFTARG = " + rows.text(i, 2));
    if (rows.text(i, 3) != "NONE") opts.push_back("RIGHTARG = " + rows.text(i, 3));
    if (rows.at(i, 5)) opts.push_back("COMMUTATOR = " + rows.text(i, 5));
    if (rows.at(i, 6)) opts.push_back("NEGATOR = " + rows.text(i, 6));
    if (rows.at(i, 7)) opts.push_back("RESTRICT = " + rows.text(i, 7));
    if (rows.at(i, 8)) opts.push_back("JOIN = " + rows.text(i, 8));
    if (rows.is_true(i, 9)) opts.push_back("HASHES");
    if (rows.is_true(i, 10)) opts.push_back("MERGES");
    o.signature = absl::StrJoin(opts, ", ");
    o.create = {absl::StrCat("CREATE OPERATOR ", o.name, " (", o.signature, ")")};
    o.drop = absl::StrCat("DROP OPERATOR ", o.name, " ", args);
    o.comment_on = absl::StrCat("OPERATOR ", o.name, " ", args);
    keys[{kPgOperator, oid}] = o.key;
    Add(std::move(o));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadTextSearch() {
  ASSIGN_ROWS(parsers, absl::StrCat(
      "SELECT p.oid, quote_ident(n.nspname) || '.' || quote_ident(p.prsname), concat_ws(', ', "
      "'START = ' || ", ProcName("p.prsstart"), ", 'GETTOKEN = ' || ", ProcName("p.prstoken"),
      ", 'END = ' || ", ProcName("p.prsend"), ", 'LEXTYPES = ' || ", ProcName("p.prslextype"),
      ", 'HEADLINE = ' || ", ProcName("p.prsheadline"), ") "
      "FROM pg_ts_parser p JOIN pg_namespace n ON n.oid = p.prsnamespace WHERE ", kUserNamespace));
  ASSIGN_ROWS(dicts, absl::StrCat(
      "SELECT d.oid, quote_ident(n.nspname) || '.' || quote_ident(d.dictname), "
      "'TEMPLATE = ' || quote_ident(tn.nspname) || '.' || quote_ident(t.tmplname) || "
      "COALESCE(', ' || d.dictinitoption, '') FROM pg_ts_dict d JOIN pg_namespace n ON n.oid = d.dictnamespace "
      "JOIN pg_ts_template t ON t.oid = d.dicttemplate JOIN pg_namespace tn ON tn.oid = t.tmplnamespace WHERE ",
      kUserNamespace));
  ASSIGN_ROWS(configs, absl::StrCat(
      "SELECT c.oid, quote_ident(n.nspname) || '.' || quote_ident(c.cfgname), "
      "quote_ident(pn.nspname) || '.' || quote_ident(p.prsname), "
      "(SELECT string_agg(m.alias || ' WITH ' || m.dicts, '; ' ORDER BY m.alias) FROM ("
      "  SELECT t.alias, string_agg(quote_ident(dn.nspname) || '.' || quote_ident(d.dictname), ', ' ORDER BY mm.mapseqno) AS dicts "
      "  FROM pg_ts_config_map mm JOIN ts_token_type(c.cfgparser) t ON t.tokid = mm.maptokentype "
      "  JOIN pg_ts_dict d ON d.oid = mm.mapdict JOIN pg_namespace dn ON dn.oid = d.dictnamespace "
      "  WHERE mm.mapcfg = c.oid GROUP BY t.alias) m) "
      "FROM pg_ts_config c JOIN pg_namespace n ON n.oid = c.cfgnamespace JOIN pg_ts_parser p ON p.oid = c.cfgparser "
      "JOIN pg_namespace pn ON pn.oid = p.prsnamespace WHERE ", kUserNamespace));
  auto add = [&](const Rows& rows, int i, uint32_t classid, const std::string& word, std::vector<std::string> create) {
    uint32_t oid = Oid(rows, i, 0);
    if (IsExtensionMember(classid, oid)) return;
    Object o{.kind = Kind::kTextSearch, .name = rows.text(i, 1)};
    std::string lower = word;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    o.key = absl::StrCat(lower, " ", o.name);
    o.create = std::move(create);
    o.signature = absl::StrJoin(o.create, "; ");
    o.drop = absl::StrCat("DROP ", word, " ", o.name);
    o.comment_on = absl::StrCat(word, " ", o.name);
    keys[{classid, oid}] = o.key;
    Add(std::move(o));
  };
  for (int i = 0; i < parsers.size(); ++i) {
    add(parsers, i, kPgTsParser, "TEXT SEARCH PARSER",
        {absl::StrCat("CREATE TEXT SEARCH PARSER ", parsers.text(i, 1), " (", parsers.text(i, 2), ")")});
  }
  for (int i = 0; i < dicts.size(); ++i) {
    add(dicts, i, kPgTsDict, "TEXT SEARCH DICTIONARY",
        {absl::StrCat("CREATE TEXT SEARCH DICTIONARY ", dicts.text(i, 1), " (", dicts.text(i, 2), ")")});
  }
  for (int i = 0; i < configs.size(); ++i) {
    std::vector<std::string> create = {
        absl::StrCat("CREATE TEXT SEARCH CONFIGURATION ", configs.text(i, 1), " (PARSER = ", configs.text(i, 2), ")")};
    for (absl::string_view mapping : absl::StrSplit(configs.text(i, 3), "; ", absl::SkipEmpty())) {
      create.push_back(absl::StrCat("ALTER TEXT SEARCH CONFIGURATION ", configs.text(i, 1), " ADD MAPPING FOR ", mapping));
    }
    add(configs, i, kPgTsConfig, "TEXT SEARCH CONFIGURATION", std::move(create));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadComments() {
  ASSIGN_ROWS(rows, "SELECT classoid, objoid, objsubid, quote_literal(description) FROM pg_description");
  for (int i = 0; i < rows.size(); ++i) {
    auto k = keys.find({Oid(rows, i, 0), Oid(rows, i, 1)});
    if (k == keys.end()) continue;
    const Object& target = catalog.objects.at(k->second);
    if (target.comment_on.empty()) continue;
    int subid = static_cast<int>(rows.number(i, 2));
    Object o{.kind = Kind::kComment, .parent = target.key};
    o.comment_text = rows.text(i, 3);
    if (subid > 0) {
      std::string column = column_names[{Oid(rows, i, 1), subid}];
      o.key = absl::StrCat("comment on ", target.key, ".", column);
      o.comment_target = absl::StrCat("COLUMN ", target.name, ".", column);
      o.deps = {{.on = target.key, .on_column = column, .automatic = true}};
    } else {
      if (Oid(rows, i, 0) == kPgConstraint && target.kind == Kind::kType) continue;  // a domain's CHECK
      o.key = "comment on " + target.key;
      o.comment_target = target.comment_on;
      o.deps = {{.on = target.key, .automatic = true}};
    }
    o.name = o.comment_target;
    o.signature = o.comment_text;
    o.create = {absl::StrCat("COMMENT ON ", o.comment_target, " IS ", o.comment_text)};
    o.drop = absl::StrCat("COMMENT ON ", o.comment_target, " IS NULL");
    Add(std::move(o));
  }
  return absl::OkStatus();
}

absl::Status Reader::ReadDependencies() {
  ASSIGN_ROWS(rows,
              "SELECT classid, objid, objsubid, refclassid, refobjid, refobjsubid, deptype FROM pg_depend "
              "WHERE deptype IN ('n', 'a')");
  for (int i = 0; i < rows.size(); ++i) {
    uint32_t classid = Oid(rows, i, 0), objid = Oid(rows, i, 1);
    uint32_t refclassid = Oid(rows, i, 3), refobjid = Oid(rows, i, 4);
    int subid = static_cast<int>(rows.number(i, 2)), refsubid = static_cast<int>(rows.number(i, 5));
    bool automatic = rows.text(i, 6) == "a";
    if (IsExtensionMember(classid, objid)) continue;
    // A sequence's OWNED BY is its owner object's dependency.
    if (classid == kPgClass && refclassid == kPgClass && automatic && refsubid > 0 && rel_kind[objid] == 'S') continue;
    std::string from, from_column;
    bool via_default = false;
    if (classid == kPgAttrdef) {
      auto t = attrdef_table.find(objid);
      if (t == attrdef_table.end()) continue;
      from = t->second;
      from_column = attrdef_column[objid];
      via_default = true;
    } else {
      auto k = keys.find({classid, objid});
      if (k == keys.end()) continue;
      from = k->second;
      if (classid == kPgClass && subid > 0) from_column = column_names[{objid, subid}];
    }
    std::string on, on_column;
    if (auto e = extension_of.find({refclassid, refobjid}); e != extension_of.end()) {
      on = e->second;
    } else if (refclassid == kPgAttrdef) {
      continue;
    } else {
      auto k = keys.find({refclassid, refobjid});
      if (k == keys.end()) continue;
      on = k->second;
      if (refclassid == kPgClass && refsubid > 0) on_column = column_names[{refobjid, refsubid}];
    }
    // Edges within one object are dropped (a view's rule, a composite type's
    // attributes), except a generated column's use of another column: the
    // differ must rebuild it when that column changes type.
    if (on == from && !(via_default && !on_column.empty())) continue;
    Object& o = catalog.objects.at(from);
    o.deps.push_back({.on = on, .on_column = on_column, .from_column = from_column, .via_default = via_default,
                      .automatic = automatic});
  }
  return absl::OkStatus();
}

}  // namespace strata::schemadiff::catalog_internal
