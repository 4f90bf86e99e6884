#include "decide/decide.h"

#include "fmt/format.h"

namespace strata::decide {
namespace {

bool IsObjectAggregate(const std::string& aggregate) { return aggregate.rfind("object:", 0) == 0; }

Decision Accept() { return {Verdict::kAccepted, ""}; }
Decision Violated(std::string why) { return {Verdict::kRuleViolated, std::move(why)}; }

Decision DecideObjectRule(const v1::Event& e, const AggregateFacts& f) {
  const std::string& actor = e.actor().user();
  switch (e.payload_case()) {
    case v1::Event::kCheckedOut:
      if (!f.holder.empty()) return Violated(fmt::format("already checked out by {}", f.holder));
      return Accept();
    case v1::Event::kCheckedIn:
      if (f.holder != actor)
        return Violated(f.holder.empty() ? std::string("not checked out")
                                         : fmt::format("checked out by {}, not {}", f.holder, actor));
      // The first version under a new name continues the numbering of the
      // object's versions under its old one (`strata rename`).
      if (!e.checked_in().renamed_from().empty() && e.checked_in().version() > f.latest_version) return Accept();
      if (e.checked_in().version() != f.latest_version + 1)
        return Violated(fmt::format("version {} does not follow latest version {}",
                                    e.checked_in().version(), f.latest_version));
      return Accept();
    case v1::Event::kCheckOutUndone:
      if (f.holder != actor)
        return Violated(f.holder.empty() ? std::string("not checked out")
                                         : fmt::format("checked out by {}, not {}", f.holder, actor));
      return Accept();
    case v1::Event::kLockForceReleased:
      if (f.holder.empty()) return Violated("not checked out");
      if (e.lock_force_released().previous_holder() != f.holder)
        return Violated(fmt::format("held by {}, not {}", f.holder,
                                    e.lock_force_released().previous_holder()));
      return Accept();
    default:
      return {Verdict::kMalformed, "payload is not an object event"};
  }
}

bool IsBaselineAggregate(const std::string& aggregate) {
  return aggregate.rfind("baseline:", 0) == 0;
}

Decision DecideBaselineRule(const v1::Event& e, const AggregateFacts& f) {
  if (e.payload_case() != v1::Event::kBaselineCreated)
    return {Verdict::kMalformed, "payload is not a baseline event"};
  if ("baseline:" + e.baseline_created().name() != e.aggregate())
    return {Verdict::kMalformed, "baseline name does not match its aggregate"};
  // Baselines are immutable: only seq 1 can create one; the first of that name wins.
  if (f.last_seq != 0) return Violated("the baseline already exists");
  return Accept();
}

bool IsEnvironmentAggregate(const std::string& aggregate) { return aggregate.rfind("env:", 0) == 0; }
bool IsReleaseAggregate(const std::string& aggregate) { return aggregate.rfind("release:", 0) == 0; }

// seq 1 registers the environment; afterwards imports and deployments, one
// deployment at a time.
Decision DecideEnvironmentRule(const v1::Event& e, const AggregateFacts& f) {
  if (e.payload_case() == v1::Event::kEnvironmentRegistered) {
    if ("env:" + e.environment_registered().name() != e.aggregate())
      return {Verdict::kMalformed, "environment name does not match its aggregate"};
    if (f.last_seq != 0) return Violated("the environment is already registered");
    return Accept();
  }
  if (f.last_seq == 0) return Violated("the environment is not registered");
  switch (e.payload_case()) {
    case v1::Event::kEnvironmentImported:
    case v1::Event::kDeploymentStarted:
      if (!f.running_deployment.empty())
        return Violated(fmt::format("deployment {} is running", f.running_deployment));
      if (e.has_deployment_started() && e.deployment_started().deployment_id().empty())
        return {Verdict::kMalformed, "deployment without an id"};
      return Accept();
    case v1::Event::kDeploymentFinished:
      if (f.running_deployment.empty()) return Violated("no deployment is running");
      if (f.running_deployment != e.deployment_finished().deployment_id())
        return Violated(fmt::format("deployment {} is running, not {}", f.running_deployment,
                                    e.deployment_finished().deployment_id()));
      return Accept();
    default:
      return {Verdict::kMalformed, "payload is not an environment event"};
  }
}

// seq 1 creates the release (immutable afterwards); then approvals.
Decision DecideReleaseRule(const v1::Event& e, const AggregateFacts& f) {
  if (e.payload_case() == v1::Event::kReleaseCreated) {
    if ("release:" + e.release_created().name() != e.aggregate())
      return {Verdict::kMalformed, "release name does not match its aggregate"};
    if (f.last_seq != 0) return Violated("the release already exists");
    return Accept();
  }
  if (e.payload_case() != v1::Event::kReleaseApproved)
    return {Verdict::kMalformed, "payload is not a release event"};
  if (f.last_seq == 0) return Violated("no such release");
  return Accept();
}

bool IsDataAggregate(const std::string& aggregate) { return aggregate.rfind("data:", 0) == 0; }
bool IsPolicyAggregate(const std::string& aggregate) { return aggregate.rfind("policy:", 0) == 0; }

// Versions numbered from 1; waivers at any point.
Decision DecidePolicyRule(const v1::Event& e, const AggregateFacts& f) {
  switch (e.payload_case()) {
    case v1::Event::kPolicySet:
      if (e.policy_set().version() != f.latest_version + 1)
        return Violated(fmt::format("policy version {} does not follow latest version {}", e.policy_set().version(),
                                    f.latest_version));
      return Accept();
    case v1::Event::kPolicyWaived:
      if (e.policy_waived().object().empty() || e.policy_waived().rule().empty())
        return {Verdict::kMalformed, "a waiver names an object and a rule"};
      return Accept();
    default:
      return {Verdict::kMalformed, "payload is not a policy event"};
  }
}

// Tracking, data versions numbered from 1 (kept across untrack and track).
Decision DecideDataRule(const v1::Event& e, const AggregateFacts& f) {
  switch (e.payload_case()) {
    case v1::Event::kDataTracked:
      if (f.tracked) return Violated("the table is already tracked");
      if (e.data_tracked().key().empty()) return {Verdict::kMalformed, "tracking without key columns"};
      return Accept();
    case v1::Event::kDataUntracked:
      if (!f.tracked) return Violated("the table is not tracked");
      return Accept();
    case v1::Event::kDataVersionStored:
      if (!f.tracked) return Violated("the table is not tracked");
      if (e.data_version_stored().version() != f.latest_version + 1)
        return Violated(fmt::format("data version {} does not follow latest data version {}",
                                    e.data_version_stored().version(), f.latest_version));
      return Accept();
    default:
      return {Verdict::kMalformed, "payload is not a data event"};
  }
}

}  // namespace

Decision Decide(const v1::Event& event, const AggregateFacts& facts) {
  if (event.payload_case() == v1::Event::PAYLOAD_NOT_SET)
    return {Verdict::kMalformed, "event has no payload"};
  if (event.seq() == 0) {
    if (event.payload_case() == v1::Event::kCommandRefused) return {Verdict::kInformational, ""};
    return {Verdict::kMalformed, "seq 0 is only for informational events"};
  }
  if (event.payload_case() == v1::Event::kCommandRefused)
    return {Verdict::kMalformed, "command_refused must have seq 0"};
  if (event.seq() != facts.last_seq + 1)
    return {Verdict::kStaleSeq,
            fmt::format("seq {} but the aggregate is at seq {}", event.seq(), facts.last_seq)};
  if (IsObjectAggregate(event.aggregate())) return DecideObjectRule(event, facts);
  if (IsBaselineAggregate(event.aggregate())) return DecideBaselineRule(event, facts);
  if (IsEnvironmentAggregate(event.aggregate())) return DecideEnvironmentRule(event, facts);
  if (IsReleaseAggregate(event.aggregate())) return DecideReleaseRule(event, facts);
  if (IsDataAggregate(event.aggregate())) return DecideDataRule(event, facts);
  if (IsPolicyAggregate(event.aggregate())) return DecidePolicyRule(event, facts);
  return {Verdict::kMalformed, fmt::format("unknown aggregate type: {}", event.aggregate())};
}

void Advance(const v1::Event& e, AggregateFacts* f) {
  f->last_seq = e.seq();
  switch (e.payload_case()) {
    case v1::Event::kCheckedOut:
      f->holder = e.actor().user();
      break;
    case v1::Event::kCheckedIn:
      f->latest_version = e.checked_in().version();
      if (!e.checked_in().keep_checked_out()) f->holder.clear();
      break;
    case v1::Event::kCheckOutUndone:
    case v1::Event::kLockForceReleased:
      f->holder.clear();
      break;
    case v1::Event::kDeploymentStarted:
      f->running_deployment = e.deployment_started().deployment_id();
      break;
    case v1::Event::kDeploymentFinished:
      f->running_deployment.clear();
      break;
    case v1::Event::kDataTracked:
      f->tracked = true;
      break;
    case v1::Event::kDataUntracked:
      f->tracked = false;
      break;
    case v1::Event::kDataVersionStored:
      f->latest_version = e.data_version_stored().version();
      break;
    case v1::Event::kPolicySet:
      f->latest_version = e.policy_set().version();
      break;
    default:
      break;
  }
}

const char* VerdictName(Verdict v) {
  switch (v) {
    case Verdict::kAccepted: return "accepted";
    case Verdict::kInformational: return "informational";
    case Verdict::kStaleSeq: return "stale seq";
    case Verdict::kRuleViolated: return "rule violated";
    case Verdict::kMalformed: return "malformed";
  }
  return "?";
}

}  // namespace strata::decide
