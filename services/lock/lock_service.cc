#include "lock/lock_service.h"


#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "auth/tokens.h"
#include "events/events.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "hosting/hosting.h"
#include "model/object_id.h"
#include "spdlog/spdlog.h"
#include "sql/analyze.h"
#include "sql/rename.h"
#include "sql/validate.h"

namespace strata::lock {
namespace {

using hosting::ToGrpcStatus;

constexpr int kMaxAttempts = 8;  // retries when another event took our seq

std::string FormatTime(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(ts.seconds()),
                          absl::UTCTimeZone());
}

// "table:sales.orders is checked out by bob (london) since 2026-11-24 10:02:03 UTC: reason"
std::string HeldBy(const v1::Lock& l) {
  std::string s = fmt::format("{} is checked out by {} ({}) since {}", l.object(), l.user(),
                              l.site(), FormatTime(l.since()));
  if (!l.reason().empty()) s += fmt::format(" (reason: {})", l.reason());
  return s;
}

bool Visible(const std::optional<internal::ObjectState>& s) {
  return s && (s->head().latest_version() > 0 || s->head().has_lock());
}

}  // namespace

class LockServiceImpl final : public v1::LockService::Service {
 public:
  LockServiceImpl(const LockModuleOptions& options, eventlog::EventLog* log,
                  projection::ProjectionRunner* runner, OutcomeBoard* board,
                  std::shared_ptr<auth::TokenStore> tokens)
      : options_(options), log_(log), runner_(runner), board_(board), tokens_(std::move(tokens)) {}

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
      auto state = LockProjection::ReadObject(runner_->db(), id->ToString());
      if (!state.ok()) return state.status();
      if (!Visible(*state)) return UnknownObject(id->ToString());
      *resp = (*state)->head();
      return absl::OkStatus();
    });
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
  absl::StatusOr<model::ObjectId> Resolve(const std::string& text, bool allow_new) {
    auto ref = model::ParseObjectRef(text);
    if (!ref.ok()) return ref.status();
    if (!ref->kind.empty()) return *ref;
    std::vector<std::string> kinds = LockProjection::KindsNamed(runner_->db(), ref->QualifiedName());
    if (kinds.size() == 1) {
      ref->kind = kinds[0];
      return *ref;
    }
    if (kinds.empty())
      return absl::NotFoundError(fmt::format(
          "no object named {}{}", ref->QualifiedName(),
          allow_new ? fmt::format("; to reserve a new name give its kind, e.g. table:{}",
                                  ref->QualifiedName())
                    : ""));
    std::vector<std::string> ids;
    for (const auto& k : kinds) ids.push_back(k + ":" + ref->QualifiedName());
    return absl::InvalidArgumentError(
        fmt::format("{} is ambiguous: {}", ref->QualifiedName(), fmt::join(ids, ", ")));
  }

  absl::Status UnknownObject(const std::string& id) {
    return absl::NotFoundError(fmt::format("unknown object {}", id));
  }

  absl::StatusOr<std::optional<internal::ObjectState>> Read(const model::ObjectId& id) {
    return LockProjection::ReadObject(runner_->db(), id.ToString());
  }

  // Reads the object after catching up with the log's end for its partition,
  // so that a refusal is never based on a stale view.
  absl::StatusOr<std::optional<internal::ObjectState>> ReadFresh(const model::ObjectId& id) {
    const int32_t p = log_->PartitionFor(id.Aggregate());
    if (absl::Status s = runner_->CatchUpPartition(p, options_.apply_timeout); !s.ok()) return s;
    return Read(id);
  }

  v1::Event NewEvent(const auth::Principal& who, const std::string& aggregate, uint64_t seq) {
    return events::NewEvent(who.user, who.site, options_.site, aggregate, seq);
  }

  absl::StatusOr<eventlog::Position> AppendEvent(const v1::Event& e) {
    return events::Append(*log_, e);
  }

  // Appends `e` and waits for the outcome the log decided.
  absl::StatusOr<Outcome> Submit(const v1::Event& e) {
    board_->Expect(e.event_id());
    auto pos = AppendEvent(e);
    if (!pos.ok()) {
      board_->Forget(e.event_id());
      return absl::UnavailableError(fmt::format(
          "could not write to the event log, nothing was changed: {}", std::string(pos.status().message())));
    }
    if (absl::Status s = runner_->WaitForApplied(*pos, options_.apply_timeout); !s.ok()) {
      board_->Forget(e.event_id());
      return absl::DeadlineExceededError(fmt::format(
          "the change was written to the log but its outcome was not seen in time ({}); check "
          "the object before retrying", std::string(s.message())));
    }
    auto outcome = board_->Take(e.event_id());
    if (!outcome) return absl::InternalError("outcome of an applied event is missing");
    return *outcome;
  }

  // Runs one command against one object: `build` validates the current state
  // and fills the event (or returns an error / nullopt for "nothing to do");
  // lost seq races are retried against the new state.
  using Builder = std::function<absl::StatusOr<bool>(const std::optional<internal::ObjectState>&,
                                                     v1::Event*)>;
  absl::StatusOr<std::optional<v1::ObjectHead>> Decide(const auth::Principal& who,
                                                       const model::ObjectId& id,
                                                       const Builder& build) {
    refused_object_ = id.ToString();
    // Audited by Handle, as every refused command.
    if (absl::Status s = hosting::RequireObjectInScope(who, id.ToString(), {nullptr, options_.site, ""}); !s.ok())
      return s;
    auto state = Read(id);
    for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
      if (!state.ok()) return state.status();
      v1::Event e = NewEvent(who, id.Aggregate(), (*state ? (*state)->last_seq() : 0) + 1);
      auto needed = build(*state, &e);
      if (!needed.ok() && attempt == 0 &&
          needed.status().code() == absl::StatusCode::kFailedPrecondition) {
        // Before refusing, make sure the refusal is not based on a stale view.
        state = ReadFresh(id);
        if (!state.ok()) return state.status();
        e = NewEvent(who, id.Aggregate(), (*state ? (*state)->last_seq() : 0) + 1);
        needed = build(*state, &e);
      }
      if (!needed.ok()) return needed.status();
      if (!*needed) return Visible(*state) ? std::optional((*state)->head()) : std::nullopt;
      auto outcome = Submit(e);
      if (!outcome.ok()) return outcome.status();
      if (outcome->decision.accepted()) return outcome->head;
      // Lost: another event got there first. Re-validate against the state
      // the log decided, which now includes the winner.
      state = ReadFresh(id);
    }
    return absl::AbortedError(fmt::format("{}: too much contention, try again", id.ToString()));
  }

  absl::Status DoCheckOut(const auth::Principal& who, const v1::CheckOutRequest& req,
                          v1::CheckOutResponse* resp) {
    if (req.objects().empty()) return absl::InvalidArgumentError("name at least one object to check out");
    std::vector<model::ObjectId> ids;
    for (const auto& text : req.objects()) {
      auto id = Resolve(text, /*allow_new=*/true);
      if (!id.ok()) return id.status();
      // A renamed object is checked out under its new name (the response
      // says which), unless the old name is wanted for a new object.
      if (!req.new_object()) {
        auto current = FollowRenames(*id);
        if (!current.ok()) return current.status();
        id = *current;
      }
      if (std::find(ids.begin(), ids.end(), *id) == ids.end()) ids.push_back(*id);
    }
    std::vector<std::string> batch;
    if (ids.size() > 1)
      for (const auto& id : ids) batch.push_back(id.ToString());

    // All or nothing: on the first refusal, give back what this call took.
    std::vector<model::ObjectId> taken;
    for (const auto& id : ids) {
      bool newly_taken = false;
      auto head = Decide(who, id, [&](const std::optional<internal::ObjectState>& s,
                                      v1::Event* e) -> absl::StatusOr<bool> {
        if (s && s->head().has_lock()) {
          if (s->head().lock().user() == who.user) return false;  // already ours
          return absl::FailedPreconditionError(HeldBy(s->head().lock()));
        }
        e->mutable_checked_out()->set_reason(req.reason());
        for (const auto& b : batch) e->mutable_checked_out()->add_batch(b);
        newly_taken = true;
        return true;
      });
      if (!head.ok()) {
        ReleaseTaken(who, taken);
        return head.status();
      }
      if (newly_taken) taken.push_back(id);
      if (*head) *resp->add_objects() = **head;
    }
    return absl::OkStatus();
  }

  void ReleaseTaken(const auth::Principal& who, const std::vector<model::ObjectId>& taken) {
    for (const auto& id : taken) {
      auto r = Decide(who, id, [&](const std::optional<internal::ObjectState>& s,
                                   v1::Event* e) -> absl::StatusOr<bool> {
        if (!s || !s->head().has_lock() || s->head().lock().user() != who.user) return false;
        e->mutable_check_out_undone();
        return true;
      });
      if (!r.ok())
        spdlog::warn("could not give back {} after a failed multi-object check-out: {}",
                     id.ToString(), r.status().ToString());
    }
  }

  absl::Status DoCheckIn(const auth::Principal& who, const v1::CheckInRequest& req,
                         v1::CheckInResponse* resp) {
    auto id = Resolve(req.object(), /*allow_new=*/false);
    if (!id.ok()) return id.status();
    if (req.message().empty()) return absl::InvalidArgumentError("a check-in needs a message (-m)");
    if (absl::Status s = sql::ValidateSql(req.definition()); !s.ok())
      return absl::InvalidArgumentError(
          fmt::format("{}: the definition does not parse: {}", id->ToString(), std::string(s.message())));
    const std::string sha = auth::Sha256Hex(req.definition());
    auto head = Decide(who, *id, [&](const std::optional<internal::ObjectState>& s,
                                     v1::Event* e) -> absl::StatusOr<bool> {
      if (!Visible(s)) return UnknownObject(id->ToString());
      if (!s->head().has_lock())
        return absl::FailedPreconditionError(
            fmt::format("{} is not checked out; check it out before checking in", id->ToString()));
      if (s->head().lock().user() != who.user) return absl::FailedPreconditionError(HeldBy(s->head().lock()));
      // The definition must create the object that is checked out, and only it.
      auto info = sql::AnalyzeDefines(req.definition(), *id, {.search_path = options_.search_path});
      if (!info.ok())
        return absl::InvalidArgumentError(fmt::format("{}: {}", id->ToString(), std::string(info.status().message())));
      auto* ci = e->mutable_checked_in();
      for (auto& k : sql::DependencyKeys(*info)) ci->mutable_references()->add_keys(std::move(k));
      if (absl::Status r = ColumnRenames(*id, s->head(), *info, req, ci); !r.ok()) return r;
      ci->set_version(s->head().latest_version() + 1);
      ci->set_definition(req.definition());
      ci->set_message(req.message());
      ci->set_definition_sha256(sha);
      ci->set_keep_checked_out(req.keep_checked_out());
      return true;
    });
    if (!head.ok()) return head.status();
    if (*head) *resp->mutable_object() = **head;
    return absl::OkStatus();
  }

  // Drop: every object of the request (and with --cascade, everything that
  // depends on them) gets a "dropped" version, dependents first, so that a
  // drop cut short never leaves an object dropped under a live dependent.
  absl::Status DoDrop(const auth::Principal& who, const v1::DropRequest& req, v1::DropResponse* resp) {
    if (req.objects().empty()) return absl::InvalidArgumentError("name at least one object to drop");
    if (req.message().empty()) return absl::InvalidArgumentError("a drop needs a message (-m)");
    std::vector<model::ObjectId> ids;
    for (const auto& text : req.objects()) {
      auto id = Resolve(text, /*allow_new=*/false);
      if (!id.ok()) return id.status();
      if (std::find(ids.begin(), ids.end(), *id) == ids.end()) ids.push_back(*id);
    }
    // Who depends on what, among the latest versions: the closure of the
    // request under "depends on" (only what --cascade may add).
    std::map<std::string, std::vector<std::string>> dependents;  // object -> its dependents
    std::set<std::string> in_set;
    for (const auto& id : ids) in_set.insert(id.ToString());
    std::vector<std::string> queue(in_set.begin(), in_set.end());
    std::map<std::string, std::vector<std::string>> outside;  // object -> dependents not in the set
    for (size_t i = 0; i < queue.size(); ++i) {
      auto id = model::ParseObjectId(queue[i]);
      if (!id.ok()) return id.status();
      auto key = sql::DependencyKeyOf(*id);
      if (!key) continue;
      for (auto& d : LockProjection::Dependents(runner_->db(), *key)) {
        if (d == queue[i]) continue;
        dependents[queue[i]].push_back(d);
        if (in_set.count(d)) continue;
        if (req.cascade()) {
          in_set.insert(d);
          queue.push_back(d);
          resp->add_cascaded(d);
        } else {
          outside[queue[i]].push_back(d);
        }
      }
    }
    if (!outside.empty()) {
      std::vector<std::string> lines;
      for (const auto& [object, ds] : outside)
        lines.push_back(fmt::format("{} is used by {}", object, fmt::join(ds, ", ")));
      refused_object_ = outside.begin()->first;
      return absl::FailedPreconditionError(fmt::format(
          "cannot drop: {}; drop them in the same command (strata drop {} {}) or give --cascade",
          fmt::join(lines, "; "), outside.begin()->first, fmt::join(outside.begin()->second, " ")));
    }
    // Every object must be ours (or, added by --cascade, free), live, and
    // visible to the caller.
    std::vector<model::ObjectId> to_take;
    for (const std::string& object : queue) {
      auto id = model::ParseObjectId(object);
      if (!id.ok()) return id.status();
      refused_object_ = object;
      if (absl::Status s = hosting::RequireObjectInScope(who, object, {nullptr, options_.site, ""}); !s.ok()) return s;
      auto state = ReadFresh(*id);
      if (!state.ok()) return state.status();
      if (!Visible(*state)) return UnknownObject(object);
      const v1::ObjectHead& head = (**state).head();
      if (head.dropped())
        return absl::FailedPreconditionError(
            fmt::format("{} is already dropped (version {})", object, head.latest_version()));
      if (head.has_lock() && head.lock().user() != who.user)
        return absl::FailedPreconditionError(HeldBy(head.lock()));
      if (!head.has_lock()) {
        if (std::find(ids.begin(), ids.end(), *id) != ids.end())
          return absl::FailedPreconditionError(
              fmt::format("{} is not checked out; check it out before dropping it", object));
        to_take.push_back(*id);
      }
    }
    // Dependents first: a depth-first walk emitting an object after all of
    // its dependents (cycles, e.g. foreign keys both ways, are cut).
    std::vector<std::string> order;
    std::set<std::string> visited;
    std::function<void(const std::string&)> visit = [&](const std::string& o) {
      if (!visited.insert(o).second) return;
      for (const auto& d : dependents[o])
        if (in_set.count(d)) visit(d);
      order.push_back(o);
    };
    for (const auto& o : queue) visit(o);

    std::vector<model::ObjectId> taken;
    for (const auto& id : to_take) {
      auto head = Decide(who, id, [&](const std::optional<internal::ObjectState>& s,
                                      v1::Event* e) -> absl::StatusOr<bool> {
        if (s && s->head().has_lock()) return absl::FailedPreconditionError(HeldBy(s->head().lock()));
        e->mutable_checked_out()->set_reason(fmt::format("dropped with {} (--cascade)", ids.front().ToString()));
        return true;
      });
      if (!head.ok()) {
        ReleaseTaken(who, taken);
        return head.status();
      }
      taken.push_back(id);
    }
    static const std::string kEmptySha = auth::Sha256Hex("");
    for (size_t i = 0; i < order.size(); ++i) {
      auto id = model::ParseObjectId(order[i]);
      if (!id.ok()) return id.status();
      auto head = Decide(who, *id, [&](const std::optional<internal::ObjectState>& s,
                                       v1::Event* e) -> absl::StatusOr<bool> {
        if (!Visible(s)) return UnknownObject(order[i]);
        if (!s->head().has_lock() || s->head().lock().user() != who.user)
          return absl::FailedPreconditionError(s->head().has_lock() ? HeldBy(s->head().lock())
                                                                    : order[i] + " is no longer checked out");
        if (s->head().dropped()) return false;
        auto* ci = e->mutable_checked_in();
        ci->set_version(s->head().latest_version() + 1);
        ci->set_message(req.message());
        ci->set_definition_sha256(kEmptySha);
        ci->set_dropped(true);
        ci->mutable_references();  // present and empty: a dropped version uses nothing
        return true;
      });
      if (!head.ok()) {
        std::vector<model::ObjectId> rest;
        for (const auto& t : taken)
          if (std::find(order.begin() + static_cast<long>(i), order.end(), t.ToString()) != order.end())
            rest.push_back(t);
        ReleaseTaken(who, rest);
        if (i == 0) return head.status();
        return absl::Status(head.status().code(),
                            fmt::format("{} (already dropped: {})", std::string(head.status().message()),
                                        fmt::join(order.begin(), order.begin() + static_cast<long>(i), ", ")));
      }
      if (*head) *resp->add_objects() = **head;
    }
    return absl::OkStatus();
  }

  // Where a renamed object lives now: `id` itself unless its latest version
  // renamed it (then the end of that chain; a chain is cut after 32 links).
  absl::StatusOr<model::ObjectId> FollowRenames(model::ObjectId id) {
    for (int hops = 0; hops < 32; ++hops) {
      auto state = Read(id);
      if (!state.ok()) return state.status();
      if (!*state || (**state).head().renamed_to().empty()) return id;
      auto next = model::ParseObjectId((**state).head().renamed_to());
      if (!next.ok()) return id;
      id = *next;
    }
    return id;
  }

  // The id `object` gets when renamed to `to` ("name" or "schema.name";
  // functions and procedures keep their arguments).
  static absl::StatusOr<model::ObjectId> RenamedId(const model::ObjectId& object, const std::string& to) {
    static const std::set<std::string, std::less<>> kRenamable = {
        "table", "view", "materialized_view", "sequence", "function", "procedure", "type", "domain"};
    if (!kRenamable.count(object.kind))
      return absl::InvalidArgumentError(fmt::format(
          "{}: a {} is not renamed with strata rename ({})", object.ToString(), object.kind,
          object.kind == "schema" ? "rename the objects in it, or use strata schema diff --rename schema:A=B offline"
                                  : "indexes and triggers follow their table; change the table's definition"));
    auto parts = model::SplitIdentifiers(to);
    if (!parts.ok() || parts->empty() || parts->size() > 2 || parts->back().empty() ||
        parts->back().find('(') != std::string::npos)
      return absl::InvalidArgumentError(fmt::format("rename {} to \"{}\": give NAME or SCHEMA.NAME", object.ToString(), to));
    model::ObjectId id = object;
    if (parts->size() == 2) id.schema = model::QuoteIdentifier((*parts)[0]);
    const size_t args = object.name.find('(');
    id.name = model::QuoteIdentifier(parts->back()) + (args == std::string::npos ? "" : object.name.substr(args));
    return id;
  }

  // Rename: the object's next version lives under the new name (with
  // renamed_from; its number follows the old name's versions), then the old
  // name gets a version that ends it there (dropped, renamed_to). The new
  // name is written first: a rename cut short leaves the object under both
  // names, never under none.
  absl::Status DoRename(const auth::Principal& who, const v1::RenameRequest& req, v1::RenameResponse* resp) {
    auto id = Resolve(req.object(), /*allow_new=*/false);
    if (!id.ok()) return id.status();
    if (req.message().empty()) return absl::InvalidArgumentError("a rename needs a message (-m)");
    auto to = RenamedId(*id, req.to());
    if (!to.ok()) return to.status();
    if (*to == *id) return absl::InvalidArgumentError(fmt::format("{} already has that name", id->ToString()));
    refused_object_ = id->ToString();
    for (const auto* object : {&*id, &*to})
      if (absl::Status s = hosting::RequireObjectInScope(who, object->ToString(), {nullptr, options_.site, ""}); !s.ok())
        return s;
    auto state = ReadFresh(*id);
    if (!state.ok()) return state.status();
    if (!Visible(*state) || (**state).head().latest_version() == 0) return UnknownObject(id->ToString());
    const v1::ObjectHead head = (**state).head();
    if (head.dropped())
      return absl::FailedPreconditionError(
          fmt::format("{} is dropped (version {}); there is nothing to rename", id->ToString(), head.latest_version()));
    if (!head.has_lock())
      return absl::FailedPreconditionError(
          fmt::format("{} is not checked out; check it out before renaming it", id->ToString()));
    if (head.lock().user() != who.user) return absl::FailedPreconditionError(HeldBy(head.lock()));
    // Objects whose definitions name it must be in the caller's hands: their
    // next versions have to name the new name.
    // Indexes and triggers on a table follow it: the rename writes their
    // next versions, naming the new name.
    std::vector<std::pair<model::ObjectId, std::string>> followers;  // id, new definition
    if (auto key = sql::DependencyKeyOf(*id)) {
      std::vector<std::string> outside;
      for (const auto& d : LockProjection::Dependents(runner_->db(), *key)) {
        if (d == id->ToString()) continue;
        auto did = model::ParseObjectId(d);
        if (!did.ok()) continue;
        auto ds = Read(*did);
        if (!ds.ok()) return ds.status();
        if (!*ds || !(**ds).head().has_lock() || (**ds).head().lock().user() != who.user) {
          outside.push_back(d);
          continue;
        }
        if (did->kind != "index" && did->kind != "trigger") continue;
        auto follows = sql::RenameReferences((**ds).head().definition(), *id, *to, {.search_path = options_.search_path});
        if (follows.ok()) {
          if (auto check = sql::AnalyzeDefines(*follows, *did, {.search_path = options_.search_path}); !check.ok())
            follows = check.status();
        }
        if (!follows.ok())
          return absl::InvalidArgumentError(fmt::format("{} would not follow the rename: {}", d,
                                                        std::string(follows.status().message())));
        followers.emplace_back(*did, std::move(*follows));
      }
      if (!outside.empty())
        return absl::FailedPreconditionError(fmt::format(
            "cannot rename {}: {} name{} it; check {} out too (strata checkout {}), rename, then check in "
            "definitions that name {}",
            id->ToString(), fmt::join(outside, ", "), outside.size() == 1 ? "s" : "",
            outside.size() == 1 ? "it" : "them", fmt::join(outside, " "), to->QualifiedName()));
    }
    auto text = sql::RenameInDefinition(head.definition(), *id, *to, {.search_path = options_.search_path});
    if (!text.ok())
      return absl::InvalidArgumentError(fmt::format("{}: {}", id->ToString(), std::string(text.status().message())));
    auto info = sql::AnalyzeDefines(*text, *to, {.search_path = options_.search_path});
    if (!info.ok()) return absl::InvalidArgumentError(std::string(info.status().message()));

    // The new name: free (never used, or its object dropped), or reserved by
    // the caller.
    refused_object_ = to->ToString();
    auto target = ReadFresh(*to);
    if (!target.ok()) return target.status();
    if (*target) {
      const v1::ObjectHead& t = (**target).head();
      if (t.latest_version() > 0 && !t.dropped())
        return absl::FailedPreconditionError(fmt::format(
            "{} already exists (version {}); choose another name or drop it first", to->ToString(), t.latest_version()));
      if (t.has_lock() && t.lock().user() != who.user) return absl::FailedPreconditionError(HeldBy(t.lock()));
    }
    bool took = false;
    auto taken = Decide(who, *to, [&](const std::optional<internal::ObjectState>& s,
                                      v1::Event* e) -> absl::StatusOr<bool> {
      if (s && s->head().has_lock()) {
        if (s->head().lock().user() == who.user) return false;
        return absl::FailedPreconditionError(HeldBy(s->head().lock()));
      }
      e->mutable_checked_out()->set_reason(fmt::format("rename of {}", id->ToString()));
      took = true;
      return true;
    });
    if (!taken.ok()) return taken.status();
    const std::string sha = auth::Sha256Hex(*text);
    auto renamed = Decide(who, *to, [&](const std::optional<internal::ObjectState>& s,
                                        v1::Event* e) -> absl::StatusOr<bool> {
      if (!s || !s->head().has_lock() || s->head().lock().user() != who.user)
        return absl::FailedPreconditionError(s && s->head().has_lock() ? HeldBy(s->head().lock())
                                                                       : to->ToString() + " is no longer checked out");
      if (s->head().latest_version() > 0 && !s->head().dropped())
        return absl::FailedPreconditionError(fmt::format("{} already exists", to->ToString()));
      auto* ci = e->mutable_checked_in();
      ci->set_version(std::max(head.latest_version(), s->head().latest_version()) + 1);
      ci->set_definition(*text);
      ci->set_definition_sha256(sha);
      ci->set_message(req.message());
      ci->set_keep_checked_out(req.keep_checked_out());
      ci->set_renamed_from(id->ToString());
      ci->set_renamed_from_version(head.latest_version());
      for (auto& k : sql::DependencyKeys(*info)) ci->mutable_references()->add_keys(std::move(k));
      return true;
    });
    if (!renamed.ok()) {
      if (took) ReleaseTaken(who, {*to});
      return renamed.status();
    }
    if (*renamed) *resp->mutable_object() = **renamed;
    for (const auto& [follower, definition] : followers) {
      refused_object_ = follower.ToString();
      auto info = sql::AnalyzeDefines(definition, follower, {.search_path = options_.search_path});
      if (!info.ok()) return info.status();
      auto followed = Decide(who, follower, [&](const std::optional<internal::ObjectState>& s,
                                                v1::Event* e) -> absl::StatusOr<bool> {
        if (!Visible(s) || !s->head().has_lock() || s->head().lock().user() != who.user)
          return absl::FailedPreconditionError(follower.ToString() + " is no longer checked out by " + who.user);
        auto* ci = e->mutable_checked_in();
        ci->set_version(s->head().latest_version() + 1);
        ci->set_definition(definition);
        ci->set_definition_sha256(auth::Sha256Hex(definition));
        ci->set_message(fmt::format("{} (follows {} renamed to {})", req.message(), id->ToString(), to->ToString()));
        ci->set_keep_checked_out(req.keep_checked_out());
        for (auto& k : sql::DependencyKeys(*info)) ci->mutable_references()->add_keys(std::move(k));
        return true;
      });
      if (!followed.ok())
        return absl::Status(followed.status().code(),
                            fmt::format("{} exists now, but {} could not follow: {}", to->ToString(),
                                        follower.ToString(), std::string(followed.status().message())));
      if (*followed) *resp->add_followers() = **followed;
    }
    static const std::string kEmptySha = auth::Sha256Hex("");
    refused_object_ = id->ToString();
    auto ended = Decide(who, *id, [&](const std::optional<internal::ObjectState>& s,
                                      v1::Event* e) -> absl::StatusOr<bool> {
      if (!Visible(s)) return UnknownObject(id->ToString());
      if (!s->head().has_lock() || s->head().lock().user() != who.user)
        return absl::FailedPreconditionError(s->head().has_lock() ? HeldBy(s->head().lock())
                                                                  : id->ToString() + " is no longer checked out");
      auto* ci = e->mutable_checked_in();
      ci->set_version(s->head().latest_version() + 1);
      ci->set_message(req.message());
      ci->set_definition_sha256(kEmptySha);
      ci->set_dropped(true);
      ci->set_renamed_to(to->ToString());
      ci->mutable_references();
      return true;
    });
    if (!ended.ok())
      return absl::Status(ended.status().code(),
                          fmt::format("{} exists now (version {}), but {} could not be ended: {}; drop it with "
                                      "strata drop {}",
                                      to->ToString(), resp->object().latest_version(), id->ToString(),
                                      std::string(ended.status().message()), id->ToString()));
    if (*ended) *resp->mutable_previous() = **ended;
    return absl::OkStatus();
  }

  // checkin --rename-column OLD=NEW: OLD a column of the latest version that
  // the new definition no longer has, NEW one it has that the latest did not.
  absl::Status ColumnRenames(const model::ObjectId& id, const v1::ObjectHead& head, const sql::ObjectInfo& now,
                             const v1::CheckInRequest& req, v1::ObjectCheckedIn* ci) {
    if (req.rename_columns().empty()) return absl::OkStatus();
    if (id.kind != "table")
      return absl::InvalidArgumentError(fmt::format("{}: only a table's columns can be renamed", id.ToString()));
    if (head.latest_version() == 0 || head.dropped())
      return absl::InvalidArgumentError(fmt::format("{}: no previous version whose columns could be renamed",
                                                    id.ToString()));
    auto before = sql::AnalyzeDefinition(head.definition(), {.search_path = options_.search_path});
    if (!before.ok()) return before.status();
    for (const auto& text : req.rename_columns()) {
      const size_t eq = text.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
        return absl::InvalidArgumentError(fmt::format("--rename-column {}: write OLD=NEW", text));
      const std::string from = text.substr(0, eq), to = text.substr(eq + 1);
      if (!before->FindColumn(from))
        return absl::InvalidArgumentError(
            fmt::format("{}: version {} has no column {} to rename", id.ToString(), head.latest_version(), from));
      if (now.FindColumn(from))
        return absl::InvalidArgumentError(fmt::format("{}: the new definition still has column {}", id.ToString(), from));
      if (!now.FindColumn(to))
        return absl::InvalidArgumentError(fmt::format("{}: the new definition has no column {}", id.ToString(), to));
      if (before->FindColumn(to))
        return absl::InvalidArgumentError(
            fmt::format("{}: version {} already has a column {}", id.ToString(), head.latest_version(), to));
      auto* r = ci->add_renamed_columns();
      r->set_from(from);
      r->set_to(to);
    }
    return absl::OkStatus();
  }

  absl::Status DoUndo(const auth::Principal& who, const v1::UndoCheckOutRequest& req,
                      v1::UndoCheckOutResponse* resp) {
    if (req.objects().empty()) return absl::InvalidArgumentError("name at least one object");
    for (const auto& text : req.objects()) {
      auto id = Resolve(text, /*allow_new=*/false);
      if (!id.ok()) return id.status();
      auto head = Decide(who, *id, [&](const std::optional<internal::ObjectState>& s,
                                       v1::Event* e) -> absl::StatusOr<bool> {
        if (!Visible(s)) return UnknownObject(id->ToString());
        if (!s->head().has_lock())
          return absl::FailedPreconditionError(fmt::format("{} is not checked out", id->ToString()));
        if (s->head().lock().user() != who.user)
          return absl::FailedPreconditionError(HeldBy(s->head().lock()) +
                                               "; only the holder can undo (a dba can force-release)");
        e->mutable_check_out_undone();
        return true;
      });
      if (!head.ok()) return head.status();
      v1::ObjectHead* out = resp->add_objects();
      if (*head) {
        *out = **head;
      } else {  // a reserved name, now freed
        out->set_object(id->ToString());
        out->set_kind(id->kind);
        out->set_schema(id->schema);
        out->set_name(id->name);
      }
    }
    return absl::OkStatus();
  }

  absl::Status DoForceRelease(const auth::Principal& who, const v1::ForceReleaseRequest& req,
                              v1::ForceReleaseResponse* resp) {
    auto id = Resolve(req.object(), /*allow_new=*/false);
    if (!id.ok()) return id.status();
    if (req.reason().empty())
      return absl::InvalidArgumentError("force-release needs a reason; it is recorded in the audit trail");
    auto head = Decide(who, *id, [&](const std::optional<internal::ObjectState>& s,
                                     v1::Event* e) -> absl::StatusOr<bool> {
      if (!Visible(s)) return UnknownObject(id->ToString());
      if (!s->head().has_lock())
        return absl::FailedPreconditionError(fmt::format("{} is not checked out", id->ToString()));
      *resp->mutable_released() = s->head().lock();
      auto* fr = e->mutable_lock_force_released();
      fr->set_previous_holder(s->head().lock().user());
      fr->set_previous_holder_site(s->head().lock().site());
      fr->set_reason(req.reason());
      return true;
    });
    if (!head.ok()) return head.status();
    if (*head) {
      *resp->mutable_object() = **head;
    } else {
      resp->mutable_object()->set_object(id->ToString());
    }
    return absl::OkStatus();
  }

  // Best effort: the caller already has its answer; a log outage only costs
  // the audit record, which is logged locally instead.
  void RecordRefusal(const auth::Principal& who, const char* command, const std::string& object,
                     const absl::Status& status) {
    auto id = object.empty() ? absl::NotFoundError("") : Resolve(object, /*allow_new=*/false);
    const std::string aggregate = id.ok() ? id->Aggregate() : "user:" + who.user;
    events::AppendRefusal(*log_, NewEvent(who, aggregate, 0), command, status);
  }

  const LockModuleOptions& options_;
  eventlog::EventLog* log_;
  projection::ProjectionRunner* runner_;
  OutcomeBoard* board_;
  std::shared_ptr<auth::TokenStore> tokens_;
  // The object the current call's refusal concerns (gRPC's synchronous
  // server runs each call on one thread).
  static thread_local std::string refused_object_;
};

thread_local std::string LockServiceImpl::refused_object_;

absl::StatusOr<std::unique_ptr<LockModule>> LockModule::Open(LockModuleOptions options,
                                                             eventlog::EventLog* log,
                                                             std::shared_ptr<auth::TokenStore> tokens) {
  std::unique_ptr<LockModule> m(new LockModule());
  m->options_ = std::move(options);
  m->projection_ = std::make_unique<LockProjection>(&m->board_, m->options_.search_path);
  auto runner = projection::ProjectionRunner::Open(
      {.db_path = m->options_.data_dir + "/lock",
       .rebuild = m->options_.rebuild,
       .format_version = LockProjection::kFormatVersion},
      log,
      m->projection_.get());
  if (!runner.ok()) return runner.status();
  m->runner_ = std::move(*runner);
  m->service_ = std::make_unique<LockServiceImpl>(m->options_, log, m->runner_.get(), &m->board_,
                                                  std::move(tokens));
  return m;
}

LockModule::~LockModule() { Stop(); }

absl::Status LockModule::Start(absl::Duration catch_up_timeout) {
  if (absl::Status s = runner_->Start(); !s.ok()) return s;
  return runner_->CatchUp(catch_up_timeout);
}

void LockModule::Stop() {
  if (runner_) runner_->Stop();
}

grpc::Service* LockModule::service() { return service_.get(); }

}  // namespace strata::lock
