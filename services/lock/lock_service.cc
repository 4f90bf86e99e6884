#include "lock/lock_service_impl.h"

namespace strata::lock {
namespace {

std::string FormatTime(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", absl::FromUnixSeconds(ts.seconds()),
                          absl::UTCTimeZone());
}

}  // namespace

std::string HeldBy(const v1::Lock& l) {
  std::string s = fmt::format("{} is checked out by {} ({}) since {}", l.object(), l.user(),
                              l.site(), FormatTime(l.since()));
  if (!l.reason().empty()) s += fmt::format(" (reason: {})", l.reason());
  return s;
}

bool Visible(const std::optional<internal::ObjectState>& s) {
  return s && (s->head().latest_version() > 0 || s->head().has_lock());
}

absl::StatusOr<model::ObjectId> LockServiceImpl::Resolve(const std::string& text, bool allow_new) {
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

absl::StatusOr<std::optional<internal::ObjectState>> LockServiceImpl::ReadFresh(const model::ObjectId& id) {
  const int32_t p = log_->PartitionFor(id.Aggregate());
  if (absl::Status s = runner_->CatchUpPartition(p, options_.apply_timeout); !s.ok()) return s;
  return Read(id);
}

absl::StatusOr<Outcome> LockServiceImpl::Submit(const v1::Event& e) {
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

absl::StatusOr<std::optional<v1::ObjectHead>> LockServiceImpl::Decide(const auth::Principal& who,
                                                     const model::ObjectId& id,
                                                     const Builder& build,
                                                     const std::optional<internal::ObjectState>* known) {
  refused_object_ = id.ToString();
  // Audited by Handle, as every refused command.
  if (absl::Status s = hosting::RequireObjectInScope(who, id.ToString(), {nullptr, options_.site, ""}); !s.ok())
    return s;
  auto state = known ? absl::StatusOr<std::optional<internal::ObjectState>>(*known) : Read(id);
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

absl::Status LockServiceImpl::DoCheckOut(const auth::Principal& who, const v1::CheckOutRequest& req,
                        v1::CheckOutResponse* resp) {
  if (req.objects().empty()) return absl::InvalidArgumentError("name at least one object to check out");
  if (req.task().size() > 200) return absl::InvalidArgumentError("a work item's id is at most 200 characters");
  std::vector<model::ObjectId> ids;
  std::optional<internal::ObjectState> first_state;  // read while following renames
  for (const auto& text : req.objects()) {
    auto id = Resolve(text, /*allow_new=*/true);
    if (!id.ok()) return id.status();
    // A renamed object is checked out under its new name (the response
    // says which), unless the old name is wanted for a new object.
    std::optional<internal::ObjectState> state;
    if (!req.new_object()) {
      auto current = FollowRenames(*id, &state);
      if (!current.ok()) return current.status();
      id = *current;
    }
    if (std::find(ids.begin(), ids.end(), *id) != ids.end()) continue;
    if (ids.empty()) first_state = std::move(state);
    ids.push_back(*id);
  }
  // The team's policy may require a work item (rule require-task).
  for (const auto& id : ids)
    if (absl::Status s = CheckTask(id, req.task()); !s.ok()) {
      refused_object_ = id.ToString();
      return s;
    }
  // "Already yours" is not taken from a stale view: another service (a data
  // check-in at the deploy service) may have ended the check-out in the log.
  if (!ids.empty() && first_state && first_state->head().has_lock() && first_state->head().lock().user() == who.user)
    if (auto fresh = ReadFresh(ids.front()); fresh.ok()) first_state = std::move(*fresh);
  std::vector<std::string> batch;
  if (ids.size() > 1)
    for (const auto& id : ids) batch.push_back(id.ToString());

  // All or nothing: on the first refusal, give back what this call took.
  std::vector<model::ObjectId> taken;
  for (const auto& id : ids) {
    // The first object's state was read just now: Decide starts from it (the
    // others were read before earlier objects were decided, so are re-read).
    const bool fresh = &id == &ids.front() && !req.new_object();
    bool newly_taken = false;
    auto head = Decide(who, id, [&](const std::optional<internal::ObjectState>& s,
                                    v1::Event* e) -> absl::StatusOr<bool> {
      if (s && s->head().has_lock()) {
        if (s->head().lock().user() == who.user) return false;  // already ours
        return absl::FailedPreconditionError(HeldBy(s->head().lock()));
      }
      e->mutable_checked_out()->set_reason(req.reason());
      e->mutable_checked_out()->set_task(req.task());
      for (const auto& b : batch) e->mutable_checked_out()->add_batch(b);
      newly_taken = true;
      return true;
    }, fresh ? &first_state : nullptr);
    if (!head.ok()) {
      ReleaseTaken(who, taken);
      return head.status();
    }
    if (newly_taken) taken.push_back(id);
    if (*head) *resp->add_objects() = **head;
  }
  return absl::OkStatus();
}

void LockServiceImpl::ReleaseTaken(const auth::Principal& who, const std::vector<model::ObjectId>& taken) {
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

absl::Status LockServiceImpl::DoCheckIn(const auth::Principal& who, const v1::CheckInRequest& req,
                       v1::CheckInResponse* resp) {
  auto id = Resolve(req.object(), /*allow_new=*/false);
  if (!id.ok()) return id.status();
  if (req.message().empty()) return absl::InvalidArgumentError("a check-in needs a message (-m)");
  if (absl::Status s = hosting::CheckSize("the definition of " + id->ToString(), req.definition().size(),
                                          options_.max_definition_bytes);
      !s.ok())
    return s;
  if (absl::Status s = sql::ValidateSql(req.definition()); !s.ok())
    return absl::InvalidArgumentError(
        fmt::format("{}: the definition does not parse: {}", id->ToString(), std::string(s.message())));
  const std::string sha = auth::Sha256Hex(req.definition());
  // The definition must create the object that is checked out, and only it.
  // Parsed once here for the analysis and the policy.
  auto parsed = sql::ParsedSql::Parse(req.definition());
  const auto info = parsed.ok() ? sql::AnalyzeDefines(*parsed, *id, {.search_path = options_.search_path})
                                : absl::StatusOr<sql::ObjectInfo>(parsed.status());
  // Proven on PostgreSQL before it is decided, when the caller holds the
  // object (a refusal for the lock comes from Decide, as always). Without a
  // proof, Decide starts from the state read here; after one (milliseconds
  // later), it reads again.
  const auto state = Read(*id);
  const bool holds = info.ok() && state.ok() && Visible(*state) && (**state).head().has_lock() &&
                     (**state).head().lock().user() == who.user;
  // The team's policy, for the holder (the lock's refusals come from Decide).
  if (holds)
    if (absl::Status s =
            CheckPolicy(*id, (**state).head(), req.definition(), *parsed, *info, resp->mutable_warnings());
        !s.ok())
      return s;
  const bool proving = prover_ && holds;
  if (proving) {
    auto proof = ProveDefinition(*id, req.definition(), *info, resp->mutable_warnings());
    if (!proof.ok()) return proof.status();
    resp->set_validation(*proof);
  } else {
    resp->set_validation(ParsedOnly());
  }
  auto head = Decide(who, *id, [&](const std::optional<internal::ObjectState>& s,
                                   v1::Event* e) -> absl::StatusOr<bool> {
    if (!Visible(s)) return UnknownObject(id->ToString());
    if (!s->head().has_lock())
      return absl::FailedPreconditionError(
          fmt::format("{} is not checked out; check it out before checking in", id->ToString()));
    if (s->head().lock().user() != who.user) return absl::FailedPreconditionError(HeldBy(s->head().lock()));
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
    ci->set_task(s->head().lock().task());
    return true;
  }, !proving && state.ok() ? &*state : nullptr);
  if (!head.ok()) return head.status();
  if (*head) {
    *resp->mutable_object() = **head;
    // The next check-in's policy compares with this version without parsing it again.
    if (info.ok() && board_->PolicyEverSet()) RememberAnalysis(id->ToString(), (*head)->latest_version(), *info);
  }
  return absl::OkStatus();
}

absl::Status LockServiceImpl::DoUndo(const auth::Principal& who, const v1::UndoCheckOutRequest& req,
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

absl::Status LockServiceImpl::DoForceRelease(const auth::Principal& who, const v1::ForceReleaseRequest& req,
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

void LockServiceImpl::RecordRefusal(const auth::Principal& who, const char* command, const std::string& object,
                   const absl::Status& status) {
  auto id = object.empty() ? absl::NotFoundError("") : Resolve(object, /*allow_new=*/false);
  const std::string aggregate = id.ok() ? id->Aggregate() : "user:" + who.user;
  events::AppendRefusal(*log_, NewEvent(who, aggregate, 0), command, status);
}

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
       .format_version = LockProjection::kFormatVersion,
       .shared_memory = m->options_.shared_memory},
      log,
      m->projection_.get());
  if (!runner.ok()) return runner.status();
  m->runner_ = std::move(*runner);
  if (LockProjection::LatestPolicyVersion(m->runner_->db()) > 0) m->board_.NotePolicySet();
  if (!m->options_.shadow_url.empty()) {
    // Check-outs do not depend on PostgreSQL: without the shadow database
    // the service runs, and every check-in's answer says why it is only
    // parsed (restart to try again).
    auto prover = Prover::Open(m->options_.shadow_url, m->options_.search_path);
    if (prover.ok()) {
      m->prover_ = std::move(*prover);
    } else {
      m->proof_unavailable_ = fmt::format("the shadow database for proofs could not be created at start "
                                          "(--shadow-url {}): {}",
                                          pg::RedactUrl(m->options_.shadow_url), std::string(prover.status().message()));
      spdlog::error("lock service: {}; check-ins are parsed only until a restart", m->proof_unavailable_);
    }
  }
  m->service_ = std::make_unique<LockServiceImpl>(m->options_, log, m->runner_.get(), &m->board_,
                                                  std::move(tokens), m->prover_.get(), m->proof_unavailable_);
  return m;
}

LockModule::~LockModule() { Stop(); }

absl::Status LockModule::StartReplay() { return runner_->Start(); }

absl::Status LockModule::Start(absl::Duration catch_up_timeout) {
  if (absl::Status s = runner_->Start(); !s.ok()) return s;
  return runner_->CatchUp(catch_up_timeout);
}

void LockModule::Stop() {
  if (runner_) runner_->Stop();
}

grpc::Service* LockModule::service() { return service_.get(); }

}  // namespace strata::lock
