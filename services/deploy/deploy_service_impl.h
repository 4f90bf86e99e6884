// DeployServiceImpl: the DeployService gRPC service of the deploy module
// (deploy_service.h; design.md, "Deployments"): environments, releases,
// plans, drift checks, deployments, rollbacks and the guard. It decides the
// "env:<name>" and "release:<name>" aggregates through the log, and writes
// the check-out/check-in pairs that create imported objects.
//
// Private to services/deploy: not installed, included only by the files
// that define the class:
//   deploy_service.cc       the RPCs (thin wrappers around Handle and the Do*
//                           methods; the reads of environments and releases),
//                           Handle, roles and schema scopes, Submit/SubmitAll,
//                           the state readers, and DeployModule.
//   deploy_environments.cc  adding environments, connections and catalogs,
//                           import, CaptureDefinition.
//   deploy_releases.cc      creating and approving releases, the pipeline.
//   deploy_deployments.cc   gates, plans, deployments, rollbacks, abandon,
//                           CheckDrift, ListDeployments, deployment metrics.
//   deploy_guard_rpcs.cc    the guard RPCs and what GuardSync reads from the
//                           projection (deploy/guard.h).
//   deploy_data.cc          reference data: tracking tables, data versions
//                           (check-in, show, diff), their part of imports
//                           and releases.
//   deploy_policy.cc        the team's policy over a release's state.
//   deploy_data_plan.cc     reference data in plans: the INSERT / UPDATE /
//                           DELETE steps in foreign-key order, drift of rows,
//                           rows a delete would leave without their reference.
//   deploy_recovery.cc      fencing (the advisory lock in the environment's
//                           database) and recovery of deployments whose
//                           deploy service died.
//
// Thread-safety: gRPC calls every method from many threads at once (and
// DeployModule's recovery thread calls ResolveInterrupted). The
// class holds no lock: its members are set by the constructor (and
// wake_guard_sync_ by DeployModule::Start, before serving) and only read
// afterwards; the state it reads is the projection's (RocksDB) and the
// decision board's, both safe for concurrent use.
#pragma once

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "auth/tokens.h"
#include "decide/decide.h"
#include "deploy/deploy_projection.h"
#include "deploy/deploy_scripts.h"
#include "deploy/deploy_service.h"
#include "deploy/guard.h"
#include "deploy/secrets.h"
#include "eventlog/event_log.h"
#include "hosting/hosting.h"
#include "pg/pg.h"
#include "policy/policy.h"
#include "projection/projection.h"
#include "refdata/rows.h"
#include "sql/analyze.h"
#include "schemadiff/catalog.h"
#include "schemadiff/definitions.h"
#include "schemadiff/diff.h"
#include "schemadiff/rename.h"
#include "schemadiff/source.h"
#include "spdlog/spdlog.h"
#include "strata/v1/deploy.grpc.pb.h"

namespace strata::deploy {
// Not "internal": inside strata::deploy that name is strata::internal, the
// package of the projection's records (internal::EnvironmentState ...).
namespace detail {

inline constexpr int kMaxAttempts = 8;

inline bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 100) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
  });
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
  std::vector<std::string> data_changes;  // one line per tracked table the plan moves
  std::vector<std::string> policy_errors;  // the team's policy: errors not waived (they block)
  uint64_t policy_version = 0;
  double seconds = 0;
};

// Entries "data:<schema>.<table>" of a state are reference data, not objects.
inline bool IsDataEntry(const std::string& object) { return object.rfind("data:", 0) == 0; }

}  // namespace detail

class DeployServiceImpl final : public v1::DeployService::Service {
 public:
  DeployServiceImpl(const DeployModuleOptions& options, eventlog::EventLog* log,
                    projection::ProjectionRunner* runner, DecisionBoard* board,
                    std::shared_ptr<auth::TokenStore> tokens, std::shared_ptr<const Secrets> secrets);

  grpc::Status AddEnvironment(grpc::ServerContext* ctx, const v1::AddEnvironmentRequest* req,
                              v1::Environment* resp) override;
  grpc::Status ListEnvironments(grpc::ServerContext* ctx, const v1::ListEnvironmentsRequest*,
                                v1::ListEnvironmentsResponse* resp) override;
  grpc::Status GetEnvironment(grpc::ServerContext* ctx, const v1::GetEnvironmentRequest* req,
                              v1::Environment* resp) override;
  grpc::Status Import(grpc::ServerContext* ctx, const v1::ImportRequest* req, v1::ImportResponse* resp) override;
  grpc::Status CreateRelease(grpc::ServerContext* ctx, const v1::CreateReleaseRequest* req,
                             v1::Release* resp) override;
  grpc::Status GetRelease(grpc::ServerContext* ctx, const v1::GetReleaseRequest* req, v1::Release* resp) override;
  grpc::Status ListReleases(grpc::ServerContext* ctx, const v1::ListReleasesRequest*,
                            v1::ListReleasesResponse* resp) override;
  grpc::Status Approve(grpc::ServerContext* ctx, const v1::ApproveRequest* req, v1::Release* resp) override;
  grpc::Status Plan(grpc::ServerContext* ctx, const v1::PlanRequest* req, v1::DeploymentPlan* resp) override;
  grpc::Status Deploy(grpc::ServerContext* ctx, const v1::DeployRequest* req, v1::Deployment* resp) override;
  grpc::Status Rollback(grpc::ServerContext* ctx, const v1::RollbackRequest* req, v1::Deployment* resp) override;
  grpc::Status Abandon(grpc::ServerContext* ctx, const v1::AbandonRequest* req, v1::Deployment* resp) override;
  grpc::Status CheckDrift(grpc::ServerContext* ctx, const v1::CheckDriftRequest* req,
                          v1::DriftReport* resp) override;
  grpc::Status Pipeline(grpc::ServerContext* ctx, const v1::PipelineRequest*, v1::PipelineResponse* resp) override;
  grpc::Status GuardInstall(grpc::ServerContext* ctx, const v1::GuardRequest* req, v1::GuardReport* resp) override;
  grpc::Status GuardUninstall(grpc::ServerContext* ctx, const v1::GuardRequest* req, v1::GuardReport* resp) override;
  grpc::Status GuardStatus(grpc::ServerContext* ctx, const v1::GuardRequest* req, v1::GuardReport* resp) override;

  grpc::Status CaptureDefinition(grpc::ServerContext* ctx, const v1::CaptureRequest* req,
                                 v1::CaptureResponse* resp) override;

  grpc::Status TrackData(grpc::ServerContext* ctx, const v1::TrackDataRequest* req, v1::DataTable* resp) override;
  grpc::Status UntrackData(grpc::ServerContext* ctx, const v1::UntrackDataRequest* req, v1::DataTable* resp) override;
  grpc::Status CheckInData(grpc::ServerContext* ctx, const v1::CheckInDataRequest* req,
                           v1::DataVersion* resp) override;
  grpc::Status GetData(grpc::ServerContext* ctx, const v1::GetDataRequest* req, v1::DataVersion* resp) override;
  grpc::Status DiffData(grpc::ServerContext* ctx, const v1::DiffDataRequest* req, v1::DataDiff* resp) override;
  grpc::Status ListData(grpc::ServerContext* ctx, const v1::ListDataRequest* req, v1::ListDataResponse* resp) override;

  // ---- the guard (deploy_guard_rpcs.cc) -----------------------------------

  // What every guarded environment's tables should hold, from the projection.
  absl::StatusOr<GuardState> ExpectedGuardState();

  using Objects = std::map<std::string, internal::DeployObject>;
  GuardState GuardStateOf(const Objects& objects) const;
  GuardCheckout GuardCheckoutOf(const std::string& id, const internal::DeployObject& o) const;

  absl::StatusOr<GuardState> ExpectedGuardSlice(const std::string& after, size_t limit, bool* done);

  // The guard rows of `ids` (sorted), from one point read each.
  absl::StatusOr<GuardDelta> GuardRowsOf(const std::vector<std::string>& ids);

  // Environments and how to connect to them, for the guard's sync.
  std::vector<std::pair<std::string, std::string>> GuardTargets();

  absl::Status DoGuard(const auth::Principal& who, const v1::GuardRequest& req, bool install, bool uninstall,
                       v1::GuardReport* resp);

  // What changed in the environment's database without going through Strata:
  // each object's definition there against its latest version. Definitions
  // whose text differs are compared again as catalogs (the latest versions
  // loaded into a shadow database and cut the same way), so a version
  // checked in from a hand-written file is not drift for its spelling.
  absl::Status GuardDrift(const auth::Principal& who, pg::Session& environment_db, const Objects& objects,
                          v1::GuardReport* resp);

  // "- line" of `before` missing from `after`, "+ line" of `after` missing
  // from `before`, at most `limit` of them.
  static std::vector<std::string> LinesThatDiffer(const std::string& before, const std::string& after, size_t limit);

  grpc::Status ListDeployments(grpc::ServerContext* ctx, const v1::ListDeploymentsRequest* req,
                               v1::ListDeploymentsResponse* resp) override;

 private:
  rocksdb::DB* db() const { return runner_->db(); }

  // ---- calls, scopes, events, state (deploy_service.cc) -------------------

  // Authenticates, runs the handler, logs commands, records refusals of
  // commands (FAILED_PRECONDITION, PERMISSION_DENIED) in the audit trail.
  template <typename Fn>
  grpc::Status Handle(grpc::ServerContext* ctx, const char* command, const std::string& aggregate, Fn&& fn);

  void RecordRefusal(const auth::Principal& who, const char* command, const std::string& aggregate,
                     const absl::Status& status);

  static absl::Status NeedRole(const auth::Principal& who, std::initializer_list<std::string_view> roles,
                               const std::string& what);

  // Schema scopes: a scoped user may only plan, deploy, roll back or create
  // releases whose changes stay inside the scope (the script is their DDL).
  // `audit_command` non-empty: the refusal is written to the audit trail
  // here (reads); commands are audited by Handle.
  absl::Status ChangesInScope(const auth::Principal& who, const std::vector<std::string>& changed,
                              std::string_view audit_command = "");

  // What a scoped user sees of a release: the objects in scope; data
  // scripts' SQL only when every change is in scope (a script may touch any table).
  static void HideOutOfScope(const auth::Principal& who, v1::Release* r);

  // Drift lines ("table sales.orders: column ...") about objects in scope.
  static bool DriftLineInScope(const auth::Principal& who, const std::string& line);

  static void HideOutOfScope(const auth::Principal& who, v1::Environment* env);

  static absl::Status InScope(const auth::Principal& who, const std::string& env);

  // The environment's deployers rule (see EnvironmentRegistered.deployers).
  static absl::Status MayDeploy(const auth::Principal& who, const v1::Environment& env);

  v1::Event NewEvent(const auth::Principal& who, const std::string& aggregate, uint64_t seq);

  // Appends events and waits until the projection decided each; returns the decisions.
  absl::StatusOr<std::vector<decide::Decision>> SubmitAll(const std::vector<v1::Event>& events);

  absl::StatusOr<decide::Decision> Submit(const v1::Event& e);

  absl::Status CatchUpWith(const std::string& aggregate);

  // An environment, with what Strata expects there (every object it holds)
  // only when the caller needs that.
  absl::StatusOr<internal::EnvironmentState> Environment(const std::string& name, bool with_state = true);
  absl::StatusOr<internal::EnvironmentState> FreshEnvironment(const std::string& name, bool with_state = true);
  absl::StatusOr<internal::ReleaseState> Release(const std::string& name, bool with_entries = true);

  // ---- environments (deploy_environments.cc) ------------------------------

  absl::Status DoAddEnvironment(const auth::Principal& who, const v1::AddEnvironmentRequest& req,
                                v1::Environment* resp);

  // ---- connections and catalogs (deploy_environments.cc) ------------------

  absl::StatusOr<std::unique_ptr<pg::Session>> Connect(const v1::Environment& env);
  // `status` saying which environment's database it comes from (unless it does).
  static absl::Status InEnvironment(const v1::Environment& env, const absl::Status& status);

  absl::StatusOr<schemadiff::Catalog> ReadLive(const v1::Environment& env);

  absl::StatusOr<std::vector<schemadiff::LabelledSql>> DefinitionsOf(const Entries& entries);

  absl::StatusOr<schemadiff::Catalog> LoadState(const Entries& entries);

  // ---- import (deploy_environments.cc) ------------------------------------

  // How a live object relates to Strata (see DoImport).
  struct ImportClassification {
    std::vector<const schemadiff::ObjectDefinition*> fresh;  // unknown to Strata: version 1
    std::vector<v1::BaselineEntry> matched;                  // known, at the version it matches
    std::vector<std::string> conflicts;                      // known, but no version matches
  };

  absl::StatusOr<ImportClassification> ClassifyForImport(const schemadiff::CatalogDefinitions& defs);

  // Checks each new object out and in as version 1, all or nothing: an
  // object someone else took meanwhile would be missing from the
  // environment's recorded state, and show up as drift.
  absl::StatusOr<std::vector<v1::BaselineEntry>> CreateVersionOnes(
      const auth::Principal& who, const std::vector<const schemadiff::ObjectDefinition*>& fresh,
      const std::string& message);

  // Reads the environment's catalog; objects Strata does not know become
  // version 1; known ones must match a version exactly; then the environment
  // is recorded as holding those versions.
  absl::Status DoImport(const auth::Principal& who, const v1::ImportRequest& req, v1::ImportResponse* resp);

  // Undoes the accepted check-outs among `checkouts` (best effort: what is
  // left shows in `strata locks`).
  void GiveBack(const auth::Principal& who, const std::vector<v1::Event>& checkouts,
                const std::vector<decide::Decision>& decisions);

  // ---- releases (deploy_releases.cc) --------------------------------------

  // The state a change set is relative to, and its name.
  absl::StatusOr<std::pair<std::map<std::string, v1::BaselineEntry>, std::string>> BaseState(const std::string& since);

  absl::Status DoCreateRelease(const auth::Principal& who, const v1::CreateReleaseRequest& req, v1::Release* resp);

  absl::Status DoApprove(const auth::Principal& who, const v1::ApproveRequest& req, v1::Release* resp);

  // ---- gates, plans, deployments (deploy_deployments.cc) ------------------

  using Prepared = detail::Prepared;

  // Why deploying `release` to `env` is not allowed now ("" : allowed).
  absl::StatusOr<std::vector<std::string>> Gates(const internal::EnvironmentState& env,
                                                 const internal::ReleaseState& rel);

  std::string RunningMessage(const v1::Environment& e);

  // Loads the current and the target state into shadows (in parallel with
  // reading the live catalog), diffs them both ways, checks drift.
  absl::StatusOr<Prepared> Prepare(const internal::EnvironmentState& env, const Entries& target,
                                   const std::string& title, const v1::Release* release);

  // What a deployment renames instead of dropping and creating: objects
  // whose name changed (`strata rename`, followed back through each name to
  // the one the environment holds) and table columns (`checkin
  // --rename-column`, composed across the versions in between).
  struct PlannedRenames {
    std::vector<schemadiff::Rename> hints;  // objects first, then columns
    std::vector<std::pair<std::string, std::string>> objects;  // old id, new id
    std::vector<std::tuple<std::string, std::string, std::string>> columns;  // table (target id), old, new
  };
  static absl::StatusOr<PlannedRenames> RenamesBetween(rocksdb::DB* db, const Entries& deployed,
                                                       const Entries& target);

  // Risk findings of each changed object (strata_sql's rules), from the
  // definitions of the version deployed now and the target version; renamed
  // objects and columns are compared under their old names.
  void Findings(Prepared& p, const std::map<std::string, const v1::BaselineEntry*>& before,
                const std::map<std::string, const v1::BaselineEntry*>& after, const PlannedRenames& renames);

  absl::Status DoPlan(const auth::Principal& who, const v1::PlanRequest& req, v1::DeploymentPlan* resp);

  static void FillPlan(const Prepared& p, const std::string& release, v1::DeploymentPlan* resp);

  absl::Status DriftRefusal(const std::string& env, const std::vector<std::string>& drift);

  absl::Status CheckOverride(const auth::Principal& who, const std::string& reason);

  absl::Status DoDeploy(const auth::Principal& who, const v1::DeployRequest& req, v1::Deployment* resp);

  absl::Status DoRollback(const auth::Principal& who, const v1::RollbackRequest& req, v1::Deployment* resp);

  // Connects to the environment, claims it (DeploymentStarted), runs the
  // script in one transaction, records the outcome.
  absl::Status Run(const auth::Principal& who, const Prepared& p, v1::DeploymentKind kind, const std::string& release,
                   const std::string& rolls_back, const Entries& target, const std::string& drift_override,
                   bool data_loss_allowed, v1::Deployment* resp);

  // Records the end of a started deployment; retried, since until it is in
  // the log the environment stays claimed.
  absl::StatusOr<decide::Decision> Finish(const auth::Principal& who, const v1::Event& started, bool succeeded,
                                          int64_t ms, const std::string& error);

  // 0.1 s to 2 h: deployments take seconds to hours.
  static const std::vector<double>& DeploymentBuckets();

  // strata_deployments_total{environment, kind, outcome}: the deployments this
  // instance ran (or abandoned), once their end is in the log.
  static void CountDeployment(const std::string& environment, v1::DeploymentKind kind, const char* outcome);

  absl::Status DoAbandon(const auth::Principal& who, const v1::AbandonRequest& req, v1::Deployment* resp);

  // Fencing and recovery (deploy_recovery.cc). Takes Strata's advisory lock
  // on the environment's database for `session`'s lifetime;
  // FAILED_PRECONDITION while another session holds it.
  static absl::Status LockEnvironmentDatabase(pg::Session& session, const std::string& environment);
  // What a deployment's transaction runs before COMMIT to record its id.
  static std::vector<std::string> DeploymentRecordSql(const std::string& id, const std::string& environment,
                                                      const std::string& release, v1::DeploymentKind kind);
  // Tests' kill -9 points (STRATA_TEST_DEPLOY_CRASH): "after-claim",
  // "in-transaction" (before COMMIT), "after-commit" (before the end is
  // recorded).
  static void FaultPoint(const char* point);

 public:
  // Records the end of deployment `id`, which the log says is running on
  // `environment`, when its session in the environment's database is gone:
  // succeeded if its transaction committed, failed if not. False when it is
  // still running (or ended meanwhile); an error when the database cannot be
  // reached.
  absl::StatusOr<bool> ResolveDeployment(const std::string& environment, const std::string& id);
  // ResolveDeployment for every running deployment; how many were recorded.
  int ResolveInterrupted();

 private:

  // ---- reference data (deploy_data.cc) -----------------------------------

  // A table Strata versions, as reference data sees it: its latest version's
  // columns and keys. `text` is an id or a name ("sales.codes").
  struct TableShape {
    std::string id;         // "table:sales.codes"
    std::string qualified;  // "sales.codes"
    uint64_t version = 0;
    std::vector<refdata::Column> columns;
    sql::ObjectInfo info;
  };
  absl::StatusOr<TableShape> ShapeOf(const std::string& text);

  // The rows of a stored data version. NOT_FOUND when there is none.
  absl::StatusOr<refdata::RowSet> DataRows(const std::string& qualified, uint64_t version);

  // The primary and unique keys of a table (its constraints, and unique
  // indexes Strata versions), each as "PRIMARY KEY (a, b)" and its columns.
  absl::StatusOr<std::vector<std::pair<std::string, std::vector<std::string>>>> KeysOf(const TableShape& table);

  absl::Status DoTrackData(const auth::Principal& who, const v1::TrackDataRequest& req, v1::DataTable* resp);
  absl::Status DoUntrackData(const auth::Principal& who, const v1::UntrackDataRequest& req, v1::DataTable* resp);
  absl::Status DoCheckInData(const auth::Principal& who, const v1::CheckInDataRequest& req, v1::DataVersion* resp);
  absl::Status DoDiffData(const auth::Principal& who, const v1::DiffDataRequest& req, v1::DataDiff* resp);

  // The latest data version of every tracked table, as release heads by
  // "data:<table>" (untracked ones: dropped, so releases leave them).
  absl::Status AddDataHeads(std::map<std::string, DeployProjection::Head>* heads, const std::string& only_table = "");

  // A release's rows fit its tables: each data version's table is in the
  // release, and has every column the version's rows fill (FAILED_PRECONDITION
  // naming the column otherwise).
  absl::Status CheckDataFits(const std::map<std::string, v1::BaselineEntry>& state);

  // Import: the tracked tables of an environment's catalog. Rows equal to
  // a data version are matched; a table with no data version yet gives
  // version 1 (stored by StoreDataVersionOnes); other rows are conflicts.
  struct DataImport {
    std::vector<v1::BaselineEntry> matched;
    std::vector<std::pair<std::string, refdata::RowSet>> fresh;  // qualified, rows
    std::vector<std::string> conflicts;
  };
  absl::StatusOr<DataImport> ClassifyDataForImport(const v1::Environment& env,
                                                   const schemadiff::CatalogDefinitions& defs);
  absl::StatusOr<std::vector<v1::BaselineEntry>> StoreDataVersionOnes(const auth::Principal& who,
                                                                      const DataImport& data, const std::string& env);

  // Appends a data version (seq after the aggregate's last); the decision.
  absl::StatusOr<v1::Event> NewDataVersion(const auth::Principal& who, const std::string& qualified,
                                           const refdata::RowSet& rows, const std::string& message,
                                           const std::string& source);

  // ---- reference data in plans (deploy_data_plan.cc) ----------------------

  struct DataPlan {
    std::string forward, backward;  // SQL, after the schema steps / before the schema steps back
    int statements = 0;
    std::vector<std::string> changes;  // one line per table
    std::vector<v1::Finding> findings;
    std::vector<std::string> drift;    // "data sales.codes: row (7): missing"
    std::set<std::string> tables;      // the tables whose rows it moves (qualified)
  };
  // Schema steps that need rows the data steps bring: foreign keys added
  // to existing tables that reference a table in `tables`. They are taken
  // out of `forward`, to run after the data steps.
  static schemadiff::Plan StepsNeedingData(schemadiff::Plan* forward, const std::set<std::string>& tables);
  // The data steps from `current` (what Strata deployed to the environment)
  // to `target`, in foreign-key order (rows of referenced tables are
  // inserted first and deleted last); the rows of the tracked tables there
  // that differ from what Strata expects; deletes that other rows reference.
  absl::StatusOr<DataPlan> PlanData(const v1::Environment& env, const Entries& current, const Entries& target);
  // Drift of rows only (CheckDrift, rollback).
  absl::StatusOr<std::vector<std::string>> DataDrift(const v1::Environment& env, const Entries& current);

  // ---- the team's policy (deploy_policy.cc) --------------------------------

  struct PolicyReport {
    uint64_t version = 0;                // 0: no policy set
    std::vector<v1::Finding> findings;   // about the changed objects ("policy:<rule>")
    std::vector<std::string> errors;     // not waived: they block
    std::shared_ptr<const policy::Policy> policy;  // null: none set
  };
  // Rule require-concurrent-index-creation with min_rows: the changed indexes
  // built without CONCURRENTLY on tables holding more rows in `env`.
  absl::Status IndexesOnLargeTables(const v1::Environment& env, const Entries& target,
                                    const std::vector<std::string>& changed, PolicyReport* report);
  // A release state's definitions (DefinitionsOf, read by the caller for its
  // own use too) linted as a whole under the policy in force; what concerns
  // the objects in `changed`.
  absl::StatusOr<PolicyReport> PolicyFindings(const std::vector<schemadiff::LabelledSql>& defs,
                                              const std::vector<std::string>& changed);

  // ---- the pipeline (deploy_releases.cc) ----------------------------------

  absl::Status DoPipeline(v1::PipelineResponse* resp);

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
  // The catalogs of definition sets loaded into shadows (a release's state
  // when it is created, an environment's at its first plan or drift check),
  // reused by every plan, drift check and guard status that needs the same
  // set: a release's state never changes. The 8 most recently used in
  // memory (a catalog of 1,500 objects takes a few MB), 64 as files in
  // <data_dir>/catalogs, so a restarted server does not load them again.
  // Not the projection: nothing is decided from it, and deleting the folder
  // only costs loads. `shadow_.cache` points here.
  schemadiff::CatalogCache catalogs_;
  schemadiff::ShadowOptions shadow_;
};

template <typename Fn>
grpc::Status DeployServiceImpl::Handle(grpc::ServerContext* ctx, const char* command, const std::string& aggregate,
                                       Fn&& fn) {
  auto who = hosting::AuthenticateCall(*ctx, *tokens_);
  if (!who.ok()) return hosting::ToGrpcStatus(who.status());
  absl::Status status = fn(*who);
  if (*command) {
    spdlog::info("{} {} by {}@{}: {}", command, aggregate, who->user, who->site,
                 status.ok() ? std::string("ok") : status.ToString());
    if (status.code() == absl::StatusCode::kFailedPrecondition ||
        status.code() == absl::StatusCode::kPermissionDenied)
      RecordRefusal(*who, command, aggregate, status);
  }
  return hosting::ToGrpcStatus(status);
}

}  // namespace strata::deploy
