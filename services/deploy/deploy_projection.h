// The deploy service's projection: environments (and what Strata expects in
// each), releases with their approvals, deployments, and the object versions
// releases are made of, rebuilt from the event log with the accept rule of
// strata_decide.
//
// Storage layout (RocksDB):
//   o/<object id>                  -> strata.internal.DeployObject
//   v/<object id>\0<version %020d>  -> the version's definition (SQL)
//   b/<baseline name>              -> strata.v1.BaselineCreated
//   e/<environment>                -> strata.internal.EnvironmentState
//   r/<release>                    -> strata.internal.ReleaseState
//   D/<deployment id>              -> strata.internal.DeploymentRecord
//   d/<environment>\0<seq %020d>    -> deployment id (an environment's deployments in order)
//   s/<environment>\0<release>     -> "" (the release succeeded there once)
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "decide/decide.h"
#include "projection/projection.h"
#include "strata/internal/deploy_state.pb.h"

namespace rocksdb {
class DB;
}

namespace strata::deploy {

// Outcomes of the events command handlers wait for, by event id.
class DecisionBoard {
 public:
  void Expect(const std::string& event_id);
  void Forget(const std::string& event_id);
  void Publish(const std::string& event_id, const decide::Decision& decision);
  std::optional<decide::Decision> Take(const std::string& event_id);

 private:
  std::mutex mu_;
  std::map<std::string, std::optional<decide::Decision>> expected_;
};

namespace keys {
std::string Object(const std::string& id);
std::string Version(const std::string& id, uint64_t version);
std::string Baseline(const std::string& name);
std::string Environment(const std::string& name);
std::string Release(const std::string& name);
std::string Deployment(const std::string& id);
std::string EnvironmentDeploymentsPrefix(const std::string& env);
std::string Succeeded(const std::string& env, const std::string& release);
}  // namespace keys

class DeployProjection : public projection::Projection {
 public:
  explicit DeployProjection(DecisionBoard* board) : board_(board) {}
  absl::Status Apply(const v1::Event& event, const eventlog::Position& position,
                     projection::StateTxn& txn) override;
  // Called after every durable commit, on the runner's thread (set before
  // the runner starts): the guard's sync follows the projection at once.
  void OnCommit(std::function<void()> callback) { on_commit_ = std::move(callback); }
  void BatchDone(bool committed) override {
    if (committed && on_commit_) on_commit_();
  }

  // Read side (committed state).
  static absl::StatusOr<std::optional<internal::DeployObject>> ReadObject(rocksdb::DB* db, const std::string& id);
  static absl::StatusOr<std::string> ReadDefinition(rocksdb::DB* db, const std::string& id, uint64_t version);
  static absl::StatusOr<std::optional<internal::EnvironmentState>> ReadEnvironment(rocksdb::DB* db,
                                                                                 const std::string& name);
  static absl::StatusOr<std::vector<internal::EnvironmentState>> ReadEnvironments(rocksdb::DB* db);
  static absl::StatusOr<std::optional<internal::ReleaseState>> ReadRelease(rocksdb::DB* db, const std::string& name);
  static absl::StatusOr<std::vector<internal::ReleaseState>> ReadReleases(rocksdb::DB* db);
  static absl::StatusOr<std::optional<internal::DeploymentRecord>> ReadDeployment(rocksdb::DB* db,
                                                                                const std::string& id);
  // An environment's deployments, newest first (at most `limit`, 0: all).
  static absl::StatusOr<std::vector<internal::DeploymentRecord>> ReadDeployments(rocksdb::DB* db,
                                                                               const std::string& env,
                                                                               size_t limit = 0);
  static absl::StatusOr<std::optional<v1::BaselineCreated>> ReadBaseline(rocksdb::DB* db, const std::string& name);
  static bool SucceededOn(rocksdb::DB* db, const std::string& env, const std::string& release);
  // Every object Strata knows (with a version or checked out), by id.
  static absl::StatusOr<std::map<std::string, internal::DeployObject>> ReadObjects(rocksdb::DB* db);
  // Every object with a version: id -> (latest version, its sha256).
  static absl::StatusOr<std::map<std::string, std::pair<uint64_t, std::string>>> ReadHeads(rocksdb::DB* db);

 private:
  absl::Status ApplyObject(const v1::Event& e, projection::StateTxn& txn);
  absl::Status ApplyEnvironment(const v1::Event& e, projection::StateTxn& txn);
  absl::Status ApplyRelease(const v1::Event& e, projection::StateTxn& txn);
  absl::Status ApplyBaseline(const v1::Event& e, projection::StateTxn& txn);
  void Publish(const v1::Event& e, const decide::Decision& d);
  std::function<void()> on_commit_;

  DecisionBoard* board_;
};

}  // namespace strata::deploy
