// DeployServiceImpl (deploy_service_impl.h): promotion gates, plans,
// deployments, rollbacks and abandoning them, CheckDrift, ListDeployments,
// and the deployment metrics.
#include <algorithm>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "schemadiff/rename.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "auth/tokens.h"
#include "deploy/deploy_projection.h"
#include "deploy/deploy_scripts.h"
#include "deploy/deploy_service_impl.h"
#include "events/events.h"
#include "fmt/format.h"
#include "metrics/metrics.h"
#include "model/object_id.h"
#include "pg/pg.h"
#include "schemadiff/apply.h"
#include "schemadiff/definitions.h"
#include "schemadiff/diff.h"
#include "spdlog/spdlog.h"
#include "sql/analyze.h"
#include "sql/risk.h"

namespace strata::deploy {

namespace {

std::string FormatTime(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(ts.seconds()), absl::UTCTimeZone());
}

std::map<std::string, const v1::BaselineEntry*> ByObject(const Entries& entries) {
  std::map<std::string, const v1::BaselineEntry*> m;
  for (const auto& e : entries) m[e.object()] = &e;
  return m;
}

}  // namespace

using detail::kMaxAttempts;

grpc::Status DeployServiceImpl::CheckDrift(grpc::ServerContext* ctx, const v1::CheckDriftRequest* req,
                                           v1::DriftReport* resp) {
  return Handle(ctx, "", "", [&](const auth::Principal& who) -> absl::Status {
    if (absl::Status s = InScope(who, req->environment()); !s.ok()) return s;
    auto env = FreshEnvironment(req->environment());
    if (!env.ok()) return env.status();
    auto expected = LoadState(env->environment().state());
    if (!expected.ok()) {
      if (expected.status().code() != absl::StatusCode::kInvalidArgument) return expected.status();
      // Compare nothing rather than texts: say which version is at fault.
      return absl::FailedPreconditionError(fmt::format(
          "drift of {} not checked: the versions Strata deployed there do not load into a shadow database: {}",
          req->environment(), std::string(expected.status().message())));
    }
    auto live = ReadLive(env->environment());
    if (!live.ok()) return live.status();
    resp->set_environment(req->environment());
    for (auto& line : schemadiff::DescribeDrift(*expected, *live))
      if (DriftLineInScope(who, line)) resp->add_differences(std::move(line));
    // Rows of tracked tables, by key and column.
    auto rows = DataDrift(env->environment(), env->environment().state());
    if (!rows.ok()) return rows.status();
    for (auto& line : *rows)
      if (DriftLineInScope(who, line)) resp->add_differences(std::move(line));
    resp->set_drifted(resp->differences_size() > 0);
    resp->set_objects_checked(static_cast<uint32_t>(env->environment().state_size()));
    return absl::OkStatus();
  });
}

grpc::Status DeployServiceImpl::ListDeployments(grpc::ServerContext* ctx, const v1::ListDeploymentsRequest* req,
                                                v1::ListDeploymentsResponse* resp) {
  return Handle(ctx, "", "", [&](const auth::Principal&) -> absl::Status {
    if (auto env = Environment(req->environment(), /*with_state=*/false); !env.ok()) return env.status();
    auto list = DeployProjection::ReadDeployments(db(), req->environment(), req->limit() ? req->limit() : 50);
    if (!list.ok()) return list.status();
    for (auto& rec : *list) {
      v1::Deployment* d = resp->add_deployments();
      *d = std::move(*rec.mutable_deployment());
      d->clear_script();
      d->clear_rollback_script();
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::string>> DeployServiceImpl::Gates(const internal::EnvironmentState& env,
                                                                  const internal::ReleaseState& rel) {
  std::vector<std::string> blockers;
  const v1::Environment& e = env.environment();
  auto all = DeployProjection::ReadEnvironments(db());
  if (!all.ok()) return all.status();
  const v1::Environment* previous = nullptr;
  for (const auto& other : *all)
    if (other.environment().order() < e.order()) previous = &other.environment();
  if (previous && !DeployProjection::SucceededOn(db(), previous->name(), rel.release().name()))
    blockers.push_back(fmt::format(
        "release {} has not been deployed successfully to {}, the environment before {} in the pipeline; "
        "deploy it there first",
        rel.release().name(), previous->name(), e.name()));
  if (e.protected_()) {
    bool approved = false;
    for (const auto& a : rel.release().approvals()) approved |= a.environment() == e.name();
    if (!approved)
      blockers.push_back(fmt::format("{} is protected: release {} needs the approval of a release-manager "
                                     "(strata approve {} --env {})",
                                     e.name(), rel.release().name(), rel.release().name(), e.name()));
  }
  if (!e.running_deployment().empty()) blockers.push_back(RunningMessage(e));
  return blockers;
}

std::string DeployServiceImpl::RunningMessage(const v1::Environment& e) {
  const v1::Deployment& d = e.last_deployment();
  return fmt::format("deployment {} ({} {}) by {} is running on {} since {}; one deployment at a time",
                     e.running_deployment(), d.kind() == v1::ROLLBACK ? "rollback to" : "release", d.release(),
                     d.user(), e.name(), FormatTime(d.started()));
}

absl::StatusOr<DeployServiceImpl::Prepared> DeployServiceImpl::Prepare(const internal::EnvironmentState& env,
                                                                       const Entries& target, const std::string& title,
                                                                       const v1::Release* release) {
  const absl::Time start = absl::Now();
  Prepared p;
  p.env = env;
  // The versions may have been checked in at another region a moment ago.
  if (absl::Status s = runner_->CatchUp(options_.apply_timeout); !s.ok()) return s;
  auto current_defs = DefinitionsOf(env.environment().state());
  if (!current_defs.ok()) return current_defs.status();
  auto target_defs = DefinitionsOf(target);
  if (!target_defs.ok()) return target_defs.status();
  auto live_future = std::async(std::launch::async, [&] { return ReadLive(env.environment()); });
  auto shadows = schemadiff::LoadDefinitionSets(*current_defs, *target_defs, shadow_);
  auto live = live_future.get();
  if (!shadows.ok()) return shadows.status();
  if (!live.ok()) return live.status();
  const auto& [current, wanted] = *shadows;
  p.drift = schemadiff::DescribeDrift(current, *live);
  // Objects and columns renamed between the deployed and the target
  // versions are renamed, keeping their rows (PostgreSQL renames them in a
  // copy of the current state first; the diff does the rest).
  auto renames = RenamesBetween(db(), env.environment().state(), target);
  if (!renames.ok()) return renames.status();
  auto forward = renames->hints.empty() ? schemadiff::Diff(current, wanted, {.allow_data_loss = true})
                                        : schemadiff::DiffWithRenames(current, wanted, renames->hints, shadow_,
                                                                      {.allow_data_loss = true}, /*reverse=*/false);
  if (!forward.ok()) return forward.status();
  auto backward = renames->hints.empty() ? schemadiff::Diff(wanted, current, {.allow_data_loss = true})
                                         : schemadiff::DiffWithRenames(current, wanted, renames->hints, shadow_,
                                                                       {.allow_data_loss = true}, /*reverse=*/true);
  if (!backward.ok()) return backward.status();
  p.forward = std::move(*forward);
  p.backward = std::move(*backward);

  p.changed = ChangedObjects(env.environment().state(), target);
  Findings(p, ByObject(env.environment().state()), ByObject(target), *renames);
  // Reference data: after the schema steps, in the same transaction.
  auto data = PlanData(env.environment(), env.environment().state(), target);
  if (!data.ok()) return data.status();
  for (auto& d : data->drift) p.drift.push_back(std::move(d));
  for (auto& f : data->findings) p.findings.push_back(std::move(f));
  p.data_changes = std::move(data->changes);
  // The team's policy over the target state, about what changes.
  auto policy = PolicyFindings(*target_defs, p.changed);
  if (!policy.ok()) return policy.status();
  if (absl::Status s = IndexesOnLargeTables(env.environment(), target, p.changed, &*policy); !s.ok()) return s;
  for (auto& f : policy->findings) p.findings.push_back(std::move(f));
  p.policy_errors = std::move(policy->errors);
  p.policy_version = policy->version;
  // A foreign key added to rows that reference rows this plan inserts:
  // after them ("after the schema steps they need, before those that need them").
  schemadiff::Plan forward_before = p.forward;
  const schemadiff::Plan after_data = StepsNeedingData(&forward_before, data->tables);
  Scripts scripts = ComposeScripts(forward_before, p.backward, release, title, data->forward, data->backward,
                                   &after_data);
  p.script = std::move(scripts.script);
  p.rollback_script = std::move(scripts.rollback);
  p.statements = static_cast<int>(p.forward.steps.size()) + data->statements;
  p.seconds = absl::ToDoubleSeconds(absl::Now() - start);
  return p;
}

void DeployServiceImpl::Findings(Prepared& p, const std::map<std::string, const v1::BaselineEntry*>& before,
                                 const std::map<std::string, const v1::BaselineEntry*>& after, const PlannedRenames& renames) {
  auto add = [&](const std::vector<sql::Finding>& findings) {
    for (const auto& f : findings) {
      v1::Finding* out = &p.findings.emplace_back();
      out->set_code(f.code);
      out->set_severity(sql::SeverityName(f.severity));
      out->set_object(f.object);
      out->set_reason(f.reason);
    }
  };
  // A renamed object is neither dropped nor created: it is compared with
  // the version deployed under its old name.
  std::map<std::string, std::string> renamed_from, renamed_to;  // new -> old, old -> new
  for (const auto& [from, to] : renames.objects) {
    renamed_from[to] = from;
    renamed_to[from] = to;
  }
  for (const auto& id_text : p.changed) {
    auto id = model::ParseObjectId(id_text);
    if (!id.ok()) continue;
    if (renamed_to.count(id_text)) continue;
    auto to = after.find(id_text);
    if (to == after.end()) {  // dropped by the release
      if (before.count(id_text)) add(sql::DropChange(*id).findings);
      continue;
    }
    auto proposed = DeployProjection::ReadDefinition(db(), id_text, to->second->version());
    if (!proposed.ok()) continue;
    std::optional<sql::ObjectInfo> old;
    const auto was = renamed_from.find(id_text);
    const std::string old_id = was == renamed_from.end() ? id_text : was->second;
    if (auto from = before.find(old_id); from != before.end()) {
      auto def = DeployProjection::ReadDefinition(db(), old_id, from->second->version());
      if (def.ok())
        if (auto info = sql::AnalyzeDefinition(*def); info.ok()) {
          old = std::move(*info);
          old->id = *id;  // compared as the same object
        }
    }
    if (was != renamed_from.end())
      add({{.code = "rename-object",
            .severity = sql::Severity::kMedium,
            .object = id_text,
            .reason = fmt::format("renamed from {} (ALTER ... RENAME keeps its rows); clients using the old name break",
                                  old_id)}});
    auto change = sql::DescribeChange(*id, old ? &*old : nullptr, *proposed);
    if (change.ok()) add(change->findings);
  }
  // A renamed column (or enum label) is neither dropped nor added.
  std::erase_if(p.findings, [&](const v1::Finding& f) {
    return std::any_of(renames.columns.begin(), renames.columns.end(), [&](const auto& r) {
      const auto& [object, from, to] = r;
      if (f.object() != object) return false;
      if (f.code() == "drop-column") return f.reason().starts_with("drops column " + from + ":");
      if (f.code() == "enum-value-removed") return f.reason().starts_with("enum value '" + from + "' ");
      return f.code().starts_with("add-column") && f.reason().find(to) != std::string::npos;
    });
  });
}

absl::StatusOr<DeployServiceImpl::PlannedRenames> DeployServiceImpl::RenamesBetween(rocksdb::DB* db,
                                                                                   const Entries& deployed_entries,
                                                                                   const Entries& target) {
  PlannedRenames out;
  const auto deployed = ByObject(deployed_entries);
  const auto targeted = ByObject(target);
  for (const auto& e : target) {
    auto id = model::ParseObjectId(e.object());
    if (!id.ok()) continue;
    // Back through the object's names, newest first, to the one the
    // environment holds; the column renames of each stretch on the way.
    std::vector<std::vector<std::pair<std::string, std::string>>> stretches;
    std::string current = e.object(), origin;
    uint64_t at = e.version();
    if (auto was = deployed.find(current); was != deployed.end()) {
      if (was->second->version() >= at) continue;
      auto columns = DeployProjection::ReadColumnRenames(db, current, was->second->version(), at);
      if (!columns.ok()) return columns.status();
      stretches.push_back(std::move(*columns));
      origin = current;
    } else {
      for (int names = 0; names < 32; ++names) {
        auto from = DeployProjection::ReadRenamedFrom(db, current, at);
        if (!from.ok()) return from.status();
        if (!*from) break;
        auto columns = DeployProjection::ReadColumnRenames(db, current, (*from)->version - 1, at);
        if (!columns.ok()) return columns.status();
        stretches.push_back(std::move(*columns));
        current = (*from)->object;
        at = (*from)->object_version;
        auto was = deployed.find(current);
        if (was == deployed.end()) continue;
        // The environment holds the old name: at a version of this object
        // (not of one that took the name later), and the target leaves it.
        if (was->second->version() <= at && !targeted.count(current)) {
          auto before = DeployProjection::ReadColumnRenames(db, current, was->second->version(), at);
          if (!before.ok()) return before.status();
          stretches.push_back(std::move(*before));
          origin = current;
        }
        break;
      }
    }
    if (origin.empty()) continue;
    if (origin != e.object()) {
      auto old = model::ParseObjectId(origin);
      if (!old.ok()) continue;
      const std::string bare = id->name.substr(0, id->name.find('('));
      out.hints.insert(out.hints.begin() + static_cast<long>(out.objects.size()),
                       schemadiff::Rename{id->kind, old->QualifiedName(),
                                          id->kind == "schema" ? id->name : id->schema + "." + bare});
      out.objects.emplace_back(origin, e.object());
    }
    // A table's renamed columns; an enum type's renamed labels.
    if (id->kind != "table" && id->kind != "type") continue;
    std::vector<std::pair<std::string, std::string>> in_order;
    for (auto it = stretches.rbegin(); it != stretches.rend(); ++it) in_order.insert(in_order.end(), it->begin(), it->end());
    for (const auto& [from, to] : DeployProjection::ComposeColumnRenames(in_order)) {
      out.hints.push_back({id->kind == "table" ? "column" : "value", fmt::format("{}.{}", id->QualifiedName(), from), to});
      out.columns.emplace_back(e.object(), from, to);
    }
  }
  // A renamed schema moves its objects: ALTER SCHEMA first, no statement for
  // what only moved with it.
  out.hints = schemadiff::InSchemaOrder(out.hints);
  return out;
}

absl::Status DeployServiceImpl::DoPlan(const auth::Principal& who, const v1::PlanRequest& req,
                                       v1::DeploymentPlan* resp) {
  if (absl::Status s = InScope(who, req.environment()); !s.ok()) return s;
  auto env = FreshEnvironment(req.environment());
  if (!env.ok()) return env.status();
  auto rel = Release(req.release());
  if (!rel.ok()) return rel.status();
  auto blockers = Gates(*env, *rel);
  if (!blockers.ok()) return blockers.status();
  auto p = Prepare(*env, rel->release().entries(), DeploymentTitle(rel->release().name(), env->environment()),
                   &rel->release());
  if (!p.ok()) return p.status();
  if (absl::Status s = ChangesInScope(who, p->changed, "plan"); !s.ok()) return s;
  FillPlan(*p, rel->release().name(), resp);
  *resp->mutable_tasks() = rel->release().tasks();
  for (auto& b : *blockers) resp->add_blockers(std::move(b));
  if (!p->drift.empty())
    resp->add_blockers(fmt::format("{} has drifted from what Strata deployed there ({} objects); a dba can "
                                   "deploy anyway with --override-drift REASON",
                                   req.environment(), p->drift.size()));
  if (!p->policy_errors.empty())
    resp->add_blockers(fmt::format("its changes break the team's policy (version {}): {}", p->policy_version,
                                   fmt::join(p->policy_errors, "; ")));
  return absl::OkStatus();
}

void DeployServiceImpl::FillPlan(const Prepared& p, const std::string& release, v1::DeploymentPlan* resp) {
  resp->set_release(release);
  resp->set_environment(p.env.environment().name());
  resp->set_from_release(p.env.environment().current_release());
  resp->set_script(p.script);
  resp->set_script_sha256(auth::Sha256Hex(p.script));
  resp->set_rollback_script(p.rollback_script);
  resp->set_summary(schemadiff::Summary(p.forward));
  for (const auto& c : p.changed) resp->add_changed_objects(c);
  for (const auto& f : p.findings) *resp->add_findings() = f;
  for (const auto& d : p.forward.data_loss) resp->add_data_loss(d);
  for (const auto& d : p.drift) resp->add_drift(d);
  for (const auto& d : p.data_changes) resp->add_data_changes(d);
  resp->set_statements(static_cast<uint32_t>(p.statements));
  resp->set_plan_seconds(p.seconds);
}

absl::Status DeployServiceImpl::DriftRefusal(const std::string& env, const std::vector<std::string>& drift) {
  return absl::FailedPreconditionError(fmt::format(
      "{} has drifted from what Strata deployed there; nothing was run:\n  {}\nUndo the out-of-band change, or "
      "a dba can deploy anyway with --override-drift REASON (recorded)",
      env, fmt::join(drift, "\n  ")));
}

absl::Status DeployServiceImpl::CheckOverride(const auth::Principal& who, const std::string& reason) {
  if (reason.empty()) return absl::OkStatus();
  return NeedRole(who, {"dba", "admin"}, "overriding a drift check");
}

absl::Status DeployServiceImpl::DoDeploy(const auth::Principal& who, const v1::DeployRequest& req,
                                         v1::Deployment* resp) {
  auto env = FreshEnvironment(req.environment());
  if (!env.ok()) return env.status();
  if (absl::Status s = MayDeploy(who, env->environment()); !s.ok()) return s;
  if (absl::Status s = CheckOverride(who, req.override_drift_reason()); !s.ok()) return s;
  auto rel = Release(req.release());
  if (!rel.ok()) return rel.status();
  if (env->environment().current_release() == req.release())
    return absl::FailedPreconditionError(fmt::format(
        "release {} is already deployed on {} (see `strata deployments --env {}`); deploying it again would run its "
        "data scripts twice",
        req.release(), req.environment(), req.environment()));
  auto blockers = Gates(*env, *rel);
  if (!blockers.ok()) return blockers.status();
  if (!blockers->empty())
    return absl::FailedPreconditionError(fmt::format("release {} cannot go to {}: {}", req.release(),
                                                     req.environment(), fmt::join(*blockers, "; ")));
  auto p = Prepare(*env, rel->release().entries(), DeploymentTitle(req.release(), env->environment()), &rel->release());
  if (!p.ok()) return p.status();
  if (absl::Status s = ChangesInScope(who, p->changed); !s.ok()) return s;
  if (!p->drift.empty() && req.override_drift_reason().empty()) return DriftRefusal(req.environment(), p->drift);
  if (!p->policy_errors.empty())
    return absl::FailedPreconditionError(fmt::format(
        "release {} breaks the team's policy (version {}); nothing was run:\n  {}\na dba waives a rule for an "
        "object: strata policy waive OBJ RULE -r REASON",
        req.release(), p->policy_version, fmt::join(p->policy_errors, "\n  ")));
  if (!p->forward.data_loss.empty() && !req.allow_data_loss())
    return absl::FailedPreconditionError(fmt::format(
        "the plan loses data; deploy with --allow-data-loss if that is intended:\n  {}",
        fmt::join(p->forward.data_loss, "\n  ")));
  return Run(who, *p, v1::DEPLOY, req.release(), "", rel->release().entries(), req.override_drift_reason(),
             req.allow_data_loss(), resp);
}

absl::Status DeployServiceImpl::DoRollback(const auth::Principal& who, const v1::RollbackRequest& req,
                                           v1::Deployment* resp) {
  auto env = FreshEnvironment(req.environment());
  if (!env.ok()) return env.status();
  if (absl::Status s = MayDeploy(who, env->environment()); !s.ok()) return s;
  if (absl::Status s = CheckOverride(who, req.override_drift_reason()); !s.ok()) return s;
  if (!env->environment().running_deployment().empty())
    return absl::FailedPreconditionError(RunningMessage(env->environment()));
  // The last deployment that is still in effect (listed without its
  // states and scripts, then read whole).
  auto history = DeployProjection::ReadDeployments(db(), req.environment());
  if (!history.ok()) return history.status();
  std::optional<internal::DeploymentRecord> found;
  for (const auto& rec : *history)
    if (rec.deployment().kind() == v1::DEPLOY && rec.deployment().status() == "succeeded") {
      auto full = DeployProjection::ReadDeployment(db(), rec.deployment().id());
      if (!full.ok()) return full.status();
      found = std::move(*full);
      break;
    }
  const internal::DeploymentRecord* target = found ? &*found : nullptr;
  if (!target)
    return absl::FailedPreconditionError(
        fmt::format("{} has no deployment to roll back (none succeeded, or all were rolled back)", req.environment()));
  if (absl::Status s = ChangesInScope(who, ChangedObjects(target->before(), target->after())); !s.ok()) return s;
  // Its stored script undoes exactly its own change: only from the state it left.
  if (!SameEntries(target->after(), env->environment().state()))
    return absl::FailedPreconditionError(fmt::format(
        "{} no longer holds what deployment {} left there (it was imported or changed since); its rollback script "
        "does not apply; deploy the release you want instead",
        req.environment(), target->deployment().id()));
  // Drift is checked against the state now; the stored script is what runs.
  auto expected = LoadState(env->environment().state());
  if (!expected.ok()) return expected.status();
  auto live = ReadLive(env->environment());
  if (!live.ok()) return live.status();
  Prepared p;
  p.env = *env;
  p.drift = schemadiff::DescribeDrift(*expected, *live);
  auto rows = DataDrift(env->environment(), env->environment().state());
  if (!rows.ok()) return rows.status();
  for (auto& line : *rows) p.drift.push_back(std::move(line));
  if (!p.drift.empty() && req.override_drift_reason().empty()) return DriftRefusal(req.environment(), p.drift);
  p.script = target->deployment().rollback_script();
  p.rollback_script = target->deployment().script();
  return Run(who, p, v1::ROLLBACK, target->release_before(), target->deployment().id(), target->before(),
             req.override_drift_reason(), true, resp);
}

absl::Status DeployServiceImpl::Run(const auth::Principal& who, const Prepared& p, v1::DeploymentKind kind,
                                    const std::string& release, const std::string& rolls_back, const Entries& target,
                                    const std::string& drift_override, bool data_loss_allowed, v1::Deployment* resp) {
  const v1::Environment& env = p.env.environment();
  auto session = Connect(env);
  if (!session.ok()) return session.status();
  auto pid = (*session)->Query("SELECT pg_backend_pid()");
  if (!pid.ok()) return pid.status();
  // Fencing: held on this session until the end is recorded (the session
  // closes when Run returns); see deploy_recovery.cc.
  if (absl::Status s = LockEnvironmentDatabase(**session, env.name()); !s.ok()) return s;
  const std::string id = events::NewEventId();
  v1::Event started = NewEvent(who, "env:" + env.name(), p.env.last_seq() + 1);
  auto* st = started.mutable_deployment_started();
  st->set_deployment_id(id);
  st->set_kind(kind);
  st->set_release(release);
  st->set_script(p.script);
  st->set_script_sha256(auth::Sha256Hex(p.script));
  st->set_rollback_script(p.rollback_script);
  st->set_rolls_back(rolls_back);
  st->set_drift_override(drift_override);
  for (const auto& d : p.drift) st->add_drift(d);
  st->set_data_loss_allowed(data_loss_allowed);
  *st->mutable_target() = target;
  st->set_backend_pid(static_cast<int32_t>(pid->number(0, 0)));
  auto claimed = Submit(started);
  if (!claimed.ok()) {
    // Written but not seen in time: if the claim was accepted, nothing would
    // ever end it. Ending it is accepted only if it is the running one.
    if (claimed.status().code() == absl::StatusCode::kDeadlineExceeded) (void)Finish(who, started, false, 0, "not run: " + std::string(claimed.status().message()));
    return claimed.status();
  }
  if (!claimed->accepted()) {
    auto now = FreshEnvironment(env.name(), /*with_state=*/false);
    if (now.ok() && !now->environment().running_deployment().empty())
      return absl::FailedPreconditionError(RunningMessage(now->environment()));
    return absl::AbortedError(fmt::format(
        "{} changed while this deployment was being planned ({}); plan and deploy again", env.name(),
        claimed->reason));
  }

  const absl::Time start = absl::Now();
  const std::string script_name =
      kind == v1::ROLLBACK ? fmt::format("rollback-{}.sql", env.name()) : fmt::format("{}-{}.sql", release, env.name());
  FaultPoint("after-claim");
  schemadiff::ApplyOptions record{.epilogue = DeploymentRecordSql(id, env.name(), release, kind),
                                  .before_commit = [] { FaultPoint("in-transaction"); }};
  absl::StatusOr<schemadiff::ApplyResult> applied = schemadiff::ApplyScript(**session, p.script, script_name, record);
  if (applied.ok()) FaultPoint("after-commit");
  const int64_t ms = absl::ToInt64Milliseconds(absl::Now() - start);
  // A lost connection may have been lost before or after COMMIT.
  const bool unknown = !applied.ok() && applied.status().code() == absl::StatusCode::kUnavailable;
  std::string error;
  if (!applied.ok())
    error = unknown ? fmt::format("the connection was lost, outcome unknown (run `strata drift --env {}`): {}",
                                  env.name(), std::string(applied.status().message()))
                    : std::string(applied.status().message());
  auto recorded = Finish(who, started, applied.ok(), ms, error);
  if (recorded.ok() && recorded->accepted()) {
    CountDeployment(env.name(), kind, applied.ok() ? "succeeded" : unknown ? "unknown" : "failed");
    metrics::Registry::Default()
        .GetHistogram("strata_deployment_duration_seconds", "time a deployment's script ran, in seconds",
                      {{"environment", env.name()}}, DeploymentBuckets())
        .Observe(ms / 1000.0);
  }
  if (!recorded.ok())
    return absl::UnavailableError(fmt::format(
        "deployment {} {} on {}, but its end could not be recorded in the event log: {}", id,
        applied.ok() ? "succeeded" : "failed", env.name(), std::string(recorded.status().message())));
  if (!recorded->accepted())
    return absl::AbortedError(fmt::format(
        "deployment {} {} on {}, but meanwhile its claim was ended by someone else ({}); its outcome is not "
        "recorded: run `strata drift --env {}` to see what the environment holds",
        id, applied.ok() ? "succeeded" : "failed", env.name(), recorded->reason, env.name()));
  auto rec = DeployProjection::ReadDeployment(db(), id);
  if (!rec.ok()) return rec.status();
  if (*rec) *resp = (*rec)->deployment();
  resp->set_statements(applied.ok() ? static_cast<uint32_t>(applied->statements) : 0);
  if (unknown) return absl::UnavailableError(fmt::format("deployment {} to {}: {}", id, env.name(), error));
  if (!applied.ok())
    return absl::FailedPreconditionError(fmt::format("deployment {} to {} failed and was rolled back; {} is "
                                                     "unchanged:\n{}",
                                                     id, env.name(), env.name(), error));
  return absl::OkStatus();
}

absl::StatusOr<decide::Decision> DeployServiceImpl::Finish(const auth::Principal& who, const v1::Event& started,
                                                           bool succeeded, int64_t ms, const std::string& error) {
  v1::Event finished = NewEvent(who, started.aggregate(), started.seq() + 1);
  auto* fin = finished.mutable_deployment_finished();
  fin->set_deployment_id(started.deployment_started().deployment_id());
  fin->set_succeeded(succeeded);
  fin->set_duration_ms(ms);
  fin->set_error(error);
  absl::StatusOr<decide::Decision> recorded = absl::UnknownError("");
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    recorded = Submit(finished);
    if (recorded.ok()) break;
    spdlog::warn("recording the end of deployment {} failed (attempt {}): {}", fin->deployment_id(), attempt + 1,
                 recorded.status().ToString());
    absl::SleepFor(absl::Milliseconds(250 << std::min(attempt, 4)));
  }
  return recorded;
}

const std::vector<double>& DeployServiceImpl::DeploymentBuckets() {
  static const std::vector<double> kBuckets = {0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200};
  return kBuckets;
}

void DeployServiceImpl::CountDeployment(const std::string& environment, v1::DeploymentKind kind, const char* outcome) {
  metrics::Registry::Default()
      .GetCounter("strata_deployments_total", "deployments run by this server, by environment, kind and outcome",
                  {{"environment", environment},
                   {"kind", kind == v1::ROLLBACK ? "rollback" : "deploy"},
                   {"outcome", outcome}})
      .Increment();
}

absl::Status DeployServiceImpl::DoAbandon(const auth::Principal& who, const v1::AbandonRequest& req,
                                          v1::Deployment* resp) {
  if (absl::Status s = NeedRole(who, {"dba", "admin"}, "abandoning a deployment"); !s.ok()) return s;
  if (absl::Status s = InScope(who, req.environment()); !s.ok()) return s;
  if (req.reason().empty())
    return absl::InvalidArgumentError("abandoning a deployment needs a reason; it is recorded in the audit trail");
  auto env = FreshEnvironment(req.environment(), /*with_state=*/false);
  if (!env.ok()) return env.status();
  const std::string running = env->environment().running_deployment();
  if (running.empty())
    return absl::FailedPreconditionError(fmt::format("no deployment is running on {}", req.environment()));
  // A deployment whose transaction is still open in PostgreSQL is alive.
  auto started = DeployProjection::ReadDeployment(db(), running, /*with_detail=*/false);
  if (!started.ok()) return started.status();
  // A database that cannot be reached cannot say; the dba decides (and its
  // outcome is known once `strata drift` can read the database again).
  std::string unreachable;
  const int32_t pid = *started ? (*started)->backend_pid() : 0;
  auto session = pid > 0 ? Connect(env->environment()) : absl::StatusOr<std::unique_ptr<pg::Session>>(nullptr);
  if (!session.ok()) unreachable = std::string(session.status().message());
  if (session.ok() && *session) {
    auto alive = (*session)->Query(
        "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int AND datname = current_database()",
        {std::to_string(pid)});
    if (!alive.ok()) return alive.status();
    if (alive->number(0, 0) > 0)
      return absl::FailedPreconditionError(fmt::format(
          "deployment {} is still running in PostgreSQL (backend {}); wait for it, or stop it with "
          "SELECT pg_cancel_backend({}) and it will record its failure itself",
          running, pid, pid));
    // Its session is gone: the database says whether it committed, and that
    // is what is recorded (not the dba's guess).
    auto resolved = ResolveDeployment(req.environment(), running);
    if (!resolved.ok()) return resolved.status();
    if (!*resolved)
      return absl::FailedPreconditionError(fmt::format(
          "deployment {} is still running on {} (a session holds Strata's lock in its database); wait for it",
          running, req.environment()));
    auto rec = DeployProjection::ReadDeployment(db(), running, /*with_detail=*/false);
    if (!rec.ok()) return rec.status();
    if (*rec) *resp = (*rec)->deployment();
    return absl::OkStatus();
  }
  v1::Event e = NewEvent(who, "env:" + req.environment(), env->last_seq() + 1);
  auto* fin = e.mutable_deployment_finished();
  fin->set_deployment_id(running);
  fin->set_succeeded(false);
  fin->set_error(unreachable.empty()
                     ? fmt::format("abandoned by {}: {}", who.user, req.reason())
                     : fmt::format("abandoned by {}: {} (the database could not be reached, so whether its "
                                   "transaction committed is unknown: run `strata drift --env {}` once it can be: {})",
                                   who.user, req.reason(), req.environment(), unreachable));
  auto d = Submit(e);
  if (!d.ok()) return d.status();
  if (!d->accepted())
    return absl::AbortedError(fmt::format("{} changed meanwhile ({}); look again", req.environment(), d->reason));
  CountDeployment(req.environment(), *started ? (*started)->deployment().kind() : v1::DEPLOY, "abandoned");
  auto rec = DeployProjection::ReadDeployment(db(), running, /*with_detail=*/false);
  if (!rec.ok()) return rec.status();
  if (*rec) *resp = (*rec)->deployment();
  return absl::OkStatus();
}

}  // namespace strata::deploy
