// DeployServiceImpl (deploy_service_impl.h): the team's policy at release
// creation and in plans. The lock service holds each check-in to it; here
// the whole state of a release is linted together, so the rules that need
// other objects (require-fk-index) apply too, and a policy set after a
// version was checked in still reaches it. Findings about the release's
// changed objects are reported; errors not waived block.
#include <map>
#include <set>

#include "deploy/deploy_projection.h"
#include "deploy/deploy_service_impl.h"
#include "fmt/format.h"
#include "model/object_id.h"
#include "pg/pg.h"
#include "policy/policy.h"
#include "sql/analyze.h"

namespace strata::deploy {

absl::StatusOr<DeployServiceImpl::PolicyReport> DeployServiceImpl::PolicyFindings(
    const std::vector<schemadiff::LabelledSql>& defs, const std::vector<std::string>& changed) {
  PolicyReport report;
  auto set = DeployProjection::ReadPolicy(db());
  if (!set.ok()) return set.status();
  if (!*set) return report;  // no policy: nothing to hold the release to
  auto pol = policy::ParsePolicy((*set)->yaml());
  if (!pol.ok()) return report;  // refused when it was set; a newer Strata's file: not enforced here
  report.version = (*set)->version();
  report.policy = std::make_shared<const policy::Policy>(*pol);
  std::string text;
  for (const auto& d : defs) text += d.sql + "\n;\n";
  auto findings = policy::Lint(*pol, text);
  if (!findings.ok()) return report;  // a definition the parser refuses is reported by loading the release
  const std::set<std::string> wanted(changed.begin(), changed.end());
  std::set<std::string> seen;
  for (const auto& f : *findings) {
    if (!wanted.count(f.object)) continue;
    if (!seen.insert(f.object + '\0' + f.code + '\0' + f.message).second) continue;
    v1::Finding& out = report.findings.emplace_back();
    out.set_code("policy:" + f.code);
    out.set_object(f.object);
    out.set_severity(policy::SeverityName(f.severity));
    std::string reason = f.message;
    if (f.severity == policy::Severity::kError) {
      if (DeployProjection::Waived(db(), f.object, f.code)) {
        reason += " (waived)";
      } else {
        report.errors.push_back(fmt::format("{}: error {}: {}", f.object, f.code, f.message));
      }
    }
    out.set_reason(reason);
  }
  return report;
}

absl::Status DeployServiceImpl::IndexesOnLargeTables(const v1::Environment& env, const Entries& target,
                                                     const std::vector<std::string>& changed, PolicyReport* report) {
  if (!report->policy) return absl::OkStatus();
  std::map<std::string, uint64_t> versions;
  for (const auto& e : target) versions[e.object()] = e.version();
  std::unique_ptr<pg::Session> session;
  for (const auto& id : changed) {
    if (id.rfind("index:", 0) != 0) continue;
    auto v = versions.find(id);
    if (v == versions.end()) continue;
    auto parsed_id = model::ParseObjectId(id);
    if (!parsed_id.ok()) continue;
    const policy::RuleConfig rule = report->policy->For("require-concurrent-index-creation", parsed_id->schema);
    auto min = rule.options.find("min_rows");
    if (rule.severity == policy::Severity::kOff || min == rule.options.end()) continue;
    auto def = DeployProjection::ReadDefinition(db(), id, v->second);
    if (!def.ok()) return def.status();
    auto info = sql::AnalyzeDefinition(*def);
    if (!info.ok() || info->index_concurrently) continue;
    if (!session) {
      auto s = Connect(env);
      if (!s.ok()) return s.status();
      session = std::move(*s);
    }
    auto rows = session->Query("SELECT coalesce((SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass($1)), 0)",
                               {info->index_table});
    if (!rows.ok()) return rows.status();
    const long long n = rows->number(0, 0);
    if (n <= std::stoll(min->second)) continue;
    v1::Finding& f = report->findings.emplace_back();
    f.set_code("policy:require-concurrent-index-creation");
    f.set_object(id);
    f.set_severity(policy::SeverityName(rule.severity));
    std::string reason = fmt::format("CREATE INDEX without CONCURRENTLY on {}, which holds about {} rows in {} (more than {}): "
                                     "writes to it wait while the index builds",
                                     info->index_table, n, env.name(), min->second);
    if (rule.severity == policy::Severity::kError) {
      if (DeployProjection::Waived(db(), id, "require-concurrent-index-creation")) {
        reason += " (waived)";
      } else {
        report->errors.push_back(fmt::format("{}: error require-concurrent-index-creation: {}", id, reason));
      }
    }
    f.set_reason(reason);
  }
  return absl::OkStatus();
}

}  // namespace strata::deploy
