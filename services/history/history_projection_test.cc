#include "history/history_projection.h"

#include <gtest/gtest.h>

#include "fmt/format.h"

#include <filesystem>

#include "eventlog/embedded_log.h"
#include "history/audit.h"
#include "history/audit_verify.h"
#include "rocksdb/db.h"

namespace strata::history {
namespace {

namespace fs = std::filesystem;

class HistoryProjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("histproj-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    log_ = std::move(*eventlog::OpenEmbeddedLog({.dir = (root_ / "log").string(), .partitions = 2}));
    StartRunner();
  }
  void TearDown() override {
    runner_.reset();
    fs::remove_all(root_);
  }
  void StartRunner(projection::RunnerOptions options = {}) {
    runner_.reset();
    options.db_path = (root_ / "state").string();
    runner_ = std::move(*projection::ProjectionRunner::Open(options, log_.get(), &projection_));
    ASSERT_TRUE(runner_->Start().ok());
    ASSERT_TRUE(runner_->CatchUp(absl::Seconds(10)).ok());
  }

  v1::Event Ev(const std::string& object, uint64_t seq, const std::string& user) {
    v1::Event e;
    e.set_event_id("e" + std::to_string(next_id_++));
    e.set_aggregate("object:" + object);
    e.set_seq(seq);
    e.mutable_time()->set_seconds(1'795'000'000 + next_id_);
    e.mutable_actor()->set_user(user);
    e.mutable_actor()->set_site(user == "alice" ? "boston" : "london");
    e.set_origin_site("test");
    return e;
  }
  void Append(const v1::Event& e) {
    auto pos = log_->Append(e.aggregate(), e.SerializeAsString(), {});
    ASSERT_TRUE(pos.ok());
    ASSERT_TRUE(runner_->WaitForApplied(*pos, absl::Seconds(5)).ok());
  }
  void CheckOut(const std::string& object, uint64_t seq, const std::string& user) {
    v1::Event e = Ev(object, seq, user);
    e.mutable_checked_out()->set_reason("work");
    Append(e);
  }
  void CheckIn(const std::string& object, uint64_t seq, const std::string& user, uint64_t version,
               const std::string& definition) {
    v1::Event e = Ev(object, seq, user);
    auto* ci = e.mutable_checked_in();
    ci->set_version(version);
    ci->set_definition(definition);
    ci->set_message("v" + std::to_string(version));
    Append(e);
  }
  std::string Dump() {
    std::string all;
    std::unique_ptr<rocksdb::Iterator> it(runner_->db()->NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next())
      if (it->key()[0] != '\x01') all += it->key().ToString() + "=" + it->value().ToString() + "\n";
    return all;
  }
  std::optional<std::string> Get(const std::string& key) {
    std::string v;
    if (!runner_->db()->Get(rocksdb::ReadOptions(), key, &v).ok()) return std::nullopt;
    return v;
  }
  v1::AuditEntry AuditAt(int32_t partition, int64_t offset) {
    std::optional<v1::AuditEntry> stored = DecodeStoredAudit(*Get(keys::Audit(partition, offset)));
    EXPECT_TRUE(stored.has_value());
    v1::AuditEntry e = stored.value_or(v1::AuditEntry());
    return e;
  }
  v1::VerifyAuditResponse Verify() {
    auto r = VerifyAuditTrail(runner_->db(), log_.get(), runner_->stats().next_offsets,
                              absl::Seconds(10));
    EXPECT_TRUE(r.ok()) << r.status();
    return *r;
  }

  fs::path root_;
  std::unique_ptr<eventlog::EventLog> log_;
  HistoryProjection projection_;
  std::unique_ptr<projection::ProjectionRunner> runner_;
  int next_id_ = 0;
};

TEST_F(HistoryProjectionTest, KeepsEveryVersionWithItsAuthorAndLogPosition) {
  CheckOut("table:s.t", 1, "alice");
  CheckIn("table:s.t", 2, "alice", 1, "CREATE TABLE s.t (a int);");
  CheckOut("table:s.t", 3, "bob");
  CheckIn("table:s.t", 4, "bob", 2, "CREATE TABLE s.t (a int, b text);");
  v1::Version v1, v2;
  ASSERT_TRUE(v1.ParseFromString(*Get(keys::Version("table:s.t", 1))));
  ASSERT_TRUE(v2.ParseFromString(*Get(keys::Version("table:s.t", 2))));
  EXPECT_EQ(v1.user(), "alice");
  EXPECT_EQ(v1.definition(), "CREATE TABLE s.t (a int);");
  EXPECT_EQ(v2.user(), "bob");
  EXPECT_EQ(v2.site(), "london");
  EXPECT_EQ(v2.message(), "v2");
  EXPECT_EQ(v2.partition(), log_->PartitionFor("object:table:s.t"));
  EXPECT_EQ(v2.offset(), 3);
  internal::HistoryObject o;
  ASSERT_TRUE(o.ParseFromString(*Get(keys::Object("table:s.t"))));
  EXPECT_EQ(o.latest_version(), 2u);
  EXPECT_FALSE(o.has_lock());
}

TEST_F(HistoryProjectionTest, AuditsLostRacesAndRefusalsNotOnlyAcceptedEvents) {
  CheckOut("table:s.t", 1, "alice");
  CheckOut("table:s.t", 1, "bob");  // lost the race for seq 1
  CheckOut("table:s.t", 2, "bob");  // right seq, but alice holds it
  v1::Event refused = Ev("table:s.t", 0, "bob");
  refused.mutable_command_refused()->set_command("force_release");
  refused.mutable_command_refused()->set_code("PERMISSION_DENIED");
  refused.mutable_command_refused()->set_reason("needs role dba");
  Append(refused);
  const int32_t p = log_->PartitionFor("object:table:s.t");
  EXPECT_EQ(AuditAt(p, 0).record().outcome(), "accepted");
  EXPECT_EQ(AuditAt(p, 1).record().outcome(), "lost");
  EXPECT_EQ(AuditAt(p, 2).record().outcome(), "lost");
  EXPECT_NE(AuditAt(p, 2).record().detail().find("already checked out by alice"), std::string::npos);
  const v1::AuditRecord r = AuditAt(p, 3).record();
  EXPECT_EQ(r.outcome(), "refused");
  EXPECT_EQ(r.user(), "bob");
  EXPECT_EQ(r.action(), "force_release");
  EXPECT_EQ(AuditAt(p, 1).prev_hash(), AuditAt(p, 0).hash()) << "chained in offset order";
  EXPECT_TRUE(Verify().ok());
}

TEST_F(HistoryProjectionTest, VerifyNamesTheFirstAlteredRecord) {
  for (int i = 0; i < 4; ++i) {
    CheckOut("table:s.t" + std::to_string(i), 1, "alice");
    CheckIn("table:s.t" + std::to_string(i), 2, "alice", 1, "CREATE TABLE x (a int);");
  }
  v1::VerifyAuditResponse good = Verify();
  ASSERT_TRUE(good.ok()) << good.problem();
  EXPECT_EQ(good.records_checked(), 8u);

  // Someone with access to the disk rewrites who did it.
  const int32_t p = log_->PartitionFor("object:table:s.t0");
  v1::AuditEntry entry = AuditAt(p, 1);
  entry.mutable_record()->set_user("mallory");
  ASSERT_TRUE(runner_->db()->Put(rocksdb::WriteOptions(), keys::Audit(p, 1), EncodeStoredAudit(entry)).ok());
  v1::VerifyAuditResponse bad = Verify();
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.bad_partition(), p);
  EXPECT_EQ(bad.bad_offset(), 1);

  // A forger who also recomputes canonical form and hash still breaks the chain.
  ASSERT_TRUE(runner_->db()->Put(rocksdb::WriteOptions(), keys::Audit(p, 1), EncodeStoredAudit(AuditAt(p, 1))).ok());
  v1::AuditEntry original = AuditAt(p, 1);
  v1::AuditRecord forged = original.record();
  forged.set_user("mallory");
  ASSERT_TRUE(runner_->db()->Put(rocksdb::WriteOptions(), keys::Audit(p, 1),
                                 EncodeStoredAudit(ChainEntry(forged, original.prev_hash()))).ok());
  bad = Verify();
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.bad_offset(), 1);
  EXPECT_NE(bad.problem().find("mallory"), std::string::npos) << bad.problem();
}

TEST_F(HistoryProjectionTest, ABaselineNameIsTakenOnceAndFreezesItsEntries) {
  auto baseline = [&](const std::string& name, const std::string& user) {
    v1::Event e;
    e.set_event_id("b" + std::to_string(next_id_++));
    e.set_aggregate("baseline:" + name);
    e.set_seq(1);
    e.mutable_actor()->set_user(user);
    e.mutable_baseline_created()->set_name(name);
    auto* entry = e.mutable_baseline_created()->add_entries();
    entry->set_object("table:s.t");
    entry->set_version(user == "alice" ? 1 : 7);
    Append(e);
  };
  baseline("r1", "alice");
  baseline("r1", "bob");  // loses: the name is taken
  v1::Baseline b;
  ASSERT_TRUE(b.ParseFromString(*Get(keys::Baseline("r1"))));
  EXPECT_EQ(b.user(), "alice");
  ASSERT_EQ(b.entries_size(), 1);
  EXPECT_EQ(b.entries(0).version(), 1u);
  EXPECT_TRUE(Verify().ok());
}

TEST_F(HistoryProjectionTest, RebuildGivesTheSameAuditTrailByteForByte) {
  CheckOut("table:s.a", 1, "alice");
  CheckIn("table:s.a", 2, "alice", 1, "CREATE TABLE s.a (x int);");
  CheckOut("table:s.a", 2, "bob");
  const std::string before = Dump();
  runner_.reset();
  fs::remove_all(root_ / "state");
  StartRunner();
  EXPECT_EQ(Dump(), before);
}

// A large replay writes one commit while applying the next and bulk-loads
// the audit trail: the result is the same, byte for byte.
TEST_F(HistoryProjectionTest, APipelinedBulkLoadedRebuildIsByteIdentical) {
  for (int round = 0; round < 20; ++round)
    for (int o = 0; o < 50; ++o) {
      const std::string object = "table:s.t" + std::to_string(o);
      const std::string user = (o + round) % 3 ? "alice" : "bob";
      v1::Event out = Ev(object, 2 * round + 1, user);
      out.mutable_checked_out()->set_reason("round " + std::to_string(round));
      v1::Event in = Ev(object, 2 * round + 2, user);
      in.mutable_checked_in()->set_version(round + 1);
      in.mutable_checked_in()->set_definition(fmt::format("CREATE TABLE s.t{} (v{} int);", o, round));
      for (const v1::Event& e : {out, in}) ASSERT_TRUE(log_->Append(e.aggregate(), e.SerializeAsString(), {}).ok());
    }
  ASSERT_TRUE(runner_->CatchUp(absl::Seconds(30)).ok());
  const std::string plain = Dump();
  ASSERT_NE(plain.find("s.t49"), std::string::npos);

  projection::RunnerOptions o;
  o.rebuild = true;
  o.max_batch = 100;
  o.max_uncommitted_events = 250;
  o.bulk_load_backlog = 250;
  o.ingest_min_blind_writes = 200;
  o.pipeline_commits = true;
  o.commit_interval = absl::Minutes(1);
  StartRunner(o);
  EXPECT_GE(runner_->stats().batches, 6u);
  EXPECT_EQ(Dump(), plain);
  v1::VerifyAuditResponse verified = Verify();
  EXPECT_TRUE(verified.ok()) << verified.problem();
  EXPECT_EQ(verified.records_checked(), 2000u);
}

}  // namespace
}  // namespace strata::history
