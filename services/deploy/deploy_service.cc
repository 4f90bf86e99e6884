#include "deploy/deploy_service.h"

#include "deploy/guard.h"

#include "deploy/deploy_scripts.h"

#include <algorithm>
#include <cstdlib>
#include <future>
#include <map>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "events/events.h"
#include "fmt/format.h"
#include "hosting/hosting.h"
#include "model/object_id.h"
#include "pg/pg.h"
#include "schemadiff/apply.h"
#include "schemadiff/catalog.h"
#include "schemadiff/definitions.h"
#include "schemadiff/diff.h"
#include "metrics/metrics.h"
#include "spdlog/spdlog.h"
#include "sql/analyze.h"
#include "sql/parse.h"
#include "sql/risk.h"
#include "sql/validate.h"

namespace strata::deploy {
namespace {

using hosting::ToGrpcStatus;

constexpr int kMaxAttempts = 8;

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 100) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
}

std::string FormatTime(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(ts.seconds()), absl::UTCTimeZone());
}

std::map<std::string, const v1::BaselineEntry*> ByObject(const Entries& entries) {
  std::map<std::string, const v1::BaselineEntry*> m;
  for (const auto& e : entries) m[e.object()] = &e;
  return m;
}

// What a deployment would do, computed before anything runs.
struct Prepared {
  internal::EnvironmentState env;
  std::string release;  // "" for a rollback
  std::vector<std::string> changed;
  schemadiff::Plan forward, backward;
  std::string script, rollback_script;
  int statements = 0;
  std::vector<std::string> drift;
  std::vector<v1::Finding> findings;
  double seconds = 0;
};

}  // namespace

class DeployServiceImpl final : public v1::DeployService::Service {
 public:
  DeployServiceImpl(const DeployModuleOptions& options, eventlog::EventLog* log,
                    projection::ProjectionRunner* runner, DecisionBoard* board,
                    std::shared_ptr<auth::TokenStore> tokens, std::shared_ptr<const Secrets> secrets)
      : options_(options), log_(log), runner_(runner), board_(board), tokens_(std::move(tokens)),
        secrets_(std::move(secrets)) {
    shadow_.server = options_.shadow_url;
    if (shadow_.server.empty()) shadow_.server = secrets_->shadow_url();
    if (const char* s = std::getenv("STRATA_SHADOW_URL"); shadow_.server.empty() && s) shadow_.server = s;
  }

  grpc::Status AddEnvironment(grpc::ServerContext* ctx, const v1::AddEnvironmentRequest* req,
                              v1::Environment* resp) override {
    return Handle(ctx, "env_add", "env:" + req->name(), [&](const auth::Principal& who) {
      return DoAddEnvironment(who, *req, resp);
    });
  }
  grpc::Status ListEnvironments(grpc::ServerContext* ctx, const v1::ListEnvironmentsRequest*,
                                v1::ListEnvironmentsResponse* resp) override {
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
  grpc::Status GetEnvironment(grpc::ServerContext* ctx, const v1::GetEnvironmentRequest* req,
                              v1::Environment* resp) override {
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
  grpc::Status Import(grpc::ServerContext* ctx, const v1::ImportRequest* req, v1::ImportResponse* resp) override {
    return Handle(ctx, "import", "env:" + req->environment(), [&](const auth::Principal& who) {
      return DoImport(who, *req, resp);
    });
  }
  grpc::Status CreateRelease(grpc::ServerContext* ctx, const v1::CreateReleaseRequest* req,
                             v1::Release* resp) override {
    return Handle(ctx, "release_create", "release:" + req->name(), [&](const auth::Principal& who) {
      return DoCreateRelease(who, *req, resp);
    });
  }
  grpc::Status GetRelease(grpc::ServerContext* ctx, const v1::GetReleaseRequest* req, v1::Release* resp) override {
    return Handle(ctx, "", "", [&](const auth::Principal& who) -> absl::Status {
      auto r = Release(req->name());
      if (!r.ok()) return r.status();
      *resp = r->release();
      HideOutOfScope(who, resp);
      return absl::OkStatus();
    });
  }
  grpc::Status ListReleases(grpc::ServerContext* ctx, const v1::ListReleasesRequest*,
                            v1::ListReleasesResponse* resp) override {
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
  grpc::Status Approve(grpc::ServerContext* ctx, const v1::ApproveRequest* req, v1::Release* resp) override {
    return Handle(ctx, "approve", "release:" + req->release(), [&](const auth::Principal& who) {
      return DoApprove(who, *req, resp);
    });
  }
  grpc::Status Plan(grpc::ServerContext* ctx, const v1::PlanRequest* req, v1::DeploymentPlan* resp) override {
    return Handle(ctx, "", "", [&](const auth::Principal& who) { return DoPlan(who, *req, resp); });
  }
  grpc::Status Deploy(grpc::ServerContext* ctx, const v1::DeployRequest* req, v1::Deployment* resp) override {
    return Handle(ctx, "deploy", "env:" + req->environment(), [&](const auth::Principal& who) {
      return DoDeploy(who, *req, resp);
    });
  }
  grpc::Status Rollback(grpc::ServerContext* ctx, const v1::RollbackRequest* req, v1::Deployment* resp) override {
    return Handle(ctx, "rollback", "env:" + req->environment(), [&](const auth::Principal& who) {
      return DoRollback(who, *req, resp);
    });
  }
  grpc::Status Abandon(grpc::ServerContext* ctx, const v1::AbandonRequest* req, v1::Deployment* resp) override {
    return Handle(ctx, "abandon", "env:" + req->environment(), [&](const auth::Principal& who) {
      return DoAbandon(who, *req, resp);
    });
  }
  grpc::Status CheckDrift(grpc::ServerContext* ctx, const v1::CheckDriftRequest* req,
                          v1::DriftReport* resp) override {
    return Handle(ctx, "", "", [&](const auth::Principal& who) -> absl::Status {
      if (absl::Status s = InScope(who, req->environment()); !s.ok()) return s;
      auto env = FreshEnvironment(req->environment());
      if (!env.ok()) return env.status();
      auto expected = LoadState(env->environment().state());
      if (!expected.ok()) return expected.status();
      auto live = ReadLive(env->environment());
      if (!live.ok()) return live.status();
      resp->set_environment(req->environment());
      for (auto& line : schemadiff::DescribeDrift(*expected, *live))
        if (DriftLineInScope(who, line)) resp->add_differences(std::move(line));
      resp->set_drifted(resp->differences_size() > 0);
      resp->set_objects_checked(static_cast<uint32_t>(env->environment().state_size()));
      return absl::OkStatus();
    });
  }
  grpc::Status Pipeline(grpc::ServerContext* ctx, const v1::PipelineRequest*, v1::PipelineResponse* resp) override {
    return Handle(ctx, "", "", [&](const auth::Principal&) { return DoPipeline(resp); });
  }
  grpc::Status GuardInstall(grpc::ServerContext* ctx, const v1::GuardRequest* req, v1::GuardReport* resp) override {
    return Handle(ctx, "guard_install", "env:" + req->environment(), [&](const auth::Principal& who) {
      return DoGuard(who, *req, /*install=*/true, /*uninstall=*/false, resp);
    });
  }
  grpc::Status GuardUninstall(grpc::ServerContext* ctx, const v1::GuardRequest* req, v1::GuardReport* resp) override {
    return Handle(ctx, "guard_uninstall", "env:" + req->environment(), [&](const auth::Principal& who) {
      return DoGuard(who, *req, /*install=*/false, /*uninstall=*/true, resp);
    });
  }
  grpc::Status GuardStatus(grpc::ServerContext* ctx, const v1::GuardRequest* req, v1::GuardReport* resp) override {
    return Handle(ctx, "", "", [&](const auth::Principal& who) {
      return DoGuard(who, *req, /*install=*/false, /*uninstall=*/false, resp);
    });
  }

  grpc::Status CaptureDefinition(grpc::ServerContext* ctx, const v1::CaptureRequest* req,
                                 v1::CaptureResponse* resp) override {
    return Handle(ctx, "", "", [&](const auth::Principal& who) -> absl::Status {
      if (absl::Status s = InScope(who, req->environment()); !s.ok()) return s;
      auto id = model::ParseObjectId(req->object());
      if (!id.ok())
        return absl::InvalidArgumentError(fmt::format("{} (give the full id, e.g. table:sales.orders)",
                                                      std::string(id.status().message())));
      if (absl::Status s = hosting::RequireObjectInScope(who, id->ToString(), {log_, options_.site, "read"}); !s.ok())
        return s;
      auto env = Environment(req->environment(), /*with_state=*/false);
      if (!env.ok()) return env.status();
      auto live = ReadLive(env->environment());
      if (!live.ok()) return live.status();
      for (auto& d : schemadiff::DefinitionsOf(*live).objects) {
        if (d.object != id->ToString()) continue;
        resp->set_object(d.object);
        resp->set_definition(std::move(d.sql));
        return absl::OkStatus();
      }
      return absl::NotFoundError(
          fmt::format("{} is not in {}'s database (or is not an object Strata versions)", id->ToString(),
                      req->environment()));
    });
  }

  // What every guarded environment's tables should hold, from the projection.
  absl::StatusOr<GuardState> ExpectedGuardState() {
    auto objects = DeployProjection::ReadObjects(db());
    if (!objects.ok()) return objects.status();
    return GuardStateOf(*objects);
  }

  using Objects = std::map<std::string, internal::DeployObject>;
  GuardState GuardStateOf(const Objects& objects) const {
    GuardState state;
    for (const auto& [id, o] : objects) {
      state.managed.push_back(id);
      if (!o.holder().empty()) state.checkouts.push_back(GuardCheckoutOf(id, o));
    }
    return state;
  }
  GuardCheckout GuardCheckoutOf(const std::string& id, const internal::DeployObject& o) const {
    return {id, tokens_->DbRoleOf(o.holder()), o.holder(), o.holder_site(), o.held_since().seconds()};
  }

  absl::StatusOr<GuardState> ExpectedGuardSlice(const std::string& after, size_t limit, bool* done) {
    auto objects = DeployProjection::ReadObjectsAfter(db(), after, limit, done);
    if (!objects.ok()) return objects.status();
    return GuardStateOf(*objects);
  }

  // The guard rows of `ids` (sorted), from one point read each.
  absl::StatusOr<GuardDelta> GuardRowsOf(const std::vector<std::string>& ids) {
    GuardDelta d;
    d.ids = ids;
    for (const std::string& id : ids) {
      auto o = DeployProjection::ReadObject(db(), id);
      if (!o.ok()) return o.status();
      // As ReadObjects: a reservation given up is not managed.
      if (!*o || ((*o)->latest_version() == 0 && (*o)->holder().empty())) continue;
      d.managed.push_back(id);
      if (!(*o)->holder().empty()) d.checkouts.push_back(GuardCheckoutOf(id, **o));
    }
    return d;
  }

  // Environments and how to connect to them, for the guard's sync.
  std::vector<std::pair<std::string, std::string>> GuardTargets() {
    std::vector<std::pair<std::string, std::string>> out;
    auto envs = DeployProjection::ReadEnvironments(db());
    if (!envs.ok()) return out;
    for (const auto& e : *envs)
      out.emplace_back(e.environment().name(), secrets_->ConnectionUrl(e.environment().name(), e.environment().url()));
    return out;
  }

  absl::Status DoGuard(const auth::Principal& who, const v1::GuardRequest& req, bool install, bool uninstall,
                       v1::GuardReport* resp) {
    if (install || uninstall) {
      if (absl::Status s = NeedRole(who, {"dba", "admin"}, install ? "installing the guard" : "removing the guard");
          !s.ok())
        return s;
    }
    if (absl::Status s = InScope(who, req.environment()); !s.ok()) return s;
    const uint32_t stale_after = req.stale_after_seconds();
    if (install && req.has_stale_after_seconds() && stale_after != 0 && stale_after < 3)
      return absl::InvalidArgumentError(fmt::format(
          "--stale-after {}s is too short: the deploy service confirms the guard's check-outs every second; give "
          "at least 3s (or 0 for never, which lets a stale guard grant what the log no longer grants)",
          stale_after));
    auto env = Environment(req.environment(), /*with_state=*/false);
    if (!env.ok()) return env.status();
    auto session = Connect(env->environment());
    if (!session.ok()) return session.status();
    std::optional<GuardState> written;  // by the install
    if (install) {
      const std::optional<absl::Duration> setting =
          req.has_stale_after_seconds() ? std::optional(absl::Seconds(stale_after)) : std::nullopt;
      if (absl::Status s = InstallGuard(**session, setting); !s.ok()) return s;
      // The check-outs are there, as of the log's end, before the call
      // returns; the sync keeps them and confirms them from then on.
      const absl::Time as_of = absl::Now();
      if (absl::Status s = runner_->CatchUp(absl::Seconds(10)); !s.ok())
        return absl::UnavailableError(fmt::format("the guard is installed in {} but its check-outs cannot be "
                                                  "confirmed while this service is behind the log ({}); it fails "
                                                  "closed until the service catches up",
                                                  req.environment(), std::string(s.message())));
      auto expected = ExpectedGuardState();
      if (!expected.ok()) return expected.status();
      if (absl::Status s = WriteGuardState(**session, *expected); !s.ok()) return s;
      if (absl::Status s = ConfirmGuard(**session, absl::Now() - as_of); !s.ok()) return s;
      written = std::move(*expected);
      spdlog::info("guard installed in {} by {}", req.environment(), who.user);
      if (wake_guard_sync_) wake_guard_sync_();  // it follows the log from now on
    }
    if (uninstall) {
      if (absl::Status s = UninstallGuard(**session); !s.ok()) return s;
      spdlog::info("guard removed from {} by {}", req.environment(), who.user);
    }
    resp->set_environment(req.environment());
    auto installed = GuardInstalled(**session);
    if (!installed.ok()) return installed.status();
    resp->set_installed(*installed);
    // Status: the projection's objects, read once for the comparison and the
    // drift (an install compares with what it wrote; an uninstall with nothing).
    Objects objects;
    if (!install && !uninstall) {
      auto all = DeployProjection::ReadObjects(db());
      if (!all.ok()) return all.status();
      objects = std::move(*all);
    }
    if (*installed) {
      auto actual = ReadGuardState(**session);
      if (!actual.ok()) return actual.status();
      resp->set_in_sync(*actual == (written ? *written : GuardStateOf(objects)));
      resp->set_managed(static_cast<uint32_t>(actual->managed.size()));
      resp->set_checkouts(static_cast<uint32_t>(actual->checkouts.size()));
      auto confirmed = ReadGuardConfirmation(**session);
      if (!confirmed.ok()) return confirmed.status();
      resp->set_seconds_since_sync(confirmed->confirmed_unix > 0 ? absl::ToDoubleSeconds(confirmed->age) : -1);
      resp->set_stale_after_seconds(static_cast<uint32_t>(absl::ToInt64Seconds(confirmed->stale_after)));
      resp->set_fails_closed(confirmed->fails_closed);
    }
    if (install || uninstall) return absl::OkStatus();
    // The guard's state stands on its own: a comparison that cannot be made
    // is said in the report, not instead of it.
    if (absl::Status s = GuardDrift(who, **session, objects, resp); !s.ok()) {
      resp->clear_drift();
      resp->set_drift_note(fmt::format("not compared: {}", std::string(s.message())));
    }
    return absl::OkStatus();
  }

  // What changed in the environment's database without going through Strata:
  // each object's definition there against its latest version. Definitions
  // whose text differs are compared again as catalogs (the latest versions
  // loaded into a shadow database and cut the same way), so a version
  // checked in from a hand-written file is not drift for its spelling.
  absl::Status GuardDrift(const auth::Principal& who, pg::Session& environment_db, const Objects& objects,
                          v1::GuardReport* resp) {
    auto live = schemadiff::ReadCatalog(environment_db);
    if (!live.ok()) return live.status();
    std::map<std::string, std::string> in_db;
    for (auto& d : schemadiff::DefinitionsOf(*live).objects) in_db[d.object] = std::move(d.sql);
    auto add = [&](const std::string& id, v1::GuardDrift::Kind kind, const internal::DeployObject* o) {
      v1::GuardDrift* d = resp->add_drift();
      d->set_object(id);
      d->set_kind(kind);
      if (!o) return d;
      d->set_latest_version(o->latest_version());
      d->set_holder(o->holder());
      d->set_holder_site(o->holder_site());
      return d;
    };
    std::vector<std::string> changed;
    for (const auto& [id, sql] : in_db) {
      if (!hosting::ObjectInScope(who, id)) continue;
      auto it = objects.find(id);
      if (it == objects.end() || it->second.latest_version() == 0)
        add(id, v1::GuardDrift::UNVERSIONED, it == objects.end() ? nullptr : &it->second);
      else if (auth::Sha256Hex(sql) != it->second.latest_sha256())
        changed.push_back(id);
    }
    for (const auto& [id, o] : objects)
      if (o.latest_version() > 0 && !in_db.count(id) && hosting::ObjectInScope(who, id))
        add(id, v1::GuardDrift::MISSING, &o);
    if (changed.empty()) return absl::OkStatus();

    Entries latest;
    for (const auto& [id, o] : objects) {
      if (o.latest_version() == 0) continue;
      v1::BaselineEntry e;
      e.set_object(id);
      e.set_version(o.latest_version());
      latest.Add(std::move(e));
    }
    std::map<std::string, std::string> as_versioned;
    if (auto heads = LoadState(latest); heads.ok()) {
      for (auto& d : schemadiff::DefinitionsOf(*heads).objects) as_versioned[d.object] = std::move(d.sql);
      resp->set_drift_note("catalogs");
    } else {
      resp->set_drift_note(fmt::format("text (the latest versions could not be loaded into a shadow database: {})",
                                       std::string(heads.status().message())));
      for (const std::string& id : changed) {
        auto sql = DeployProjection::ReadDefinition(db(), id, objects.at(id).latest_version());
        if (!sql.ok()) return sql.status();
        as_versioned[id] = std::move(*sql);
      }
    }
    for (const std::string& id : changed) {
      const std::string& versioned = as_versioned[id];
      if (versioned == in_db[id]) continue;
      v1::GuardDrift* d = add(id, v1::GuardDrift::CHANGED, &objects.at(id));
      for (auto& line : LinesThatDiffer(versioned, in_db[id], 6)) d->add_detail(std::move(line));
    }
    return absl::OkStatus();
  }

  // "- line" of `before` missing from `after`, "+ line" of `after` missing
  // from `before`, at most `limit` of them.
  static std::vector<std::string> LinesThatDiffer(const std::string& before, const std::string& after, size_t limit) {
    const std::vector<std::string> a = absl::StrSplit(before, '\n', absl::SkipWhitespace());
    const std::vector<std::string> b = absl::StrSplit(after, '\n', absl::SkipWhitespace());
    const std::set<std::string> in_a(a.begin(), a.end()), in_b(b.begin(), b.end());
    std::vector<std::string> out;
    for (const auto& line : a)
      if (!in_b.count(line) && out.size() < limit) out.push_back("- " + line);
    for (const auto& line : b)
      if (!in_a.count(line) && out.size() < limit) out.push_back("+ " + line);
    return out;
  }

  grpc::Status ListDeployments(grpc::ServerContext* ctx, const v1::ListDeploymentsRequest* req,
                               v1::ListDeploymentsResponse* resp) override {
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

 private:
  rocksdb::DB* db() const { return runner_->db(); }

  // Authenticates, runs the handler, logs commands, records refusals of
  // commands (FAILED_PRECONDITION, PERMISSION_DENIED) in the audit trail.
  template <typename Fn>
  grpc::Status Handle(grpc::ServerContext* ctx, const char* command, const std::string& aggregate, Fn&& fn) {
    auto who = hosting::AuthenticateCall(*ctx, *tokens_);
    if (!who.ok()) return ToGrpcStatus(who.status());
    absl::Status status = fn(*who);
    if (*command) {
      spdlog::info("{} {} by {}@{}: {}", command, aggregate, who->user, who->site,
                   status.ok() ? std::string("ok") : status.ToString());
      if (status.code() == absl::StatusCode::kFailedPrecondition ||
          status.code() == absl::StatusCode::kPermissionDenied)
        RecordRefusal(*who, command, aggregate, status);
    }
    return ToGrpcStatus(status);
  }

  void RecordRefusal(const auth::Principal& who, const char* command, const std::string& aggregate,
                     const absl::Status& status) {
    events::AppendRefusal(*log_, NewEvent(who, aggregate, 0), command, status);
  }

  static absl::Status NeedRole(const auth::Principal& who, std::initializer_list<std::string_view> roles,
                               const std::string& what) {
    if (who.HasAnyRole(roles)) return absl::OkStatus();
    std::vector<std::string> names(roles.begin(), roles.end());
    return absl::PermissionDeniedError(fmt::format("{} needs role {}; {} has {}", what, fmt::join(names, " or "),
                                                   who.user, fmt::join(who.roles, ", ")));
  }

  // Schema scopes: a scoped user may only plan, deploy, roll back or create
  // releases whose changes stay inside the scope (the script is their DDL).
  // `audit_command` non-empty: the refusal is written to the audit trail
  // here (reads); commands are audited by Handle.
  absl::Status ChangesInScope(const auth::Principal& who, const std::vector<std::string>& changed,
                              std::string_view audit_command = "") {
    const hosting::RefusalAudit audit = {audit_command.empty() ? nullptr : log_, options_.site, audit_command};
    for (const std::string& object : changed)
      if (absl::Status s = hosting::RequireObjectInScope(who, object, audit); !s.ok()) return s;
    return absl::OkStatus();
  }

  // What a scoped user sees of a release: the objects in scope; data
  // scripts' SQL only when every change is in scope (a script may touch any table).
  static void HideOutOfScope(const auth::Principal& who, v1::Release* r) {
    if (who.schemas.empty()) return;
    hosting::KeepInScope(who, r->mutable_entries(),
                         [](const v1::BaselineEntry& e) -> const std::string& { return e.object(); });
    if (hosting::KeepInScope(who, r->mutable_changed(), [](const std::string& c) -> const std::string& { return c; }))
      for (auto& d : *r->mutable_data_scripts()) {
        d.clear_sql();
        d.clear_rollback_sql();
      }
  }

  // Drift lines ("table sales.orders: column ...") about objects in scope.
  static bool DriftLineInScope(const auth::Principal& who, const std::string& line) {
    if (who.schemas.empty()) return true;
    std::string head = line.substr(0, line.find(':'));
    head = head.substr(head.rfind(' ') + 1);
    head = head.substr(0, head.find('('));  // functions: their name without arguments
    return who.InSchemaScope(head);
  }

  static void HideOutOfScope(const auth::Principal& who, v1::Environment* env) {
    if (who.schemas.empty()) return;
    hosting::KeepInScope(who, env->mutable_state(),
                         [](const v1::BaselineEntry& e) -> const std::string& { return e.object(); });
  }

  static absl::Status InScope(const auth::Principal& who, const std::string& env) {
    if (who.InEnvironmentScope(env)) return absl::OkStatus();
    return absl::PermissionDeniedError(fmt::format("{} may not work on environment {} (allowed: {})", who.user, env,
                                                   fmt::join(who.environments, ", ")));
  }

  // The environment's deployers rule (see EnvironmentRegistered.deployers).
  static absl::Status MayDeploy(const auth::Principal& who, const v1::Environment& env) {
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

  v1::Event NewEvent(const auth::Principal& who, const std::string& aggregate, uint64_t seq) {
    return events::NewEvent(who.user, who.site, options_.site, aggregate, seq);
  }

  // Appends events and waits until the projection decided each; returns the decisions.
  absl::StatusOr<std::vector<decide::Decision>> SubmitAll(const std::vector<v1::Event>& events) {
    std::vector<eventlog::Position> positions;
    for (const auto& e : events) board_->Expect(e.event_id());
    auto forget = [&] {
      for (const auto& e : events) board_->Forget(e.event_id());
    };
    for (const auto& e : events) {
      auto pos = events::Append(*log_, e);
      if (!pos.ok()) {
        forget();
        return absl::UnavailableError(
            fmt::format("could not write to the event log: {}", std::string(pos.status().message())));
      }
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

  absl::StatusOr<decide::Decision> Submit(const v1::Event& e) {
    auto all = SubmitAll({e});
    if (!all.ok()) return all.status();
    return all->front();
  }

  absl::Status CatchUpWith(const std::string& aggregate) {
    return runner_->CatchUpPartition(log_->PartitionFor(aggregate), options_.apply_timeout);
  }

  // An environment, with what Strata expects there (every object it holds)
  // only when the caller needs that.
  absl::StatusOr<internal::EnvironmentState> Environment(const std::string& name, bool with_state = true) {
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
  absl::StatusOr<internal::EnvironmentState> FreshEnvironment(const std::string& name, bool with_state = true) {
    if (absl::Status s = CatchUpWith("env:" + name); !s.ok()) return s;
    return Environment(name, with_state);
  }
  absl::StatusOr<internal::ReleaseState> Release(const std::string& name, bool with_entries = true) {
    if (absl::Status s = CatchUpWith("release:" + name); !s.ok()) return s;
    auto r = DeployProjection::ReadRelease(db(), name, with_entries);
    if (!r.ok()) return r.status();
    if (!*r) return absl::NotFoundError(fmt::format("no release {}; see `strata release list`", name));
    return std::move(**r);
  }

  // ---- environments ------------------------------------------------------

  absl::Status DoAddEnvironment(const auth::Principal& who, const v1::AddEnvironmentRequest& req,
                                v1::Environment* resp) {
    if (absl::Status s = NeedRole(who, {"dba", "admin"}, "adding an environment"); !s.ok()) return s;
    if (absl::Status s = InScope(who, req.name()); !s.ok()) return s;
    if (!ValidName(req.name()))
      return absl::InvalidArgumentError(
          fmt::format("environment name '{}' must be 1-100 letters, digits, '.', '-' or '_'", req.name()));
    if (req.url().empty()) return absl::InvalidArgumentError("an environment needs a PostgreSQL URL (--url)");
    if (UrlHasPassword(req.url()))
      return absl::InvalidArgumentError(fmt::format(
          "the URL carries a password, which would be written to the event log; give the URL without it and put "
          "the password in the server's secrets file (environments: {{{}: {{password: ...}}}}) or in "
          "STRATA_ENV_{}_PASSWORD on the server",
          req.name(), absl::AsciiStrToUpper(req.name())));
    for (const auto& d : req.deployers())
      if (d.rfind("role:", 0) == 0 &&
          std::find(auth::KnownRoles().begin(), auth::KnownRoles().end(), d.substr(5)) == auth::KnownRoles().end())
        return absl::InvalidArgumentError(fmt::format("unknown role in deployers: {} (known: {})", d,
                                                      fmt::join(auth::KnownRoles(), ", ")));
    if (absl::Status s = CatchUpWith("env:" + req.name()); !s.ok()) return s;
    if (auto existing = DeployProjection::ReadEnvironment(db(), req.name()); existing.ok() && *existing)
      return absl::AlreadyExistsError(fmt::format("environment {} exists already ({})", req.name(),
                                                  (*existing)->environment().url()));
    int order = req.order();
    if (order == 0) {
      auto all = DeployProjection::ReadEnvironments(db());
      if (!all.ok()) return all.status();
      order = all->empty() ? 1 : all->back().environment().order() + 1;
    }
    v1::Event e = NewEvent(who, "env:" + req.name(), 1);
    auto* r = e.mutable_environment_registered();
    r->set_name(req.name());
    r->set_url(req.url());
    r->set_order(order);
    r->set_protected_(req.protected_());
    *r->mutable_deployers() = req.deployers();
    r->set_description(req.description());
    auto d = Submit(e);
    if (!d.ok()) return d.status();
    if (!d->accepted())
      return absl::AlreadyExistsError(fmt::format("environment {} was registered elsewhere first", req.name()));
    auto env = Environment(req.name());
    if (!env.ok()) return env.status();
    *resp = env->environment();
    return absl::OkStatus();
  }

  // ---- connections and catalogs ------------------------------------------

  absl::StatusOr<std::unique_ptr<pg::Session>> Connect(const v1::Environment& env) {
    auto session = pg::Session::Connect(secrets_->ConnectionUrl(env.name(), env.url()));
    if (!session.ok())
      return absl::UnavailableError(fmt::format("environment {} ({}): {}", env.name(), pg::RedactUrl(env.url()),
                                                std::string(session.status().message())));
    // If this server dies mid-deployment, PostgreSQL notices within a second
    // and rolls the transaction back instead of finishing the queued script
    // (PostgreSQL 14+; older servers ignore it).
    (void)(*session)->Exec("SET client_connection_check_interval = '1s'");
    // Names Strata's sessions (pg_stat_activity; the guard lets its deployments through).
    (void)(*session)->Exec("SET application_name = 'strata-deploy'");
    return session;
  }

  absl::StatusOr<schemadiff::Catalog> ReadLive(const v1::Environment& env) {
    auto session = Connect(env);
    if (!session.ok()) return session.status();
    return schemadiff::ReadCatalog(**session);
  }

  absl::StatusOr<std::vector<schemadiff::LabelledSql>> DefinitionsOf(const Entries& entries) {
    std::vector<schemadiff::LabelledSql> out;
    out.reserve(entries.size());
    for (const auto& e : entries) {
      auto sql = DeployProjection::ReadDefinition(db(), e.object(), e.version());
      if (!sql.ok()) return sql.status();
      out.push_back({fmt::format("{} v{}", e.object(), e.version()), std::move(*sql)});
    }
    return out;
  }

  absl::StatusOr<schemadiff::Catalog> LoadState(const Entries& entries) {
    auto defs = DefinitionsOf(entries);
    if (!defs.ok()) return defs.status();
    return schemadiff::LoadDefinitions(*defs, shadow_);
  }

  // ---- import --------------------------------------------------------------

  // How a live object relates to Strata (see DoImport).
  struct ImportClassification {
    std::vector<const schemadiff::ObjectDefinition*> fresh;  // unknown to Strata: version 1
    std::vector<v1::BaselineEntry> matched;                  // known, at the version it matches
    std::vector<std::string> conflicts;                      // known, but no version matches
  };

  absl::StatusOr<ImportClassification> ClassifyForImport(const schemadiff::CatalogDefinitions& defs) {
    ImportClassification c;
    for (const auto& d : defs.objects) {
      auto obj = DeployProjection::ReadObject(db(), d.object);
      if (!obj.ok()) return obj.status();
      if (!*obj || ((*obj)->latest_version() == 0 && (*obj)->holder().empty())) {
        c.fresh.push_back(&d);
        continue;
      }
      if ((*obj)->latest_version() == 0) {
        c.conflicts.push_back(fmt::format("{}: reserved by {} (not checked in yet)", d.object, (*obj)->holder()));
        continue;
      }
      uint64_t match = 0;
      for (uint64_t v = (*obj)->latest_version(); v >= 1 && !match; --v) {
        auto sql = DeployProjection::ReadDefinition(db(), d.object, v);
        if (sql.ok() && *sql == d.sql) match = v;
      }
      if (!match) {
        c.conflicts.push_back(fmt::format("{}: differs from every version in Strata (latest v{})", d.object,
                                          (*obj)->latest_version()));
        continue;
      }
      v1::BaselineEntry entry;
      entry.set_object(d.object);
      entry.set_version(match);
      entry.set_definition_sha256(auth::Sha256Hex(d.sql));
      c.matched.push_back(std::move(entry));
    }
    return c;
  }

  // Checks each new object out and in as version 1, all or nothing: an
  // object someone else took meanwhile would be missing from the
  // environment's recorded state, and show up as drift.
  absl::StatusOr<std::vector<v1::BaselineEntry>> CreateVersionOnes(
      const auth::Principal& who, const std::vector<const schemadiff::ObjectDefinition*>& fresh,
      const std::string& message) {
    std::vector<v1::Event> checkouts;
    for (const auto* d : fresh) {
      auto obj = DeployProjection::ReadObject(db(), d->object);
      if (!obj.ok()) return obj.status();
      v1::Event e = NewEvent(who, "object:" + d->object, (*obj ? (*obj)->last_seq() : 0) + 1);
      e.mutable_checked_out()->set_reason(message);
      checkouts.push_back(std::move(e));
    }
    auto taken = SubmitAll(checkouts);
    if (!taken.ok())
      return absl::Status(taken.status().code(),
                          fmt::format("{}; some of the {} new objects may be left checked out by {}: see `strata locks "
                                      "--user {}` and `strata undo`, then import again",
                                      std::string(taken.status().message()), fresh.size(), who.user, who.user));
    std::vector<std::string> lost;
    for (size_t i = 0; i < fresh.size(); ++i)
      if (!(*taken)[i].accepted()) lost.push_back(fmt::format("{} ({})", fresh[i]->object, (*taken)[i].reason));
    if (!lost.empty()) {
      GiveBack(who, checkouts, *taken);
      return absl::AbortedError(fmt::format("objects were taken by someone else during the import, nothing was "
                                            "imported; run it again:\n  {}",
                                            fmt::join(lost, "\n  ")));
    }
    std::vector<v1::Event> checkins;
    for (size_t i = 0; i < fresh.size(); ++i) {
      v1::Event e = NewEvent(who, checkouts[i].aggregate(), checkouts[i].seq() + 1);
      auto* ci = e.mutable_checked_in();
      ci->set_version(1);
      ci->set_definition(fresh[i]->sql);
      ci->set_message(message);
      ci->set_definition_sha256(auth::Sha256Hex(fresh[i]->sql));
      checkins.push_back(std::move(e));
    }
    auto stored = SubmitAll(checkins);
    if (!stored.ok()) return stored.status();
    std::vector<v1::BaselineEntry> created;
    for (size_t i = 0; i < fresh.size(); ++i) {
      if (!(*stored)[i].accepted())  // only if a dba force-released it meanwhile
        return absl::AbortedError(fmt::format("{}: {}; run the import again", fresh[i]->object, (*stored)[i].reason));
      v1::BaselineEntry entry;
      entry.set_object(fresh[i]->object);
      entry.set_version(1);
      entry.set_definition_sha256(checkins[i].checked_in().definition_sha256());
      created.push_back(std::move(entry));
    }
    return created;
  }

  // Reads the environment's catalog; objects Strata does not know become
  // version 1; known ones must match a version exactly; then the environment
  // is recorded as holding those versions.
  absl::Status DoImport(const auth::Principal& who, const v1::ImportRequest& req, v1::ImportResponse* resp) {
    if (absl::Status s = NeedRole(who, {"dba", "admin"}, "importing an environment"); !s.ok()) return s;
    if (absl::Status s = InScope(who, req.environment()); !s.ok()) return s;
    auto env = FreshEnvironment(req.environment(), /*with_state=*/false);
    if (!env.ok()) return env.status();
    if (!env->environment().running_deployment().empty())
      return absl::FailedPreconditionError(fmt::format("deployment {} is running on {}; import when it is done",
                                                       env->environment().running_deployment(), req.environment()));
    auto live = ReadLive(env->environment());
    if (!live.ok()) return live.status();
    schemadiff::CatalogDefinitions defs = schemadiff::DefinitionsOf(*live);
    for (auto& s : defs.skipped) resp->add_skipped(std::move(s));
    resp->set_objects(static_cast<uint32_t>(defs.objects.size()));
    auto classified = ClassifyForImport(defs);
    if (!classified.ok()) return classified.status();
    if (!classified->conflicts.empty())
      return absl::FailedPreconditionError(fmt::format(
          "{} holds objects that do not match Strata's versions; nothing was imported:\n  {}\nDeploy a release "
          "there, or check the objects in as new versions first",
          req.environment(), fmt::join(classified->conflicts, "\n  ")));
    const std::string message =
        req.message().empty() ? fmt::format("imported from {}", req.environment()) : req.message();
    auto created = CreateVersionOnes(who, classified->fresh, message);
    if (!created.ok()) return created.status();

    std::vector<v1::BaselineEntry> entries = classified->matched;
    for (const auto& e : classified->matched) resp->add_matched(fmt::format("{} v{}", e.object(), e.version()));
    for (auto& e : *created) {
      resp->add_created(e.object());
      entries.push_back(std::move(e));
    }
    std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.object() < b.object(); });
    v1::Event imported = NewEvent(who, "env:" + req.environment(), env->last_seq() + 1);
    imported.mutable_environment_imported();  // set even when the environment holds nothing
    for (auto& e : entries) *imported.mutable_environment_imported()->add_entries() = std::move(e);
    for (const auto& s : resp->skipped()) imported.mutable_environment_imported()->add_skipped(s);
    auto d = Submit(imported);
    if (!d.ok()) return d.status();
    if (!d->accepted())
      return absl::AbortedError(fmt::format(
          "the objects were recorded, but {} changed meanwhile ({}); run the import again", req.environment(),
          d->reason));
    return absl::OkStatus();
  }

  // Undoes the accepted check-outs among `checkouts` (best effort: what is
  // left shows in `strata locks`).
  void GiveBack(const auth::Principal& who, const std::vector<v1::Event>& checkouts,
                const std::vector<decide::Decision>& decisions) {
    std::vector<v1::Event> undo;
    for (size_t i = 0; i < checkouts.size(); ++i) {
      if (!decisions[i].accepted()) continue;
      v1::Event e = NewEvent(who, checkouts[i].aggregate(), checkouts[i].seq() + 1);
      e.mutable_check_out_undone();
      undo.push_back(std::move(e));
    }
    if (auto done = SubmitAll(undo); !done.ok())
      spdlog::warn("import by {}: could not give back {} check-outs: {}", who.user, undo.size(), done.status().ToString());
  }

  // ---- releases ------------------------------------------------------------

  // The state a change set is relative to, and its name.
  absl::StatusOr<std::pair<std::map<std::string, v1::BaselineEntry>, std::string>> BaseState(const std::string& since) {
    std::map<std::string, v1::BaselineEntry> base;
    std::string name = since;
    if (name.empty()) {
      auto all = DeployProjection::ReadReleases(db());
      if (!all.ok()) return all.status();
      if (all->empty()) return std::make_pair(base, std::string());
      name = "release:" + all->front().release().name();
    }
    if (name.rfind("baseline:", 0) == 0) {
      auto b = DeployProjection::ReadBaseline(db(), name.substr(9));
      if (!b.ok()) return b.status();
      if (!*b) return absl::NotFoundError(fmt::format("no baseline {}", name.substr(9)));
      for (const auto& e : (*b)->entries()) base[e.object()] = e;
      return std::make_pair(base, name);
    }
    if (name.rfind("release:", 0) != 0) name = "release:" + name;
    auto r = DeployProjection::ReadRelease(db(), name.substr(8));
    if (!r.ok()) return r.status();
    if (!*r) return absl::NotFoundError(fmt::format("no release {} (to start from a baseline, say baseline:NAME)",
                                                    name.substr(8)));
    for (const auto& e : (*r)->release().entries()) base[e.object()] = e;
    return std::make_pair(base, name);
  }

  absl::Status DoCreateRelease(const auth::Principal& who, const v1::CreateReleaseRequest& req, v1::Release* resp) {
    if (absl::Status s = NeedRole(who, {"release-manager", "dba", "admin"}, "creating a release"); !s.ok()) return s;
    if (!ValidName(req.name()))
      return absl::InvalidArgumentError(
          fmt::format("release name '{}' must be 1-100 letters, digits, '.', '-' or '_'", req.name()));
    if (!req.objects().empty() && !req.since().empty())
      return absl::InvalidArgumentError("name objects or --since, not both");
    if (absl::Status s = runner_->CatchUp(options_.apply_timeout); !s.ok()) return s;
    if (auto r = DeployProjection::ReadRelease(db(), req.name()); r.ok() && *r)
      return absl::AlreadyExistsError(fmt::format("release {} exists already; releases are immutable", req.name()));
    std::set<std::string> script_names;
    for (const auto& ds : req.data_scripts()) {
      if (ds.name().empty() || !script_names.insert(ds.name()).second)
        return absl::InvalidArgumentError(fmt::format("data script names must be unique and non-empty ('{}')", ds.name()));
      for (const std::string* text : {&ds.sql(), &ds.rollback_sql()}) {
        if (text->empty()) continue;
        auto parsed = sql::ParsedSql::Parse(*text);
        if (!parsed.ok())
          return absl::InvalidArgumentError(
              fmt::format("data script {}: {}", ds.name(), std::string(parsed.status().message())));
        // The deployment is one transaction: a script may not end it.
        for (int i = 0; i < parsed->size(); ++i)
          if (parsed->statement(i).has_transaction_stmt())
            return absl::InvalidArgumentError(fmt::format(
                "data script {}: statement {} is transaction control ({}); the whole deployment is one "
                "transaction, leave BEGIN/COMMIT out",
                ds.name(), i + 1, std::string(parsed->StatementText(i))));
      }
      if (ds.sql().empty()) return absl::InvalidArgumentError(fmt::format("data script {} is empty", ds.name()));
    }
    // Named objects are read one by one; "everything since" reads every head.
    std::map<std::string, std::pair<uint64_t, std::string>> named_heads;
    absl::StatusOr<std::map<std::string, std::pair<uint64_t, std::string>>> heads = named_heads;
    if (req.objects().empty()) {
      heads = DeployProjection::ReadHeads(db());
    } else {
      for (const auto& text : req.objects()) {
        auto id = model::ParseObjectId(text);
        if (!id.ok()) continue;  // refused below with the reason
        auto o = DeployProjection::ReadObject(db(), id->ToString());
        if (!o.ok()) return o.status();
        if (*o && (*o)->latest_version() > 0)
          (*heads)[id->ToString()] = {(*o)->latest_version(), (*o)->latest_sha256()};
      }
    }
    if (!heads.ok()) return heads.status();
    auto base = BaseState(req.since());
    if (!base.ok()) return base.status();
    std::map<std::string, v1::BaselineEntry> state = base->first;
    std::vector<std::string> changed;
    auto take_latest = [&](const std::string& id) {
      const auto& [version, sha] = heads->at(id);
      auto it = state.find(id);
      if (it != state.end() && it->second.version() == version) return;
      v1::BaselineEntry e;
      e.set_object(id);
      e.set_version(version);
      e.set_definition_sha256(sha);
      state[id] = e;
      changed.push_back(id);
    };
    if (!req.objects().empty()) {
      for (const auto& text : req.objects()) {
        auto id = model::ParseObjectId(text);
        if (!id.ok()) return absl::InvalidArgumentError(fmt::format("{} (give full ids, e.g. table:sales.orders)",
                                                                    std::string(id.status().message())));
        if (!heads->count(id->ToString()))
          return absl::NotFoundError(fmt::format("{} has no checked-in version", id->ToString()));
        take_latest(id->ToString());
      }
    } else {
      for (const auto& [id, head] : *heads) take_latest(id);
    }
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    if (changed.empty() && req.data_scripts().empty())
      return absl::FailedPreconditionError(fmt::format(
          "nothing changed since {}: no object has a newer version and no data script was given",
          base->second.empty() ? "the beginning" : base->second));

    if (absl::Status s = ChangesInScope(who, changed); !s.ok()) return s;
    v1::Event e = NewEvent(who, "release:" + req.name(), 1);
    auto* rc = e.mutable_release_created();
    rc->set_name(req.name());
    rc->set_description(req.description());
    for (auto& [id, entry] : state) *rc->add_entries() = entry;
    for (const auto& c : changed) rc->add_changed(c);
    rc->set_base(base->second);
    for (const auto& ds : req.data_scripts()) {
      auto* out = rc->add_data_scripts();
      *out = ds;
      out->set_sha256(auth::Sha256Hex(ds.sql()));
    }
    auto d = Submit(e);
    if (!d.ok()) return d.status();
    if (!d->accepted())
      return absl::AlreadyExistsError(fmt::format("release {} was created elsewhere first", req.name()));
    auto r = Release(req.name());
    if (!r.ok()) return r.status();
    *resp = r->release();
    return absl::OkStatus();
  }

  absl::Status DoApprove(const auth::Principal& who, const v1::ApproveRequest& req, v1::Release* resp) {
    if (absl::Status s = NeedRole(who, {"release-manager", "admin"}, "approving a release"); !s.ok()) return s;
    if (absl::Status s = InScope(who, req.environment()); !s.ok()) return s;
    auto env = Environment(req.environment(), /*with_state=*/false);
    if (!env.ok()) return env.status();
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      auto rel = Release(req.release(), /*with_entries=*/false);
      if (!rel.ok()) return rel.status();
      v1::Event e = NewEvent(who, "release:" + req.release(), rel->last_seq() + 1);
      e.mutable_release_approved()->set_environment(req.environment());
      e.mutable_release_approved()->set_comment(req.comment());
      auto d = Submit(e);
      if (!d.ok()) return d.status();
      if (d->accepted()) {
        auto after = Release(req.release());
        if (!after.ok()) return after.status();
        *resp = after->release();
        return absl::OkStatus();
      }
    }
    return absl::AbortedError("too much contention on the release, try again");
  }

  // ---- gates, plans, deployments -----------------------------------------

  // Why deploying `release` to `env` is not allowed now ("" : allowed).
  absl::StatusOr<std::vector<std::string>> Gates(const internal::EnvironmentState& env,
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

  std::string RunningMessage(const v1::Environment& e) {
    const v1::Deployment& d = e.last_deployment();
    return fmt::format("deployment {} ({} {}) by {} is running on {} since {}; one deployment at a time",
                       e.running_deployment(), d.kind() == v1::ROLLBACK ? "rollback to" : "release", d.release(),
                       d.user(), e.name(), FormatTime(d.started()));
  }

  // Loads the current and the target state into shadows (in parallel with
  // reading the live catalog), diffs them both ways, checks drift.
  absl::StatusOr<Prepared> Prepare(const internal::EnvironmentState& env, const Entries& target,
                                   const std::string& title, const v1::Release* release) {
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
    auto forward = schemadiff::Diff(current, wanted, {.allow_data_loss = true});
    if (!forward.ok()) return forward.status();
    auto backward = schemadiff::Diff(wanted, current, {.allow_data_loss = true});
    if (!backward.ok()) return backward.status();
    p.forward = std::move(*forward);
    p.backward = std::move(*backward);

    p.changed = ChangedObjects(env.environment().state(), target);
    Findings(p, ByObject(env.environment().state()), ByObject(target));
    Scripts scripts = ComposeScripts(p.forward, p.backward, release, title);
    p.script = std::move(scripts.script);
    p.rollback_script = std::move(scripts.rollback);
    p.statements = static_cast<int>(p.forward.steps.size());
    p.seconds = absl::ToDoubleSeconds(absl::Now() - start);
    return p;
  }

  // Risk findings of each changed object (strata_sql's rules), from the
  // definitions of the version deployed now and the target version.
  void Findings(Prepared& p, const std::map<std::string, const v1::BaselineEntry*>& before,
                const std::map<std::string, const v1::BaselineEntry*>& after) {
    for (const auto& id_text : p.changed) {
      auto id = model::ParseObjectId(id_text);
      auto to = after.find(id_text);
      if (!id.ok() || to == after.end()) continue;
      auto proposed = DeployProjection::ReadDefinition(db(), id_text, to->second->version());
      if (!proposed.ok()) continue;
      std::optional<sql::ObjectInfo> old;
      if (auto from = before.find(id_text); from != before.end()) {
        auto def = DeployProjection::ReadDefinition(db(), id_text, from->second->version());
        if (def.ok())
          if (auto info = sql::AnalyzeDefinition(*def); info.ok()) old = std::move(*info);
      }
      auto change = sql::DescribeChange(*id, old ? &*old : nullptr, *proposed);
      if (!change.ok()) continue;
      for (const auto& f : change->findings) {
        v1::Finding* out = nullptr;
        out = &p.findings.emplace_back();
        out->set_code(f.code);
        out->set_severity(sql::SeverityName(f.severity));
        out->set_object(f.object);
        out->set_reason(f.reason);
      }
    }
  }

  absl::Status DoPlan(const auth::Principal& who, const v1::PlanRequest& req, v1::DeploymentPlan* resp) {
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
    for (auto& b : *blockers) resp->add_blockers(std::move(b));
    if (!p->drift.empty())
      resp->add_blockers(fmt::format("{} has drifted from what Strata deployed there ({} objects); a dba can "
                                     "deploy anyway with --override-drift REASON",
                                     req.environment(), p->drift.size()));
    return absl::OkStatus();
  }

  static void FillPlan(const Prepared& p, const std::string& release, v1::DeploymentPlan* resp) {
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
    resp->set_statements(static_cast<uint32_t>(p.statements));
    resp->set_plan_seconds(p.seconds);
  }

  absl::Status DriftRefusal(const std::string& env, const std::vector<std::string>& drift) {
    return absl::FailedPreconditionError(fmt::format(
        "{} has drifted from what Strata deployed there; nothing was run:\n  {}\nUndo the out-of-band change, or "
        "a dba can deploy anyway with --override-drift REASON (recorded)",
        env, fmt::join(drift, "\n  ")));
  }

  absl::Status CheckOverride(const auth::Principal& who, const std::string& reason) {
    if (reason.empty()) return absl::OkStatus();
    return NeedRole(who, {"dba", "admin"}, "overriding a drift check");
  }

  absl::Status DoDeploy(const auth::Principal& who, const v1::DeployRequest& req, v1::Deployment* resp) {
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
    if (!p->forward.data_loss.empty() && !req.allow_data_loss())
      return absl::FailedPreconditionError(fmt::format(
          "the plan loses data; deploy with --allow-data-loss if that is intended:\n  {}",
          fmt::join(p->forward.data_loss, "\n  ")));
    return Run(who, *p, v1::DEPLOY, req.release(), "", rel->release().entries(), req.override_drift_reason(),
               req.allow_data_loss(), resp);
  }

  absl::Status DoRollback(const auth::Principal& who, const v1::RollbackRequest& req, v1::Deployment* resp) {
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
    if (!p.drift.empty() && req.override_drift_reason().empty()) return DriftRefusal(req.environment(), p.drift);
    p.script = target->deployment().rollback_script();
    p.rollback_script = target->deployment().script();
    return Run(who, p, v1::ROLLBACK, target->release_before(), target->deployment().id(), target->before(),
               req.override_drift_reason(), true, resp);
  }

  // Connects to the environment, claims it (DeploymentStarted), runs the
  // script in one transaction, records the outcome.
  absl::Status Run(const auth::Principal& who, const Prepared& p, v1::DeploymentKind kind, const std::string& release,
                   const std::string& rolls_back, const Entries& target, const std::string& drift_override,
                   bool data_loss_allowed, v1::Deployment* resp) {
    const v1::Environment& env = p.env.environment();
    auto session = Connect(env);
    if (!session.ok()) return session.status();
    auto pid = (*session)->Query("SELECT pg_backend_pid()");
    if (!pid.ok()) return pid.status();
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
    absl::StatusOr<schemadiff::ApplyResult> applied = schemadiff::ApplyScript(**session, p.script, script_name);
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

  // Records the end of a started deployment; retried, since until it is in
  // the log the environment stays claimed.
  absl::StatusOr<decide::Decision> Finish(const auth::Principal& who, const v1::Event& started, bool succeeded,
                                          int64_t ms, const std::string& error) {
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

  // 0.1 s to 2 h: deployments take seconds to hours.
  static const std::vector<double>& DeploymentBuckets() {
    static const std::vector<double> kBuckets = {0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200};
    return kBuckets;
  }

  // strata_deployments_total{environment, kind, outcome}: the deployments this
  // instance ran (or abandoned), once their end is in the log.
  static void CountDeployment(const std::string& environment, v1::DeploymentKind kind, const char* outcome) {
    metrics::Registry::Default()
        .GetCounter("strata_deployments_total", "deployments run by this server, by environment, kind and outcome",
                    {{"environment", environment},
                     {"kind", kind == v1::ROLLBACK ? "rollback" : "deploy"},
                     {"outcome", outcome}})
        .Increment();
  }

  absl::Status DoAbandon(const auth::Principal& who, const v1::AbandonRequest& req, v1::Deployment* resp) {
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
    if (const int32_t pid = *started ? (*started)->backend_pid() : 0; pid > 0) {
      auto session = Connect(env->environment());
      if (!session.ok())
        return absl::UnavailableError(fmt::format("cannot check whether deployment {} still runs: {}", running,
                                                  std::string(session.status().message())));
      auto alive = (*session)->Query(
          "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int AND datname = current_database()",
          {std::to_string(pid)});
      if (!alive.ok()) return alive.status();
      if (alive->number(0, 0) > 0)
        return absl::FailedPreconditionError(fmt::format(
            "deployment {} is still running in PostgreSQL (backend {}); wait for it, or stop it with "
            "SELECT pg_cancel_backend({}) and it will record its failure itself",
            running, pid, pid));
    }
    v1::Event e = NewEvent(who, "env:" + req.environment(), env->last_seq() + 1);
    auto* fin = e.mutable_deployment_finished();
    fin->set_deployment_id(running);
    fin->set_succeeded(false);
    fin->set_error(fmt::format("abandoned by {}: {}", who.user, req.reason()));
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

  absl::Status DoPipeline(v1::PipelineResponse* resp) {
    auto envs = DeployProjection::ReadEnvironments(db());
    if (!envs.ok()) return envs.status();
    auto releases = DeployProjection::ReadReleases(db());
    if (!releases.ok()) return releases.status();
    // Per environment: release -> latest deployment status of it.
    std::vector<std::map<std::string, std::string>> status(envs->size());
    for (size_t i = 0; i < envs->size(); ++i) {
      v1::Environment* out = resp->add_environments();
      *out = (*envs)[i].environment();
      out->clear_state();
      // One record per release deployed there, not every deployment ever.
      auto latest = DeployProjection::ReadLatestDeployments(db(), out->name());
      if (!latest.ok()) return latest.status();
      for (const auto& [release, d] : *latest) status[i].emplace(release, d.deployment().status());
    }
    for (const auto& r : *releases) {
      v1::PipelineRow* row = resp->add_releases();
      row->set_release(r.release().name());
      *row->mutable_created() = r.release().time();
      for (size_t i = 0; i < envs->size(); ++i) {
        const v1::Environment& e = (*envs)[i].environment();
        std::string cell;
        if (e.current_release() == r.release().name()) {
          cell = "current";
        } else if (auto it = status[i].find(r.release().name()); it != status[i].end()) {
          cell = it->second == "succeeded" ? "deployed" : it->second;
        } else {
          for (const auto& a : r.release().approvals())
            if (a.environment() == e.name()) cell = "approved";
        }
        row->add_cells(cell);
      }
    }
    return absl::OkStatus();
  }

 public:
  // Set by the module before serving: tells the guard's sync to look now.
  std::function<void()> wake_guard_sync_;

 private:
  const DeployModuleOptions& options_;
  eventlog::EventLog* log_;
  projection::ProjectionRunner* runner_;
  DecisionBoard* board_;
  std::shared_ptr<auth::TokenStore> tokens_;
  std::shared_ptr<const Secrets> secrets_;
  schemadiff::ShadowOptions shadow_;
};

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
                                                    .read_wait = absl::Milliseconds(10)},
                                                   log, m->projection_.get());
  if (!runner.ok()) return runner.status();
  m->runner_ = std::move(*runner);
  m->service_ = std::make_unique<DeployServiceImpl>(m->options_, log, m->runner_.get(), &m->board_,
                                                    std::move(tokens), m->secrets_);
  return m;
}

DeployModule::~DeployModule() { Stop(); }

absl::Status DeployModule::Start(absl::Duration catch_up_timeout) {
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
  if (absl::Status s = runner_->Start(); !s.ok()) return s;
  if (absl::Status s = runner_->CatchUp(catch_up_timeout); !s.ok()) return s;
  guard_sync_->Start();
  return absl::OkStatus();
}

void DeployModule::Stop() {
  if (guard_sync_) guard_sync_->Stop();
  if (runner_) runner_->Stop();
}

grpc::Service* DeployModule::service() { return service_.get(); }

}  // namespace strata::deploy
