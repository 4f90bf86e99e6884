// LockServiceImpl: the LockService gRPC service of the lock module
// (lock_service.h; design.md, "Deciding on a log"). It decides the object
// aggregates: check-out, check-in, undo, force-release, drop and rename.
//
// Private to services/lock: not installed, included only by the files that
// define the class:
//   lock_service.cc              the RPCs (thin wrappers around Handle and the
//                                Do* methods), resolving names, reading and
//                                deciding one object (Decide, Submit),
//                                check-out, check-in, undo, force-release,
//                                refusals, and LockModule.
//   lock_service_drop_rename.cc  drops (with their dependents), renames (the
//                                objects that follow them, where a renamed
//                                name leads) and a check-in's column renames.
//   lock_service_proof.cc        the proof of a check-in on PostgreSQL: what
//                                a definition depends on, for proof.h.
//   lock_service_policy.cc       the team's policy (policy:team): setting,
//                                reading and waiving, and its findings on a
//                                check-in (lib/policy).
//
// Thread-safety: gRPC calls every method from many threads at once. Its
// members are set by the constructor and only read afterwards, but for the
// parsed policy, a cache guarded by policy_mu_ (held only to read or swap
// the pointer); the state it reads is the projection's (RocksDB) and the
// decision board's, both safe for concurrent use. refused_object_ is
// thread_local (the synchronous server runs each call on one thread).
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "auth/tokens.h"
#include "events/events.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "hosting/hosting.h"
#include "lock/lock_projection.h"
#include "lock/lock_service.h"
#include "lock/proof.h"
#include "model/object_id.h"
#include "policy/policy.h"
#include "spdlog/spdlog.h"
#include "sql/analyze.h"
#include "sql/parse.h"
#include "sql/rename.h"
#include "sql/validate.h"
#include "strata/v1/lock.grpc.pb.h"

namespace strata::lock {

using hosting::ToGrpcStatus;

inline constexpr int kMaxAttempts = 8;  // retries when another event took our seq

// "table:sales.orders is checked out by bob (london) since 2026-11-24 10:02:03 UTC: reason"
std::string HeldBy(const v1::Lock& l);

// The object exists for users: it has a version, or its name is reserved.
bool Visible(const std::optional<internal::ObjectState>& s);

class LockServiceImpl final : public v1::LockService::Service {
 public:
  LockServiceImpl(const LockModuleOptions& options, eventlog::EventLog* log,
                  projection::ProjectionRunner* runner, OutcomeBoard* board,
                  std::shared_ptr<auth::TokenStore> tokens, Prover* prover, std::string proof_unavailable)
      : options_(options),
        log_(log),
        runner_(runner),
        board_(board),
        tokens_(std::move(tokens)),
        prover_(prover),
        proof_unavailable_(std::move(proof_unavailable)) {}

  grpc::Status CheckOut(grpc::ServerContext* ctx, const v1::CheckOutRequest* req,
                        v1::CheckOutResponse* resp) override {
    return Handle(ctx, "checkout", {"developer", "dba", "admin"}, First(req->objects()), [&](const auth::Principal& who) {
      return DoCheckOut(who, *req, resp);
    });
  }

  grpc::Status CheckIn(grpc::ServerContext* ctx, const v1::CheckInRequest* req,
                       v1::CheckInResponse* resp) override {
    return Handle(ctx, "checkin", {"developer", "dba", "admin"}, req->object(), [&](const auth::Principal& who) {
      return DoCheckIn(who, *req, resp);
    });
  }

  grpc::Status Drop(grpc::ServerContext* ctx, const v1::DropRequest* req, v1::DropResponse* resp) override {
    return Handle(ctx, "drop", {"developer", "dba", "admin"}, First(req->objects()), [&](const auth::Principal& who) {
      return DoDrop(who, *req, resp);
    });
  }

  grpc::Status Rename(grpc::ServerContext* ctx, const v1::RenameRequest* req, v1::RenameResponse* resp) override {
    return Handle(ctx, "rename", {"developer", "dba", "admin"}, req->object(), [&](const auth::Principal& who) {
      return DoRename(who, *req, resp);
    });
  }

  grpc::Status UndoCheckOut(grpc::ServerContext* ctx, const v1::UndoCheckOutRequest* req,
                            v1::UndoCheckOutResponse* resp) override {
    return Handle(ctx, "undo", {"developer", "dba", "admin"}, First(req->objects()), [&](const auth::Principal& who) {
      return DoUndo(who, *req, resp);
    });
  }

  grpc::Status ForceRelease(grpc::ServerContext* ctx, const v1::ForceReleaseRequest* req,
                            v1::ForceReleaseResponse* resp) override {
    return Handle(ctx, "force_release", {"dba", "admin"}, req->object(), [&](const auth::Principal& who) {
      return DoForceRelease(who, *req, resp);
    });
  }

  grpc::Status ListLocks(grpc::ServerContext* ctx, const v1::ListLocksRequest* req,
                         v1::ListLocksResponse* resp) override {
    return Handle(ctx, "", {}, "", [&](const auth::Principal& who) {
      for (v1::Lock& l : LockProjection::ReadLocks(runner_->db())) {
        if (!hosting::ObjectInScope(who, l.object())) continue;
        if (!req->user().empty() && l.user() != req->user()) continue;
        if (!req->site().empty() && l.site() != req->site()) continue;
        if (!req->schema().empty()) {
          auto id = model::ParseObjectId(l.object());
          if (!id.ok() || id->schema != req->schema()) continue;
        }
        *resp->add_locks() = std::move(l);
      }
      return absl::OkStatus();
    });
  }

  grpc::Status GetObject(grpc::ServerContext* ctx, const v1::GetObjectRequest* req,
                         v1::ObjectHead* resp) override {
    return Handle(ctx, "", {}, "", [&](const auth::Principal& who) -> absl::Status {
      auto id = Resolve(req->object(), /*allow_new=*/false);
      if (!id.ok()) return id.status();
      if (absl::Status s = hosting::RequireObjectInScope(who, id->ToString(), {log_, options_.site, "read"}); !s.ok()) return s;
      // Linearizable: what any site acknowledged before this call is shown
      // (the object's partition is read up to the log's end first).
      if (absl::Status s = runner_->CatchUpPartition(log_->PartitionFor(id->Aggregate()), options_.apply_timeout);
          !s.ok())
        return absl::UnavailableError(fmt::format(
            "could not read {} up to the end of the event log, so its latest state is unknown here: {}; try again "
            "(`strata locks` lists what this site has seen)",
            id->ToString(), std::string(s.message())));
      auto state = LockProjection::ReadObject(runner_->db(), id->ToString());
      if (!state.ok()) return state.status();
      if (!Visible(*state)) return UnknownObject(id->ToString());
      *resp = (*state)->head();
      PolicyOf(*id, resp);
      return absl::OkStatus();
    });
  }

  grpc::Status SetPolicy(grpc::ServerContext* ctx, const v1::SetPolicyRequest* req, v1::PolicyVersion* resp) override {
    return Handle(ctx, "policy_set", {"dba", "admin"}, "policy:team",
                  [&](const auth::Principal& who) { return DoSetPolicy(who, *req, resp); });
  }
  grpc::Status GetPolicy(grpc::ServerContext* ctx, const v1::GetPolicyRequest* req, v1::PolicyVersion* resp) override {
    return Handle(ctx, "", {}, "", [&](const auth::Principal&) { return DoGetPolicy(*req, resp); });
  }
  grpc::Status Waive(grpc::ServerContext* ctx, const v1::WaiveRequest* req, v1::Waiver* resp) override {
    return Handle(ctx, "policy_waive", {"dba", "admin"}, req->object(),
                  [&](const auth::Principal& who) { return DoWaive(who, *req, resp); });
  }

  grpc::Status WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest*,
                      v1::WhoAmIResponse* resp) override {
    return Handle(ctx, "", {}, "", [&](const auth::Principal& who) {
      resp->set_user(who.user);
      resp->set_site(who.site);
      for (const auto& r : who.roles) resp->add_roles(r);
      resp->set_server_site(options_.site);
      for (const auto& s : who.schemas) resp->add_schemas(s);
      for (const auto& e : who.environments) resp->add_environments(e);
      return absl::OkStatus();
    });
  }

 private:
  // Authenticates, checks the role, runs the handler, logs, maps the status.
  // Refused commands (a failed precondition or a missing role) are written to
  // the log as command_refused records for the audit trail.
  static std::string First(const google::protobuf::RepeatedPtrField<std::string>& objects) {
    return objects.empty() ? std::string() : objects[0];
  }

  template <typename Fn>
  grpc::Status Handle(grpc::ServerContext* ctx, const char* command,
                      std::initializer_list<std::string_view> roles, const std::string& object,
                      Fn&& fn) {
    auto who = hosting::AuthenticateCall(*ctx, *tokens_);
    if (!who.ok()) return ToGrpcStatus(who.status());
    refused_object_.clear();
    absl::Status status;
    if (roles.size() > 0 && !who->HasAnyRole(roles)) {
      std::string needed;
      for (auto r : roles) needed += (needed.empty() ? "" : " or ") + std::string(r);
      status = absl::PermissionDeniedError(fmt::format("{} needs role {}; {} has {}", command,
                                                       needed, who->user, fmt::join(who->roles, ", ")));
    } else {
      status = fn(*who);
    }
    if (*command) {
      spdlog::info("{} by {}@{}: {}", command, who->user, who->site,
                   status.ok() ? std::string("ok") : status.ToString());
      if (status.code() == absl::StatusCode::kFailedPrecondition ||
          status.code() == absl::StatusCode::kPermissionDenied)
        RecordRefusal(*who, command, refused_object_.empty() ? object : refused_object_, status);
    }
    return ToGrpcStatus(status);
  }

  // Resolves what the user typed to an object id. With allow_new, a full id
  // of an object that does not exist yet is fine (check-out reserves it).
  absl::StatusOr<model::ObjectId> Resolve(const std::string& text, bool allow_new);

  absl::Status UnknownObject(const std::string& id) {
    return absl::NotFoundError(fmt::format("unknown object {}", id));
  }

  absl::StatusOr<std::optional<internal::ObjectState>> Read(const model::ObjectId& id) {
    return LockProjection::ReadObject(runner_->db(), id.ToString());
  }

  // Reads the object after catching up with the log's end for its partition,
  // so that a refusal is never based on a stale view.
  absl::StatusOr<std::optional<internal::ObjectState>> ReadFresh(const model::ObjectId& id);

  v1::Event NewEvent(const auth::Principal& who, const std::string& aggregate, uint64_t seq) {
    return events::NewEvent(who.user, who.site, options_.site, aggregate, seq);
  }

  // Appends `e` and hands it to the runner (ProjectionRunner::Appended).
  absl::StatusOr<eventlog::Position> AppendEvent(const v1::Event& e) {
    eventlog::Record written;
    auto pos = events::Append(*log_, e, &written);
    if (pos.ok()) runner_->Appended(std::move(written));
    return pos;
  }

  // Appends `e` and waits for the outcome the log decided.
  absl::StatusOr<Outcome> Submit(const v1::Event& e);

  // Runs one command against one object: `build` validates the current state
  // and fills the event (or returns an error / nullopt for "nothing to do");
  // lost seq races are retried against the new state.
  using Builder = std::function<absl::StatusOr<bool>(const std::optional<internal::ObjectState>&,
                                                     v1::Event*)>;
  // `known`: the object's state, when the caller has just read it (saves
  // the first read; a lost race re-reads as usual).
  absl::StatusOr<std::optional<v1::ObjectHead>> Decide(const auth::Principal& who,
                                                       const model::ObjectId& id,
                                                       const Builder& build,
                                                       const std::optional<internal::ObjectState>* known = nullptr);

  absl::Status DoCheckOut(const auth::Principal& who, const v1::CheckOutRequest& req,
                          v1::CheckOutResponse* resp);

  void ReleaseTaken(const auth::Principal& who, const std::vector<model::ObjectId>& taken);

  absl::Status DoCheckIn(const auth::Principal& who, const v1::CheckInRequest& req,
                         v1::CheckInResponse* resp);

  // Drop: every object of the request (and with --cascade, everything that
  // depends on them) gets a "dropped" version, dependents first, so that a
  // drop cut short never leaves an object dropped under a live dependent.
  absl::Status DoDrop(const auth::Principal& who, const v1::DropRequest& req, v1::DropResponse* resp);

  // Where a renamed object lives now: `id` itself unless its latest version
  // renamed it (then the end of that chain; a chain is cut after 32 links).
  // `state`, when given, receives the state read of the id returned.
  absl::StatusOr<model::ObjectId> FollowRenames(model::ObjectId id,
                                                std::optional<internal::ObjectState>* state = nullptr);

  // The id `object` gets when renamed to `to` ("name" or "schema.name";
  // functions and procedures keep their arguments).
  static absl::StatusOr<model::ObjectId> RenamedId(const model::ObjectId& object, const std::string& to);

  // Rename: the object's next version lives under the new name (with
  // renamed_from; its number follows the old name's versions), then the old
  // name gets a version that ends it there (dropped, renamed_to). The new
  // name is written first: a rename cut short leaves the object under both
  // names, never under none.
  absl::Status DoRename(const auth::Principal& who, const v1::RenameRequest& req, v1::RenameResponse* resp);
  // A schema's rename (DoRename checked the caller holds it): every live
  // object in it is written under the new schema, then the old names end.
  absl::Status DoRenameSchema(const auth::Principal& who, const v1::RenameRequest& req, const model::ObjectId& id,
                              const v1::ObjectHead& head, const model::ObjectId& to, v1::RenameResponse* resp);
  // OK when `to` can take a renamed object: never used, dropped, or reserved
  // by the caller.
  absl::Status NameIsFree(const auth::Principal& who, const model::ObjectId& to);
  // Reserves `to` (unless the caller holds it) and checks in `text` as the
  // version continuing `from` (renamed_from); on failure, gives back what it
  // reserved.
  absl::StatusOr<v1::ObjectHead> WriteUnderNewName(const auth::Principal& who, const model::ObjectId& from,
                                                   const v1::ObjectHead& head, const model::ObjectId& to,
                                                   const sql::RenamedDefinition& text, const v1::RenameRequest& req);
  // The old name's last version: dropped, renamed_to `to`.
  absl::StatusOr<std::optional<v1::ObjectHead>> EndOldName(const auth::Principal& who, const model::ObjectId& id,
                                                           const model::ObjectId& to, const std::string& message);

  // checkin --rename-column OLD=NEW: OLD a column of the latest version that
  // the new definition no longer has, NEW one it has that the latest did not
  // (an enum type: labels instead of columns).
  absl::Status ColumnRenames(const model::ObjectId& id, const v1::ObjectHead& head, const sql::ObjectInfo& now,
                             const v1::CheckInRequest& req, v1::ObjectCheckedIn* ci);

  // Proof at check-in (proof.h): `definition` of `id` created on PostgreSQL
  // after the latest versions of what it depends on. Returns how it was
  // validated ("proven on PostgreSQL 15.8", or "parsed only (why)"), adds
  // what could not be proven to `warnings`; INVALID_ARGUMENT when
  // PostgreSQL refuses the definition (lock_service_proof.cc).
  absl::StatusOr<std::string> ProveDefinition(const model::ObjectId& id, std::string_view definition,
                                              const sql::ObjectInfo& info,
                                              google::protobuf::RepeatedPtrField<std::string>* warnings);
  std::string ParsedOnly() const;
  // The live objects (a version, not dropped) a dependency key names, with
  // their states.
  std::vector<std::pair<model::ObjectId, internal::ObjectState>> Providers(const std::string& key);

  absl::Status DoUndo(const auth::Principal& who, const v1::UndoCheckOutRequest& req,
                      v1::UndoCheckOutResponse* resp);

  // ---- the policy (lock_service_policy.cc) --------------------------------
  absl::Status DoSetPolicy(const auth::Principal& who, const v1::SetPolicyRequest& req, v1::PolicyVersion* resp);
  absl::Status DoGetPolicy(const v1::GetPolicyRequest& req, v1::PolicyVersion* resp);
  absl::Status DoWaive(const auth::Principal& who, const v1::WaiveRequest& req, v1::Waiver* resp);
  // Appends the event `fill` writes (given the latest policy version) to
  // policy:team, again on top of another site's when that one won the seq.
  absl::Status SubmitPolicyEvent(const auth::Principal& who,
                                 const std::function<void(uint64_t latest_version, v1::Event*)>& fill);
  // The policy in force (parsed once per version); its version (0: none set,
  // the rules' defaults).
  std::pair<std::shared_ptr<const policy::Policy>, uint64_t> PolicyInForce();
  // A definition under the policy, and the change from `before` (the latest
  // version's definition, "" for a new object): errors that are not waived
  // refuse it (FAILED_PRECONDITION naming each rule, name, pattern and hint);
  // warnings and waived errors go to `warnings`.
  // `info`: the new definition, analyzed; `head`: the object's latest version.
  absl::Status CheckPolicy(const model::ObjectId& id, const v1::ObjectHead& head, std::string_view definition,
                           const sql::ParsedSql& parsed, const sql::ObjectInfo& info,
                           google::protobuf::RepeatedPtrField<std::string>* warnings);
  // Rule drop-column-in-use: columns `after` drops that the latest versions
  // of other objects still use (read only when a column is dropped).
  void DroppedColumnsInUse(const policy::Policy& pol, const model::ObjectId& id, const sql::ObjectInfo& before,
                           const sql::ObjectInfo& after, std::vector<policy::Finding>* findings);
  // GetObject: the policy's findings on the latest version, and the waivers.
  void PolicyOf(const model::ObjectId& id, v1::ObjectHead* head);
  // A check-out's work item under the policy (rule require-task):
  // FAILED_PRECONDITION saying what the policy asks for.
  absl::Status CheckTask(const model::ObjectId& id, const std::string& task);
  // The analysis of `id` at `version` (whose definition is `definition`),
  // from the cache of recent check-ins or analyzed now; null if it does not parse.
  std::shared_ptr<const sql::ObjectInfo> AnalysisOf(const std::string& id, uint64_t version,
                                                    std::string_view definition);
  void RememberAnalysis(const std::string& id, uint64_t version, sql::ObjectInfo info);

  absl::Status DoForceRelease(const auth::Principal& who, const v1::ForceReleaseRequest& req,
                              v1::ForceReleaseResponse* resp);

  // Best effort: the caller already has its answer; a log outage only costs
  // the audit record, which is logged locally instead.
  void RecordRefusal(const auth::Principal& who, const char* command, const std::string& object,
                     const absl::Status& status);

  const LockModuleOptions& options_;
  eventlog::EventLog* log_;
  projection::ProjectionRunner* runner_;
  OutcomeBoard* board_;
  std::shared_ptr<auth::TokenStore> tokens_;
  Prover* prover_;  // null: check-ins are parsed only (no --shadow-url, or proof_unavailable_)
  const std::string proof_unavailable_;
  // The object the current call's refusal concerns (gRPC's synchronous
  // server runs each call on one thread).
  static thread_local std::string refused_object_;
  // The parsed policy of version policy_version_; replaced when a newer
  // version is read. Rule: hold policy_mu_ only to read or swap these two.
  absl::Mutex policy_mu_;
  std::shared_ptr<const policy::Policy> policy_ ABSL_GUARDED_BY(policy_mu_);
  uint64_t policy_version_ ABSL_GUARDED_BY(policy_mu_) = 0;
  // Analyses of recent versions ("id\0version"), so that a policy's change
  // rules do not parse the previous version again; at most kAnalyses, the
  // oldest dropped first. Rule: hold analyses_mu_ only to look up or insert.
  static constexpr size_t kAnalyses = 4096;
  absl::Mutex analyses_mu_;
  std::map<std::string, std::shared_ptr<const sql::ObjectInfo>> analyses_ ABSL_GUARDED_BY(analyses_mu_);
  std::deque<std::string> analyses_order_ ABSL_GUARDED_BY(analyses_mu_);
};

}  // namespace strata::lock
