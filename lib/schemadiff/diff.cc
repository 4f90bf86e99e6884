#include "schemadiff/diff.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <regex>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "model/object_id.h"

namespace strata::schemadiff {
namespace {

// Creation rank: the order of kinds when dependencies do not decide.
int Rank(const Object& o) {
  switch (o.kind) {
    case Kind::kSchema: return 0;
    case Kind::kExtension: return 1;
    case Kind::kType: return 2;
    case Kind::kFunction: return 3;
    case Kind::kOperator: return 4;
    case Kind::kTextSearch: return 5;
    case Kind::kSequence: return 6;
    case Kind::kTable: return 7;
    case Kind::kSequenceOwner: return 8;
    case Kind::kConstraint: return o.subkind == 'f' ? 12 : 9;
    case Kind::kIndex: return 10;
    case Kind::kView: return 11;
    case Kind::kMaterializedView: return 11;
    case Kind::kTrigger: return 13;
    case Kind::kPolicy: return 14;
    case Kind::kComment: return 15;
  }
  return 16;
}

// Kinds whose removal waits for the end of the script: dropping them early
// could break what the script still alters (a column's old type, an old
// default's sequence); nothing created later can need them.
bool DroppedLast(Kind k) {
  switch (k) {
    case Kind::kTable:
    case Kind::kSequence:
    case Kind::kType:
    case Kind::kFunction:
    case Kind::kSchema:
    case Kind::kExtension:
    case Kind::kOperator:
    case Kind::kTextSearch:
      return true;
    default:
      return false;
  }
}

// "character varying(20)" -> {"character varying", {20}}.
std::pair<std::string, std::vector<int>> SplitType(const std::string& type) {
  static const std::regex kParams(R"(^(.*?)\(([0-9, ]+)\)(.*)$)");
  std::smatch m;
  if (!std::regex_match(type, m, kParams)) return {type, {}};
  std::vector<int> params;
  for (absl::string_view p : absl::StrSplit(m[2].str(), ',')) params.push_back(std::atoi(std::string(p).c_str()));
  return {m[1].str() + m[3].str(), params};
}

// Whether every value of `from` is a value of `to` unchanged.
bool IsWidening(const std::string& from, const std::string& to) {
  auto [fbase, fp] = SplitType(from);
  auto [tbase, tp] = SplitType(to);
  static const std::vector<std::vector<std::string>> kChains = {
      {"smallint", "integer", "bigint", "numeric"}, {"real", "double precision"}};
  for (const auto& chain : kChains) {
    auto f = std::find(chain.begin(), chain.end(), fbase), t = std::find(chain.begin(), chain.end(), tbase);
    if (f != chain.end() && t != chain.end() && f <= t && (tp.empty() || tbase != "numeric" || fbase != "numeric")) {
      if (fbase == "numeric" && tbase == "numeric") break;
      return tp.empty() || fbase != tbase;
    }
  }
  bool text_like_from = fbase == "character varying" || fbase == "text";
  if (text_like_from && tbase == "text") return true;
  if (fbase == tbase) {
    if (tp.empty()) return true;  // varchar(n) -> varchar, numeric(p,s) -> numeric
    if (fp.empty()) return false;
    if (fbase == "numeric") return fp.size() == tp.size() && tp[0] >= fp[0] && (fp.size() < 2 || tp[1] == fp[1]);
    return fp.size() == tp.size() && tp[0] >= fp[0];
  }
  if (fbase == "character varying" && tbase == "character varying") return tp.empty() || (!fp.empty() && tp[0] >= fp[0]);
  return false;
}

bool IsStringType(const std::string& base) {
  return base == "text" || base == "character varying" || base == "character" || base == "bpchar" || base == "name";
}

// Whether `from` converts to `to` with a cast (else: through text, which
// works for values whose text form `to` accepts).
bool HasCast(const Catalog& catalog, const std::string& from, const std::string& to) {
  auto array = [](const std::string& t) { return t.size() > 2 && t.compare(t.size() - 2, 2, "[]") == 0; };
  if (array(from) && array(to)) return HasCast(catalog, from.substr(0, from.size() - 2), to.substr(0, to.size() - 2));
  std::string f = SplitType(from).first, t = SplitType(to).first;
  return f == t || IsStringType(t) || catalog.casts.count({f, t}) > 0;
}

std::string OptionKeys(const std::string& options) {
  std::vector<std::string> keys;
  for (absl::string_view kv : absl::StrSplit(options, ", ", absl::SkipEmpty())) {
    keys.emplace_back(kv.substr(0, kv.find('=')));
  }
  return absl::StrJoin(keys, ", ");
}

const Column* FindColumn(const Object& o, const std::string& name) {
  for (const Column& c : o.columns) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

// How a column of a table that stays changes.
struct ColumnChanges {
  std::vector<const Column*> added, dropped, retyped, rebuilt;  // rebuilt: dropped and added again (generation)
};

ColumnChanges CompareColumns(const Object& a, const Object& b) {
  ColumnChanges ch;
  // A partition's columns are its parent's. A table that becomes one (or
  // stops being one) must match the parent before ATTACH (after DETACH its
  // columns are its own).
  if (a.is_partition && b.is_partition) return ch;
  bool attach_or_detach = a.is_partition != b.is_partition;
  for (const Column& cb : b.columns) {
    const Column* ca = FindColumn(a, cb.name);
    if (!ca) {
      if (cb.local || attach_or_detach) ch.added.push_back(&cb);
    } else if (ca->generated != cb.generated || (cb.generated && ca->default_expr != cb.default_expr)) {
      ch.rebuilt.push_back(&cb);
    } else if (ca->type != cb.type || ca->collation != cb.collation) {
      ch.retyped.push_back(&cb);
    }
  }
  for (const Column& ca : a.columns) {
    if ((ca.local || attach_or_detach) && !FindColumn(b, ca.name)) ch.dropped.push_back(&ca);
  }
  return ch;
}

bool ContainsColumn(const std::vector<const Column*>& list, const std::string& name) {
  return std::any_of(list.begin(), list.end(), [&](const Column* c) { return c->name == name; });
}

// An enum whose new values keep the old ones in order only gains values.
bool EnumOnlyGainsValues(const Object& a, const Object& b) {
  size_t j = 0;
  for (const auto& label : b.labels) {
    if (j < a.labels.size() && label == a.labels[j]) ++j;
  }
  return j == a.labels.size();
}

// The node that drops columns of a table: "columns of <table key>".
constexpr const char* kColumnsOf = "columns of ";

class Differ {
 public:
  // `swap` names enums to re-create (and convert their columns) even when
  // they only gain values.
  Differ(const Catalog& a, const Catalog& b, std::set<std::string> swap = {})
      : a_(a), b_(b), swapped_enums_(std::move(swap)) {}
  Plan Run();

 private:
  bool CanAlter(const Object& x, const Object& y) const;
  void Classify();
  void Cascade();
  void Invalidate(const std::string& dependent, const std::string& gone, const Dependency& dep);
  void AssignImplicitDrops();
  std::vector<std::string> AlterStatements(const Object& x, const Object& y);
  std::vector<std::string> AlterTable(const Object& x, const Object& y);
  std::vector<std::string> SwapEnum(const Object& x, const Object& y);
  std::vector<std::string> Order(const std::set<std::string>& nodes, const Catalog& side,
                                 const std::function<std::string(const std::string&)>& node_of,
                                 const std::function<std::vector<std::string>(const std::string&)>& extra_prereqs);
  void EmitDrops(const std::set<std::string>& set, const std::map<std::string, std::set<std::string>>& columns);
  void InvalidateColumn(const std::string& table, const std::string& column);
  void Add(const std::string& sql, const std::string& object, std::string data_loss = "") {
    plan_.steps.push_back({sql, object, data_loss});
    if (!data_loss.empty()) plan_.data_loss.push_back(data_loss);
  }

  const Catalog& a_;
  const Catalog& b_;
  std::set<std::string> added_, removed_, altered_, recreated_;
  std::set<std::string> drop_first_, drop_last_;  // removed objects by phase
  std::map<std::string, std::string> carrier_;    // implicitly dropped object -> what drops it
  std::map<std::string, std::set<std::string>> dropped_columns_;  // table -> columns dropped at the end
  std::map<std::string, std::set<std::string>> redo_defaults_;   // table -> defaults dropped first, set again
  // table -> generated columns dropped first (their expression needs something
  // dropped first) and added again
  std::map<std::string, std::set<std::string>> rebuilt_generated_;
  std::map<std::string, ColumnChanges> column_changes_;
  std::set<std::string> swapped_enums_;
  std::multimap<std::string, std::pair<std::string, const Dependency*>> dependents_;  // in `a`
  std::deque<std::string> pending_;      // invalidated, their dependents not yet visited
  std::set<std::string> forced_first_;   // removed objects a cascade needs dropped first
  std::map<std::string, std::string> pending_loss_;  // ALTER statement -> what it may lose
  Plan plan_;
};

bool Differ::CanAlter(const Object& x, const Object& y) const {
  if (x.kind != y.kind || x.subkind != y.subkind) return false;
  switch (x.kind) {
    case Kind::kTable:
      return x.partition_key == y.partition_key;
    case Kind::kSequence:
    case Kind::kComment:
    case Kind::kSequenceOwner:
    case Kind::kExtension:
    case Kind::kSchema:
      return true;
    case Kind::kType:
      if (x.subkind == 'e' || x.subkind == 'c') return true;
      return x.subkind == 'd' && x.base_type == y.base_type;
    case Kind::kView: {
      if (y.columns.size() < x.columns.size()) return false;
      for (size_t i = 0; i < x.columns.size(); ++i) {
        if (x.columns[i].name != y.columns[i].name || x.columns[i].type != y.columns[i].type ||
            x.columns[i].collation != y.columns[i].collation) {
          return false;
        }
      }
      return true;
    }
    case Kind::kFunction:
      return x.subkind != 'a' && x.function_result == y.function_result && x.function_inputs == y.function_inputs &&
             y.function_defaults >= x.function_defaults;
    default:
      return false;
  }
}

void Differ::Classify() {
  for (const auto& [key, y] : b_.objects) {
    const Object* x = a_.Find(key);
    if (!x) {
      added_.insert(key);
    } else if (x->signature != y.signature) {
      (CanAlter(*x, y) ? altered_ : recreated_).insert(key);
    }
  }
  std::set<std::string> claimed;  // names that objects created by the script need free
  for (const auto& key : added_) {
    for (const auto& c : b_.objects.at(key).claims) claimed.insert(c);
  }
  for (const auto& [key, x] : a_.objects) {
    if (b_.objects.count(key)) continue;
    removed_.insert(key);
    bool clashes = std::any_of(x.claims.begin(), x.claims.end(), [&](const auto& c) { return claimed.count(c) > 0; });
    (DroppedLast(x.kind) && !clashes ? drop_last_ : drop_first_).insert(key);
  }
  for (const auto& key : altered_) {
    const Object& x = a_.objects.at(key);
    const Object& y = b_.objects.at(key);
    if (x.kind == Kind::kTable) column_changes_[key] = CompareColumns(x, y);
    if (x.kind == Kind::kType && x.subkind == 'e' && !EnumOnlyGainsValues(x, y)) swapped_enums_.insert(key);
  }
  for (auto it = swapped_enums_.begin(); it != swapped_enums_.end();) {
    it = altered_.count(*it) ? std::next(it) : swapped_enums_.erase(it);
  }
  for (const auto& [key, x] : a_.objects) {
    for (const Dependency& d : x.deps) dependents_.insert({d.on, {key, &d}});
  }
}

// `gone` (or a column of it) is dropped before the creates: what depends on
// it must be dropped first, and re-created if the target has it.
void Differ::Invalidate(const std::string& dependent, const std::string& gone, const Dependency& dep) {
  if (recreated_.count(dependent) || drop_first_.count(dependent)) return;
  const Object& y = a_.objects.at(dependent);
  if (y.kind == Kind::kTable && !dep.from_column.empty()) {
    if (dep.via_default) {
      const Column* col = FindColumn(y, dep.from_column);
      if (col && col->generated) {
        if (rebuilt_generated_[dependent].insert(col->name).second) InvalidateColumn(dependent, col->name);
      } else {
        redo_defaults_[dependent].insert(dep.from_column);
      }
      return;
    }
    if (swapped_enums_.count(gone)) return;  // the swap converts the column
  }
  if (drop_last_.count(dependent)) {
    drop_last_.erase(dependent);
    drop_first_.insert(dependent);
    forced_first_.insert(dependent);
  } else if (b_.objects.count(dependent)) {
    recreated_.insert(dependent);
    altered_.erase(dependent);
  } else {
    drop_first_.insert(dependent);
    forced_first_.insert(dependent);
  }
  pending_.push_back(dependent);
}

// Everything that uses `table`.`column` is dropped first.
void Differ::InvalidateColumn(const std::string& table, const std::string& column) {
  auto [begin, end] = dependents_.equal_range(table);
  for (auto it = begin; it != end; ++it) {
    if (it->second.second->on_column == column) Invalidate(it->second.first, table, *it->second.second);
  }
}

void Differ::Cascade() {
  for (const auto& k : recreated_) pending_.push_back(k);
  for (const auto& k : drop_first_) pending_.push_back(k);
  for (const auto& k : swapped_enums_) {
    // Views, functions and types that use the enum are re-created around the swap.
    auto [begin, end] = dependents_.equal_range(k);
    for (auto it = begin; it != end; ++it) {
      const Object& y = a_.objects.at(it->second.first);
      if (y.kind == Kind::kTable && !it->second.second->from_column.empty()) {
        // Defaults may name the old type's values: set again after the swap.
        redo_defaults_[y.key].insert(it->second.second->from_column);
        continue;
      }
      Invalidate(it->second.first, k, *it->second.second);
    }
  }
  for (const auto& [table, ch] : column_changes_) {
    auto [begin, end] = dependents_.equal_range(table);
    for (auto it = begin; it != end; ++it) {
      const auto& [dependent, dep] = it->second;
      if (dep->on_column.empty()) continue;
      const Object& y = a_.objects.at(dependent);
      bool rebuilt = ContainsColumn(ch.rebuilt, dep->on_column);
      bool retyped = ContainsColumn(ch.retyped, dep->on_column);
      bool dropped = ContainsColumn(ch.dropped, dep->on_column);
      if (dropped) {
        // Dropped at the end: dependents that stay must not hold it.
        if (b_.objects.count(dependent) && !removed_.count(dependent)) Invalidate(dependent, table, *dep);
        continue;
      }
      // PostgreSQL converts a retyped column's indexes and constraints itself.
      bool converted = y.kind == Kind::kConstraint || y.kind == Kind::kIndex || y.kind == Kind::kComment;
      if (rebuilt || (retyped && !converted)) Invalidate(dependent, table, *dep);
    }
  }
  while (!pending_.empty()) {
    std::string gone = pending_.front();
    pending_.pop_front();
    auto [begin, end] = dependents_.equal_range(gone);
    for (auto it = begin; it != end; ++it) Invalidate(it->second.first, gone, *it->second.second);
  }
  for (const auto& [table, ch] : column_changes_) {
    if (!altered_.count(table)) continue;
    for (const Column* c : ch.dropped) dropped_columns_[table].insert(c->name);
  }
}

// Objects dropped together with what owns them get no statement of their own.
void Differ::AssignImplicitDrops() {
  auto dropped_with = [&](const Object& x, const std::set<std::string>& droppers) -> std::string {
    if (!x.parent.empty() && droppers.count(x.parent)) return x.parent;
    for (const Dependency& d : x.deps) {
      if (d.automatic && d.on_column.empty() && droppers.count(d.on)) return d.on;
    }
    if (x.kind == Kind::kSequence && !x.owned_by_table.empty()) {
      if (droppers.count(x.owned_by_table)) return x.owned_by_table;
      auto cols = dropped_columns_.find(x.owned_by_table);
      if (cols != dropped_columns_.end() && cols->second.count(x.owned_by_column)) return kColumnsOf + x.owned_by_table;
    }
    return "";
  };
  // Removed sub-objects of removed tables go with their table at the end,
  // unless something dropped first needs them gone first.
  std::set<std::string> first = drop_first_;
  for (const auto& key : first) {
    const Object& x = a_.objects.at(key);
    if (!x.parent.empty() && drop_last_.count(x.parent) && !forced_first_.count(key)) {
      drop_first_.erase(key);
      drop_last_.insert(key);
    }
  }
  std::set<std::string> early = drop_first_;
  early.insert(recreated_.begin(), recreated_.end());
  for (const auto& key : early) {
    std::string by = dropped_with(a_.objects.at(key), early);
    if (!by.empty()) carrier_[key] = by;
  }
  for (const auto& key : drop_last_) {
    std::string by = dropped_with(a_.objects.at(key), drop_last_);
    if (!by.empty()) carrier_[key] = by;
  }
}

std::vector<std::string> Differ::SwapEnum(const Object& x, const Object& y) {
  // Names in the model come from quote_ident: they always split.
  std::vector<std::string> parts = *model::SplitIdentifiers(y.name);
  std::string old_name = model::QuoteIdentifier(parts.back() + "__strata_old");
  std::vector<std::string> out = {absl::StrCat("ALTER TYPE ", y.name, " RENAME TO ", old_name), y.create.at(0)};
  auto [begin, end] = dependents_.equal_range(x.key);
  for (auto it = begin; it != end; ++it) {
    const auto& [table, dep] = it->second;
    if (dep->from_column.empty() || dep->via_default || recreated_.count(table) || removed_.count(table)) continue;
    const Object* tb = b_.Find(table);
    const Column* column = tb ? FindColumn(*tb, dep->from_column) : nullptr;
    if (!column) continue;
    bool array = column->type.size() > 2 && column->type.compare(column->type.size() - 2, 2, "[]") == 0;
    out.push_back(absl::StrCat("ALTER TABLE ", tb->name, " ALTER COLUMN ", column->name, " TYPE ", column->type,
                               " USING ", column->name, array ? "::text[]::" : "::text::", column->type));
  }
  out.push_back(absl::StrCat("DROP TYPE ", model::QuoteIdentifier(parts.front()), ".", old_name));
  return out;
}

std::vector<std::string> Differ::AlterTable(const Object& x, const Object& y) {
  std::vector<std::string> out;
  auto alter = [&](const std::string& what) { out.push_back(absl::StrCat("ALTER TABLE ", y.name, " ", what)); };
  auto name_of = [](const Catalog& c, const std::string& key) { return c.Find(key) ? c.Find(key)->name : key; };
  bool repartitioned = x.partition_of != y.partition_of || x.partition_bound != y.partition_bound;
  if (repartitioned && !x.partition_of.empty()) {
    out.push_back(absl::StrCat("ALTER TABLE ", name_of(a_, x.partition_of), " DETACH PARTITION ", y.name));
  }
  for (const auto& p : x.inherits) {
    if (std::find(y.inherits.begin(), y.inherits.end(), p) == y.inherits.end()) alter("NO INHERIT " + name_of(a_, p));
  }
  const ColumnChanges& ch = column_changes_[y.key];
  const std::set<std::string>& redo = redo_defaults_[y.key];
  const std::set<std::string>& regenerated = rebuilt_generated_[y.key];
  for (const Column* c : ch.rebuilt) {
    if (regenerated.count(c->name)) continue;
    alter("DROP COLUMN " + c->name);
    alter("ADD COLUMN " + ColumnDefinition(*c));
  }
  for (const Column* c : ch.added) alter("ADD COLUMN " + ColumnDefinition(*c));
  for (const Column* c : ch.retyped) {
    if (regenerated.count(c->name)) continue;
    const Column* old = FindColumn(x, c->name);
    if (!old->default_expr.empty() && !redo.count(c->name)) alter(absl::StrCat("ALTER COLUMN ", c->name, " DROP DEFAULT"));
    std::string type = c->type + (c->collation.empty() ? "" : " COLLATE " + c->collation);
    bool cast = HasCast(b_, old->type, c->type);
    std::string sql = absl::StrCat("ALTER TABLE ", y.name, " ALTER COLUMN ", c->name, " TYPE ", type, " USING ",
                                   c->name, cast ? "::" : "::text::", c->type);
    std::string loss;
    if (!cast) {
      loss = absl::StrCat("changes column ", y.name, ".", c->name, " from ", old->type, " to ", c->type,
                          ": there is no cast, values are converted through their text form and rows that do not "
                          "convert make the script fail");
    } else if (!IsWidening(old->type, c->type)) {
      loss = absl::StrCat("changes column ", y.name, ".", c->name, " from ", old->type, " to ", c->type,
                          ": values that do not fit are rejected or converted");
    }
    out.push_back(sql);
    if (!loss.empty()) pending_loss_[sql] = loss;
  }
  // Generated columns dropped first come back once the columns they use have their new types.
  for (const auto& name : regenerated) {
    if (const Column* c = FindColumn(y, name)) alter("ADD COLUMN " + ColumnDefinition(*c));
  }
  for (const Column& cb : y.columns) {
    const Column* ca = FindColumn(x, cb.name);
    bool attach_or_detach = x.is_partition != y.is_partition;
    if ((!cb.local && !attach_or_detach) || !ca || ContainsColumn(ch.added, cb.name) ||
        ContainsColumn(ch.rebuilt, cb.name) || regenerated.count(cb.name) || (x.is_partition && y.is_partition)) {
      continue;
    }
    std::string col = "ALTER COLUMN " + cb.name;
    if (ca->not_null != cb.not_null) alter(col + (cb.not_null ? " SET NOT NULL" : " DROP NOT NULL"));
    if (!cb.generated) {
      bool was_dropped = redo.count(cb.name) || ContainsColumn(ch.retyped, cb.name);
      if (was_dropped ? !cb.default_expr.empty() : ca->default_expr != cb.default_expr) {
        alter(col + (cb.default_expr.empty() ? " DROP DEFAULT" : " SET DEFAULT " + cb.default_expr));
      }
    }
    if (ca->identity != cb.identity || ca->identity_options != cb.identity_options) {
      if (ca->identity) alter(col + " DROP IDENTITY");
      if (cb.identity) {
        alter(absl::StrCat(col, cb.identity == 'a' ? " ADD GENERATED ALWAYS AS IDENTITY (" : " ADD GENERATED BY DEFAULT AS IDENTITY (",
                           cb.identity_options, ")"));
      }
    }
    if (ca->statistics != cb.statistics) alter(absl::StrCat(col, " SET STATISTICS ", cb.statistics));
  }
  if (x.persistence != y.persistence) alter(y.persistence == "u" ? "SET UNLOGGED" : "SET LOGGED");
  if (x.options != y.options) {
    if (!x.options.empty()) alter("RESET (" + OptionKeys(x.options) + ")");
    if (!y.options.empty()) alter("SET (" + y.options + ")");
  }
  if (x.row_security != y.row_security) alter(y.row_security ? "ENABLE ROW LEVEL SECURITY" : "DISABLE ROW LEVEL SECURITY");
  if (x.force_row_security != y.force_row_security) alter(y.force_row_security ? "FORCE ROW LEVEL SECURITY" : "NO FORCE ROW LEVEL SECURITY");
  for (const auto& p : y.inherits) {
    if (std::find(x.inherits.begin(), x.inherits.end(), p) == x.inherits.end()) alter("INHERIT " + name_of(b_, p));
  }
  if (repartitioned && !y.partition_of.empty()) {
    out.push_back(absl::StrCat("ALTER TABLE ", name_of(b_, y.partition_of), " ATTACH PARTITION ", y.name, " ",
                               y.partition_bound));
  }
  return out;
}

std::vector<std::string> Differ::AlterStatements(const Object& x, const Object& y) {
  std::vector<std::string> out;
  switch (y.kind) {
    case Kind::kTable:
      return AlterTable(x, y);
    case Kind::kSequence: {
      const SequenceOptions& s = y.sequence;
      out.push_back(absl::StrCat("ALTER SEQUENCE ", y.name, " AS ", s.type, " INCREMENT BY ", s.increment,
                                 " MINVALUE ", s.min, " MAXVALUE ", s.max, " START WITH ", s.start, " CACHE ", s.cache,
                                 s.cycle ? " CYCLE" : " NO CYCLE"));
      return out;
    }
    case Kind::kType:
      if (y.subkind == 'e') {
        if (swapped_enums_.count(y.key)) return SwapEnum(x, y);
        for (size_t i = 0; i < y.labels.size(); ++i) {
          if (std::find(x.labels.begin(), x.labels.end(), y.labels[i]) != x.labels.end()) continue;
          std::string where = i > 0 ? " AFTER " + y.labels[i - 1] : x.labels.empty() ? "" : " BEFORE " + x.labels[0];
          out.push_back(absl::StrCat("ALTER TYPE ", y.name, " ADD VALUE ", y.labels[i], where));
        }
      } else if (y.subkind == 'c') {
        std::vector<std::string> actions;
        for (const Column& c : x.columns) {
          if (!FindColumn(y, c.name)) actions.push_back("DROP ATTRIBUTE " + c.name);
        }
        for (const Column& c : y.columns) {
          const Column* old = FindColumn(x, c.name);
          std::string type = c.type + (c.collation.empty() ? "" : " COLLATE " + c.collation);
          if (!old) actions.push_back("ADD ATTRIBUTE " + c.name + " " + type);
          else if (old->type != c.type || old->collation != c.collation) actions.push_back("ALTER ATTRIBUTE " + c.name + " TYPE " + type);
        }
        if (!actions.empty()) out.push_back(absl::StrCat("ALTER TYPE ", y.name, " ", absl::StrJoin(actions, ", ")));
      } else {  // domain
        std::string d = "ALTER DOMAIN " + y.name;
        if (x.default_expr != y.default_expr) {
          out.push_back(d + (y.default_expr.empty() ? " DROP DEFAULT" : " SET DEFAULT " + y.default_expr));
        }
        if (x.not_null != y.not_null) out.push_back(d + (y.not_null ? " SET NOT NULL" : " DROP NOT NULL"));
        for (const auto& c : x.checks) {
          if (std::find(y.checks.begin(), y.checks.end(), c) == y.checks.end()) out.push_back(d + " DROP CONSTRAINT " + c.first);
        }
        for (const auto& c : y.checks) {
          if (std::find(x.checks.begin(), x.checks.end(), c) == x.checks.end()) {
            out.push_back(absl::StrCat(d, " ADD CONSTRAINT ", c.first, " ", c.second));
          }
        }
      }
      return out;
    case Kind::kExtension:
      out.push_back(absl::StrCat("ALTER EXTENSION ", y.name, " SET SCHEMA ", y.signature.substr(7)));
      return out;
    case Kind::kView: {
      std::string sql = y.create.at(0);
      sql.replace(0, 11, "CREATE OR REPLACE VIEW");
      out.push_back(sql);
      return out;
    }
    case Kind::kSchema:
      return out;
    default:  // functions (CREATE OR REPLACE), comments, sequence owners
      return y.create;
  }
}

// Kahn's algorithm; among the ready nodes the lowest (rank, key) goes first,
// so scripts are stable. A cycle (rare: e.g. a function returning a table's
// rows used in that table's default) is broken at its lowest-ranked node.
std::vector<std::string> TopoSort(const std::set<std::string>& nodes,
                                  const std::map<std::string, std::set<std::string>>& before,
                                  const std::function<int(const std::string&)>& rank) {
  std::map<std::string, int> waiting;
  std::map<std::string, std::vector<std::string>> unblocks;
  for (const auto& n : nodes) waiting[n] = 0;
  for (const auto& [n, firsts] : before) {
    if (!nodes.count(n)) continue;
    for (const auto& f : firsts) {
      if (f == n || !nodes.count(f)) continue;
      ++waiting[n];
      unblocks[f].push_back(n);
    }
  }
  std::set<std::pair<int, std::string>> ready, rest;
  for (const auto& [n, w] : waiting) (w == 0 ? ready : rest).insert({rank(n), n});
  std::vector<std::string> out;
  while (!ready.empty() || !rest.empty()) {
    if (ready.empty()) {  // cycle
      auto first = *rest.begin();
      rest.erase(rest.begin());
      waiting[first.second] = 0;
      ready.insert(first);
    }
    auto [r, n] = *ready.begin();
    ready.erase(ready.begin());
    out.push_back(n);
    for (const auto& m : unblocks[n]) {
      if (--waiting[m] == 0 && rest.erase({rank(m), m})) ready.insert({rank(m), m});
    }
  }
  return out;
}

// Drops `set` and the `columns` of tables, dependents first.
void Differ::EmitDrops(const std::set<std::string>& set,
                       const std::map<std::string, std::set<std::string>>& columns) {
  auto node_of = [&](std::string key) {
    while (carrier_.count(key)) key = carrier_.at(key);
    return key;
  };
  std::set<std::string> nodes;
  for (const auto& k : set) nodes.insert(node_of(k));
  for (const auto& [table, cols] : columns) {
    if (!cols.empty() && !nodes.count(node_of(table))) nodes.insert(kColumnsOf + table);
  }
  // What depends on something is dropped before it.
  std::map<std::string, std::set<std::string>> before;
  auto source_node = [&](const std::string& key, const Dependency& d) {
    auto cols = columns.find(key);
    if (!d.from_column.empty() && cols != columns.end() && cols->second.count(d.from_column) &&
        nodes.count(kColumnsOf + key)) {
      return kColumnsOf + key;
    }
    return node_of(key);
  };
  auto target_node = [&](const Dependency& d) {
    auto cols = columns.find(d.on);
    if (!d.on_column.empty() && cols != columns.end() && cols->second.count(d.on_column) &&
        nodes.count(kColumnsOf + d.on)) {
      return kColumnsOf + d.on;
    }
    return node_of(d.on);
  };
  for (const auto& [key, x] : a_.objects) {
    for (const Dependency& d : x.deps) {
      std::string from = source_node(key, d), on = target_node(d);
      if (from != on && nodes.count(from) && nodes.count(on)) before[on].insert(from);
    }
  }
  auto rank = [&](const std::string& n) {
    if (n.rfind(kColumnsOf, 0) == 0) return -7;
    return -Rank(a_.objects.at(n));
  };
  for (const auto& n : TopoSort(nodes, before, rank)) {
    if (n.rfind(kColumnsOf, 0) == 0) {
      std::string table = n.substr(std::string(kColumnsOf).size());
      const Object& t = a_.objects.at(table);
      for (const auto& c : columns.at(table)) {
        const Column* col = FindColumn(t, c);
        Add(absl::StrCat("ALTER TABLE ", t.name, " DROP COLUMN ", c), table,
            col && col->generated ? "" : absl::StrCat("drops column ", t.name, ".", c, " and its values"));
      }
      continue;
    }
    const Object& x = a_.objects.at(n);
    if (x.drop.empty()) continue;
    std::string loss;
    if (x.kind == Kind::kTable) {
      loss = recreated_.count(n) ? absl::StrCat("re-creates table ", x.name, ": its rows are lost")
                                 : absl::StrCat("drops table ", x.name, " and its rows");
    }
    Add(x.drop, n, loss);
    if (!recreated_.count(n)) ++plan_.dropped;
  }
}

Plan Differ::Run() {
  Classify();
  Cascade();
  AssignImplicitDrops();
  // (1) Defaults that need what is dropped first, then the first drops.
  for (const auto& [table, cols] : redo_defaults_) {
    if (recreated_.count(table) || removed_.count(table)) continue;
    const Object& t = a_.objects.at(table);
    for (const auto& c : cols) {
      const Column* col = FindColumn(t, c);
      if (col && !col->default_expr.empty() && !col->generated) {
        Add(absl::StrCat("ALTER TABLE ", t.name, " ALTER COLUMN ", c, " DROP DEFAULT"), table);
      }
    }
    if (b_.objects.count(table)) altered_.insert(table);
  }
  std::set<std::string> first = drop_first_;
  first.insert(recreated_.begin(), recreated_.end());
  for (const auto& [table, cols] : rebuilt_generated_) {
    if (b_.objects.count(table) && !recreated_.count(table)) altered_.insert(table);
  }
  EmitDrops(first, rebuilt_generated_);
  // (2) Creates and alters in the target's dependency order.
  std::set<std::string> nodes = added_;
  nodes.insert(recreated_.begin(), recreated_.end());
  nodes.insert(altered_.begin(), altered_.end());
  std::map<std::string, std::set<std::string>> before;
  for (const auto& n : nodes) {
    for (const Dependency& d : b_.objects.at(n).deps) before[n].insert(d.on);
  }
  for (const auto& n : TopoSort(nodes, before, [&](const std::string& k) { return Rank(b_.objects.at(k)); })) {
    const Object& y = b_.objects.at(n);
    if (altered_.count(n)) {
      if (y.kind == Kind::kTable && !column_changes_.count(n)) column_changes_[n] = CompareColumns(a_.objects.at(n), y);
      std::vector<std::string> statements = AlterStatements(a_.objects.at(n), y);
      for (const auto& sql : statements) {
        auto loss = pending_loss_.find(sql);
        Add(sql, n, loss == pending_loss_.end() ? "" : loss->second);
      }
      if (swapped_enums_.count(n)) {
        std::vector<std::string> gone;
        for (const auto& l : a_.objects.at(n).labels) {
          if (std::find(y.labels.begin(), y.labels.end(), l) == y.labels.end()) gone.push_back(l);
        }
        if (!gone.empty()) {
          plan_.data_loss.push_back(absl::StrCat("removes value(s) ", absl::StrJoin(gone, ", "), " from ", y.name,
                                                 ": rows holding them make the script fail"));
          plan_.steps[plan_.steps.size() - statements.size()].data_loss = plan_.data_loss.back();
        }
      }
      if (!statements.empty()) ++plan_.altered;
    } else {
      for (const auto& sql : y.create) Add(sql, n);
      ++(recreated_.count(n) ? plan_.recreated : plan_.created);
    }
  }
  // (3) What nothing needs any more.
  EmitDrops(drop_last_, dropped_columns_);
  return std::move(plan_);
}

// Enums that gain values by ADD VALUE, whose new values the script itself
// uses (PostgreSQL refuses that before the ADD VALUE commits).
std::set<std::string> EnumsUsingNewValues(const Plan& plan, const Catalog& from, const Catalog& to) {
  std::set<std::string> out;
  for (const Step& step : plan.steps) {
    if (step.sql.find(" ADD VALUE ") == std::string::npos) continue;
    const Object& y = to.objects.at(step.object);
    const Object& x = from.objects.at(step.object);
    for (const auto& label : y.labels) {
      if (std::find(x.labels.begin(), x.labels.end(), label) != x.labels.end()) continue;
      std::string use = label + "::" + y.name;
      for (const Step& other : plan.steps) {
        if (other.sql.find(use) != std::string::npos) out.insert(y.key);
      }
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<Plan> Diff(const Catalog& from, const Catalog& to, const DiffOptions& options) {
  Plan plan = Differ(from, to).Run();
  if (auto swap = EnumsUsingNewValues(plan, from, to); !swap.empty()) plan = Differ(from, to, swap).Run();
  if (!plan.data_loss.empty() && !options.allow_data_loss) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the change loses data in ", plan.data_loss.size(), " step(s):\n  ", absl::StrJoin(plan.data_loss, "\n  "),
        "\nre-run with --allow-data-loss to generate the script anyway"));
  }
  return plan;
}

std::string RenderScript(const Plan& plan, const std::string& title) {
  std::string out = absl::StrCat("-- ", title, "\n-- Generated by strata schema diff: ", plan.steps.size(),
                                 " statement(s); run in one transaction.\n");
  if (plan.steps.empty()) return out + "-- No changes.\n";
  // Names in the script are qualified; bodies are checked when they run.
  out += "SET check_function_bodies = false;\nSELECT pg_catalog.set_config('search_path', '', false);\n";
  std::string last_object;
  for (const Step& s : plan.steps) {
    if (s.object != last_object) out += "\n";
    last_object = s.object;
    if (!s.data_loss.empty()) absl::StrAppend(&out, "-- DATA LOSS: ", s.data_loss, "\n");
    absl::StrAppend(&out, s.sql, ";\n");
  }
  return out;
}

std::string Summary(const Plan& plan) {
  if (plan.steps.empty()) return "no differences\n";
  std::string out = absl::StrCat(plan.steps.size(), " statement(s): ", plan.created, " created, ", plan.altered,
                                 " altered, ", plan.recreated, " re-created, ", plan.dropped, " dropped\n");
  if (!plan.data_loss.empty()) {
    absl::StrAppend(&out, "data loss (", plan.data_loss.size(), "):\n");
    for (const auto& l : plan.data_loss) absl::StrAppend(&out, "  - ", l, "\n");
  }
  return out;
}

}  // namespace strata::schemadiff
