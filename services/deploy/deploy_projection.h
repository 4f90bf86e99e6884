// The deploy service's projection: environments (and what Strata expects in
// each), releases with their approvals, deployments, and the object versions
// releases are made of, rebuilt from the event log with the accept rule of
// strata_decide.
//
// Storage layout (RocksDB), version kFormatVersion. The large parts (an
// environment's or a release's object versions, a deployment's states and
// scripts) are kept apart from the small records that lists, gates and the
// pipeline read, so that those cost what they show, not the repository:
//   o/<object id>                  -> strata.internal.DeployObject
//   v/<object id>\0<version %020d>  -> the version's definition (SQL)
//   b/<baseline name>              -> strata.v1.BaselineCreated
//   e/<environment>                -> strata.internal.EnvironmentState (without its state entries)
//   E/<environment>                -> strata.internal.Entries (what Strata expects there)
//   r/<release>                    -> strata.internal.ReleaseState (without its entries)
//   q/<release>                    -> strata.internal.Entries (the release's object versions)
//   D/<deployment id>              -> strata.internal.DeploymentRecord (without states and scripts)
//   X/<deployment id>              -> strata.internal.DeploymentDetail (states and scripts)
//   d/<environment>\0<seq %020d>    -> deployment id (an environment's deployments in order)
//   L/<environment>\0<release>     -> deployment id (the release's latest deployment there)
//   s/<environment>\0<release>     -> "" (the release succeeded there once)
//   T/<task>\0<object id>          -> latest version checked in under the work item (decimal)
//   K/<object id>\0<version %020d>  -> the work item the version was checked in under
//   t/<schema>.<table>             -> strata.internal.DataTableState (a tracked table's data aggregate)
//   Y/facts, Y/policy              -> the policy aggregate's facts ("seq\0version"), its latest PolicySet
//   Y/w/<object id>\0<rule>        -> strata.v1.PolicyWaived (waivers in force)
//   R/<schema>.<table>\0<version %020d> -> strata.internal.DataVersionRecord (its rows at that version)
//
// Thread-safety: Apply/Flush/BatchDone run on the runner's thread; the
// static readers read committed state from any thread; the change feed
// (TrackObjectChanges, TakeObjectChanges, environments_generation) may be
// used from any thread.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
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
  void Expect(const std::string& event_id) ABSL_LOCKS_EXCLUDED(mu_);
  void Forget(const std::string& event_id) ABSL_LOCKS_EXCLUDED(mu_);
  void Publish(const std::string& event_id, const decide::Decision& decision) ABSL_LOCKS_EXCLUDED(mu_);
  std::optional<decide::Decision> Take(const std::string& event_id) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;  // guards expected_; a leaf lock
  std::map<std::string, std::optional<decide::Decision>> expected_ ABSL_GUARDED_BY(mu_);
};

namespace keys {
std::string Object(const std::string& id);
std::string Version(const std::string& id, uint64_t version);
std::string Renames(const std::string& id, uint64_t version);  // C/: a version's renames
std::string Baseline(const std::string& name);
std::string Environment(const std::string& name);
std::string EnvironmentObjects(const std::string& name);
std::string Release(const std::string& name);
std::string ReleaseEntries(const std::string& name);
std::string Deployment(const std::string& id);
std::string DeploymentDetail(const std::string& id);
std::string EnvironmentDeploymentsPrefix(const std::string& env);
std::string LatestDeploymentOfRelease(const std::string& env, const std::string& release);
std::string Succeeded(const std::string& env, const std::string& release);
std::string DataTable(const std::string& qualified);
std::string TaskObject(const std::string& task, const std::string& id);
std::string VersionTask(const std::string& id, uint64_t version);
std::string DataVersion(const std::string& qualified, uint64_t version);
}  // namespace keys

// Objects whose guard rows may have changed since the last TakeObjectChanges.
struct ObjectChanges {
  std::vector<std::string> ids;  // sorted, unique
  bool overflow = false;         // too many to list: compare everything
};

class DeployProjection : public projection::Projection {
 public:
  // Version of the storage layout above (a store in another one is rebuilt).
  static constexpr uint32_t kFormatVersion = 3;

  // `max_tracked_changes`: see TrackObjectChanges.
  explicit DeployProjection(DecisionBoard* board, size_t max_tracked_changes = 20'000)
      : board_(board), max_tracked_changes_(max_tracked_changes) {}
  absl::Status Apply(const v1::Event& event, const eventlog::Position& position,
                     projection::StateTxn& txn) override;
  // Called after a durable commit that changed what the guard's sync
  // follows (an environment, or an object while changes are tracked), on
  // the runner's thread (set before the runner starts). A commit that
  // changed nothing of that calls nobody.
  void OnGuardChange(std::function<void()> callback) { on_guard_change_ = std::move(callback); }
  void BatchDone(bool committed) override;

  // The change feed of the guard's sync. While tracked, every committed
  // change to an object (check-out, check-in, undo, ...) adds its id, until
  // TakeObjectChanges takes them; more than `max_tracked_changes` at once
  // become "overflow". Untracked (the default), nothing is kept. Turning it
  // on and then reading the committed state misses nothing: a commit that
  // lands after the switch is in the feed, one before it is in the state.
  void TrackObjectChanges(bool on);
  ObjectChanges TakeObjectChanges();
  // Grows with every committed change to an environment aggregate.
  uint64_t environments_generation() const { return env_generation_.load(); }

  // Read side (committed state).
  static absl::StatusOr<std::optional<internal::DeployObject>> ReadObject(rocksdb::DB* db, const std::string& id);
  static absl::StatusOr<std::string> ReadDefinition(rocksdb::DB* db, const std::string& id, uint64_t version);
  // The column renames of versions after+1..up_to, in order ("OLD", "NEW").
  static absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ReadColumnRenames(rocksdb::DB* db,
                                                                                           const std::string& id,
                                                                                           uint64_t after,
                                                                                           uint64_t up_to);
  // Renames in order, composed: (name before them all, name after), those
  // undone on the way left out.
  static std::vector<std::pair<std::string, std::string>> ComposeColumnRenames(
      const std::vector<std::pair<std::string, std::string>>& renames);
  // The latest `strata rename` into `id` at or before version `up_to`: the
  // old id, its version the rename continued, and `id`'s version it became.
  struct RenamedFrom {
    std::string object;
    uint64_t object_version = 0;
    uint64_t version = 0;
  };
  static absl::StatusOr<std::optional<RenamedFrom>> ReadRenamedFrom(rocksdb::DB* db, const std::string& id,
                                                                    uint64_t up_to);
  // One environment, with its expected state (environment().state()) or
  // without it (object_count says how many objects it holds).
  static absl::StatusOr<std::optional<internal::EnvironmentState>> ReadEnvironment(rocksdb::DB* db,
                                                                                 const std::string& name,
                                                                                 bool with_state = true);
  // Every environment in pipeline order, without state entries (object_count says how many).
  static absl::StatusOr<std::vector<internal::EnvironmentState>> ReadEnvironments(rocksdb::DB* db);
  // One release, with its entries or without them.
  static absl::StatusOr<std::optional<internal::ReleaseState>> ReadRelease(rocksdb::DB* db, const std::string& name,
                                                                         bool with_entries = true);
  // Every release, newest first, without entries (object_count says how many).
  static absl::StatusOr<std::vector<internal::ReleaseState>> ReadReleases(rocksdb::DB* db);
  // One deployment, with its states and scripts or without them.
  static absl::StatusOr<std::optional<internal::DeploymentRecord>> ReadDeployment(rocksdb::DB* db,
                                                                                const std::string& id,
                                                                                bool with_detail = true);
  // Each release's latest deployment (kind DEPLOY) in `env`, by release,
  // without states and scripts: what the pipeline board shows.
  static absl::StatusOr<std::map<std::string, internal::DeploymentRecord>> ReadLatestDeployments(
      rocksdb::DB* db, const std::string& env);
  // An environment's deployments, newest first (at most `limit`, 0: all),
  // without states and scripts (ReadDeployment has them).
  static absl::StatusOr<std::vector<internal::DeploymentRecord>> ReadDeployments(rocksdb::DB* db,
                                                                               const std::string& env,
                                                                               size_t limit = 0);
  static absl::StatusOr<std::optional<v1::BaselineCreated>> ReadBaseline(rocksdb::DB* db, const std::string& name);
  // The team's policy in force (none: never set), and whether a rule is waived for an object.
  static absl::StatusOr<std::optional<v1::PolicySet>> ReadPolicy(rocksdb::DB* db);
  static bool Waived(rocksdb::DB* db, const std::string& object, const std::string& rule);
  // A work item's objects, each at the latest version checked in under it.
  static absl::StatusOr<std::map<std::string, uint64_t>> ReadTask(rocksdb::DB* db, const std::string& task);
  // The work item a version was checked in under ("" none).
  static std::string TaskOfVersion(rocksdb::DB* db, const std::string& id, uint64_t version);
  // Reference data, by the table's qualified name ("sales.status_codes").
  static absl::StatusOr<std::optional<internal::DataTableState>> ReadDataTable(rocksdb::DB* db,
                                                                              const std::string& qualified);
  // Every table whose rows were ever tracked (tracked now or not).
  static absl::StatusOr<std::map<std::string, internal::DataTableState>> ReadDataTables(rocksdb::DB* db);
  static absl::StatusOr<std::optional<internal::DataVersionRecord>> ReadDataVersion(rocksdb::DB* db,
                                                                                  const std::string& qualified,
                                                                                  uint64_t version);
  static bool SucceededOn(rocksdb::DB* db, const std::string& env, const std::string& release);
  // Every object Strata knows (with a version or checked out), by id. Reads
  // the whole repository: for explicit requests and the guard's periodic
  // read-back, never per command (counted in ObjectScans()).
  static absl::StatusOr<std::map<std::string, internal::DeployObject>> ReadObjects(rocksdb::DB* db);
  // The same for the first `limit` of them after `after` ("" : from the
  // first) in id order; `*done` says whether none follow (counted too).
  static absl::StatusOr<std::map<std::string, internal::DeployObject>> ReadObjectsAfter(rocksdb::DB* db,
                                                                                      const std::string& after,
                                                                                      size_t limit, bool* done);
  // Every object with a version: id -> its latest version. Also a
  // whole-repository read (counted).
  struct Head {
    uint64_t version = 0;
    std::string sha256;
    bool dropped = false;  // the latest version dropped the object
  };
  static absl::StatusOr<std::map<std::string, Head>> ReadHeads(rocksdb::DB* db);
  // How many whole-repository reads (ReadObjects, ReadHeads) and slices
  // (ReadObjectsAfter) this process made; also the metric
  // strata_deploy_object_scans_total.
  static uint64_t ObjectScans();

 private:
  absl::Status ApplyObject(const v1::Event& e, projection::StateTxn& txn);
  absl::Status ApplyEnvironment(const v1::Event& e, projection::StateTxn& txn);
  absl::Status ApplyRelease(const v1::Event& e, projection::StateTxn& txn);
  absl::Status ApplyBaseline(const v1::Event& e, projection::StateTxn& txn);
  absl::Status ApplyData(const v1::Event& e, projection::StateTxn& txn);
  absl::Status ApplyPolicy(const v1::Event& e, projection::StateTxn& txn);
  void Publish(const v1::Event& e, const decide::Decision& d);
  std::function<void()> on_guard_change_;

  DecisionBoard* board_;
  const size_t max_tracked_changes_;
  // Runner thread only: what the events since the last commit touched.
  absl::flat_hash_set<std::string> batch_objects_;
  bool batch_objects_overflow_ = false;
  bool batch_environments_ = false;
  // The feed, for any thread. Rule: tracking_ is switched before the caller
  // reads the state it completes; changes_ only grows while tracking_.
  std::atomic<bool> tracking_{false};
  absl::Mutex changes_mu_;  // guards changes_ and changes_overflow_; a leaf lock
  absl::flat_hash_set<std::string> changes_ ABSL_GUARDED_BY(changes_mu_);
  bool changes_overflow_ ABSL_GUARDED_BY(changes_mu_) = false;
  std::atomic<uint64_t> env_generation_{0};
};

}  // namespace strata::deploy
