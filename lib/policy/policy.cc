// The rules' registry and the policy file (policy.h).
#include "policy/policy.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/match.h"
#include "fmt/format.h"
#include "re2/re2.h"
#include "sql/analyze.h"
#include "sql/risk.h"
#include "yaml-cpp/yaml.h"

namespace strata::policy {
namespace {

constexpr Severity kOff = Severity::kOff, kWarn = Severity::kWarning, kErr = Severity::kError;

std::vector<RuleInfo> MakeRules() {
  const std::string ident = "^[a-z_][a-z0-9_]*$";
  std::vector<RuleInfo> r = {
      // Naming: a pattern per kind (placeholders {table}, {columns}, {ref_table}).
      {"naming-table", "table names follow the team's scheme", kOff, {"pattern"}, ident},
      {"naming-column", "column names follow the team's scheme", kOff, {"pattern"}, ident},
      {"naming-view", "view names follow the team's scheme", kOff, {"pattern"}, ident},
      {"naming-materialized-view", "materialized view names follow the team's scheme", kOff, {"pattern"}, ident},
      {"naming-function", "function and procedure names follow the team's scheme", kOff, {"pattern"}, ident},
      {"naming-index", "index names say their table and columns", kOff, {"pattern"}, "^ix_{table}_{columns}$"},
      {"naming-sequence", "sequence names follow the team's scheme", kOff, {"pattern"}, ident},
      {"naming-trigger", "trigger names follow the team's scheme", kOff, {"pattern"}, ident},
      {"naming-type", "type and domain names follow the team's scheme", kOff, {"pattern"}, ident},
      {"naming-primary-key", "primary key names say their table", kOff, {"pattern"}, "^pk_{table}$"},
      {"naming-unique", "unique constraint names say their table and columns", kOff, {"pattern"},
       "^uq_{table}_{columns}$"},
      {"naming-foreign-key", "foreign key names say both tables", kOff, {"pattern"}, "^fk_{table}_{ref_table}$"},
      {"naming-max-length", "PostgreSQL truncates identifiers longer than 63 bytes, silently", kErr, {"max"}, ""},
      {"naming-reserved-word", "a reserved word as a name must be quoted everywhere it is used", kWarn, {}, ""},
      // Structure.
      {"require-primary-key", "rows without a key cannot be told apart, replicated or referenced", kWarn, {}, ""},
      {"require-fk-index", "an unindexed foreign key makes deletes and joins on the referenced table scan", kWarn,
       {},
       ""},
      {"prefer-timestamptz", "timestamp without time zone loses the offset; timestamptz stores an instant", kWarn,
       {},
       ""},
      {"prefer-identity", "serial's sequence is owned loosely; identity columns are the standard", kWarn, {}, ""},
      {"ban-money-type", "money depends on lc_monetary and rounds; use numeric", kWarn, {}, ""},
      {"ban-char-field", "char(n) pads with blanks and is no faster than text", kWarn, {}, ""},
      {"prefer-text-field", "changing varchar(n)'s limit later rewrites or locks the table; text with a CHECK does not",
       kOff,
       {},
       ""},
      {"prefer-bigint-over-int", "int ids run out at 2^31", kOff, {}, ""},
      {"prefer-bigint-over-smallint", "smallint ids run out at 2^15", kOff, {}, ""},
      {"ban-select-star", "a view with SELECT * freezes the column list at creation and hides dependencies", kWarn, {},
       ""},
      {"security-definer-search-path",
       "a SECURITY DEFINER function without SET search_path runs objects a caller can plant", kErr, {}, ""},
      {"require-table-comment", "tables are documented in the database", kOff, {}, ""},
      {"require-column-comment", "columns are documented in the database", kOff, {}, ""},
      {"ban-create-domain-with-constraint", "a domain's CHECK cannot be changed without validating every column using it",
       kOff,
       {},
       ""},
      {"require-concurrent-index-creation", "CREATE INDEX without CONCURRENTLY blocks writes while it builds", kOff,
       {"min_rows"},
       ""},
      {"prefer-jsonb", "json keeps text and re-parses it on every use, and has no equality; jsonb does not", kWarn, {},
       ""},
      {"ban-inherits", "table inheritance is superseded by declarative partitioning; keys and indexes do not inherit",
       kOff,
       {},
       ""},
      {"require-constraint-name", "a constraint PostgreSQL names is named differently in each database it is created in",
       kOff,
       {},
       ""},
      // Work items, at check-out.
      {"require-task", "every change belongs to a piece of work that is released and promoted as a unit", kOff,
       {"pattern"},
       ""},
      // The safety of a change, from the previous version to the new one
      // (sql::DescribeChange's risk rules, made configurable): at check-in.
      {"add-not-null-without-default", "a NOT NULL column without a default fails on a table that has rows", kWarn, {},
       ""},
      {"change-column-type", "a column type change rewrites the table under an ACCESS EXCLUSIVE lock", kWarn, {}, ""},
      {"narrow-column-type", "a narrower type may not hold the values there and rewrites the table", kWarn, {}, ""},
      {"set-not-null", "SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock", kOff, {}, ""},
      {"volatile-default-rewrite", "a column added with a volatile default rewrites the table", kWarn, {}, ""},
      {"drop-column", "dropping a column loses its values", kWarn, {}, ""},
      {"drop-column-in-use", "dropping a column that views, functions or triggers still use breaks them", kWarn, {},
       ""},
      {"enum-value-removed", "removing an enum label rebuilds the type and fails while rows use it", kWarn, {}, ""},
      {"function-return-type-change", "a function's return type changes only by DROP and CREATE", kOff, {}, ""},
  };
  std::sort(r.begin(), r.end(), [](const RuleInfo& a, const RuleInfo& b) { return a.code < b.code; });
  return r;
}

// Levenshtein distance, for "did you mean".
size_t Distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool GlobMatch(std::string_view glob, std::string_view text) {
  if (glob.empty()) return text.empty();
  if (glob[0] == '*') {
    for (size_t i = 0; i <= text.size(); ++i)
      if (GlobMatch(glob.substr(1), text.substr(i))) return true;
    return false;
  }
  if (text.empty()) return false;
  if (glob[0] != '?' && glob[0] != text[0]) return false;
  return GlobMatch(glob.substr(1), text.substr(1));
}

// "error", "warning" or "off"; false for anything else.
bool ParseSeverity(const std::string& text, Severity* out) {
  if (text == "error") *out = kErr;
  else if (text == "warning") *out = kWarn;
  else if (text == "off") *out = kOff;
  else return false;
  return true;
}

std::string Where(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return m.is_null() ? std::string("") : fmt::format("line {}, column {}: ", m.line + 1, m.column + 1);
}

}  // namespace

const char* SeverityName(Severity s) {
  switch (s) {
    case Severity::kOff: return "off";
    case Severity::kWarning: return "warning";
    case Severity::kError: return "error";
  }
  return "off";
}

const std::vector<RuleInfo>& Rules() {
  static const std::vector<RuleInfo> kRules = MakeRules();
  return kRules;
}

const RuleInfo* FindRule(std::string_view code) {
  for (const auto& r : Rules())
    if (r.code == code) return &r;
  return nullptr;
}

RuleConfig Policy::For(std::string_view code, std::string_view schema) const {
  auto it = rules.find(std::string(code));
  if (it == rules.end()) return {};
  RuleConfig c = it->second;
  if (!c.schemas.empty() &&
      std::none_of(c.schemas.begin(), c.schemas.end(), [&](const std::string& g) { return GlobMatch(g, schema); }))
    c.severity = Severity::kOff;
  return c;
}

Policy DefaultPolicy() {
  Policy p;
  for (const auto& r : Rules()) {
    RuleConfig c;
    c.severity = r.default_severity;
    if (!r.default_pattern.empty()) c.options["pattern"] = r.default_pattern;
    if (r.code == "naming-max-length") c.options["max"] = "63";
    p.rules[r.code] = std::move(c);
  }
  return p;
}

absl::StatusOr<Policy> ParsePolicy(std::string_view yaml) {
  Policy p = DefaultPolicy();
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(fmt::format("line {}, column {}: {}", e.mark.line + 1, e.mark.column + 1, e.msg));
  }
  if (!root.IsMap()) return absl::InvalidArgumentError("the policy must be a mapping with a `rules:` key");
  for (const auto& top : root) {
    const std::string key = top.first.as<std::string>("");
    if (key != "rules")
      return absl::InvalidArgumentError(fmt::format("{}unknown key `{}` (a policy has `rules:`)", Where(top.first), key));
  }
  const YAML::Node rules = root["rules"];
  if (!rules || rules.IsNull()) return p;
  if (!rules.IsMap()) return absl::InvalidArgumentError(fmt::format("{}`rules:` must map rule codes to settings", Where(rules)));
  for (const auto& entry : rules) {
    const std::string code = entry.first.as<std::string>("");
    const RuleInfo* info = FindRule(code);
    if (!info) {
      const RuleInfo* nearest = nullptr;
      size_t best = 1000;
      for (const auto& r : Rules())
        if (size_t d = Distance(code, r.code); d < best) best = d, nearest = &r;
      return absl::InvalidArgumentError(fmt::format("{}unknown rule `{}`{} (strata lint --rules lists them)",
                                                    Where(entry.first), code,
                                                    nearest && best <= 4 ? fmt::format("; did you mean `{}`?", nearest->code)
                                                                         : std::string()));
    }
    RuleConfig& c = p.rules[code];
    c.line = entry.first.Mark().line + 1;
    const YAML::Node& settings = entry.second;
    auto severity = [&](const YAML::Node& node) -> absl::Status {
      const std::string sev = node.as<std::string>("");
      if (ParseSeverity(sev, &c.severity)) return absl::OkStatus();
      return absl::InvalidArgumentError(fmt::format("{}rule {}: severity `{}` does not exist (error, warning, off)",
                                                    Where(node), code, sev));
    };
    if (settings.IsScalar()) {  // `naming-table: error`
      if (absl::Status s = severity(settings); !s.ok()) return s;
      continue;
    }
    if (!settings.IsMap())
      return absl::InvalidArgumentError(fmt::format("{}rule {}: give {{severity: ..., ...}}", Where(entry.first), code));
    for (const auto& opt : settings) {
      const std::string name = opt.first.as<std::string>("");
      if (name == "severity") {
        if (absl::Status s = severity(opt.second); !s.ok()) return s;
      } else if (name == "schemas") {
        c.schemas.clear();
        if (opt.second.IsSequence()) {
          for (const auto& g : opt.second) c.schemas.push_back(g.as<std::string>(""));
        } else {
          c.schemas.push_back(opt.second.as<std::string>(""));
        }
      } else if (name == "hint" ||
                 std::find(info->options.begin(), info->options.end(), name) != info->options.end()) {
        if (!opt.second.IsScalar())
          return absl::InvalidArgumentError(fmt::format("{}rule {}: {} must be a single value", Where(opt.second), code, name));
        c.options[name] = opt.second.as<std::string>("");
      } else {
        std::string known = "severity, schemas, hint";
        for (const auto& o : info->options) known += ", " + o;
        return absl::InvalidArgumentError(
            fmt::format("{}rule {} has no option `{}` (its options: {})", Where(opt.first), code, name, known));
      }
    }
    if (auto pat = c.options.find("pattern"); pat != c.options.end()) {
      // Placeholders stand for names: compile with a plain word in their place.
      std::string probe = pat->second;
      for (const char* ph : {"{table}", "{columns}", "{ref_table}"})
        for (size_t at = probe.find(ph); at != std::string::npos; at = probe.find(ph)) probe.replace(at, strlen(ph), "x");
      RE2 compiled(probe, RE2::Quiet);
      if (!compiled.ok())
        return absl::InvalidArgumentError(fmt::format("{}rule {}: pattern `{}` does not compile: {}",
                                                      Where(settings["pattern"]), code, pat->second, compiled.error()));
    }
    if (auto rows = c.options.find("min_rows"); rows != c.options.end()) {
      long long n = -1;
      try {
        n = std::stoll(rows->second);
      } catch (...) {
        n = -1;
      }
      if (n < 0)
        return absl::InvalidArgumentError(fmt::format("{}rule {}: min_rows must be a number of rows, not `{}`",
                                                      Where(settings["min_rows"]), code, rows->second));
    }
    if (auto max = c.options.find("max"); max != c.options.end()) {
      int n = 0;
      try {
        n = std::stoi(max->second);
      } catch (...) {
        n = 0;
      }
      if (n <= 0)
        return absl::InvalidArgumentError(
            fmt::format("{}rule {}: max must be a positive number, not `{}`", Where(settings["max"]), code, max->second));
    }
  }
  return p;
}

absl::StatusOr<std::vector<Finding>> CheckChange(const Policy& policy, std::string_view before,
                                                 std::string_view after) {
  auto old = sql::AnalyzeDefinition(before);
  if (!old.ok()) return std::vector<Finding>();  // the previous version's own problem; nothing to compare
  auto now = sql::AnalyzeDefinition(after);
  if (!now.ok()) return now.status();
  return CheckChange(policy, *old, *now);
}

std::vector<Finding> CheckChange(const Policy& policy, const sql::ObjectInfo& before, const sql::ObjectInfo& after) {
  std::vector<Finding> out;
  const sql::ObjectInfo* old = &before;
  const sql::ProposedChange change = sql::DescribeDefinitionChange(before, after);
  for (const auto& f : change.findings) {
    if (!FindRule(f.code)) continue;  // not configurable (dependents' rules belong to impact)
    if (f.severity == sql::Severity::kLow) continue;  // e.g. a type change PostgreSQL makes without a rewrite
    const RuleConfig c = policy.For(f.code, old->id.schema);
    if (c.severity == Severity::kOff) continue;
    std::string text = f.reason;
    if (auto hint = c.options.find("hint"); hint != c.options.end() && !hint->second.empty())
      text += fmt::format(" (hint: {})", hint->second);
    out.push_back({f.code, c.severity, after.id.ToString(), text, 0, 0});
  }
  return out;
}

std::string CheckTask(const Policy& policy, std::string_view schema, const std::string& task) {
  const RuleConfig c = policy.For("require-task", schema);
  if (c.severity != Severity::kError) return "";
  std::string hint;
  if (auto h = c.options.find("hint"); h != c.options.end() && !h->second.empty()) hint = " (hint: " + h->second + ")";
  if (task.empty()) return "require-task: name the work item this change belongs to (strata checkout OBJ --task ID)" + hint;
  auto pat = c.options.find("pattern");
  if (pat == c.options.end() || pat->second.empty()) return "";
  RE2 re(pat->second, RE2::Quiet);
  if (re.ok() && !RE2::PartialMatch(task, re))
    return fmt::format("require-task: work item \"{}\" does not match {}{}", task, pat->second, hint);
  return "";
}

std::string Format(const Finding& f) {
  return fmt::format("{} {}: {}: {}", SeverityName(f.severity), f.code, f.object, f.message);
}

}  // namespace strata::policy
