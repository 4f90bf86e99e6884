// DeployServiceImpl (deploy_service_impl.h): its RPCs, Handle, roles and
// schema scopes, submitting events, reading environments and releases; and
// DeployModule.
#include "deploy/deploy_service.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "deploy/deploy_projection.h"
#include "deploy/deploy_service_impl.h"
#include "deploy/guard.h"
#include "events/events.h"
#include "fmt/format.h"
#include "hosting/hosting.h"

namespace strata::deploy {

DeployServiceImpl::DeployServiceImpl(const DeployModuleOptions& options, eventlog::EventLog* log,
                                     projection::ProjectionRunner* runner, DecisionBoard* board,
                                     std::shared_ptr<auth::TokenStore> tokens, std::shared_ptr<const Secrets> secrets)
    : options_(options), log_(log), runner_(runner), board_(board), tokens_(std::move(tokens)),
      secrets_(std::move(secrets)),
      catalogs_(8, options.data_dir.empty() ? "" : options.data_dir + "/catalogs", 64) {
  shadow_.server = options_.shadow_url;
  if (shadow_.server.empty()) shadow_.server = secrets_->shadow_url();
  if (const char* s = std::getenv("STRATA_SHADOW_URL"); shadow_.server.empty() && s) shadow_.server = s;
  shadow_.cache = &catalogs_;
}

grpc::Status DeployServiceImpl::AddEnvironment(grpc::ServerContext* ctx, const v1::AddEnvironmentRequest* req,
                                               v1::Environment* resp) {
  return Handle(ctx, "env_add", "env:" + req->name(), [&](const auth::Principal& who) {
    return DoAddEnvironment(who, *req, resp);
  });
}

grpc::Status DeployServiceImpl::ListEnvironments(grpc::ServerContext* ctx, const v1::ListEnvironmentsRequest*,
                                                 v1::ListEnvironmentsResponse* resp) {
  return Handle(ctx, "", "", [&](const auth::Principal&) -> absl::Status {
    auto envs = DeployProjection::ReadEnvironments(db());
    if (!envs.ok()) return envs.status();
    for (auto& e : *envs) {
      v1::Environment* out = resp->add_environments();
      *out = std::move(*e.mutable_environment());
      out->clear_state();
    }
    return absl::OkStatus();
  });
}

grpc::Status DeployServiceImpl::GetEnvironment(grpc::ServerContext* ctx, const v1::GetEnvironmentRequest* req,
                                               v1::Environment* resp) {
  return Handle(ctx, "", "", [&](const auth::Principal& who) -> absl::Status {
    auto env = Environment(req->name());
    if (!env.ok()) return env.status();
    *resp = env->environment();
    if (!req->object().empty()) {
      auto* state = resp->mutable_state();
      state->erase(std::remove_if(state->begin(), state->end(),
                                  [&](const v1::BaselineEntry& e) { return e.object() != req->object(); }),
                   state->end());
    }
    HideOutOfScope(who, resp);
    return absl::OkStatus();
  });
}

grpc::Status DeployServiceImpl::Import(grpc::ServerContext* ctx, const v1::ImportRequest* req,
                                       v1::ImportResponse* resp) {
  return Handle(ctx, "import", "env:" + req->environment(), [&](const auth::Principal& who) {
    return DoImport(who, *req, resp);
  });
}

grpc::Status DeployServiceImpl::CreateRelease(grpc::ServerContext* ctx, const v1::CreateReleaseRequest* req,
                                              v1::Release* resp) {
  return Handle(ctx, "release_create", "release:" + req->name(), [&](const auth::Principal& who) {
    return DoCreateRelease(who, *req, resp);
  });
}

grpc::Status DeployServiceImpl::GetRelease(grpc::ServerContext* ctx, const v1::GetReleaseRequest* req,
                                           v1::Release* resp) {
  return Handle(ctx, "", "", [&](const auth::Principal& who) -> absl::Status {
    auto r = Release(req->name());
    if (!r.ok()) return r.status();
    *resp = r->release();
    HideOutOfScope(who, resp);
    return absl::OkStatus();
  });
}

grpc::Status DeployServiceImpl::ListReleases(grpc::ServerContext* ctx, const v1::ListReleasesRequest*,
                                             v1::ListReleasesResponse* resp) {
  return Handle(ctx, "", "", [&](const auth::Principal& who) -> absl::Status {
    auto all = DeployProjection::ReadReleases(db());
    if (!all.ok()) return all.status();
    for (auto& r : *all) {
      v1::Release* out = resp->add_releases();
      *out = std::move(*r.mutable_release());
      HideOutOfScope(who, out);
      out->clear_entries();
      for (auto& d : *out->mutable_data_scripts()) {
        d.clear_sql();
        d.clear_rollback_sql();
      }
    }
    return absl::OkStatus();
  });
}

grpc::Status DeployServiceImpl::Approve(grpc::ServerContext* ctx, const v1::ApproveRequest* req, v1::Release* resp) {
  return Handle(ctx, "approve", "release:" + req->release(), [&](const auth::Principal& who) {
    return DoApprove(who, *req, resp);
  });
}

grpc::Status DeployServiceImpl::Plan(grpc::ServerContext* ctx, const v1::PlanRequest* req, v1::DeploymentPlan* resp) {
  return Handle(ctx, "", "", [&](const auth::Principal& who) { return DoPlan(who, *req, resp); });
}

grpc::Status DeployServiceImpl::Deploy(grpc::ServerContext* ctx, const v1::DeployRequest* req, v1::Deployment* resp) {
  return Handle(ctx, "deploy", "env:" + req->environment(), [&](const auth::Principal& who) {
    return DoDeploy(who, *req, resp);
  });
}

grpc::Status DeployServiceImpl::Rollback(grpc::ServerContext* ctx, const v1::RollbackRequest* req,
                                         v1::Deployment* resp) {
  return Handle(ctx, "rollback", "env:" + req->environment(), [&](const auth::Principal& who) {
    return DoRollback(who, *req, resp);
  });
}

grpc::Status DeployServiceImpl::Abandon(grpc::ServerContext* ctx, const v1::AbandonRequest* req, v1::Deployment* resp) {
  return Handle(ctx, "abandon", "env:" + req->environment(), [&](const auth::Principal& who) {
    return DoAbandon(who, *req, resp);
  });
}

grpc::Status DeployServiceImpl::Pipeline(grpc::ServerContext* ctx, const v1::PipelineRequest*,
                                         v1::PipelineResponse* resp) {
  return Handle(ctx, "", "", [&](const auth::Principal&) { return DoPipeline(resp); });
}

grpc::Status DeployServiceImpl::GuardInstall(grpc::ServerContext* ctx, const v1::GuardRequest* req,
                                             v1::GuardReport* resp) {
  return Handle(ctx, "guard_install", "env:" + req->environment(), [&](const auth::Principal& who) {
    return DoGuard(who, *req, /*install=*/true, /*uninstall=*/false, resp);
  });
}

grpc::Status DeployServiceImpl::GuardUninstall(grpc::ServerContext* ctx, const v1::GuardRequest* req,
                                               v1::GuardReport* resp) {
  return Handle(ctx, "guard_uninstall", "env:" + req->environment(), [&](const auth::Principal& who) {
    return DoGuard(who, *req, /*install=*/false, /*uninstall=*/true, resp);
  });
}

grpc::Status DeployServiceImpl::GuardStatus(grpc::ServerContext* ctx, const v1::GuardRequest* req,
                                            v1::GuardReport* resp) {
  return Handle(ctx, "", "", [&](const auth::Principal& who) {
    return DoGuard(who, *req, /*install=*/false, /*uninstall=*/false, resp);
  });
}

void DeployServiceImpl::RecordRefusal(const auth::Principal& who, const char* command, const std::string& aggregate,
                                      const absl::Status& status) {
  events::AppendRefusal(*log_, NewEvent(who, aggregate, 0), command, status);
}

absl::Status DeployServiceImpl::NeedRole(const auth::Principal& who, std::initializer_list<std::string_view> roles,
                                         const std::string& what) {
  if (who.HasAnyRole(roles)) return absl::OkStatus();
  std::vector<std::string> names(roles.begin(), roles.end());
  return absl::PermissionDeniedError(fmt::format("{} needs role {}; {} has {}", what, fmt::join(names, " or "),
                                                 who.user, fmt::join(who.roles, ", ")));
}

absl::Status DeployServiceImpl::ChangesInScope(const auth::Principal& who, const std::vector<std::string>& changed,
                                               std::string_view audit_command) {
  const hosting::RefusalAudit audit = {audit_command.empty() ? nullptr : log_, options_.site, audit_command};
  for (const std::string& object : changed)
    if (absl::Status s = hosting::RequireObjectInScope(who, object, audit); !s.ok()) return s;
  return absl::OkStatus();
}

void DeployServiceImpl::HideOutOfScope(const auth::Principal& who, v1::Release* r) {
  if (who.schemas.empty()) return;
  hosting::KeepInScope(who, r->mutable_entries(),
                       [](const v1::BaselineEntry& e) -> const std::string& { return e.object(); });
  if (hosting::KeepInScope(who, r->mutable_changed(), [](const std::string& c) -> const std::string& { return c; }))
    for (auto& d : *r->mutable_data_scripts()) {
      d.clear_sql();
      d.clear_rollback_sql();
    }
}

bool DeployServiceImpl::DriftLineInScope(const auth::Principal& who, const std::string& line) {
  if (who.schemas.empty()) return true;
  std::string head = line.substr(0, line.find(':'));
  head = head.substr(head.rfind(' ') + 1);
  head = head.substr(0, head.find('('));  // functions: their name without arguments
  return who.InSchemaScope(head);
}

void DeployServiceImpl::HideOutOfScope(const auth::Principal& who, v1::Environment* env) {
  if (who.schemas.empty()) return;
  hosting::KeepInScope(who, env->mutable_state(),
                       [](const v1::BaselineEntry& e) -> const std::string& { return e.object(); });
}

absl::Status DeployServiceImpl::InScope(const auth::Principal& who, const std::string& env) {
  if (who.InEnvironmentScope(env)) return absl::OkStatus();
  return absl::PermissionDeniedError(fmt::format("{} may not work on environment {} (allowed: {})", who.user, env,
                                                 fmt::join(who.environments, ", ")));
}

absl::Status DeployServiceImpl::MayDeploy(const auth::Principal& who, const v1::Environment& env) {
  if (absl::Status s = InScope(who, env.name()); !s.ok()) return s;
  std::vector<std::string> rule(env.deployers().begin(), env.deployers().end());
  if (rule.empty()) {
    rule = env.protected_() ? std::vector<std::string>{"role:release-manager", "role:dba", "role:admin"}
                            : std::vector<std::string>{"role:developer", "role:dba", "role:release-manager",
                                                       "role:admin"};
  }
  for (const auto& r : rule) {
    if (r == who.user) return absl::OkStatus();
    if (r.rfind("role:", 0) == 0 && who.HasRole(r.substr(5))) return absl::OkStatus();
  }
  return absl::PermissionDeniedError(fmt::format("deploying to {} is for {}; {} ({}) is not one of them",
                                                 env.name(), fmt::join(rule, ", "), who.user,
                                                 fmt::join(who.roles, ", ")));
}

v1::Event DeployServiceImpl::NewEvent(const auth::Principal& who, const std::string& aggregate, uint64_t seq) {
  return events::NewEvent(who.user, who.site, options_.site, aggregate, seq);
}

absl::StatusOr<std::vector<decide::Decision>> DeployServiceImpl::SubmitAll(const std::vector<v1::Event>& events) {
  std::vector<eventlog::Position> positions;
  for (const auto& e : events) board_->Expect(e.event_id());
  auto forget = [&] {
    for (const auto& e : events) board_->Forget(e.event_id());
  };
  for (const auto& e : events) {
    eventlog::Record written;
    auto pos = events::Append(*log_, e, &written);
    if (!pos.ok()) {
      forget();
      return absl::UnavailableError(
          fmt::format("could not write to the event log: {}", std::string(pos.status().message())));
    }
    runner_->Appended(std::move(written));
    positions.push_back(*pos);
  }
  for (const auto& p : positions) {
    if (absl::Status s = runner_->WaitForApplied(p, options_.apply_timeout); !s.ok()) {
      forget();
      return absl::DeadlineExceededError(fmt::format(
          "written to the log but not seen in time ({}); check the state before retrying", std::string(s.message())));
    }
  }
  std::vector<decide::Decision> out;
  for (const auto& e : events) {
    auto d = board_->Take(e.event_id());
    if (!d) return absl::InternalError("the decision of an applied event is missing");
    out.push_back(*d);
  }
  return out;
}

absl::StatusOr<decide::Decision> DeployServiceImpl::Submit(const v1::Event& e) {
  auto all = SubmitAll({e});
  if (!all.ok()) return all.status();
  return all->front();
}

absl::Status DeployServiceImpl::CatchUpWith(const std::string& aggregate) {
  return runner_->CatchUpPartition(log_->PartitionFor(aggregate), options_.apply_timeout);
}

absl::StatusOr<internal::EnvironmentState> DeployServiceImpl::Environment(const std::string& name, bool with_state) {
  auto env = DeployProjection::ReadEnvironment(db(), name, with_state);
  if (!env.ok()) return env.status();
  if (!*env) {
    auto all = DeployProjection::ReadEnvironments(db());
    std::vector<std::string> names;
    if (all.ok())
      for (const auto& e : *all) names.push_back(e.environment().name());
    return absl::NotFoundError(fmt::format("no environment {}{}", name,
                                           names.empty() ? std::string("; add one with `strata env add`")
                                                         : fmt::format(" (known: {})", fmt::join(names, ", "))));
  }
  return std::move(**env);
}

absl::StatusOr<internal::EnvironmentState> DeployServiceImpl::FreshEnvironment(const std::string& name,
                                                                               bool with_state) {
  if (absl::Status s = CatchUpWith("env:" + name); !s.ok()) return s;
  return Environment(name, with_state);
}

absl::StatusOr<internal::ReleaseState> DeployServiceImpl::Release(const std::string& name, bool with_entries) {
  if (absl::Status s = CatchUpWith("release:" + name); !s.ok()) return s;
  auto r = DeployProjection::ReadRelease(db(), name, with_entries);
  if (!r.ok()) return r.status();
  if (!*r) return absl::NotFoundError(fmt::format("no release {}; see `strata release list`", name));
  return std::move(**r);
}

absl::StatusOr<std::unique_ptr<DeployModule>> DeployModule::Open(DeployModuleOptions options, eventlog::EventLog* log,
                                                                 std::shared_ptr<auth::TokenStore> tokens) {
  std::unique_ptr<DeployModule> m(new DeployModule());
  m->options_ = std::move(options);
  auto secrets = Secrets::Load(m->options_.secrets_file);
  if (!secrets.ok()) return secrets.status();
  m->secrets_ = std::move(*secrets);
  m->projection_ = std::make_unique<DeployProjection>(&m->board_);
  (void)DeployProjection::ObjectScans();  // the metric exists (at 0) from the start
  auto runner = projection::ProjectionRunner::Open({.db_path = m->options_.data_dir + "/deploy",
                                                    .rebuild = m->options_.rebuild,
                                                    .format_version = DeployProjection::kFormatVersion,
                                                    // Deploy commands wait for their own events; check-outs
                                                    // and check-ins of objects gather for a few milliseconds.
                                                    .idle_batching = absl::Milliseconds(5),
                                                    .read_wait = absl::Milliseconds(10),
                                                    .shared_memory = m->options_.shared_memory},
                                                   log, m->projection_.get());
  if (!runner.ok()) return runner.status();
  m->runner_ = std::move(*runner);
  m->service_ = std::make_unique<DeployServiceImpl>(m->options_, log, m->runner_.get(), &m->board_,
                                                    std::move(tokens), m->secrets_);
  return m;
}

DeployModule::~DeployModule() { Stop(); }

absl::Status DeployModule::StartReplay() {
  if (guard_sync_) return absl::OkStatus();
  // Guarded environments follow the log: woken by every commit of the
  // projection, from the end of the catch-up on.
  DeployProjection* projection = projection_.get();
  guard_sync_ = std::make_unique<GuardSync>(GuardSync::Feed{
      .environments = [this] { return service_->GuardTargets(); },
      .environments_generation = [projection] { return projection->environments_generation(); },
      .expected = [this] { return service_->ExpectedGuardState(); },
      .expected_slice = [this](const std::string& after, size_t limit,
                               bool* done) { return service_->ExpectedGuardSlice(after, limit, done); },
      .rows_of = [this](const std::vector<std::string>& ids) { return service_->GuardRowsOf(ids); },
      .track = [projection](bool on) { projection->TrackObjectChanges(on); },
      .take_changes = [projection] { return projection->TakeObjectChanges(); },
      .caught_up = [this] { return runner_->CatchUp(absl::Seconds(2)); }});
  // Only commits that change what the sync follows wake it.
  projection_->OnGuardChange([sync = guard_sync_.get()] { sync->Wake(); });
  service_->wake_guard_sync_ = [sync = guard_sync_.get()] { sync->Wake(); };
  return runner_->Start();
}

absl::Status DeployModule::Start(absl::Duration catch_up_timeout) {
  if (absl::Status s = StartReplay(); !s.ok()) return s;
  if (absl::Status s = runner_->CatchUp(catch_up_timeout); !s.ok()) return s;
  guard_sync_->Start();
  recovery_ = std::thread([this] { RecoveryLoop(); });
  return absl::OkStatus();
}

void DeployModule::RecoveryLoop() {
  while (true) {
    service_->ResolveInterrupted();
    absl::MutexLock lock(&recovery_mu_);
    recovery_mu_.AwaitWithTimeout(absl::Condition(&stopping_), options_.recover_interval);
    if (stopping_) return;
  }
}

void DeployModule::Stop() {
  if (recovery_.joinable()) {
    {
      absl::MutexLock lock(&recovery_mu_);
      stopping_ = true;
    }
    recovery_.join();
  }
  if (guard_sync_) guard_sync_->Stop();
  if (runner_) runner_->Stop();
}

grpc::Service* DeployModule::service() { return service_.get(); }

}  // namespace strata::deploy
