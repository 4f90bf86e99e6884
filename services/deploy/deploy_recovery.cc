// Deployments whose deploy service died: fencing and recovery.
//
// A deployment (Run, deploy_deployments.cc) takes Strata's advisory lock on
// the environment's database before it claims the environment in the log,
// and holds it on its session until its end is recorded; its transaction
// records the deployment's id in strata_deploy.deployments before COMMIT.
// So, for a deployment the log says is running:
//  * while its session lives, the lock is taken: it is running (here or at
//    another deploy service), and nobody else may deploy to that database;
//  * once the lock can be taken, its session is gone: PostgreSQL either
//    committed its transaction (the id is in the table) or rolled it back
//    (it is not). Either way the outcome is final, and any deploy service
//    records it: succeeded or failed.
// A database that cannot be reached leaves the deployment running; a dba
// ends it with `strata abandon`.
#include <signal.h>

#include <cstdlib>

#include "deploy/deploy_service_impl.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace strata::deploy {

namespace {
// The advisory lock's first key ("ST"); the second is hashtext(environment).
constexpr int kAdvisoryClass = 0x5354;
}  // namespace

absl::Status DeployServiceImpl::LockEnvironmentDatabase(pg::Session& session, const std::string& environment) {
  auto got = session.Query(fmt::format("SELECT pg_try_advisory_lock({}, hashtext($1))", kAdvisoryClass),
                           {environment});
  if (!got.ok()) return got.status();
  if (got->text(0, 0) != "t")
    return absl::FailedPreconditionError(fmt::format(
        "another deployment to {} is still running in its database (it holds Strata's advisory lock there); "
        "one deployment at a time: wait for it to end",
        environment));
  return absl::OkStatus();
}

std::vector<std::string> DeployServiceImpl::DeploymentRecordSql(const std::string& id, const std::string& environment,
                                                                const std::string& release, v1::DeploymentKind kind) {
  return {
      "CREATE SCHEMA IF NOT EXISTS strata_deploy",
      "CREATE TABLE IF NOT EXISTS strata_deploy.deployments (id text PRIMARY KEY, environment text NOT NULL, "
      "release text NOT NULL, kind text NOT NULL, committed_at timestamptz NOT NULL DEFAULT now())",
      fmt::format("INSERT INTO strata_deploy.deployments (id, environment, release, kind) VALUES ({}, {}, {}, {})",
                  pg::QuoteLiteral(id), pg::QuoteLiteral(environment), pg::QuoteLiteral(release),
                  pg::QuoteLiteral(kind == v1::ROLLBACK ? "rollback" : "deploy")),
  };
}

void DeployServiceImpl::FaultPoint(const char* point) {
  // Tests only: STRATA_TEST_DEPLOY_CRASH names the point where the service
  // kills itself (as kill -9 would) during a deployment.
  const char* want = std::getenv("STRATA_TEST_DEPLOY_CRASH");
  if (want == nullptr || std::string_view(want) != point) return;
  spdlog::warn("test fault point {}: killing this process", point);
  spdlog::default_logger()->flush();
  raise(SIGKILL);
}

absl::StatusOr<bool> DeployServiceImpl::ResolveDeployment(const std::string& environment, const std::string& id) {
  auto env = FreshEnvironment(environment, /*with_state=*/false);
  if (!env.ok()) return env.status();
  if (env->environment().running_deployment() != id) return false;  // ended meanwhile
  auto session = Connect(env->environment());
  if (!session.ok()) return session.status();
  if (absl::Status s = LockEnvironmentDatabase(**session, environment); !s.ok()) {
    if (s.code() == absl::StatusCode::kFailedPrecondition) return false;  // still running
    return s;
  }
  auto table = (*session)->Query("SELECT to_regclass('strata_deploy.deployments') IS NOT NULL");
  if (!table.ok()) return table.status();
  bool committed = false;
  if (table->text(0, 0) == "t") {
    auto found = (*session)->Query("SELECT count(*) FROM strata_deploy.deployments WHERE id = $1", {id});
    if (!found.ok()) return found.status();
    committed = found->number(0, 0) > 0;
  }
  // The lock is held until the session ends (after the end is recorded), so
  // no other deployment to this database starts in between.
  const auth::Principal system{.user = "strata-deploy", .site = options_.site, .roles = {"system"}};
  v1::Event e = NewEvent(system, "env:" + environment, env->last_seq() + 1);
  auto* fin = e.mutable_deployment_finished();
  fin->set_deployment_id(id);
  fin->set_succeeded(committed);
  if (!committed)
    fin->set_error(fmt::format(
        "the deploy service running it stopped before its transaction committed; PostgreSQL rolled it back, so {} "
        "is unchanged (recorded by the deploy service at {})",
        environment, options_.site));
  auto d = Submit(e);
  if (!d.ok()) return d.status();
  if (!d->accepted()) return false;  // its own service (or a dba) recorded the end first
  auto started = DeployProjection::ReadDeployment(db(), id, /*with_detail=*/false);
  CountDeployment(environment, started.ok() && *started ? (*started)->deployment().kind() : v1::DEPLOY,
                  committed ? "recovered-succeeded" : "recovered-failed");
  spdlog::warn("deployment {} to {} was left running by a deploy service that stopped; its transaction {}: "
               "recorded as {}",
               id, environment, committed ? "committed" : "was rolled back", committed ? "succeeded" : "failed");
  return true;
}

int DeployServiceImpl::ResolveInterrupted() {
  auto envs = DeployProjection::ReadEnvironments(db());
  if (!envs.ok()) {
    spdlog::warn("looking for interrupted deployments: {}", envs.status().ToString());
    return 0;
  }
  int resolved = 0;
  for (const auto& env : *envs) {
    const std::string& running = env.environment().running_deployment();
    if (running.empty()) continue;
    auto r = ResolveDeployment(env.environment().name(), running);
    if (!r.ok())
      spdlog::debug("deployment {} to {}: cannot tell yet whether it still runs: {}", running,
                    env.environment().name(), r.status().ToString());
    else if (*r)
      ++resolved;
  }
  return resolved;
}

}  // namespace strata::deploy
