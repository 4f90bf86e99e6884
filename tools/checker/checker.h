// History checker: is what clients saw of Strata's objects linearizable?
//
// Clients record every operation with the time they invoked it, the time it
// completed and its outcome: ok (with what it returned), refused (the lock
// said no: held by another, not checked out) or unknown (a timeout or an
// unavailable service: it may or may not have taken effect, at any time after
// its invocation). Check() verifies the history against a sequential model of
// an object, its holder and its latest version:
//
//   check-out(c)     ok iff nobody holds it (c now holds it) or c holds it
//                    already; refused iff another client holds it.
//   check-in(c)      ok iff c holds it: the version goes up by one and is
//                    what the check-in returned; the lock is released.
//                    Refused iff c does not hold it.
//   undo(c)          ok iff c holds it (released); refused otherwise.
//   force-release    ok iff somebody holds it (released); refused otherwise.
//   show             returns the holder ("" none) and the latest version.
//
// Objects are independent (each is its own aggregate in the log), so each
// object's sub-history is checked on its own (linearizability is local). The
// search is Wing & Gong's with Lowe's memoization of (linearized set, state);
// an unknown operation may be linearized with its effect anywhere after its
// invocation, or not at all.
//
// When an object's history is not linearizable, the report gives the
// smallest failing sub-history found: the shortest prefix (operations that
// completed after it count as unknown) that already fails, then without every
// show or refusal that is not needed, and with every acknowledged result that
// is not needed turned into "unknown". Each step only relaxes or removes
// constraints that cannot create an anomaly, so the witness fails only if the
// whole history does. It also names the anomaly when it is one of the known
// kinds: a double grant, a lost acknowledged check-in, a stale read.
//
// Thread-safety: Recorder is safe to use from many client threads; Check()
// is a pure function. Failures: Check() never fails; a search that exceeds
// its budget is reported as inconclusive, never as linearizable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace strata::checker {

enum class OpKind { kCheckOut, kCheckIn, kUndo, kForceRelease, kShow };
enum class Outcome { kOk, kRefused, kUnknown };

const char* KindName(OpKind k);
const char* OutcomeName(Outcome o);

struct Op {
  int64_t id = 0;           // unique in the history
  std::string client;       // who (the lock's holder identity: the user)
  std::string object;
  OpKind kind = OpKind::kShow;
  int64_t invoke_ns = 0;    // monotonic clock, any origin
  int64_t complete_ns = 0;  // ignored for unknown outcomes
  Outcome outcome = Outcome::kUnknown;
  // What an ok operation returned: check-in, the new version; show, the
  // latest version and the holder ("" none).
  uint64_t version = 0;
  std::string holder;
};

std::string Describe(const Op& op);

// One JSON object per line (the format `make chaos` writes and
// strata-check-history reads).
std::string ToJsonLine(const Op& op);
absl::StatusOr<Op> FromJsonLine(const std::string& line);

struct Options {
  // The state of every object before the history: its latest version (the
  // holder is nobody). Objects not listed start at version 0.
  std::vector<std::pair<std::string, uint64_t>> initial_versions;
  // Search budget per object, in memoized configurations (and at most about
  // 2 GB of them: a configuration holds a bit per operation of the object).
  // Beyond it the object is reported inconclusive.
  int64_t max_states = 20'000'000;
  // Minimize failing histories (costs further searches).
  bool minimize = true;
};

struct ObjectVerdict {
  std::string object;
  int64_t operations = 0;
  bool linearizable = false;
  bool inconclusive = false;  // the search budget ran out
  int64_t states = 0;         // configurations the search memoized
  std::string anomaly;        // "double grant", "lost acknowledged check-in", "stale read", "not linearizable"
  std::string explanation;    // what the anomaly is, in terms of the ops
  std::vector<Op> witness;    // the smallest failing sub-history found
};

struct Report {
  int64_t operations = 0;
  int64_t ok = 0, refused = 0, unknown = 0;
  int64_t objects = 0;
  std::vector<ObjectVerdict> failures;  // not linearizable or inconclusive
  bool valid() const { return failures.empty(); }
  std::string Summary() const;
};

Report Check(const std::vector<Op>& history, const Options& options = {});

// Checks one object's operations; exposed for tests.
ObjectVerdict CheckObject(const std::string& object, std::vector<Op> ops, uint64_t initial_version,
                          const Options& options);

// Records a history as clients run: Invoke before sending, Complete after the
// answer. Operations never completed (the client was stopped) are unknown.
class Recorder {
 public:
  Recorder();
  int64_t Invoke(const std::string& client, const std::string& object, OpKind kind);
  void Complete(int64_t id, Outcome outcome, uint64_t version = 0, const std::string& holder = "");
  // The operation certainly took no effect and returned nothing (it was
  // never sent, or the service said nothing was changed): it is left out of
  // the history, which is the same as asserting that it had no effect.
  void Discard(int64_t id);
  std::vector<Op> ops() const;
  static int64_t NowNs();

 private:
  mutable absl::Mutex mu_;
  std::vector<Op> ops_ ABSL_GUARDED_BY(mu_);  // ops_[id]
  std::vector<bool> discarded_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata::checker
