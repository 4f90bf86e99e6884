// The deploy service: environments of the pipeline, releases, plans, drift
// checks, deployments and rollbacks (design.md, "Deployments"). It decides
// the "env:<name>" and "release:<name>" aggregates through the log, and
// writes the check-out/check-in pairs that create imported objects.
//
// A deployment: promotion gate (the release succeeded in the previous
// environment; a release-manager's approval for protected ones), drift check
// (the live catalog equals the catalog of the versions Strata last deployed
// there), plan (both states loaded into shadow databases and diffed), a
// DeploymentStarted event that the log accepts only when no other
// deployment runs there, the script in ONE transaction, DeploymentFinished.
//
// Fencing and recovery (deploy_recovery.cc): a deployment holds Strata's
// advisory lock in the environment's database from before its claim until
// its end is recorded, and its transaction records its id there. When a
// deploy service dies mid-deployment, any deploy service (the restarted one
// or another) finds the deployment running with the lock free, reads the id
// back, and records succeeded or failed; no person is needed. `strata
// abandon` remains for a database that cannot be reached.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "auth/tokens.h"
#include "deploy/deploy_projection.h"
#include "deploy/secrets.h"
#include "eventlog/event_log.h"
#include "projection/projection.h"
#include "strata/v1/deploy.grpc.pb.h"

namespace strata::deploy {

struct DeployModuleOptions {
  std::string data_dir;  // the projection lives in <data_dir>/deploy
  std::string site;
  bool rebuild = false;
  // Credentials of the environments (see secrets.h); "" : none.
  std::string secrets_file;
  // Server for shadow databases ("" : the secrets file's shadow_url, else
  // STRATA_SHADOW_URL, else libpq's defaults).
  std::string shadow_url;
  // Larger data scripts (each, and a release's together) are refused.
  int64_t max_definition_bytes = int64_t{8} << 20;
  absl::Duration apply_timeout = absl::Seconds(30);
  // How often deployments left running by a deploy service that stopped are
  // looked for (and at start); see deploy_recovery.cc.
  absl::Duration recover_interval = absl::Seconds(5);
  // RocksDB memory shared with the other projections of the process (see
  // projection/shared_memory.h); nullptr: the store's own cache and memtables.
  std::shared_ptr<projection::SharedMemory> shared_memory = nullptr;
};

class DeployServiceImpl;
class GuardSync;

class DeployModule {
 public:
  static absl::StatusOr<std::unique_ptr<DeployModule>> Open(DeployModuleOptions options,
                                                            eventlog::EventLog* log,
                                                            std::shared_ptr<auth::TokenStore> tokens);
  ~DeployModule();
  // Starts the projection's replay of the log and returns at once (see
  // LockModule::StartReplay); Start then waits for it.
  absl::Status StartReplay();
  // Starts the projection (if StartReplay did not), waits until it has
  // caught up with the log, then starts the guard sync and the recovery of
  // deployments left running.
  absl::Status Start(absl::Duration catch_up_timeout);
  void Stop();
  grpc::Service* service();
  projection::ProjectionRunner* runner() { return runner_.get(); }

 private:
  DeployModule() = default;
  DeployModuleOptions options_;
  std::shared_ptr<const Secrets> secrets_;
  DecisionBoard board_;
  std::unique_ptr<DeployProjection> projection_;
  std::unique_ptr<projection::ProjectionRunner> runner_;
  std::unique_ptr<DeployServiceImpl> service_;
  std::unique_ptr<GuardSync> guard_sync_;
  // Resolves interrupted deployments every options_.recover_interval.
  void RecoveryLoop();
  std::thread recovery_;
  absl::Mutex recovery_mu_;  // guards stopping_; RecoveryLoop waits on it
  bool stopping_ ABSL_GUARDED_BY(recovery_mu_) = false;
};

}  // namespace strata::deploy
