#include "decide/decide.h"

#include <gtest/gtest.h>

namespace strata::decide {
namespace {

v1::Event Ev(uint64_t seq, const std::string& user) {
  v1::Event e;
  e.set_aggregate("object:table:sales.orders");
  e.set_seq(seq);
  e.mutable_actor()->set_user(user);
  return e;
}
v1::Event CheckOut(uint64_t seq, const std::string& user) {
  auto e = Ev(seq, user);
  e.mutable_checked_out();
  return e;
}
v1::Event CheckIn(uint64_t seq, const std::string& user, uint64_t version, bool keep = false) {
  auto e = Ev(seq, user);
  e.mutable_checked_in()->set_version(version);
  e.mutable_checked_in()->set_keep_checked_out(keep);
  return e;
}
v1::Event Undo(uint64_t seq, const std::string& user) {
  auto e = Ev(seq, user);
  e.mutable_check_out_undone();
  return e;
}

// Applies events in order like a projection does; returns the verdicts.
std::vector<Verdict> Replay(const std::vector<v1::Event>& events, AggregateFacts* f) {
  std::vector<Verdict> out;
  for (const auto& e : events) {
    Decision d = Decide(e, *f);
    if (d.accepted()) Advance(e, f);
    out.push_back(d.verdict);
  }
  return out;
}

TEST(DecideTest, FirstCheckOutOfAnAggregateNeedsSeqOne) {
  AggregateFacts f;
  EXPECT_EQ(Decide(CheckOut(2, "alice"), f).verdict, Verdict::kStaleSeq);
  EXPECT_TRUE(Decide(CheckOut(1, "alice"), f).accepted());
}

TEST(DecideTest, TwoRacersForTheSameSeqExactlyOneWins) {
  AggregateFacts f;
  auto v = Replay({CheckOut(1, "alice"), CheckOut(1, "bob")}, &f);
  EXPECT_EQ(v, (std::vector<Verdict>{Verdict::kAccepted, Verdict::kStaleSeq}));
  EXPECT_EQ(f.holder, "alice");
  EXPECT_EQ(f.last_seq, 1u);
}

TEST(DecideTest, CheckOutOfAHeldObjectIsRefusedEvenWithTheRightSeq) {
  AggregateFacts f;
  auto v = Replay({CheckOut(1, "alice"), CheckOut(2, "bob")}, &f);
  EXPECT_EQ(v[1], Verdict::kRuleViolated);
  EXPECT_EQ(Decide(CheckOut(2, "bob"), f).reason, "already checked out by alice");
}

TEST(DecideTest, OnlyTheHolderChecksInAndVersionsAreConsecutive) {
  AggregateFacts f;
  Replay({CheckOut(1, "alice")}, &f);
  EXPECT_EQ(Decide(CheckIn(2, "bob", 1), f).verdict, Verdict::kRuleViolated);
  EXPECT_EQ(Decide(CheckIn(2, "alice", 2), f).verdict, Verdict::kRuleViolated);
  auto v = Replay({CheckIn(2, "alice", 1)}, &f);
  EXPECT_EQ(v[0], Verdict::kAccepted);
  EXPECT_EQ(f.latest_version, 1u);
  EXPECT_TRUE(f.holder.empty()) << "check-in releases the lock by default";
  EXPECT_EQ(Decide(CheckIn(3, "alice", 2), f).reason, "not checked out");
}

TEST(DecideTest, TheFirstVersionUnderANewNameContinuesTheOldNamesNumbers) {
  AggregateFacts f;
  Replay({CheckOut(1, "alice")}, &f);
  auto renamed = CheckIn(2, "alice", 6);
  EXPECT_EQ(Decide(renamed, f).verdict, Verdict::kRuleViolated) << "a jump needs renamed_from";
  renamed.mutable_checked_in()->set_renamed_from("table:sales.orders");
  auto v = Replay({renamed}, &f);
  EXPECT_EQ(v[0], Verdict::kAccepted);
  EXPECT_EQ(f.latest_version, 6u);
  Replay({CheckOut(3, "alice")}, &f);
  auto back = CheckIn(4, "alice", 6);
  back.mutable_checked_in()->set_renamed_from("table:sales.orders");
  EXPECT_EQ(Decide(back, f).verdict, Verdict::kRuleViolated) << "never backwards";
}

TEST(DecideTest, KeepCheckedOutRetainsTheLock) {
  AggregateFacts f;
  Replay({CheckOut(1, "alice"), CheckIn(2, "alice", 1, /*keep=*/true)}, &f);
  EXPECT_EQ(f.holder, "alice");
  EXPECT_TRUE(Decide(CheckIn(3, "alice", 2), f).accepted());
}

TEST(DecideTest, UndoOnlyByTheHolder) {
  AggregateFacts f;
  Replay({CheckOut(1, "alice")}, &f);
  EXPECT_EQ(Decide(Undo(2, "bob"), f).verdict, Verdict::kRuleViolated);
  EXPECT_TRUE(Decide(Undo(2, "alice"), f).accepted());
}

TEST(DecideTest, ForceReleaseNeedsAHolderAndNamesIt) {
  AggregateFacts f;
  auto fr = Ev(1, "dba");
  fr.mutable_lock_force_released()->set_previous_holder("alice");
  EXPECT_EQ(Decide(fr, f).verdict, Verdict::kRuleViolated);
  Replay({CheckOut(1, "alice")}, &f);
  fr.set_seq(2);
  EXPECT_TRUE(Decide(fr, f).accepted());
  fr.mutable_lock_force_released()->set_previous_holder("carol");
  EXPECT_EQ(Decide(fr, f).verdict, Verdict::kRuleViolated);
}

TEST(DecideTest, InformationalAndMalformedEvents) {
  AggregateFacts f;
  auto refused = Ev(0, "bob");
  refused.mutable_command_refused()->set_command("checkout");
  EXPECT_EQ(Decide(refused, f).verdict, Verdict::kInformational);
  refused.set_seq(1);
  EXPECT_EQ(Decide(refused, f).verdict, Verdict::kMalformed);
  EXPECT_EQ(Decide(Ev(1, "bob"), f).verdict, Verdict::kMalformed);  // no payload
  auto wrong = CheckOut(1, "bob");
  wrong.set_aggregate("release:r1");
  EXPECT_EQ(Decide(wrong, f).verdict, Verdict::kMalformed);
  EXPECT_EQ(Decide(CheckOut(0, "bob"), f).verdict, Verdict::kMalformed);
}

}  // namespace
}  // namespace strata::decide

namespace strata::decide {
namespace {

v1::Event Baseline(const std::string& aggregate, const std::string& name, uint64_t seq) {
  v1::Event e;
  e.set_aggregate(aggregate);
  e.set_seq(seq);
  e.mutable_actor()->set_user("rm");
  e.mutable_baseline_created()->set_name(name);
  return e;
}

TEST(DecideTest, TheFirstBaselineOfANameWinsAndItsNameMustMatch) {
  AggregateFacts f;
  EXPECT_EQ(Decide(Baseline("baseline:r1", "r1", 1), f).verdict, Verdict::kAccepted);
  Advance(Baseline("baseline:r1", "r1", 1), &f);
  EXPECT_EQ(Decide(Baseline("baseline:r1", "r1", 1), f).verdict, Verdict::kStaleSeq);
  // A later seq cannot create it again either (baselines are immutable).
  EXPECT_EQ(Decide(Baseline("baseline:r1", "r1", 2), f).verdict, Verdict::kRuleViolated);
  AggregateFacts fresh;
  EXPECT_EQ(Decide(Baseline("baseline:r1", "r2", 1), fresh).verdict, Verdict::kMalformed);
  v1::Event wrong = Baseline("baseline:r1", "r1", 1);
  wrong.mutable_checked_out();
  EXPECT_EQ(Decide(wrong, fresh).verdict, Verdict::kMalformed);
}


v1::Event EnvEvent(uint64_t seq) {
  v1::Event e;
  e.set_aggregate("env:qa");
  e.set_seq(seq);
  e.mutable_actor()->set_user("dana");
  return e;
}
v1::Event Register(uint64_t seq) {
  auto e = EnvEvent(seq);
  e.mutable_environment_registered()->set_name("qa");
  return e;
}
v1::Event Started(uint64_t seq, const std::string& id) {
  auto e = EnvEvent(seq);
  e.mutable_deployment_started()->set_deployment_id(id);
  return e;
}
v1::Event Finished(uint64_t seq, const std::string& id) {
  auto e = EnvEvent(seq);
  e.mutable_deployment_finished()->set_deployment_id(id);
  return e;
}

TEST(DecideTest, AnEnvironmentIsRegisteredOnceAndItsNameMustMatch) {
  AggregateFacts f;
  auto wrong = Register(1);
  wrong.mutable_environment_registered()->set_name("prod");
  EXPECT_EQ(Decide(wrong, f).verdict, Verdict::kMalformed);
  EXPECT_EQ(Replay({Started(1, "d1"), Register(1), Register(2)}, &f),
            (std::vector<Verdict>{Verdict::kRuleViolated, Verdict::kAccepted, Verdict::kRuleViolated}));
}

TEST(DecideTest, OneDeploymentAtATimePerEnvironment) {
  AggregateFacts f;
  EXPECT_EQ(Replay({Register(1), Started(2, "d1"), Started(3, "d2"), Finished(3, "d2"), Finished(3, "d1"),
                    Started(4, "d2")},
                   &f),
            (std::vector<Verdict>{Verdict::kAccepted, Verdict::kAccepted, Verdict::kRuleViolated,
                                  Verdict::kRuleViolated, Verdict::kAccepted, Verdict::kAccepted}));
  EXPECT_EQ(f.running_deployment, "d2");
  auto import = EnvEvent(5);
  import.mutable_environment_imported();
  EXPECT_EQ(Decide(import, f).verdict, Verdict::kRuleViolated);  // not while d2 runs
  // Two deployers racing for the same seq: the second is stale.
  AggregateFacts g;
  EXPECT_EQ(Replay({Register(1), Started(2, "a"), Started(2, "b")}, &g),
            (std::vector<Verdict>{Verdict::kAccepted, Verdict::kAccepted, Verdict::kStaleSeq}));
}

TEST(DecideTest, ReleasesAreCreatedOnceThenApproved) {
  AggregateFacts f;
  v1::Event create;
  create.set_aggregate("release:r1");
  create.set_seq(1);
  create.mutable_release_created()->set_name("r1");
  v1::Event approve;
  approve.set_aggregate("release:r1");
  approve.set_seq(1);
  approve.mutable_release_approved()->set_environment("prod");
  EXPECT_EQ(Decide(approve, f).verdict, Verdict::kRuleViolated);  // no such release yet
  v1::Event again = create;
  again.set_seq(2);
  approve.set_seq(2);
  EXPECT_EQ(Replay({create, again, approve}, &f),
            (std::vector<Verdict>{Verdict::kAccepted, Verdict::kRuleViolated, Verdict::kAccepted}));
}

TEST(DecideTest, DataIsTrackedThenVersionedAndNumbersContinueAcrossUntracking) {
  AggregateFacts f;
  auto ev = [](uint64_t seq) {
    v1::Event e;
    e.set_aggregate("data:ref.codes");
    e.set_seq(seq);
    e.mutable_actor()->set_user("dana");
    return e;
  };
  auto track = [&](uint64_t seq) {
    auto e = ev(seq);
    e.mutable_data_tracked()->set_table("table:ref.codes");
    e.mutable_data_tracked()->add_key("code");
    return e;
  };
  auto version = [&](uint64_t seq, uint64_t v) {
    auto e = ev(seq);
    e.mutable_data_version_stored()->set_version(v);
    return e;
  };
  auto untrack = [&](uint64_t seq) {
    auto e = ev(seq);
    e.mutable_data_untracked();
    return e;
  };
  v1::Event keyless = ev(1);
  keyless.mutable_data_tracked()->set_table("table:ref.codes");
  EXPECT_EQ(Decide(keyless, f).verdict, Verdict::kMalformed);
  EXPECT_EQ(Decide(version(1, 1), f).verdict, Verdict::kRuleViolated) << "not tracked yet";
  EXPECT_EQ(Replay({track(1), track(2), version(2, 2), version(2, 1), version(3, 2), untrack(4), version(5, 3),
                    track(5), version(6, 3)},
                   &f),
            (std::vector<Verdict>{Verdict::kAccepted, Verdict::kRuleViolated, Verdict::kRuleViolated,
                                  Verdict::kAccepted, Verdict::kAccepted, Verdict::kAccepted, Verdict::kRuleViolated,
                                  Verdict::kAccepted, Verdict::kAccepted}));
  EXPECT_EQ(f.latest_version, 3u);
  EXPECT_TRUE(f.tracked);
  v1::Event wrong = ev(7);
  wrong.mutable_checked_out();
  EXPECT_EQ(Decide(wrong, f).verdict, Verdict::kMalformed) << "an object event on a data aggregate";
}

TEST(DecideTest, PolicyVersionsFollowEachOtherAndWaiversNameTheirRule) {
  AggregateFacts f;
  auto set = [](uint64_t seq, uint64_t version) {
    v1::Event e;
    e.set_aggregate("policy:team");
    e.set_seq(seq);
    e.mutable_policy_set()->set_version(version);
    return e;
  };
  v1::Event waive;
  waive.set_aggregate("policy:team");
  waive.set_seq(3);
  waive.mutable_policy_waived()->set_object("table:s.T");
  waive.mutable_policy_waived()->set_rule("naming-table");
  EXPECT_EQ(Replay({set(1, 1), set(2, 1), set(2, 2), waive}, &f),
            (std::vector<Verdict>{Verdict::kAccepted, Verdict::kRuleViolated, Verdict::kAccepted, Verdict::kAccepted}));
  EXPECT_EQ(f.latest_version, 2u);
  v1::Event bare = waive;
  bare.set_seq(4);
  bare.mutable_policy_waived()->clear_rule();
  EXPECT_EQ(Decide(bare, f).verdict, Verdict::kMalformed);
}

}  // namespace
}  // namespace strata::decide
