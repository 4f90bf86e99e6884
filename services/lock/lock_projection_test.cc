#include "lock/lock_projection.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "eventlog/embedded_log.h"
#include "rocksdb/db.h"

namespace strata::lock {
namespace {

namespace fs = std::filesystem;

class LockProjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("lockproj-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    log_ = std::move(*eventlog::OpenEmbeddedLog({.dir = (root_ / "log").string(), .partitions = 2}));
    projection_ = std::make_unique<LockProjection>(&board_, std::vector<std::string>{"public"});
    runner_ = std::move(*projection::ProjectionRunner::Open({.db_path = (root_ / "state").string()},
                                                            log_.get(), projection_.get()));
    ASSERT_TRUE(runner_->Start().ok());
  }
  void TearDown() override {
    runner_.reset();
    fs::remove_all(root_);
  }

  // Appends an event and returns the outcome the projection decided.
  Outcome Submit(v1::Event e) {
    e.set_event_id("e" + std::to_string(next_id_++));
    board_.Expect(e.event_id());
    auto pos = log_->Append(e.aggregate(), e.SerializeAsString(), {});
    EXPECT_TRUE(pos.ok());
    EXPECT_TRUE(runner_->WaitForApplied(*pos, absl::Seconds(5)).ok());
    auto o = board_.Take(e.event_id());
    EXPECT_TRUE(o.has_value());
    return o.value_or(Outcome{});
  }
  static v1::Event Ev(uint64_t seq, const std::string& user, const std::string& id = "table:s.t") {
    v1::Event e;
    e.set_aggregate("object:" + id);
    e.set_seq(seq);
    e.mutable_actor()->set_user(user);
    e.mutable_actor()->set_site(user == "alice" ? "boston" : "london");
    e.mutable_time()->set_seconds(1'800'000'000);
    return e;
  }

  fs::path root_;
  std::unique_ptr<eventlog::EventLog> log_;
  OutcomeBoard board_;
  std::unique_ptr<LockProjection> projection_;
  std::unique_ptr<projection::ProjectionRunner> runner_;
  int next_id_ = 0;
};

TEST_F(LockProjectionTest, ReserveCheckInAndRelease) {
  auto co = Ev(1, "alice");
  co.mutable_checked_out()->set_reason("add column");
  Outcome o = Submit(co);
  ASSERT_TRUE(o.decision.accepted());
  ASSERT_TRUE(o.head.has_value());
  EXPECT_EQ(o.head->lock().user(), "alice");
  EXPECT_EQ(o.head->lock().site(), "boston");
  EXPECT_EQ(o.head->latest_version(), 0u);
  EXPECT_EQ(LockProjection::KindsNamed(runner_->db(), "s.t"), std::vector<std::string>{"table"});
  ASSERT_EQ(LockProjection::ReadLocks(runner_->db()).size(), 1u);

  auto ci = Ev(2, "alice");
  ci.mutable_checked_in()->set_version(1);
  ci.mutable_checked_in()->set_definition("CREATE TABLE s.t (id int);");
  ci.mutable_checked_in()->set_message("first");
  o = Submit(ci);
  ASSERT_TRUE(o.decision.accepted());
  EXPECT_EQ(o.head->latest_version(), 1u);
  EXPECT_FALSE(o.head->has_lock());
  EXPECT_EQ(o.head->last_check_in().message(), "first");
  EXPECT_EQ(o.head->definition(), "CREATE TABLE s.t (id int);");
  EXPECT_TRUE(LockProjection::ReadLocks(runner_->db()).empty());
}

TEST_F(LockProjectionTest, UndoOfAReservedNameFreesIt) {
  auto co = Ev(1, "alice");
  co.mutable_checked_out();
  ASSERT_TRUE(Submit(co).decision.accepted());
  auto undo = Ev(2, "alice");
  undo.mutable_check_out_undone();
  Outcome o = Submit(undo);
  ASSERT_TRUE(o.decision.accepted());
  EXPECT_FALSE(o.head.has_value()) << "a freed name is not an object";
  EXPECT_TRUE(LockProjection::KindsNamed(runner_->db(), "s.t").empty());
  // The aggregate's seq survives: the next check-out must use seq 3.
  auto stale = Ev(1, "bob");
  stale.mutable_checked_out();
  EXPECT_EQ(Submit(stale).decision.verdict, decide::Verdict::kStaleSeq);
  auto again = Ev(3, "bob");
  again.mutable_checked_out();
  EXPECT_TRUE(Submit(again).decision.accepted());
}

TEST_F(LockProjectionTest, RacingCheckOutsWithTheSameSeqHaveOneWinner) {
  auto a = Ev(1, "alice");
  a.mutable_checked_out();
  auto b = Ev(1, "bob");
  b.mutable_checked_out();
  Outcome first = Submit(a);
  Outcome second = Submit(b);
  EXPECT_TRUE(first.decision.accepted());
  EXPECT_FALSE(second.decision.accepted());
  ASSERT_TRUE(second.head.has_value());
  EXPECT_EQ(second.head->lock().user(), "alice") << "the loser learns who won";
}

TEST_F(LockProjectionTest, CheckInByANonHolderIsIgnored) {
  auto co = Ev(1, "alice");
  co.mutable_checked_out();
  Submit(co);
  auto ci = Ev(2, "bob");
  ci.mutable_checked_in()->set_version(1);
  Outcome o = Submit(ci);
  EXPECT_EQ(o.decision.verdict, decide::Verdict::kRuleViolated);
  EXPECT_EQ(o.head->latest_version(), 0u);
  EXPECT_EQ(o.head->lock().user(), "alice");
}

// r/: who uses a name. From the event's keys, or parsed for events written
// before Strata recorded them; a dropped version uses nothing; a new version
// replaces its old keys.
TEST_F(LockProjectionTest, TheReverseIndexFollowsEachObjectsLatestVersion) {
  auto version = [&](const std::string& id, uint64_t seq, uint64_t v, const std::string& sql,
                     std::optional<std::vector<std::string>> keys, bool dropped = false) {
    auto co = Ev(seq, "alice", id);
    co.mutable_checked_out();
    ASSERT_TRUE(Submit(co).decision.accepted());
    auto ci = Ev(seq + 1, "alice", id);
    ci.mutable_checked_in()->set_version(v);
    ci.mutable_checked_in()->set_definition(sql);
    ci.mutable_checked_in()->set_dropped(dropped);
    if (keys)
      for (const auto& k : *keys) ci.mutable_checked_in()->mutable_references()->add_keys(k);
    if (keys && keys->empty()) ci.mutable_checked_in()->mutable_references();
    ASSERT_TRUE(Submit(ci).decision.accepted());
  };
  auto users = [&](const std::string& key) { return LockProjection::Dependents(runner_->db(), key); };
  using V = std::vector<std::string>;
  version("table:s.t", 1, 1, "CREATE TABLE s.t (id int);", V{"schema:s"});
  // An old event: no keys, so the projection reads the definition.
  version("view:s.v", 1, 1, "CREATE VIEW s.v AS SELECT id FROM s.t;", std::nullopt);
  EXPECT_EQ(users("relation:s.t"), V{"view:s.v"});
  EXPECT_EQ(users("schema:s"), (V{"table:s.t", "view:s.v"}));
  // A new version of the view that no longer reads s.t.
  version("view:s.v", 3, 2, "CREATE VIEW s.v AS SELECT 1 AS one;", V{"schema:s"});
  EXPECT_TRUE(users("relation:s.t").empty());
  // Dropped: it uses nothing.
  version("view:s.v", 5, 3, "", V{}, /*dropped=*/true);
  EXPECT_EQ(users("schema:s"), V{"table:s.t"});
  auto head = LockProjection::ReadObject(runner_->db(), "view:s.v");
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_TRUE((*head)->head().dropped());
  EXPECT_EQ((*head)->head().latest_version(), 3u);
}

}  // namespace
}  // namespace strata::lock
