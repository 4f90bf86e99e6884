// DeployServiceImpl (deploy_service_impl.h): the team's policy at release
// creation and in plans. The lock service holds each check-in to it; here
// the whole state of a release is linted together, so the rules that need
// other objects (require-fk-index) apply too, and a policy set after a
// version was checked in still reaches it. Findings about the release's
// changed objects are reported; errors not waived block.
#include <set>

#include "deploy/deploy_projection.h"
#include "deploy/deploy_service_impl.h"
#include "fmt/format.h"
#include "policy/policy.h"

namespace strata::deploy {

absl::StatusOr<DeployServiceImpl::PolicyReport> DeployServiceImpl::PolicyFindings(
    const Entries& state, const std::vector<std::string>& changed) {
  PolicyReport report;
  auto set = DeployProjection::ReadPolicy(db());
  if (!set.ok()) return set.status();
  if (!*set) return report;  // no policy: nothing to hold the release to
  auto pol = policy::ParsePolicy((*set)->yaml());
  if (!pol.ok()) return report;  // refused when it was set; a newer Strata's file: not enforced here
  report.version = (*set)->version();
  auto defs = DefinitionsOf(state);
  if (!defs.ok()) return defs.status();
  std::string text;
  for (const auto& d : *defs) text += d.sql + "\n;\n";
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

}  // namespace strata::deploy
