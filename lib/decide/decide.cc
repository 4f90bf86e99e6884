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

Decision DecideBaselineRule(const v1::Event& e) {
  if (e.payload_case() != v1::Event::kBaselineCreated)
    return {Verdict::kMalformed, "payload is not a baseline event"};
  if ("baseline:" + e.baseline_created().name() != e.aggregate())
    return {Verdict::kMalformed, "baseline name does not match its aggregate"};
  return Accept();  // seq 1 (checked by the caller): the first of that name wins
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
  if (IsBaselineAggregate(event.aggregate())) return DecideBaselineRule(event);
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
