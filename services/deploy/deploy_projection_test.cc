#include "deploy/deploy_projection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>

#include "eventlog/embedded_log.h"
#include "rocksdb/db.h"

namespace strata::deploy {
namespace {

namespace fs = std::filesystem;

class DeployProjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("deployproj-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    log_ = std::move(*eventlog::OpenEmbeddedLog({.dir = (root_ / "log").string(), .partitions = 2}));
    Open(false);
  }
  void Open(bool rebuild, size_t max_tracked_changes = 20'000) {
    runner_.reset();
    projection_ = std::make_unique<DeployProjection>(&board_, max_tracked_changes);
    projection_->OnGuardChange([this] { ++guard_changes_; });
    runner_ = std::move(*projection::ProjectionRunner::Open({.db_path = (root_ / "state").string(), .rebuild = rebuild},
                                                            log_.get(), projection_.get()));
    ASSERT_TRUE(runner_->Start().ok());
    ASSERT_TRUE(runner_->CatchUp(absl::Seconds(5)).ok());
  }
  void TearDown() override {
    runner_.reset();
    fs::remove_all(root_);
  }

  decide::Decision Submit(v1::Event e) {
    e.set_event_id("e" + std::to_string(next_id_++));
    e.mutable_time()->set_seconds(1'800'000'000 + next_id_);
    board_.Expect(e.event_id());
    auto pos = log_->Append(e.aggregate(), e.SerializeAsString(), {});
    EXPECT_TRUE(pos.ok());
    EXPECT_TRUE(runner_->WaitForApplied(*pos, absl::Seconds(5)).ok());
    auto d = board_.Take(e.event_id());
    EXPECT_TRUE(d.has_value());
    return d.value_or(decide::Decision{});
  }
  static v1::Event Ev(const std::string& aggregate, uint64_t seq, const std::string& user = "dana") {
    v1::Event e;
    e.set_aggregate(aggregate);
    e.set_seq(seq);
    e.mutable_actor()->set_user(user);
    e.mutable_actor()->set_site("hq");
    return e;
  }
  void CheckIn(const std::string& id, uint64_t seq, uint64_t version, const std::string& sql) {
    auto co = Ev("object:" + id, seq);
    co.mutable_checked_out();
    ASSERT_TRUE(Submit(co).accepted());
    auto ci = Ev("object:" + id, seq + 1);
    ci.mutable_checked_in()->set_version(version);
    ci.mutable_checked_in()->set_definition(sql);
    ci.mutable_checked_in()->set_definition_sha256("sha" + std::to_string(version));
    ASSERT_TRUE(Submit(ci).accepted());
  }
  void Register(const std::string& env, int order) {
    auto e = Ev("env:" + env, 1);
    e.mutable_environment_registered()->set_name(env);
    e.mutable_environment_registered()->set_url("postgres://u@h/" + env);
    e.mutable_environment_registered()->set_order(order);
    ASSERT_TRUE(Submit(e).accepted());
  }
  void CreateRelease(const std::string& name, const std::vector<std::pair<std::string, uint64_t>>& entries) {
    auto e = Ev("release:" + name, 1);
    e.mutable_release_created()->set_name(name);
    for (const auto& [id, v] : entries) {
      auto* entry = e.mutable_release_created()->add_entries();
      entry->set_object(id);
      entry->set_version(v);
    }
    ASSERT_TRUE(Submit(e).accepted());
  }
  v1::Event Started(const std::string& env, uint64_t seq, const std::string& id, const std::string& release,
                    v1::DeploymentKind kind = v1::DEPLOY, const std::string& rolls_back = "",
                    std::vector<std::pair<std::string, uint64_t>> target = {{"table:s.t", 1}}) {
    auto e = Ev("env:" + env, seq);
    auto* s = e.mutable_deployment_started();
    s->set_deployment_id(id);
    s->set_release(release);
    s->set_kind(kind);
    s->set_rolls_back(rolls_back);
    s->set_script("-- script of " + id);
    s->set_rollback_script("-- undo " + id);
    for (const auto& [object, version] : target) {
      auto* t = s->add_target();
      t->set_object(object);
      t->set_version(version);
    }
    return e;
  }
  v1::Event Finished(const std::string& env, uint64_t seq, const std::string& id, bool ok) {
    auto e = Ev("env:" + env, seq);
    e.mutable_deployment_finished()->set_deployment_id(id);
    e.mutable_deployment_finished()->set_succeeded(ok);
    e.mutable_deployment_finished()->set_duration_ms(12);
    if (!ok) e.mutable_deployment_finished()->set_error("statement 3 of 4 failed");
    return e;
  }
  internal::EnvironmentState Env(const std::string& name) {
    auto e = DeployProjection::ReadEnvironment(runner_->db(), name);
    EXPECT_TRUE(e.ok() && e->has_value());
    return e.ok() && *e ? **e : internal::EnvironmentState();
  }

  fs::path root_;
  std::unique_ptr<eventlog::EventLog> log_;
  DecisionBoard board_;
  std::unique_ptr<DeployProjection> projection_;
  std::unique_ptr<projection::ProjectionRunner> runner_;
  int next_id_ = 0;
  std::atomic<int> guard_changes_{0};
};

TEST_F(DeployProjectionTest, KeepsEveryVersionsDefinitionAndTheHeads) {
  CheckIn("table:s.t", 1, 1, "CREATE TABLE s.t (a int);");
  auto co = Ev("object:table:s.t", 3);
  co.mutable_checked_out();
  ASSERT_TRUE(Submit(co).accepted());
  auto ci = Ev("object:table:s.t", 4, "mallory");  // not the holder: lost
  ci.mutable_checked_in()->set_version(2);
  ci.mutable_checked_in()->set_definition("DROP TABLE x;");
  EXPECT_FALSE(Submit(ci).accepted());
  EXPECT_EQ(*DeployProjection::ReadDefinition(runner_->db(), "table:s.t", 1), "CREATE TABLE s.t (a int);");
  EXPECT_FALSE(DeployProjection::ReadDefinition(runner_->db(), "table:s.t", 2).ok());
  auto heads = DeployProjection::ReadHeads(runner_->db());
  ASSERT_TRUE(heads.ok());
  EXPECT_EQ(heads->at("table:s.t").version, 1u);
}

TEST_F(DeployProjectionTest, DeploymentsMoveTheExpectedStateOnlyWhenTheySucceed) {
  CheckIn("table:s.t", 1, 1, "CREATE TABLE s.t (a int);");
  Register("qa", 2);
  CreateRelease("r1", {{"table:s.t", 1}});
  ASSERT_TRUE(Submit(Started("qa", 2, "d1", "r1")).accepted());
  EXPECT_EQ(Env("qa").environment().running_deployment(), "d1");
  EXPECT_FALSE(Submit(Started("qa", 3, "d2", "r1")).accepted());  // one at a time
  ASSERT_TRUE(Submit(Finished("qa", 3, "d1", false)).accepted());
  EXPECT_EQ(Env("qa").environment().state_size(), 0);  // failed: nothing changed
  EXPECT_FALSE(DeployProjection::SucceededOn(runner_->db(), "qa", "r1"));

  ASSERT_TRUE(Submit(Started("qa", 4, "d3", "r1")).accepted());
  ASSERT_TRUE(Submit(Finished("qa", 5, "d3", true)).accepted());
  auto env = Env("qa").environment();
  EXPECT_EQ(env.current_release(), "r1");
  ASSERT_EQ(env.state_size(), 1);
  EXPECT_EQ(env.state(0).object(), "table:s.t");
  EXPECT_TRUE(DeployProjection::SucceededOn(runner_->db(), "qa", "r1"));

  // Rolling d3 back returns to the state before it.
  ASSERT_TRUE(Submit(Started("qa", 6, "d4", "", v1::ROLLBACK, "d3", {})).accepted());
  ASSERT_TRUE(Submit(Finished("qa", 7, "d4", true)).accepted());
  env = Env("qa").environment();
  EXPECT_EQ(env.state_size(), 0);
  EXPECT_EQ(env.current_release(), "");
  EXPECT_FALSE(DeployProjection::SucceededOn(runner_->db(), "qa", "r1")) << "rolled back: no longer a gate pass";
  auto list = DeployProjection::ReadDeployments(runner_->db(), "qa");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 3u);  // newest first
  EXPECT_EQ((*list)[0].deployment().id(), "d4");
  EXPECT_EQ((*list)[1].deployment().status(), "rolled back");
  EXPECT_EQ((*list)[2].deployment().status(), "failed");
  EXPECT_EQ((*list)[2].deployment().error(), "statement 3 of 4 failed");

  // A rebuild from the log reaches the same state.
  Open(/*rebuild=*/true);
  EXPECT_EQ(Env("qa").environment().SerializeAsString(), env.SerializeAsString());
}

TEST_F(DeployProjectionTest, ObjectEventsAreKeyedByTheCanonicalIdAndGarbageIdsIgnored) {
  CheckIn("table:s.t", 1, 1, "CREATE TABLE s.t (a int);");
  auto co = Ev("object:table:S.T", 3);  // the same object, spelled otherwise: seq 3 is its next
  co.mutable_checked_out();
  EXPECT_TRUE(Submit(co).accepted());
  auto garbage = Ev("object:garbage", 1);
  garbage.mutable_checked_out();
  Submit(garbage);
  auto heads = DeployProjection::ReadHeads(runner_->db());
  ASSERT_TRUE(heads.ok());
  EXPECT_EQ(heads->size(), 1u);
  auto o = DeployProjection::ReadObject(runner_->db(), "table:s.t");
  ASSERT_TRUE(o.ok() && o->has_value());
  EXPECT_EQ((*o)->holder(), "dana");
}

TEST_F(DeployProjectionTest, ReleasesAreImmutableAndCollectApprovals) {
  CreateRelease("r1", {{"table:s.t", 1}});
  auto again = Ev("release:r1", 2);
  again.mutable_release_created()->set_name("r1");
  EXPECT_FALSE(Submit(again).accepted());
  auto approve = Ev("release:r1", 2, "rita");
  approve.mutable_release_approved()->set_environment("prod");
  ASSERT_TRUE(Submit(approve).accepted());
  auto r = DeployProjection::ReadRelease(runner_->db(), "r1");
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->release().entries_size(), 1);
  ASSERT_EQ((*r)->release().approvals_size(), 1);
  EXPECT_EQ((*r)->release().approvals(0).user(), "rita");
  EXPECT_EQ((*r)->release().approvals(0).environment(), "prod");
}

}  // namespace
}  // namespace strata::deploy

namespace strata::deploy {
namespace {

TEST_F(DeployProjectionTest, ListsCarryTheSmallRecordsAndSingleReadsTheWholeOnes) {
  CheckIn("table:s.t", 1, 1, "CREATE TABLE s.t (a int);");
  CheckIn("table:s.u", 1, 1, "CREATE TABLE s.u (a int);");
  Register("qa", 2);
  CreateRelease("r1", {{"table:s.t", 1}, {"table:s.u", 1}});
  ASSERT_TRUE(Submit(Started("qa", 2, "d1", "r1", v1::DEPLOY, "", {{"table:s.t", 1}, {"table:s.u", 1}})).accepted());
  ASSERT_TRUE(Submit(Finished("qa", 3, "d1", true)).accepted());

  // Environments, releases and deployments in lists: without their objects,
  // states and scripts, which can be as large as the repository.
  auto envs = DeployProjection::ReadEnvironments(runner_->db());
  ASSERT_TRUE(envs.ok());
  ASSERT_EQ(envs->size(), 1u);
  EXPECT_EQ((*envs)[0].environment().state_size(), 0);
  EXPECT_EQ((*envs)[0].environment().object_count(), 2u);
  EXPECT_EQ((*envs)[0].environment().last_deployment().script(), "");
  auto releases = DeployProjection::ReadReleases(runner_->db());
  ASSERT_TRUE(releases.ok());
  ASSERT_EQ(releases->size(), 1u);
  EXPECT_EQ((*releases)[0].release().entries_size(), 0);
  EXPECT_EQ((*releases)[0].release().object_count(), 2u);
  auto list = DeployProjection::ReadDeployments(runner_->db(), "qa");
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].deployment().status(), "succeeded");
  EXPECT_EQ((*list)[0].deployment().script(), "");
  EXPECT_EQ((*list)[0].after_size(), 0);

  // One at a time: whole.
  EXPECT_EQ(Env("qa").environment().state_size(), 2);
  auto r1 = DeployProjection::ReadRelease(runner_->db(), "r1");
  ASSERT_TRUE(r1.ok() && r1->has_value());
  EXPECT_EQ((*r1)->release().entries_size(), 2);
  auto d1 = DeployProjection::ReadDeployment(runner_->db(), "d1");
  ASSERT_TRUE(d1.ok() && d1->has_value());
  EXPECT_EQ((*d1)->deployment().script(), "-- script of d1");
  EXPECT_EQ((*d1)->deployment().rollback_script(), "-- undo d1");
  EXPECT_EQ((*d1)->before_size(), 0);
  EXPECT_EQ((*d1)->after_size(), 2);
}

// What the pipeline board shows per environment: each release's latest
// deployment, read without going through every deployment ever made.
TEST_F(DeployProjectionTest, EachReleasesLatestDeploymentIsKeptApart) {
  CheckIn("table:s.t", 1, 1, "CREATE TABLE s.t (a int);");
  Register("qa", 2);
  CreateRelease("r1", {{"table:s.t", 1}});
  CreateRelease("r2", {{"table:s.t", 1}});
  ASSERT_TRUE(Submit(Started("qa", 2, "d1", "r1")).accepted());
  ASSERT_TRUE(Submit(Finished("qa", 3, "d1", false)).accepted());
  ASSERT_TRUE(Submit(Started("qa", 4, "d2", "r1")).accepted());
  ASSERT_TRUE(Submit(Finished("qa", 5, "d2", true)).accepted());
  ASSERT_TRUE(Submit(Started("qa", 6, "d3", "r2")).accepted());
  ASSERT_TRUE(Submit(Finished("qa", 7, "d3", true)).accepted());
  ASSERT_TRUE(Submit(Started("qa", 8, "d4", "", v1::ROLLBACK, "d3", {{"table:s.t", 1}})).accepted());
  ASSERT_TRUE(Submit(Finished("qa", 9, "d4", true)).accepted());
  auto latest = DeployProjection::ReadLatestDeployments(runner_->db(), "qa");
  ASSERT_TRUE(latest.ok()) << latest.status();
  ASSERT_EQ(latest->size(), 2u) << "rollbacks are not a release's deployment";
  EXPECT_EQ(latest->at("r1").deployment().id(), "d2");
  EXPECT_EQ(latest->at("r1").deployment().status(), "succeeded");
  EXPECT_EQ(latest->at("r2").deployment().id(), "d3");
  EXPECT_EQ(latest->at("r2").deployment().status(), "rolled back");
  EXPECT_TRUE(DeployProjection::ReadLatestDeployments(runner_->db(), "prod")->empty());
}

TEST_F(DeployProjectionTest, UntrackedCommitsKeepNothingForTheGuardAndWakeNobody) {
  const uint64_t scans = DeployProjection::ObjectScans();
  CheckIn("table:s.t", 1, 1, "CREATE TABLE s.t (a int);");
  auto co = Ev("object:table:s.t", 3);
  co.mutable_checked_out();
  ASSERT_TRUE(Submit(co).accepted());
  EXPECT_EQ(guard_changes_.load(), 0);
  EXPECT_TRUE(projection_->TakeObjectChanges().ids.empty());
  EXPECT_EQ(DeployProjection::ObjectScans(), scans);
  // Environments always count (the sync lists them again).
  const uint64_t generation = projection_->environments_generation();
  Register("qa", 1);
  EXPECT_EQ(projection_->environments_generation(), generation + 1);
  EXPECT_EQ(guard_changes_.load(), 1);
}

TEST_F(DeployProjectionTest, TrackedCommitsListTheObjectsTheyChangedOnce) {
  projection_->TrackObjectChanges(true);
  CheckIn("table:s.t", 1, 1, "CREATE TABLE s.t (a int);");
  auto co = Ev("object:table:s.u", 1);
  co.mutable_checked_out();
  ASSERT_TRUE(Submit(co).accepted());
  auto lost = Ev("object:table:s.v", 2);  // a lost race changes nothing
  lost.mutable_checked_out();
  EXPECT_FALSE(Submit(lost).accepted());
  EXPECT_GE(guard_changes_.load(), 3);
  ObjectChanges c = projection_->TakeObjectChanges();
  EXPECT_FALSE(c.overflow);
  EXPECT_EQ(c.ids, (std::vector<std::string>{"table:s.t", "table:s.u"}));
  EXPECT_TRUE(projection_->TakeObjectChanges().ids.empty()) << "taken once";
  // Off again: what was pending is dropped.
  auto undo = Ev("object:table:s.u", 2);
  undo.mutable_check_out_undone();
  ASSERT_TRUE(Submit(undo).accepted());
  projection_->TrackObjectChanges(false);
  EXPECT_TRUE(projection_->TakeObjectChanges().ids.empty());
}

TEST_F(DeployProjectionTest, TooManyChangesAtOnceSayOverflow) {
  Open(/*rebuild=*/false, /*max_tracked_changes=*/3);
  projection_->TrackObjectChanges(true);
  for (int i = 0; i < 4; ++i) {
    auto co = Ev("object:table:s.t" + std::to_string(i), 1);
    co.mutable_checked_out();
    ASSERT_TRUE(Submit(co).accepted());
  }
  ObjectChanges c = projection_->TakeObjectChanges();
  EXPECT_TRUE(c.overflow);
  EXPECT_TRUE(c.ids.empty());
  EXPECT_FALSE(projection_->TakeObjectChanges().overflow) << "reset once taken";
}

TEST_F(DeployProjectionTest, DataVersionsAreKeptPerTableAndSurviveARebuild) {
  auto track = Ev("data:ref.codes", 1);
  track.mutable_data_tracked()->set_table("table:ref.codes");
  track.mutable_data_tracked()->add_key("code");
  ASSERT_TRUE(Submit(track).accepted());
  for (uint64_t v = 1; v <= 2; ++v) {
    auto e = Ev("data:ref.codes", v + 1, "alice");
    auto* d = e.mutable_data_version_stored();
    d->set_version(v);
    d->set_rows_csv("\"code\"\n\"" + std::to_string(v) + "\"\n");
    d->set_rows_sha256("sha" + std::to_string(v));
    d->set_row_count(1);
    d->add_key("code");
    ASSERT_TRUE(Submit(e).accepted());
  }
  auto stale = Ev("data:ref.codes", 3);
  stale.mutable_data_version_stored()->set_version(9);
  EXPECT_EQ(Submit(stale).verdict, decide::Verdict::kStaleSeq);
  auto check = [&] {
    auto t = DeployProjection::ReadDataTable(runner_->db(), "ref.codes");
    ASSERT_TRUE(t.ok() && *t);
    EXPECT_TRUE((*t)->tracked());
    EXPECT_EQ((*t)->latest_version(), 2u);
    EXPECT_EQ((*t)->latest_sha256(), "sha2");
    auto v1 = DeployProjection::ReadDataVersion(runner_->db(), "ref.codes", 1);
    ASSERT_TRUE(v1.ok() && *v1);
    EXPECT_EQ((*v1)->stored().rows_csv(), "\"code\"\n\"1\"\n");
    EXPECT_EQ((*v1)->user(), "alice");
    auto all = DeployProjection::ReadDataTables(runner_->db());
    ASSERT_TRUE(all.ok());
    EXPECT_EQ(all->size(), 1u);
  };
  check();
  Open(/*rebuild=*/true);
  check();
  auto untrack = Ev("data:ref.codes", 4);
  untrack.mutable_data_untracked();
  ASSERT_TRUE(Submit(untrack).accepted());
  auto t = DeployProjection::ReadDataTable(runner_->db(), "ref.codes");
  ASSERT_TRUE(t.ok() && *t);
  EXPECT_FALSE((*t)->tracked());
  EXPECT_EQ((*t)->latest_version(), 2u) << "versions stay readable";
}

}  // namespace
}  // namespace strata::deploy
