#include "checker/checker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace strata::checker {
namespace {

// A hand-written history: times in milliseconds.
class H {
 public:
  H& Add(const std::string& client, OpKind kind, int64_t from, int64_t to, Outcome outcome, uint64_t version = 0,
         const std::string& holder = "", const std::string& object = "t") {
    Op op;
    op.id = static_cast<int64_t>(ops_.size());
    op.client = client;
    op.object = object;
    op.kind = kind;
    op.invoke_ns = from * 1'000'000;
    op.complete_ns = to * 1'000'000;
    op.outcome = outcome;
    op.version = version;
    op.holder = holder;
    ops_.push_back(op);
    return *this;
  }
  const std::vector<Op>& ops() const { return ops_; }

 private:
  std::vector<Op> ops_;
};

constexpr auto kOk = Outcome::kOk;
constexpr auto kRefused = Outcome::kRefused;
constexpr auto kUnknown = Outcome::kUnknown;

Options StartAt(uint64_t version) {
  Options o;
  o.initial_versions = {{"t", version}};
  return o;
}

TEST(Checker, SequentialHistoryIsLinearizable) {
  H h;
  h.Add("a", OpKind::kCheckOut, 0, 1, kOk)
      .Add("b", OpKind::kCheckOut, 2, 3, kRefused)
      .Add("b", OpKind::kShow, 4, 5, kOk, 1, "a")
      .Add("a", OpKind::kCheckIn, 6, 7, kOk, 2)
      .Add("b", OpKind::kCheckOut, 8, 9, kOk)
      .Add("d", OpKind::kForceRelease, 10, 11, kOk)
      .Add("b", OpKind::kUndo, 12, 13, kRefused)
      .Add("a", OpKind::kShow, 14, 15, kOk, 2, "");
  Report r = Check(h.ops(), StartAt(1));
  EXPECT_TRUE(r.valid()) << r.Summary();
  EXPECT_EQ(r.operations, 8);
  EXPECT_EQ(r.refused, 2);
}

TEST(Checker, ConcurrentCheckOutsEitherOrderIsFine) {
  H h;
  h.Add("a", OpKind::kCheckOut, 0, 10, kOk).Add("b", OpKind::kCheckOut, 1, 9, kRefused);
  EXPECT_TRUE(Check(h.ops(), StartAt(1)).valid());
}

TEST(Checker, ReportsADoubleGrant) {
  H h;
  h.Add("a", OpKind::kCheckOut, 0, 1, kOk)
      .Add("a", OpKind::kShow, 2, 3, kOk, 1, "a")
      .Add("b", OpKind::kCheckOut, 4, 5, kOk)
      .Add("c", OpKind::kShow, 6, 7, kOk, 1, "b");
  Report r = Check(h.ops(), StartAt(1));
  ASSERT_EQ(r.failures.size(), 1u) << r.Summary();
  const ObjectVerdict& f = r.failures[0];
  EXPECT_EQ(f.anomaly, "double grant") << r.Summary();
  // The witness is the two grants: the shows are not needed.
  ASSERT_EQ(f.witness.size(), 2u) << r.Summary();
  EXPECT_EQ(f.witness[0].id, 0);
  EXPECT_EQ(f.witness[1].id, 2);
}

TEST(Checker, AReleaseThatMayHaveHappenedExplainsTheSecondGrant) {
  // a's undo timed out: it may have released the lock before b's grant.
  H h;
  h.Add("a", OpKind::kCheckOut, 0, 1, kOk).Add("a", OpKind::kUndo, 2, 0, kUnknown).Add("b", OpKind::kCheckOut, 4, 5, kOk);
  EXPECT_TRUE(Check(h.ops(), StartAt(1)).valid());
  // But not if the undo was only invoked after b's grant.
  H late;
  late.Add("a", OpKind::kCheckOut, 0, 1, kOk).Add("b", OpKind::kCheckOut, 4, 5, kOk).Add("a", OpKind::kUndo, 6, 0, kUnknown);
  Report r = Check(late.ops(), StartAt(1));
  ASSERT_FALSE(r.valid());
  EXPECT_EQ(r.failures[0].anomaly, "double grant") << r.Summary();
}

TEST(Checker, ReportsALostAcknowledgedCheckIn) {
  H h;
  h.Add("a", OpKind::kCheckOut, 0, 1, kOk)
      .Add("a", OpKind::kCheckIn, 2, 3, kOk, 2)
      .Add("b", OpKind::kCheckOut, 4, 5, kOk)
      .Add("b", OpKind::kCheckIn, 6, 7, kOk, 2)  // version 2 again: a's was lost
      .Add("c", OpKind::kShow, 8, 9, kOk, 2, "");
  Report r = Check(h.ops(), StartAt(1));
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].anomaly, "lost acknowledged check-in") << r.Summary();
  // The show after the anomaly is not part of the smallest failing history.
  for (const Op& o : r.failures[0].witness) EXPECT_NE(o.id, 4) << r.Summary();

  // The other way a check-in is lost: every later read misses it.
  H reads;
  reads.Add("a", OpKind::kCheckOut, 0, 1, kOk)
      .Add("a", OpKind::kCheckIn, 2, 3, kOk, 2)
      .Add("b", OpKind::kShow, 4, 5, kOk, 1, "")
      .Add("c", OpKind::kShow, 6, 7, kOk, 1, "");
  r = Check(reads.ops(), StartAt(1));
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].anomaly, "lost acknowledged check-in") << r.Summary();
  EXPECT_EQ(r.failures[0].witness.size(), 3u) << r.Summary();
}

TEST(Checker, ReportsAStaleReadAfterAnAcknowledgedWrite) {
  H h;
  h.Add("a", OpKind::kCheckOut, 0, 1, kOk)
      .Add("a", OpKind::kCheckIn, 2, 3, kOk, 2)
      .Add("b", OpKind::kShow, 4, 5, kOk, 1, "")  // stale
      .Add("b", OpKind::kShow, 6, 7, kOk, 2, "");
  Report r = Check(h.ops(), StartAt(1));
  ASSERT_EQ(r.failures.size(), 1u);
  const ObjectVerdict& f = r.failures[0];
  EXPECT_EQ(f.anomaly, "stale read") << r.Summary();
  ASSERT_EQ(f.witness.size(), 3u) << r.Summary();
  EXPECT_EQ(f.witness.back().id, 2);

  // A read concurrent with the write may see either.
  H overlapping;
  overlapping.Add("a", OpKind::kCheckOut, 0, 1, kOk)
      .Add("a", OpKind::kCheckIn, 2, 6, kOk, 2)
      .Add("b", OpKind::kShow, 4, 5, kOk, 1, "a")
      .Add("b", OpKind::kShow, 7, 8, kOk, 2, "");
  EXPECT_TRUE(Check(overlapping.ops(), StartAt(1)).valid());

  // A read that misses an acknowledged holder is stale too.
  H holder;
  holder.Add("a", OpKind::kCheckOut, 0, 1, kOk).Add("b", OpKind::kShow, 2, 3, kOk, 1, "");
  r = Check(holder.ops(), StartAt(1));
  ASSERT_EQ(r.failures.size(), 1u);
  EXPECT_EQ(r.failures[0].anomaly, "stale read") << r.Summary();
}

TEST(Checker, UnknownCheckInMayHaveLandedOrNot) {
  H landed;
  landed.Add("a", OpKind::kCheckOut, 0, 1, kOk)
      .Add("a", OpKind::kCheckIn, 2, 0, kUnknown)
      .Add("b", OpKind::kShow, 10, 11, kOk, 2, "");
  EXPECT_TRUE(Check(landed.ops(), StartAt(1)).valid());
  H not_landed;
  not_landed.Add("a", OpKind::kCheckOut, 0, 1, kOk)
      .Add("a", OpKind::kCheckIn, 2, 0, kUnknown)
      .Add("b", OpKind::kShow, 10, 11, kOk, 1, "a");
  EXPECT_TRUE(Check(not_landed.ops(), StartAt(1)).valid());
  // ... but not both: seen landed, then not.
  H both;
  both.Add("a", OpKind::kCheckOut, 0, 1, kOk)
      .Add("a", OpKind::kCheckIn, 2, 0, kUnknown)
      .Add("b", OpKind::kShow, 10, 11, kOk, 2, "")
      .Add("b", OpKind::kShow, 12, 13, kOk, 1, "a");
  EXPECT_FALSE(Check(both.ops(), StartAt(1)).valid());
}

TEST(Checker, RefusalsMustBeJustified) {
  // b was refused although nobody held the object.
  H h;
  h.Add("b", OpKind::kCheckOut, 0, 1, kRefused);
  EXPECT_FALSE(Check(h.ops(), StartAt(1)).valid());
  // force-release refused while a holds it.
  H f;
  f.Add("a", OpKind::kCheckOut, 0, 1, kOk).Add("d", OpKind::kForceRelease, 2, 3, kRefused);
  EXPECT_FALSE(Check(f.ops(), StartAt(1)).valid());
}

TEST(Checker, ObjectsAreCheckedSeparately) {
  H h;
  h.Add("a", OpKind::kCheckOut, 0, 1, kOk, 0, "", "x")
      .Add("b", OpKind::kCheckOut, 2, 3, kOk, 0, "", "y")
      .Add("b", OpKind::kCheckOut, 4, 5, kRefused, 0, "", "x");
  Report r = Check(h.ops());
  EXPECT_TRUE(r.valid()) << r.Summary();
  EXPECT_EQ(r.objects, 2);
}

TEST(Checker, JsonLinesRoundTrip) {
  H h;
  h.Add("a", OpKind::kShow, 1, 2, kOk, 7, "bob").Add("b", OpKind::kCheckIn, 3, 0, kUnknown);
  for (const Op& op : h.ops()) {
    auto back = FromJsonLine(ToJsonLine(op));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->id, op.id);
    EXPECT_EQ(back->kind, op.kind);
    EXPECT_EQ(back->outcome, op.outcome);
    EXPECT_EQ(back->version, op.version);
    EXPECT_EQ(back->holder, op.holder);
    EXPECT_EQ(back->invoke_ns, op.invoke_ns);
  }
  EXPECT_FALSE(FromJsonLine("{\"op\":\"steal\",\"client\":\"a\",\"object\":\"t\",\"outcome\":\"ok\"}").ok());
  EXPECT_FALSE(FromJsonLine("not json").ok());
}

// Concurrent histories generated from a real sequential run of the model
// (each operation takes effect at a random instant inside its interval; some
// answers are lost) are linearizable; the same histories with one
// acknowledged check-in's effect removed are not.
struct Sim {
  std::vector<Op> ops;
};

Sim Simulate(uint32_t seed, int clients, int steps, double lose) {
  std::mt19937 rng(seed);
  struct Pending {
    int client;
    OpKind kind;
    int64_t invoke, effect, complete;
    bool lost;
  };
  // Each client runs one operation at a time; operations overlap across
  // clients. Effects are applied in the order of their effect instants.
  std::vector<int64_t> free_at(clients, 0);
  std::vector<Pending> pending;
  for (int i = 0; i < steps; ++i) {
    const int c = static_cast<int>(rng() % clients);
    const int64_t invoke = free_at[c] + rng() % 5;
    const int64_t effect = invoke + 1 + rng() % 20;
    const int64_t complete = effect + 1 + rng() % 20;
    free_at[c] = complete + 1;
    const OpKind kinds[] = {OpKind::kCheckOut, OpKind::kCheckOut, OpKind::kCheckIn, OpKind::kUndo,
                            OpKind::kShow,     OpKind::kShow,     OpKind::kForceRelease};
    pending.push_back({c, kinds[rng() % 7], invoke, effect, complete, (rng() % 1000) < lose * 1000});
  }
  std::sort(pending.begin(), pending.end(), [](const Pending& a, const Pending& b) { return a.effect < b.effect; });
  int holder = -1;
  uint64_t version = 1;
  Sim sim;
  for (const Pending& p : pending) {
    Op op;
    op.id = static_cast<int64_t>(sim.ops.size());
    op.client = "c" + std::to_string(p.client);
    op.object = "t";
    op.kind = p.kind;
    op.invoke_ns = p.invoke;
    op.complete_ns = p.complete;
    bool ok = false;
    switch (p.kind) {
      case OpKind::kCheckOut:
        ok = holder == -1 || holder == p.client;
        if (ok) holder = p.client;
        break;
      case OpKind::kCheckIn:
        ok = holder == p.client;
        if (ok) holder = -1, ++version, op.version = version;
        break;
      case OpKind::kUndo:
        ok = holder == p.client;
        if (ok) holder = -1;
        break;
      case OpKind::kForceRelease:
        ok = holder != -1;
        if (ok) holder = -1;
        break;
      case OpKind::kShow:
        ok = true;
        op.version = version;
        op.holder = holder == -1 ? "" : "c" + std::to_string(holder);
        break;
    }
    op.outcome = p.lost ? kUnknown : ok ? kOk : kRefused;
    sim.ops.push_back(op);
  }
  return sim;
}

TEST(Checker, GeneratedConcurrentHistoriesAreLinearizable) {
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    Sim sim = Simulate(seed, 6, 300, 0.05);
    Report r = Check(sim.ops, StartAt(1));
    EXPECT_TRUE(r.valid()) << "seed " << seed << ": " << r.Summary();
  }
}

TEST(Checker, GeneratedHistoriesWithALostCheckInFail) {
  int checked = 0;
  for (uint32_t seed = 1; seed <= 30; ++seed) {
    Sim sim = Simulate(seed, 6, 300, 0.0);
    // Renumber every acknowledged check-in after the first one so that the
    // first one's version is reused: its effect is lost.
    std::vector<Op*> checkins;
    for (Op& op : sim.ops)
      if (op.kind == OpKind::kCheckIn && op.outcome == kOk) checkins.push_back(&op);
    if (checkins.size() < 3) continue;
    for (Op& op : sim.ops) {
      if (op.invoke_ns <= checkins[0]->complete_ns) continue;
      if ((op.kind == OpKind::kCheckIn || op.kind == OpKind::kShow) && op.outcome == kOk && op.version >= 2)
        op.version -= 1;
    }
    ++checked;
    Report r = Check(sim.ops, StartAt(1));
    EXPECT_FALSE(r.valid()) << "seed " << seed;
    if (!r.valid()) {
      EXPECT_LE(r.failures[0].witness.size(), sim.ops.size());
    }
  }
  EXPECT_GE(checked, 20);
}

TEST(Checker, LongHistoryIsCheckedQuickly) {
  Sim sim = Simulate(7, 20, 5000, 0.02);
  Report r = Check(sim.ops, StartAt(1));
  EXPECT_TRUE(r.valid()) << r.Summary().substr(0, 2000);
}

// Found by the generated histories: a check-out by the holder changes
// nothing where it is first legal, but after the holder's check-in (whose
// outcome is unknown) it takes the lock again, which the final show needs.
TEST(Checker, ACheckOutByTheHolderMayTakeTheLockAgainLater) {
  H h;
  h.Add("c4", OpKind::kCheckOut, 380, 418, kOk)
      .Add("c4", OpKind::kCheckIn, 421, 432, kUnknown)
      .Add("c4", OpKind::kCheckOut, 436, 458, kOk)
      .Add("c3", OpKind::kShow, 450, 460, kOk, 2, "c4");
  Report r = Check(h.ops(), StartAt(1));
  EXPECT_TRUE(r.valid()) << r.Summary();
}

// An independent, exhaustive oracle for small histories: every subset of the
// unknown operations, every order that keeps real time, replayed on the model.
bool BruteForce(const std::vector<Op>& ops, uint64_t version) {
  const int n = static_cast<int>(ops.size());
  std::vector<int> unknown;
  for (int i = 0; i < n; ++i)
    if (ops[i].outcome == kUnknown) unknown.push_back(i);
  auto end = [](const Op& o) { return o.outcome == kUnknown ? INT64_MAX : o.complete_ns; };
  for (uint32_t mask = 0; mask < (1u << unknown.size()); ++mask) {
    std::vector<int> order;
    for (int i = 0; i < n; ++i) {
      auto u = std::find(unknown.begin(), unknown.end(), i);
      if (u == unknown.end() || (mask >> (u - unknown.begin()) & 1)) order.push_back(i);
    }
    do {
      bool fine = true;
      for (size_t a = 0; a < order.size() && fine; ++a)
        for (size_t b = a + 1; b < order.size() && fine; ++b)
          if (end(ops[order[b]]) < ops[order[a]].invoke_ns) fine = false;
      std::string holder;
      uint64_t v = version;
      for (size_t k = 0; k < order.size() && fine; ++k) {
        const Op& o = ops[order[k]];
        const bool free = holder.empty(), mine = holder == o.client;
        const bool ok = o.outcome != kRefused;
        switch (o.kind) {
          case OpKind::kCheckOut:
            if (ok != (free || mine)) fine = false;
            else if (ok) holder = o.client;
            break;
          case OpKind::kCheckIn:
            if (ok != mine || (o.outcome == kOk && o.version != v + 1)) fine = false;
            else if (ok) holder.clear(), ++v;
            break;
          case OpKind::kUndo:
            if (ok != mine) fine = false;
            else if (ok) holder.clear();
            break;
          case OpKind::kForceRelease:
            if (ok == free) fine = false;
            else if (ok) holder.clear();
            break;
          case OpKind::kShow:
            if (o.outcome == kOk && (o.holder != holder || o.version != v)) fine = false;
            break;
        }
      }
      if (fine) return true;
    } while (std::next_permutation(order.begin(), order.end()));
  }
  return false;
}

TEST(Checker, AgreesWithAnExhaustiveSearchOnSmallRandomHistories) {
  std::mt19937 rng(42);
  int valid = 0, invalid = 0;
  for (int round = 0; round < 3000; ++round) {
    H h;
    const int n = 3 + static_cast<int>(rng() % 4);
    for (int i = 0; i < n; ++i) {
      const std::string client = std::string(1, static_cast<char>('a' + rng() % 3));
      const OpKind kind = static_cast<OpKind>(rng() % 5);
      const int64_t from = rng() % 10;
      const int64_t to = from + rng() % 6;
      const Outcome outcome = static_cast<Outcome>(rng() % 3);
      uint64_t version = 0;
      std::string holder;
      if (outcome == kOk && kind == OpKind::kCheckIn) version = 1 + rng() % 3;
      if (outcome == kOk && kind == OpKind::kShow) {
        version = 1 + rng() % 3;
        const int who = static_cast<int>(rng() % 4);
        if (who < 3) holder = std::string(1, static_cast<char>('a' + who));
      }
      h.Add(client, kind, from, to, outcome, version, holder);
    }
    const bool expected = BruteForce(h.ops(), 1);
    Options o = StartAt(1);
    o.minimize = false;
    Report r = Check(h.ops(), o);
    ASSERT_EQ(r.valid(), expected) << "round " << round << ": " << r.Summary();
    (expected ? valid : invalid)++;
  }
  // Both verdicts were exercised.
  EXPECT_GT(valid, 300);
  EXPECT_GT(invalid, 300);
}

TEST(Checker, RecorderRecordsUnfinishedOperationsAsUnknown) {
  Recorder rec;
  const int64_t a = rec.Invoke("a", "t", OpKind::kCheckOut);
  const int64_t b = rec.Invoke("b", "t", OpKind::kCheckOut);
  rec.Complete(a, kOk);
  std::vector<Op> ops = rec.ops();
  ASSERT_EQ(ops.size(), 2u);
  EXPECT_EQ(ops[a].outcome, kOk);
  EXPECT_GE(ops[a].complete_ns, ops[a].invoke_ns);
  EXPECT_EQ(ops[b].outcome, kUnknown);
  rec.Discard(a);
  ops = rec.ops();
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].id, b);
}

}  // namespace
}  // namespace strata::checker
