// LockServiceImpl (lock_service_impl.h): the team's policy. Versions and
// waivers are events on the "policy:team" aggregate, so every site enforces
// the same version as soon as its projection has it; a check-in is linted
// against the version in force (lib/policy).
#include <algorithm>

#include "auth/tokens.h"
#include "fmt/format.h"
#include "lock/lock_service_impl.h"
#include "policy/policy.h"
#include "sql/parse.h"
#include "sql/risk.h"

namespace strata::lock {
namespace {
constexpr char kPolicyAggregate[] = "policy:team";
}  // namespace

absl::Status LockServiceImpl::SubmitPolicyEvent(
    const auth::Principal& who, const std::function<void(uint64_t latest_version, v1::Event*)>& fill) {
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    if (absl::Status s = runner_->CatchUpPartition(log_->PartitionFor(kPolicyAggregate), options_.apply_timeout);
        !s.ok())
      return s;
    uint64_t last_seq = 0;
    auto current = LockProjection::ReadPolicy(runner_->db(), 0, &last_seq);
    if (!current.ok()) return current.status();
    v1::Event e = NewEvent(who, kPolicyAggregate, last_seq + 1);
    fill(*current ? (*current)->version() : 0, &e);
    auto outcome = Submit(e);
    if (!outcome.ok()) return outcome.status();
    if (outcome->decision.accepted()) return absl::OkStatus();
    // Another site changed the policy first: again, on top of it.
  }
  return absl::AbortedError("the policy kept changing at other sites; try again");
}

absl::Status LockServiceImpl::DoSetPolicy(const auth::Principal& who, const v1::SetPolicyRequest& req,
                                          v1::PolicyVersion* resp) {
  if (absl::Status s = hosting::CheckSize("the policy", req.yaml().size(), options_.max_definition_bytes); !s.ok())
    return s;
  auto parsed = policy::ParsePolicy(req.yaml());
  if (!parsed.ok())
    return absl::InvalidArgumentError(fmt::format("the policy file: {}", std::string(parsed.status().message())));
  if (absl::Status s = SubmitPolicyEvent(who,
                                         [&](uint64_t latest, v1::Event* e) {
                                           auto* set = e->mutable_policy_set();
                                           set->set_version(latest + 1);
                                           set->set_yaml(req.yaml());
                                           set->set_sha256(auth::Sha256Hex(req.yaml()));
                                           set->set_message(req.message());
                                         });
      !s.ok())
    return s;
  return DoGetPolicy(v1::GetPolicyRequest(), resp);
}

absl::Status LockServiceImpl::DoGetPolicy(const v1::GetPolicyRequest& req, v1::PolicyVersion* resp) {
  auto v = LockProjection::ReadPolicy(runner_->db(), req.version());
  if (!v.ok()) return v.status();
  if (!*v) {
    if (req.version() != 0) return absl::NotFoundError(fmt::format("there is no policy version {}", req.version()));
    resp->set_version(0);  // none set: every rule at its default
  } else {
    *resp = std::move(**v);
  }
  for (auto& w : LockProjection::ReadWaivers(runner_->db())) *resp->add_waivers() = std::move(w);
  return absl::OkStatus();
}

absl::Status LockServiceImpl::DoWaive(const auth::Principal& who, const v1::WaiveRequest& req, v1::Waiver* resp) {
  if (req.reason().empty())
    return absl::InvalidArgumentError("a waiver needs a reason (-r); it is recorded in the audit trail");
  if (!policy::FindRule(req.rule()))
    return absl::InvalidArgumentError(fmt::format("unknown rule {} (strata lint --rules lists them)", req.rule()));
  auto id = Resolve(req.object(), /*allow_new=*/true);
  if (!id.ok()) return id.status();
  refused_object_ = id->ToString();
  if (absl::Status s = hosting::RequireObjectInScope(who, id->ToString(), {nullptr, options_.site, ""}); !s.ok())
    return s;
  if (absl::Status s = SubmitPolicyEvent(who,
                                         [&](uint64_t, v1::Event* e) {
                                           auto* w = e->mutable_policy_waived();
                                           w->set_object(id->ToString());
                                           w->set_rule(req.rule());
                                           w->set_reason(req.reason());
                                         });
      !s.ok())
    return s;
  for (auto& x : LockProjection::ReadWaivers(runner_->db(), id->ToString()))
    if (x.rule() == req.rule()) *resp = std::move(x);
  return absl::OkStatus();
}

std::pair<std::shared_ptr<const policy::Policy>, uint64_t> LockServiceImpl::PolicyInForce() {
  // No policy was ever set: nothing to read (the lock path's common case).
  if (!board_->PolicyEverSet()) return {nullptr, 0};
  // The version number alone (a small record) unless it changed.
  const uint64_t latest = LockProjection::LatestPolicyVersion(runner_->db());
  {
    absl::MutexLock l(&policy_mu_);
    if (policy_ && policy_version_ == latest) return {policy_, latest};
  }
  auto v = LockProjection::ReadPolicy(runner_->db(), latest);
  const uint64_t version = v.ok() && *v ? (*v)->version() : 0;
  std::shared_ptr<const policy::Policy> parsed;
  if (version == 0) {
    parsed = std::make_shared<policy::Policy>(policy::DefaultPolicy());
  } else {
    auto p = policy::ParsePolicy((*v)->yaml());
    // Refused before it was set; a file that no longer parses (a newer
    // Strata's rule) falls back to the defaults rather than blocking work.
    parsed = std::make_shared<policy::Policy>(p.ok() ? *p : policy::DefaultPolicy());
  }
  absl::MutexLock l(&policy_mu_);
  if (!policy_ || version >= policy_version_) {
    policy_ = parsed;
    policy_version_ = version;
  }
  return {parsed, version};
}

std::shared_ptr<const sql::ObjectInfo> LockServiceImpl::AnalysisOf(const std::string& id, uint64_t version,
                                                                   std::string_view definition) {
  const std::string key = id + std::string(1, '\0') + std::to_string(version);
  {
    absl::MutexLock l(&analyses_mu_);
    if (auto it = analyses_.find(key); it != analyses_.end()) return it->second;
  }
  auto info = sql::AnalyzeDefinition(definition, {.search_path = options_.search_path});
  if (!info.ok()) return nullptr;
  RememberAnalysis(id, version, *info);
  absl::MutexLock l(&analyses_mu_);
  return analyses_[key];
}

void LockServiceImpl::RememberAnalysis(const std::string& id, uint64_t version, sql::ObjectInfo info) {
  const std::string key = id + std::string(1, '\0') + std::to_string(version);
  auto shared = std::make_shared<const sql::ObjectInfo>(std::move(info));
  absl::MutexLock l(&analyses_mu_);
  if (!analyses_.emplace(key, std::move(shared)).second) return;
  analyses_order_.push_back(key);
  while (analyses_order_.size() > kAnalyses) {
    analyses_.erase(analyses_order_.front());
    analyses_order_.pop_front();
  }
}

void LockServiceImpl::PolicyOf(const model::ObjectId& id, v1::ObjectHead* head) {
  for (auto& w : LockProjection::ReadWaivers(runner_->db(), id.ToString())) *head->add_waivers() = std::move(w);
  const auto [pol, version] = PolicyInForce();
  if (version == 0 || head->latest_version() == 0 || head->dropped()) return;
  auto findings = policy::Lint(*pol, head->definition(), {.one_object = true});
  if (!findings.ok()) return;
  for (const auto& f : *findings) {
    if (f.object != id.ToString()) continue;
    const bool waived = std::any_of(head->waivers().begin(), head->waivers().end(),
                                    [&](const v1::Waiver& w) { return w.rule() == f.code; });
    head->add_policy_findings(fmt::format("{} {}: {}{}", policy::SeverityName(f.severity), f.code, f.message,
                                          waived && f.severity == policy::Severity::kError ? " (waived)" : ""));
  }
}

void LockServiceImpl::DroppedColumnsInUse(const policy::Policy& pol, const model::ObjectId& id,
                                          const sql::ObjectInfo& before, const sql::ObjectInfo& after,
                                          std::vector<policy::Finding>* findings) {
  if (pol.For("drop-column-in-use", id.schema).severity == policy::Severity::kOff) return;
  if (id.kind != "table") return;
  const sql::ProposedChange change = sql::DescribeDefinitionChange(before, after);
  if (change.dropped_columns.empty()) return;
  const auto key = sql::DependencyKeyOf(id);
  if (!key) return;
  // The objects whose latest versions use the table, read and analyzed
  // only when the change drops a column.
  for (const auto& user : LockProjection::Dependents(runner_->db(), *key)) {
    if (user == id.ToString()) continue;
    auto state = LockProjection::ReadObject(runner_->db(), user);
    if (!state.ok() || !*state || (*state)->head().dropped()) continue;
    auto used = AnalysisOf(user, (*state)->head().latest_version(), (*state)->head().definition());
    if (!used) continue;
    for (const auto& ref : used->references) {
      if (ref.cls != sql::RefClass::kRelation || ref.schema + "." + ref.name != id.QualifiedName()) continue;
      for (const auto& column : change.dropped_columns)
        if (ref.all_columns || std::find(ref.columns.begin(), ref.columns.end(), column) != ref.columns.end()) {
          const policy::RuleConfig c = pol.For("drop-column-in-use", id.schema);
          findings->push_back({"drop-column-in-use", c.severity, id.ToString(),
                               fmt::format("drops column {}, which {} still uses{}", column, user,
                                           ref.all_columns ? " (through *)" : ""),
                               0, 0});
        }
    }
  }
}

absl::Status LockServiceImpl::CheckTask(const model::ObjectId& id, const std::string& task) {
  const auto [pol, version] = PolicyInForce();
  if (version == 0) return absl::OkStatus();
  const std::string why = policy::CheckTask(*pol, id.schema, task);
  if (why.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(fmt::format("{}: the team's policy (version {}): {}", id.ToString(), version, why));
}

absl::Status LockServiceImpl::CheckPolicy(const model::ObjectId& id, const v1::ObjectHead& head,
                                          std::string_view definition, const sql::ParsedSql& parsed,
                                          const sql::ObjectInfo& info,
                                          google::protobuf::RepeatedPtrField<std::string>* warnings) {
  const auto [pol, version] = PolicyInForce();
  if (version == 0) return absl::OkStatus();  // no policy set: check-ins are not held to one
  auto findings = policy::Lint(*pol, definition, {.one_object = true, .parsed = &parsed, .info = &info});
  if (!findings.ok()) return absl::OkStatus();
  if (head.latest_version() > 0 && !head.dropped())
    if (auto before = AnalysisOf(id.ToString(), head.latest_version(), head.definition())) {
      auto change = policy::CheckChange(*pol, *before, info);
      findings->insert(findings->end(), change.begin(), change.end());
      DroppedColumnsInUse(*pol, id, *before, info, &*findings);
    }
  std::vector<std::string> errors;
  std::vector<v1::Waiver> waivers;
  bool waivers_read = false;
  for (const auto& f : *findings) {
    if (f.object != id.ToString()) continue;
    const std::string text = fmt::format("{} {}: {}", policy::SeverityName(f.severity), f.code, f.message);
    if (f.severity != policy::Severity::kError) {
      warnings->Add(fmt::format("policy: {}", text));
      continue;
    }
    if (!waivers_read) {
      waivers = LockProjection::ReadWaivers(runner_->db(), id.ToString());
      waivers_read = true;
    }
    auto waived = std::find_if(waivers.begin(), waivers.end(), [&](const v1::Waiver& w) { return w.rule() == f.code; });
    if (waived != waivers.end()) {
      warnings->Add(fmt::format("policy: {} (waived by {}: {})", text, waived->user(), waived->reason()));
      continue;
    }
    errors.push_back(text);
  }
  if (errors.empty()) return absl::OkStatus();
  return absl::FailedPreconditionError(fmt::format(
      "{} breaks the team's policy{}:\n  {}\nfix the definition, or a dba waives the rule for this object: strata "
      "policy waive {} RULE -r REASON",
      id.ToString(), version ? fmt::format(" (version {})", version) : std::string(" (the rules' defaults)"),
      fmt::join(errors, "\n  "), id.ToString()));
}

}  // namespace strata::lock
