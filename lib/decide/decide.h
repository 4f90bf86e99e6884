// strata_decide: THE accept rule of the Strata event log (design.md,
// "Deciding on a log"). Every projection of every service, and every
// integrator, decides with this one function, so all readers of the same log
// reach the same state.
//
// An event is accepted iff
//   (1) event.seq == facts.last_seq + 1 for its aggregate, and
//   (2) the domain rule of its payload holds given the aggregate's facts.
// seq 0 events are informational (audit records) and never change state.
// Everything else lost a race (or is malformed) and is ignored by everyone.
#pragma once

#include <cstdint>
#include <string>

#include "strata/v1/events.pb.h"

namespace strata::decide {

// What the log has established about one aggregate, as much as the rule needs.
struct AggregateFacts {
  uint64_t last_seq = 0;
  // Object aggregates: the user holding the lock (empty: nobody) ...
  std::string holder;
  // ... and the latest checked-in version (0: none yet).
  uint64_t latest_version = 0;
  // Environment aggregates: the deployment running there (empty: none).
  std::string running_deployment;
  // Data aggregates: the table's rows are tracked now (latest_version is
  // then its latest data version).
  bool tracked = false;
};

enum class Verdict {
  kAccepted,       // apply it
  kInformational,  // seq 0: record it (audit), change nothing
  kStaleSeq,       // another event took this seq first: lost race
  kRuleViolated,   // seq was right but the domain rule failed: lost race
  kMalformed,      // payload missing or not valid for this aggregate
};

struct Decision {
  Verdict verdict = Verdict::kMalformed;
  std::string reason;  // empty when accepted
  bool accepted() const { return verdict == Verdict::kAccepted; }
};

// Decides `event` against the facts of its aggregate at this point of the log.
Decision Decide(const v1::Event& event, const AggregateFacts& facts);

// Advances the facts by an event Decide() accepted. (The one place that says
// how facts change, so that deciding and advancing never disagree.)
void Advance(const v1::Event& event, AggregateFacts* facts);

// Human name of a verdict, e.g. "accepted", "stale seq".
const char* VerdictName(Verdict verdict);

}  // namespace strata::decide
