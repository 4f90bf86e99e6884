#include "checker/checker.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <map>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace strata::checker {

namespace {
constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

int64_t End(const Op& op) { return op.outcome == Outcome::kUnknown ? kNever : op.complete_ns; }
bool Effectful(const Op& op) { return op.kind != OpKind::kShow; }
bool ReadOnly(const Op& op) { return op.kind == OpKind::kShow || op.outcome == Outcome::kRefused; }

// The model's state: holder (index into the object's clients, -1 nobody)
// and latest version.
struct State {
  int holder = -1;
  uint64_t version = 0;
  bool operator==(const State&) const = default;
};

// One operation as the search sees it: the client and the shown holder as
// indexes.
struct SearchOp {
  OpKind kind;
  Outcome outcome;
  int client;
  int shown_holder;  // show: the holder index it returned (-1 nobody)
  uint64_t version;
};

// The model's transition for `op` in `s`: the next state, or nullopt when the
// operation cannot be linearized here (for an unknown one: it cannot take
// effect here; not taking effect at all is always allowed).
std::optional<State> Step(const State& s, const SearchOp& op) {
  const bool holds = s.holder == op.client;
  switch (op.outcome) {
    case Outcome::kOk:
    case Outcome::kUnknown:
      switch (op.kind) {
        case OpKind::kCheckOut:
          if (s.holder == -1 || holds) return State{op.client, s.version};
          return std::nullopt;
        case OpKind::kCheckIn:
          if (!holds) return std::nullopt;
          if (op.outcome == Outcome::kOk && op.version != s.version + 1) return std::nullopt;
          return State{-1, s.version + 1};
        case OpKind::kUndo:
          if (!holds) return std::nullopt;
          return State{-1, s.version};
        case OpKind::kForceRelease:
          if (s.holder == -1) return std::nullopt;
          return State{-1, s.version};
        case OpKind::kShow:
          if (op.outcome == Outcome::kUnknown) return s;
          if (s.holder != op.shown_holder || s.version != op.version) return std::nullopt;
          return s;
      }
      break;
    case Outcome::kRefused:
      switch (op.kind) {
        case OpKind::kCheckOut:
          if (s.holder != -1 && !holds) return s;
          return std::nullopt;
        case OpKind::kCheckIn:
        case OpKind::kUndo:
          if (!holds) return s;
          return std::nullopt;
        case OpKind::kForceRelease:
          if (s.holder == -1) return s;
          return std::nullopt;
        case OpKind::kShow:
          return s;
      }
      break;
  }
  return std::nullopt;
}

// Whether `op` leaves every state in which it is legal as it was.
bool NeverChangesState(const SearchOp& op) {
  return op.outcome == Outcome::kRefused || (op.kind == OpKind::kShow && op.outcome == Outcome::kOk);
}

struct Config {
  std::vector<uint64_t> linearized;
  State state;
  bool operator==(const Config&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const Config& c) {
    return H::combine(std::move(h), c.linearized, c.state.holder, c.state.version);
  }
};

struct SearchResult {
  bool linearizable = false;
  bool inconclusive = false;
  int64_t states = 0;
};

// Wing & Gong's search with Lowe's memoization over one object's operations.
SearchResult Search(const std::vector<Op>& ops, uint64_t initial_version, int64_t max_states) {
  const int n = static_cast<int>(ops.size());
  SearchResult result;
  if (n == 0) {
    result.linearizable = true;
    return result;
  }
  std::map<std::string, int> clients;
  auto index_of = [&](const std::string& c) {
    auto [it, inserted] = clients.emplace(c, static_cast<int>(clients.size()));
    return it->second;
  };
  std::vector<SearchOp> sops(n);
  for (int i = 0; i < n; ++i) {
    const Op& o = ops[i];
    sops[i] = {o.kind, o.outcome, index_of(o.client), o.holder.empty() ? -1 : index_of(o.holder), o.version};
  }
  // Entries: a call and a return per operation, in time order (a call at the
  // same instant as a return comes first: they overlap). Entry e of op i:
  // 2i call, 2i+1 return. A doubly linked list with a head sentinel (index 2n).
  struct Entry {
    int64_t time;
    bool is_return;
    int op;
  };
  std::vector<Entry> order;
  order.reserve(2 * n);
  for (int i = 0; i < n; ++i) {
    order.push_back({ops[i].invoke_ns, false, i});
    order.push_back({End(ops[i]), true, i});
  }
  std::stable_sort(order.begin(), order.end(), [](const Entry& a, const Entry& b) {
    if (a.time != b.time) return a.time < b.time;
    return !a.is_return && b.is_return;
  });
  const int head = 2 * n;
  std::vector<int> next(2 * n + 1, -1), prev(2 * n + 1, -1);
  auto id = [](const Entry& e) { return 2 * e.op + (e.is_return ? 1 : 0); };
  int last = head;
  for (const Entry& e : order) {
    next[last] = id(e);
    prev[id(e)] = last;
    last = id(e);
  }
  auto unlink = [&](int e) {
    next[prev[e]] = next[e];
    if (next[e] != -1) prev[next[e]] = prev[e];
  };
  auto relink = [&](int e) {
    next[prev[e]] = e;
    if (next[e] != -1) prev[next[e]] = e;
  };
  auto is_never = [&](int e) { return (e & 1) && End(ops[e >> 1]) == kNever; };

  // Depth-first over configurations. A frame holds the candidates at one
  // configuration: the operations whose call comes before the first return
  // still in the list (they may go next without breaking real-time order).
  // An operation that can never change the state (a show or a refusal) is
  // taken at once when legal and no other candidate is tried there: in any
  // linearization from here it can be moved to the front without changing a
  // later state, so none is lost. (A check-out by the holder does not
  // qualify: later, after a release, the same check-out takes the lock.) Known outcomes are tried before unknown ones, and
  // an unknown one is only linearized when it changes the state (taking no
  // effect is the same as never being linearized).
  absl::flat_hash_set<Config> cache;
  // Memory bounds the search too: a configuration holds a bit per operation.
  constexpr int64_t kMemoryBudget = int64_t{2} << 30;
  const int64_t config_bytes = 64 + static_cast<int64_t>((n + 63) / 64) * 8;
  const int64_t state_budget = std::min(max_states, kMemoryBudget / config_bytes);
  Config current{std::vector<uint64_t>((n + 63) / 64, 0), State{-1, initial_version}};
  struct Frame {
    std::vector<int> candidates;  // ops
    size_t next = 0;
    int taken = -1;               // the op that led here (-1 the root)
    State before;                 // the state before it
  };
  auto candidates = [&](std::vector<int>* out) {
    out->clear();
    std::vector<int> unknown;
    for (int e = next[head]; e != -1 && (e & 1) == 0; e = next[e]) {
      const int op = e >> 1;
      (sops[op].outcome == Outcome::kUnknown ? unknown : *out).push_back(op);
    }
    out->insert(out->end(), unknown.begin(), unknown.end());
  };
  // Every operation with a known end is linearized once the first return
  // left is that of an unknown one (they sort last), or none is left.
  auto finished = [&] {
    for (int e = next[head]; e != -1; e = next[e])
      if (e & 1) return is_never(e);
    return true;
  };
  std::vector<Frame> stack;
  stack.push_back({});
  candidates(&stack.back().candidates);
  while (true) {
    if (finished()) {
      result.linearizable = true;
      break;
    }
    Frame& f = stack.back();
    bool advanced = false;
    // `advanced` first: once a child frame is pushed, `f` may dangle.
    while (!advanced && f.next < f.candidates.size()) {
      const int op = f.candidates[f.next++];
      std::optional<State> after = Step(current.state, sops[op]);
      if (!after) continue;
      const bool same = *after == current.state;
      if (same && sops[op].outcome == Outcome::kUnknown) continue;
      Config c{current.linearized, *after};
      c.linearized[op / 64] |= uint64_t{1} << (op % 64);
      // Greedy: no alternative is needed here (see above).
      if (NeverChangesState(sops[op])) f.next = f.candidates.size();
      if (!cache.insert(c).second) continue;
      if (static_cast<int64_t>(cache.size()) > state_budget) {
        result.inconclusive = true;
        result.states = static_cast<int64_t>(cache.size());
        return result;
      }
      const State before = current.state;
      current = std::move(c);
      unlink(2 * op);
      unlink(2 * op + 1);
      Frame child;
      child.taken = op;
      child.before = before;
      candidates(&child.candidates);
      stack.push_back(std::move(child));
      advanced = true;
    }
    if (advanced) continue;
    // Nothing more to try here: undo the step that led here.
    Frame done = std::move(stack.back());
    stack.pop_back();
    if (done.taken < 0) break;  // the root: not linearizable
    const int op = done.taken;
    current.state = done.before;
    current.linearized[op / 64] &= ~(uint64_t{1} << (op % 64));
    relink(2 * op + 1);
    relink(2 * op);
  }
  result.states = static_cast<int64_t>(cache.size());
  return result;
}

// The history of `ops` as seen at time t: operations invoked after it are
// left out and those still running then have an unknown outcome.
std::vector<Op> Prefix(const std::vector<Op>& ops, int64_t t) {
  std::vector<Op> out;
  for (const Op& o : ops) {
    if (o.invoke_ns > t) continue;
    Op c = o;
    if (End(o) > t) {
      c.outcome = Outcome::kUnknown;
      c.version = 0;
      c.holder.clear();
    }
    out.push_back(std::move(c));
  }
  return out;
}

// Could `r` release the lock `c` took with the check-out `a` before `b` was
// granted? (Its effect can fall between the two.)
bool CanRelease(const Op& r, const std::string& c, const Op& a, const Op& b) {
  if (r.outcome == Outcome::kRefused) return false;
  const bool releases = r.kind == OpKind::kForceRelease ||
                        ((r.kind == OpKind::kCheckIn || r.kind == OpKind::kUndo) && r.client == c);
  return releases && r.invoke_ns < End(b) && End(r) > a.invoke_ns;
}

// Names the anomaly in an object's history when it is a known kind.
std::pair<std::string, std::string> Classify(const std::vector<Op>& ops) {
  std::vector<const Op*> grants, checkins, shows;
  for (const Op& o : ops) {
    if (o.outcome != Outcome::kOk) continue;
    if (o.kind == OpKind::kCheckOut) grants.push_back(&o);
    if (o.kind == OpKind::kCheckIn) checkins.push_back(&o);
    if (o.kind == OpKind::kShow) shows.push_back(&o);
  }
  auto ordered_possible = [&](const Op& a, const Op& b) {
    if (a.invoke_ns >= End(b)) return false;  // a cannot come before b
    for (const Op& r : ops)
      if (CanRelease(r, a.client, a, b)) return true;
    return false;
  };
  for (size_t i = 0; i < grants.size(); ++i)
    for (size_t j = i + 1; j < grants.size(); ++j) {
      const Op& a = *grants[i];
      const Op& b = *grants[j];
      if (a.client == b.client) continue;
      if (!ordered_possible(a, b) && !ordered_possible(b, a))
        return {"double grant",
                fmt::format("{} and {} were both granted the check-out, and no release of the first "
                            "holder could fall between them",
                            Describe(a), Describe(b))};
    }
  // Two acknowledged check-ins with the same version: one was lost.
  for (size_t i = 0; i < checkins.size(); ++i)
    for (size_t j = i + 1; j < checkins.size(); ++j)
      if (checkins[i]->version == checkins[j]->version)
        return {"lost acknowledged check-in",
                fmt::format("{} and {} were both acknowledged as version {}", Describe(*checkins[i]),
                            Describe(*checkins[j]), checkins[i]->version)};
  for (const Op* x : checkins) {
    // Observations of the version made after x was acknowledged.
    const Op* older = nullptr;
    bool seen_later = false;
    for (const Op* s : shows) {
      if (s->invoke_ns <= x->complete_ns) continue;
      if (s->version < x->version) {
        if (!older || s->invoke_ns < older->invoke_ns) older = s;
      }
    }
    if (!older) continue;
    for (const Op* s : shows)
      if (s->invoke_ns > older->complete_ns && s->version >= x->version) seen_later = true;
    for (const Op* y : checkins)
      if (y->invoke_ns > older->complete_ns && y->version > x->version) seen_later = true;
    if (seen_later)
      return {"stale read", fmt::format("{} returned version {} after {} had been acknowledged; later "
                                        "operations saw it",
                                        Describe(*older), older->version, Describe(*x))};
    return {"lost acknowledged check-in",
            fmt::format("{} was acknowledged, but {} started after it and saw version {}, and nothing "
                        "later saw version {} or newer",
                        Describe(*x), Describe(*older), older->version, x->version)};
  }
  // A show that misses a holder granted (and not possibly released) before it.
  for (const Op* s : shows)
    for (const Op* g : grants) {
      if (g->complete_ns >= s->invoke_ns || s->holder == g->client) continue;
      bool released = false;
      for (const Op& r : ops)
        if (CanRelease(r, g->client, *g, *s)) released = true;
      if (!released)
        return {"stale read", fmt::format("{} did not show {} as the holder although its check-out "
                                          "{} had been acknowledged and not released",
                                          Describe(*s), g->client, Describe(*g))};
    }
  return {"not linearizable", "no order of these operations agrees with the model of an object"};
}

// The smallest failing sub-history found (see the header).
std::vector<Op> Minimize(const std::vector<Op>& ops, uint64_t initial_version, int64_t max_states) {
  auto fails = [&](const std::vector<Op>& h) {
    SearchResult r = Search(h, initial_version, max_states);
    return !r.linearizable && !r.inconclusive;
  };
  std::vector<int64_t> ends;
  for (const Op& o : ops)
    if (End(o) != kNever) ends.push_back(o.complete_ns);
  std::sort(ends.begin(), ends.end());
  std::vector<Op> best = ops;
  // The shortest failing prefix (failing is monotone in its length).
  size_t lo = 0, hi = ends.size();
  while (lo < hi) {
    const size_t mid = (lo + hi) / 2;
    if (fails(Prefix(ops, ends[mid]))) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  if (lo < ends.size()) best = Prefix(ops, ends[lo]);
  // An unknown operation invoked after every known one ended can only come
  // after all of them: it explains nothing and goes.
  int64_t last_end = 0;
  for (const Op& o : best)
    if (End(o) != kNever) last_end = std::max(last_end, o.complete_ns);
  std::erase_if(best, [&](const Op& o) { return End(o) == kNever && o.invoke_ns > last_end; });
  // Shows, refusals and unknown operations that change nothing only
  // constrain: a history without some of them that still fails shows the
  // same fault. Those not needed go, in chunks that halve down to single
  // operations (delta debugging). Operations with effects stay: without one,
  // a history may fail for a reason the original does not have.
  auto removable = [](const Op& o) {
    if (o.outcome == Outcome::kUnknown) return !Effectful(o);
    return ReadOnly(o);
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);  // a bound, not a goal
  for (size_t chunk = best.size() / 2; chunk >= 1; chunk /= 2) {
    for (size_t start = 0; start < best.size() && std::chrono::steady_clock::now() < deadline;) {
      std::vector<Op> without;
      size_t dropped = 0, i = 0;
      for (; i < best.size(); ++i) {
        if (i >= start && dropped < chunk && removable(best[i])) {
          ++dropped;
          continue;
        }
        if (i >= start && dropped == chunk) break;
        without.push_back(best[i]);
      }
      const size_t next = i;  // where this chunk ended
      for (; i < best.size(); ++i) without.push_back(best[i]);
      if (dropped > 0 && fails(without)) {
        best = std::move(without);  // the same start now holds later operations
      } else {
        start = next;
      }
      if (dropped == 0) break;
    }
  }
  return best;
}

}  // namespace

const char* KindName(OpKind k) {
  switch (k) {
    case OpKind::kCheckOut: return "checkout";
    case OpKind::kCheckIn: return "checkin";
    case OpKind::kUndo: return "undo";
    case OpKind::kForceRelease: return "force-release";
    case OpKind::kShow: return "show";
  }
  return "?";
}

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kOk: return "ok";
    case Outcome::kRefused: return "refused";
    case Outcome::kUnknown: return "unknown";
  }
  return "?";
}

std::string Describe(const Op& op) {
  std::string result = OutcomeName(op.outcome);
  if (op.outcome == Outcome::kOk && op.kind == OpKind::kCheckIn) result += fmt::format(" v{}", op.version);
  if (op.outcome == Outcome::kOk && op.kind == OpKind::kShow)
    result += fmt::format(" v{} held by {}", op.version, op.holder.empty() ? "nobody" : op.holder);
  const std::string end =
      op.outcome == Outcome::kUnknown ? "?" : fmt::format("{:.3f}", op.complete_ns / 1e6);
  return fmt::format("#{} {} {} by {} [{:.3f}..{} ms] -> {}", op.id, KindName(op.kind), op.object, op.client,
                     op.invoke_ns / 1e6, end, result);
}

std::string ToJsonLine(const Op& op) {
  nlohmann::json j = {{"id", op.id},
                      {"client", op.client},
                      {"object", op.object},
                      {"op", KindName(op.kind)},
                      {"invoke", op.invoke_ns},
                      {"complete", op.complete_ns},
                      {"outcome", OutcomeName(op.outcome)}};
  if (op.outcome == Outcome::kOk && (op.kind == OpKind::kCheckIn || op.kind == OpKind::kShow))
    j["version"] = op.version;
  if (op.outcome == Outcome::kOk && op.kind == OpKind::kShow) j["holder"] = op.holder;
  return j.dump();
}

absl::StatusOr<Op> FromJsonLine(const std::string& line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("not a JSON object");
  Op op;
  auto str = [&](const char* k) { return j.contains(k) && j[k].is_string() ? j[k].get<std::string>() : ""; };
  auto num = [&](const char* k) -> int64_t {
    return j.contains(k) && j[k].is_number_integer() ? j[k].get<int64_t>() : 0;
  };
  op.id = num("id");
  op.client = str("client");
  op.object = str("object");
  op.invoke_ns = num("invoke");
  op.complete_ns = num("complete");
  op.version = static_cast<uint64_t>(num("version"));
  op.holder = str("holder");
  const std::string kind = str("op"), outcome = str("outcome");
  bool kind_ok = false, outcome_ok = false;
  for (OpKind k : {OpKind::kCheckOut, OpKind::kCheckIn, OpKind::kUndo, OpKind::kForceRelease, OpKind::kShow})
    if (kind == KindName(k)) op.kind = k, kind_ok = true;
  for (Outcome o : {Outcome::kOk, Outcome::kRefused, Outcome::kUnknown})
    if (outcome == OutcomeName(o)) op.outcome = o, outcome_ok = true;
  if (!kind_ok) return absl::InvalidArgumentError(fmt::format("unknown op \"{}\"", kind));
  if (!outcome_ok) return absl::InvalidArgumentError(fmt::format("unknown outcome \"{}\"", outcome));
  if (op.client.empty() || op.object.empty()) return absl::InvalidArgumentError("client and object are required");
  if (op.outcome != Outcome::kUnknown && op.complete_ns < op.invoke_ns)
    return absl::InvalidArgumentError("completes before it was invoked");
  return op;
}

ObjectVerdict CheckObject(const std::string& object, std::vector<Op> ops, uint64_t initial_version,
                          const Options& options) {
  ObjectVerdict v;
  v.object = object;
  v.operations = static_cast<int64_t>(ops.size());
  // Shows that returned nothing constrain nothing.
  std::erase_if(ops, [](const Op& o) { return o.kind == OpKind::kShow && o.outcome != Outcome::kOk; });
  SearchResult r = Search(ops, initial_version, options.max_states);
  v.states = r.states;
  v.linearizable = r.linearizable;
  v.inconclusive = r.inconclusive;
  if (r.linearizable || r.inconclusive) {
    if (r.inconclusive) v.explanation = fmt::format("search budget ran out after {} configurations", r.states);
    return v;
  }
  std::tie(v.anomaly, v.explanation) = Classify(ops);
  v.witness = options.minimize ? Minimize(ops, initial_version, options.max_states) : ops;
  return v;
}

Report Check(const std::vector<Op>& history, const Options& options) {
  Report report;
  std::map<std::string, std::vector<Op>> by_object;
  for (const Op& op : history) {
    report.operations++;
    (op.outcome == Outcome::kOk ? report.ok : op.outcome == Outcome::kRefused ? report.refused : report.unknown)++;
    by_object[op.object].push_back(op);
  }
  std::map<std::string, uint64_t> initial(options.initial_versions.begin(), options.initial_versions.end());
  report.objects = static_cast<int64_t>(by_object.size());
  for (auto& [object, ops] : by_object) {
    ObjectVerdict v = CheckObject(object, std::move(ops), initial[object], options);
    if (!v.linearizable) report.failures.push_back(std::move(v));
  }
  return report;
}

std::string Report::Summary() const {
  std::string out = fmt::format("{} operations ({} ok, {} refused, {} unknown) on {} objects: ", operations, ok,
                                refused, unknown, objects);
  if (failures.empty()) return out + "linearizable";
  out += fmt::format("{} object(s) failed", failures.size());
  for (const ObjectVerdict& f : failures) {
    if (f.inconclusive) {
      out += fmt::format("\n{}: inconclusive: {}", f.object, f.explanation);
      continue;
    }
    out += fmt::format("\n{}: {}: {}\n  smallest failing sub-history ({} of {} operations):", f.object, f.anomaly,
                       f.explanation, f.witness.size(), f.operations);
    for (const Op& o : f.witness) out += "\n    " + Describe(o);
  }
  return out;
}

Recorder::Recorder() = default;

int64_t Recorder::NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t Recorder::Invoke(const std::string& client, const std::string& object, OpKind kind) {
  const int64_t now = NowNs();
  absl::MutexLock lock(&mu_);
  Op op;
  op.id = static_cast<int64_t>(ops_.size());
  op.client = client;
  op.object = object;
  op.kind = kind;
  op.invoke_ns = now;
  ops_.push_back(std::move(op));
  discarded_.push_back(false);
  return ops_.back().id;
}

void Recorder::Complete(int64_t id, Outcome outcome, uint64_t version, const std::string& holder) {
  const int64_t now = NowNs();
  absl::MutexLock lock(&mu_);
  Op& op = ops_.at(static_cast<size_t>(id));
  op.complete_ns = now;
  op.outcome = outcome;
  op.version = version;
  op.holder = holder;
}

void Recorder::Discard(int64_t id) {
  absl::MutexLock lock(&mu_);
  discarded_.at(static_cast<size_t>(id)) = true;
}

std::vector<Op> Recorder::ops() const {
  absl::MutexLock lock(&mu_);
  std::vector<Op> out;
  out.reserve(ops_.size());
  for (size_t i = 0; i < ops_.size(); ++i)
    if (!discarded_[i]) out.push_back(ops_[i]);
  return out;
}

}  // namespace strata::checker
