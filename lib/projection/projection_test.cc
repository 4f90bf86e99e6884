#include "projection/projection.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <limits>
#include <thread>

#include "devbroker/mock_kafka.h"
#include "eventlog/embedded_log.h"
#include "eventlog/kafka_log.h"
#include "fmt/format.h"
#include "rocksdb/db.h"

namespace strata::projection {
namespace {

namespace fs = std::filesystem;

// Counts events per aggregate; "applications" counts every Apply call, so a
// double apply shows up as applications > events in the log.
class CountingProjection : public Projection {
 public:
  absl::Status Apply(const v1::Event& event, const eventlog::Position& position,
                     StateTxn& txn) override {
    for (const std::string& key : {"count/" + event.aggregate(), std::string("applications")}) {
      auto v = txn.Get(key);
      if (!v.ok()) return v.status();
      txn.Put(key, std::to_string((*v ? std::stoi(**v) : 0) + 1));
    }
    // Append-only records, and one key written again and again: the last
    // write must win.
    txn.PutBlind(fmt::format("record/{}/{:08d}", position.partition, position.offset), event.event_id());
    txn.PutBlind("last/" + event.aggregate(), event.event_id());
    return absl::OkStatus();
  }
  void BatchDone(bool committed) override { (committed ? committed_ : discarded_)++; }
  int committed_ = 0, discarded_ = 0;
};

class ProjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("projection-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    auto log = eventlog::OpenEmbeddedLog({.dir = (root_ / "log").string(), .partitions = 3});
    ASSERT_TRUE(log.ok());
    log_ = std::move(*log);
  }
  void TearDown() override { fs::remove_all(root_); }

  eventlog::Position AppendEvent(const std::string& aggregate) {
    v1::Event e;
    e.set_event_id(std::to_string(appended_++));
    e.set_aggregate(aggregate);
    e.set_seq(1);
    e.mutable_checked_out();
    auto pos = log_->Append(aggregate, e.SerializeAsString(), {});
    EXPECT_TRUE(pos.ok());
    return *pos;
  }
  std::string AppendEventBytes() {
    v1::Event e;
    e.set_aggregate("object:table:s.a");
    e.set_seq(1);
    e.mutable_checked_out();
    return e.SerializeAsString();
  }
  void AppendMany(int n) {
    for (int i = 0; i < n; ++i) AppendEvent("object:table:s.t" + std::to_string(i % 7));
  }
  // On `log` when given, else on log_.
  std::unique_ptr<ProjectionRunner> Open(RunnerOptions extra = {}, eventlog::EventLog* log = nullptr) {
    extra.db_path = (root_ / "state").string();
    auto r = ProjectionRunner::Open(extra, log ? log : log_.get(), &projection_);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? std::move(*r) : nullptr;
  }
  static int Read(ProjectionRunner& r, const std::string& key) {
    std::string v;
    return r.db()->Get(rocksdb::ReadOptions(), key, &v).ok() ? std::stoi(v) : 0;
  }
  static std::string ReadString(ProjectionRunner& r, const std::string& key) {
    std::string v;
    return r.db()->Get(rocksdb::ReadOptions(), key, &v).ok() ? v : "(missing)";
  }
  static int CountPrefix(ProjectionRunner& r, const std::string& prefix) {
    std::unique_ptr<rocksdb::Iterator> it(r.db()->NewIterator(rocksdb::ReadOptions()));
    int n = 0;
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) ++n;
    return n;
  }
  // What a replay of AppendMany(n) must leave behind, whatever the commits.
  void ExpectFullReplay(ProjectionRunner& r, int n) {
    EXPECT_EQ(Read(r, "applications"), n) << "every event applied exactly once";
    for (int a = 0; a < 7; ++a)
      EXPECT_EQ(Read(r, "count/object:table:s.t" + std::to_string(a)), n / 7 + (a < n % 7 ? 1 : 0));
    EXPECT_EQ(CountPrefix(r, "record/"), n);
    // The last event of aggregate a is number a + 7k for the largest such k below n.
    for (int a = 0; a < 7; ++a)
      EXPECT_EQ(ReadString(r, "last/object:table:s.t" + std::to_string(a)),
                std::to_string(a + 7 * ((n - 1 - a) / 7)));
  }
  // A replay that writes many commits while applying the next ones.
  static RunnerOptions Pipelined(size_t ingest_min_blind_writes) {
    RunnerOptions o;
    o.max_batch = 100;
    o.max_uncommitted_events = 300;
    o.bulk_load_backlog = 300;
    o.pipeline_commits = true;
    o.ingest_min_blind_writes = ingest_min_blind_writes;
    o.commit_interval = absl::Minutes(1);
    return o;
  }

  fs::path root_;
  std::unique_ptr<eventlog::EventLog> log_;
  CountingProjection projection_;
  int appended_ = 0;
};

TEST_F(ProjectionTest, AppliesEveryEventOnce) {
  AppendMany(100);
  auto runner = Open();
  ASSERT_TRUE(runner->Start().ok());
  ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
  EXPECT_EQ(Read(*runner, "applications"), 100);
  EXPECT_EQ(Read(*runner, "count/object:table:s.t0"), 15);
}

TEST_F(ProjectionTest, WaitForAppliedGivesReadYourWrites) {
  auto runner = Open();
  ASSERT_TRUE(runner->Start().ok());
  for (int i = 0; i < 20; ++i) {
    auto pos = AppendEvent("object:table:s.x");
    ASSERT_TRUE(runner->WaitForApplied(pos, absl::Seconds(5)).ok());
    EXPECT_EQ(Read(*runner, "count/object:table:s.x"), i + 1);
  }
  // A position nobody wrote yet times out with DEADLINE_EXCEEDED.
  auto s = runner->WaitForApplied({0, 1000}, absl::Milliseconds(50));
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(ProjectionTest, ResumesFromStoredOffsetsAfterRestart) {
  AppendMany(50);
  {
    auto runner = Open();
    ASSERT_TRUE(runner->Start().ok());
    ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
  }
  AppendMany(30);
  auto runner = Open();
  ASSERT_TRUE(runner->Start().ok());
  ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
  EXPECT_EQ(Read(*runner, "applications"), 80);
  EXPECT_EQ(runner->stats().events_applied, 30u) << "only the new events are applied";
}

TEST_F(ProjectionTest, CrashBeforeABatchCommitNeitherLosesNorDoublesEvents) {
  AppendMany(200);
  {
    RunnerOptions o;
    o.max_batch = 10;
    o.max_uncommitted_events = 10;  // one commit per poll
    o.before_commit = [](uint64_t batch) {
      return batch == 3 ? absl::AbortedError("simulated crash") : absl::OkStatus();
    };
    auto runner = Open(o);
    ASSERT_TRUE(runner->Start().ok());
    auto s = runner->CatchUp(absl::Seconds(10));
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_EQ(runner->health().code(), absl::StatusCode::kAborted);
    EXPECT_LE(Read(*runner, "applications"), 30) << "at most the three committed batches";
    EXPECT_EQ(projection_.discarded_, 2) << "when the runner started, and the commit the crash lost";
  }
  auto runner = Open();
  ASSERT_TRUE(runner->Start().ok());
  ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
  EXPECT_EQ(Read(*runner, "applications"), 200);
}

TEST_F(ProjectionTest, ABacklogIsAppliedInFewCommits) {
  AppendMany(1000);
  RunnerOptions o;
  o.max_batch = 10;
  o.max_uncommitted_events = 400;
  o.commit_interval = absl::Minutes(1);
  auto runner = Open(o);
  ASSERT_TRUE(runner->Start().ok());
  // Nobody waits: the runner commits every 400 events and when it reaches the end.
  for (int i = 0; i < 500 && runner->stats().events_applied < 1000; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(runner->stats().events_applied, 1000u);
  EXPECT_LE(runner->stats().batches, 4u) << "100 polls, coalesced into a few commits";
  EXPECT_EQ(Read(*runner, "applications"), 1000);
}

TEST_F(ProjectionTest, AWaiterIsReleasedWithoutWaitingForTheBacklog) {
  AppendMany(3000);
  RunnerOptions o;
  o.max_batch = 10;
  o.max_uncommitted_events = 1'000'000;
  o.commit_interval = absl::Minutes(1);
  auto runner = Open(o);
  ASSERT_TRUE(runner->Start().ok());
  // The first record of partition 0 is applied by the first polls; the
  // runner must commit for the waiter instead of holding it for the backlog.
  ASSERT_TRUE(runner->WaitForApplied({0, 0}, absl::Seconds(10)).ok());
  EXPECT_LT(runner->stats().events_applied, 3000u);
  ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
  EXPECT_EQ(Read(*runner, "applications"), 3000);
}

// A log whose readers return nothing until Release(): what a Kafka reader
// is between an append and the fetch that brings it back. Wake ends a Poll
// as the real readers do.
class HeldBackLog : public eventlog::EventLog {
 public:
  explicit HeldBackLog(eventlog::EventLog* log) : log_(log) {}
  void Release() { released_ = true; }
  int32_t partitions() const override { return log_->partitions(); }
  std::string Describe() const override { return "held-back " + log_->Describe(); }
  absl::StatusOr<eventlog::Position> Append(std::string_view key, std::string_view value,
                                            const std::vector<eventlog::Header>& headers) override {
    return log_->Append(key, value, headers);
  }
  absl::StatusOr<int64_t> EndOffset(int32_t partition) override { return log_->EndOffset(partition); }
  using EventLog::OpenReader;
  absl::StatusOr<std::unique_ptr<eventlog::LogReader>> OpenReader(const std::vector<int64_t>& start,
                                                                  const ReaderOptions& options) override {
    auto inner = log_->OpenReader(start, options);
    if (!inner.ok()) return inner.status();
    return std::unique_ptr<eventlog::LogReader>(new Reader(std::move(*inner), &released_));
  }

 private:
  class Reader : public eventlog::LogReader {
   public:
    Reader(std::unique_ptr<eventlog::LogReader> inner, std::atomic<bool>* released)
        : inner_(std::move(inner)), released_(released) {}
    absl::StatusOr<std::vector<eventlog::Record>> Poll(size_t max, absl::Duration timeout) override {
      if (*released_) return inner_->Poll(max, timeout);
      absl::MutexLock lk(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&woken_), std::min(timeout, absl::Milliseconds(20)));
      woken_ = false;
      return std::vector<eventlog::Record>();
    }
    int64_t Backlog() const override { return inner_->Backlog(); }
    void Wake() override {
      {
        absl::MutexLock lk(&mu_);
        woken_ = true;
      }
      inner_->Wake();
    }

   private:
    std::unique_ptr<eventlog::LogReader> inner_;
    std::atomic<bool>* released_;
    absl::Mutex mu_;
    bool woken_ ABSL_GUARDED_BY(mu_) = false;
  };
  eventlog::EventLog* log_;
  std::atomic<bool> released_{false};
};

TEST_F(ProjectionTest, ARecordItsProcessAppendedIsAppliedWithoutWaitingForTheReader) {
  HeldBackLog held(log_.get());
  auto runner = Open({}, &held);
  ASSERT_TRUE(runner && runner->Start().ok());
  const std::string value = AppendEventBytes();
  auto pos = held.Append("object:table:s.a", value, {});
  ASSERT_TRUE(pos.ok());
  runner->Appended({.partition = pos->partition, .offset = pos->offset, .key = "object:table:s.a", .value = value});
  ASSERT_TRUE(runner->WaitForApplied(*pos, absl::Seconds(5)).ok()) << "applied from the hand-over";
  EXPECT_EQ(Read(*runner, "applications"), 1);
  // One not handed over waits for the reader.
  auto second = held.Append("object:table:s.a", value, {});
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(runner->WaitForApplied(*second, absl::Milliseconds(300)).code(), absl::StatusCode::kDeadlineExceeded);
  // The reader's copy of the first is not applied again.
  held.Release();
  ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
  EXPECT_EQ(Read(*runner, "applications"), 2);
  EXPECT_EQ(Read(*runner, "count/object:table:s.a"), 2);
  EXPECT_EQ(runner->stats().events_applied, 2u);
}

TEST_F(ProjectionTest, AHandedOverRecordWaitsForTheRecordsBeforeIt) {
  HeldBackLog held(log_.get());
  auto runner = Open({}, &held);
  ASSERT_TRUE(runner && runner->Start().ok());
  // Two events of one aggregate (one partition); only the second is handed over.
  auto event = [](const std::string& id) {
    v1::Event e;
    e.set_event_id(id);
    e.set_aggregate("object:table:s.b");
    e.set_seq(1);
    e.mutable_checked_out();
    return e.SerializeAsString();
  };
  auto first = held.Append("object:table:s.b", event("first"), {});
  auto second = held.Append("object:table:s.b", event("second"), {});
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_EQ(first->partition, second->partition);
  runner->Appended(
      {.partition = second->partition, .offset = second->offset, .key = "object:table:s.b", .value = event("second")});
  EXPECT_EQ(runner->WaitForApplied(*second, absl::Milliseconds(300)).code(), absl::StatusCode::kDeadlineExceeded)
      << "not applied before the record ahead of it";
  EXPECT_EQ(Read(*runner, "applications"), 0);
  held.Release();
  ASSERT_TRUE(runner->WaitForApplied(*second, absl::Seconds(10)).ok());
  EXPECT_EQ(Read(*runner, "applications"), 2);
  EXPECT_EQ(ReadString(*runner, "last/object:table:s.b"), "second") << "applied in the log's order";
}

TEST_F(ProjectionTest, HandedOverRecordsAreNotBacklog) {
  // Records applied from the hand-over are still ahead of the reader: they
  // must not count as a backlog (which would switch RocksDB to bulk
  // loading, and nothing would switch it back once the reader's copies
  // turn out to be applied already).
  HeldBackLog held(log_.get());
  RunnerOptions o;
  o.bulk_load_backlog = 10;
  auto runner = Open(o, &held);
  ASSERT_TRUE(runner && runner->Start().ok());
  const std::string value = AppendEventBytes();
  std::vector<eventlog::Position> positions;
  for (int i = 0; i < 30; ++i) {
    auto pos = held.Append("object:table:s.a", value, {});
    ASSERT_TRUE(pos.ok());
    runner->Appended({.partition = pos->partition, .offset = pos->offset, .key = "object:table:s.a", .value = value});
    positions.push_back(*pos);
  }
  ASSERT_TRUE(runner->WaitForApplied(positions.back(), absl::Seconds(5)).ok());
  held.Release();
  ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the reader brings its copies back
  EXPECT_EQ(Read(*runner, "applications"), 30);
  EXPECT_FALSE(runner->db()->GetOptions().disable_auto_compactions) << "left in bulk-load mode";
}

TEST_F(ProjectionTest, GarbageRecordsAreSkippedCountedAndSurviveRestart) {
  AppendEvent("object:table:s.a");
  ASSERT_TRUE(log_->Append("object:table:s.a", "\xff\xfe not a protobuf", {}).ok());
  ASSERT_TRUE(log_->Append("other-key", AppendEventBytes(), {}).ok());  // key != aggregate
  AppendEvent("object:table:s.a");
  {
    auto runner = Open();
    ASSERT_TRUE(runner->Start().ok());
    ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
    EXPECT_EQ(Read(*runner, "count/object:table:s.a"), 2);
    EXPECT_EQ(runner->stats().records_skipped, 2u);
  }
  auto runner = Open();
  EXPECT_EQ(runner->stats().records_skipped, 2u);
}

TEST_F(ProjectionTest, RebuildReplaysFromTheStartToTheSameState) {
  AppendMany(70);
  {
    auto runner = Open();
    ASSERT_TRUE(runner->Start().ok());
    ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
  }
  RunnerOptions o;
  o.rebuild = true;
  auto runner = Open(o);
  ASSERT_TRUE(runner->Start().ok());
  ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
  EXPECT_EQ(Read(*runner, "applications"), 70);
  EXPECT_EQ(runner->stats().events_applied, 70u);
}

TEST_F(ProjectionTest, AStoreInAnotherLayoutIsRebuiltFromTheLog) {
  AppendMany(40);
  {
    auto runner = Open();  // layout 1
    ASSERT_TRUE(runner->Start().ok());
    ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
    // Something layout 2 no longer writes.
    ASSERT_TRUE(runner->db()->Put(rocksdb::WriteOptions(), "layout-1-only", "x").ok());
  }
  AppendMany(5);
  RunnerOptions o;
  o.format_version = 2;
  {
    auto runner = Open(o);
    ASSERT_TRUE(runner->Start().ok());
    ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
    EXPECT_EQ(runner->stats().events_applied, 45u) << "the whole log again";
    EXPECT_EQ(Read(*runner, "applications"), 45);
    EXPECT_EQ(ReadString(*runner, "layout-1-only"), "(missing)");
  }
  // Opened again in the same layout: resumed, not rebuilt.
  auto runner = Open(o);
  ASSERT_TRUE(runner->Start().ok());
  ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
  EXPECT_EQ(runner->stats().events_applied, 0u);
  EXPECT_EQ(Read(*runner, "applications"), 45);
}

TEST_F(ProjectionTest, RefusesAStoreThatIsAheadOfTheLog) {
  AppendMany(10);
  {
    auto runner = Open();
    ASSERT_TRUE(runner->Start().ok());
    ASSERT_TRUE(runner->CatchUp(absl::Seconds(10)).ok());
  }
  // A fresh log (e.g. a wiped broker) behind the same state directory.
  log_.reset();
  fs::remove_all(root_ / "log");
  log_ = std::move(*eventlog::OpenEmbeddedLog({.dir = (root_ / "log").string(), .partitions = 3}));
  auto r = ProjectionRunner::Open({.db_path = (root_ / "state").string()}, log_.get(), &projection_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(std::string(r.status().message()).find("--rebuild"), std::string::npos);
}

// Writes `keys` blind records of `value_bytes` each per event, under "o/"
// (one key family), and nothing else.
class BulkyProjection : public Projection {
 public:
  BulkyProjection(int keys, size_t value_bytes) : keys_(keys), value_(value_bytes, 'x') {}
  absl::Status Apply(const v1::Event& event, const eventlog::Position& position, StateTxn& txn) override {
    for (int k = 0; k < keys_; ++k)
      txn.PutBlind(fmt::format("o/{}/{:08d}/{}", position.partition, position.offset, k), value_);
    return absl::OkStatus();
  }

 private:
  int keys_;
  std::string value_;
};

// Stores sharing a SharedMemory use one block cache, and their memtables
// together stay under one bound: past it, the store being written flushes.
TEST_F(ProjectionTest, StoresSharingMemoryHaveOneCacheAndOneMemtableBound) {
  AppendMany(3000);
  auto memory = std::make_shared<SharedMemory>(SharedMemoryOptions{.block_cache_bytes = 3 << 20,
                                                                   .memtable_bytes = 4 << 20});
  BulkyProjection first(1, 4000), second(2, 4000);  // 12 and 24 MB of records
  std::vector<std::unique_ptr<ProjectionRunner>> runners;
  for (auto [name, projection] : {std::pair{"first", &first}, std::pair{"second", &second}}) {
    auto r = ProjectionRunner::Open(
        {.db_path = (root_ / name).string(), .blind_chunk_bytes = 64 << 10, .shared_memory = memory}, log_.get(),
        projection);
    ASSERT_TRUE(r.ok()) << r.status();
    runners.push_back(std::move(*r));
  }
  for (auto& r : runners) ASSERT_TRUE(r->Start().ok());
  for (auto& r : runners) ASSERT_TRUE(r->CatchUp(absl::Seconds(60)).ok());
  EXPECT_EQ(CountPrefix(*runners[0], "o/"), 3000);
  EXPECT_EQ(CountPrefix(*runners[1], "o/"), 6000);
  uint64_t active = 0, flushed = 0;
  for (auto& r : runners) {
    uint64_t capacity = 0, bytes = 0;
    ASSERT_TRUE(r->db()->GetIntProperty("rocksdb.block-cache-capacity", &capacity));
    EXPECT_EQ(capacity, uint64_t{3} << 20);
    EXPECT_EQ(r->db()->GetOptions().write_buffer_manager, memory->memtables());
    ASSERT_TRUE(r->db()->GetIntProperty("rocksdb.cur-size-active-mem-table", &bytes));
    active += bytes;
    uint64_t immutable = 0, tables = 0;
    ASSERT_TRUE(r->db()->GetIntProperty("rocksdb.num-immutable-mem-table", &immutable));
    ASSERT_TRUE(r->db()->GetIntProperty("rocksdb.live-sst-files-size", &tables));
    flushed += immutable + tables;
  }
  // Without the bound each store keeps its records in one memtable: 36 MB
  // together. RocksDB checks the bound before each write and frees a
  // memtable once its flush is done, so the stores pass it by a few MB.
  EXPECT_LE(active, uint64_t{24} << 20);
  // Each wrote less than one memtable holds (64 MB), yet they flushed.
  EXPECT_GT(flushed, 0u);
}

// A replay (bulk loading) writes its commits in key order with one memtable
// insert hint per key family. A hint per key (or per object) cost a skiplist
// splice of a few hundred bytes for every key written.
TEST_F(ProjectionTest, AReplaysMemtableHoldsAboutTheBytesWritten) {
  AppendMany(100);
  BulkyProjection bulky(200, 8);  // 20,000 keys of ~20 bytes, 8-byte values
  auto runner = ProjectionRunner::Open(
      {.db_path = (root_ / "bulky").string(), .max_batch = 10, .bulk_load_backlog = 50}, log_.get(), &bulky);
  ASSERT_TRUE(runner.ok()) << runner.status();
  ASSERT_TRUE((*runner)->Start().ok());
  ASSERT_TRUE((*runner)->CatchUp(absl::Seconds(30)).ok());
  uint64_t bytes = 0;
  ASSERT_TRUE((*runner)->db()->GetIntProperty("rocksdb.cur-size-all-mem-tables", &bytes));
  // Key, value, sequence number and skiplist node: under 100 bytes a key
  // (a splice per key adds over 200).
  EXPECT_LT(bytes, 20'000u * 100) << bytes / 20'000 << " bytes a key";
  EXPECT_EQ(CountPrefix(**runner, "o/"), 20'000);
}

// The pipelined replay, on both logs: the embedded one, and Kafka's protocol
// through librdkafka's mock cluster on loopback.
class PipelinedReplayTest : public ProjectionTest, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    ProjectionTest::SetUp();
    if (GetParam() != "kafka") return;
    auto broker = devbroker::MockKafka::Start(3, "", 0);
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = std::move(*broker);
    eventlog::LogConfig c;
    c.kafka_bootstrap = broker_->bootstrap();
    c.topic = "projection.events";
    c.partitions = 3;
    auto log = eventlog::OpenKafkaLog(c);
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
  }
  void TearDown() override {
    log_.reset();
    broker_.reset();
    ProjectionTest::TearDown();
  }
  std::unique_ptr<devbroker::MockKafka> broker_;
};

INSTANTIATE_TEST_SUITE_P(Backends, PipelinedReplayTest, ::testing::Values("embedded", "kafka"),
                         [](const auto& info) { return info.param; });

// Commits written in a second thread, through the memtable in chunks or as
// ingested table files: reads of the next events see the commit still being
// written, so every count comes out as in a plain replay.
TEST_P(PipelinedReplayTest, EndsInTheSameStateAsAPlainReplay) {
  const int n = 6000;
  AppendMany(n);
  for (size_t ingest_min : {size_t{150}, std::numeric_limits<size_t>::max()}) {
    RunnerOptions o = Pipelined(ingest_min);
    o.rebuild = true;
    auto runner = Open(o);
    ASSERT_TRUE(runner->Start().ok());
    ASSERT_TRUE(runner->CatchUp(absl::Seconds(30)).ok());
    EXPECT_GE(runner->stats().batches, 15u);
    ExpectFullReplay(*runner, n);
  }
}

TEST_P(PipelinedReplayTest, ACrashResumesWithoutLossOrDoubles) {
  const int n = 6000;
  AppendMany(n);
  {
    RunnerOptions o = Pipelined(150);
    o.before_commit = [](uint64_t batch) {
      return batch == 7 ? absl::AbortedError("simulated crash") : absl::OkStatus();
    };
    auto runner = Open(o);
    ASSERT_TRUE(runner->Start().ok());
    EXPECT_FALSE(runner->CatchUp(absl::Seconds(30)).ok());
    EXPECT_EQ(runner->health().code(), absl::StatusCode::kAborted);
    // A commit closes after the poll that reaches max_uncommitted_events, so
    // it holds fewer than max_uncommitted_events + max_batch events.
    EXPECT_LT(Read(*runner, "applications"), 7 * (300 + 100)) << "at most the seven commits before the crash";
  }
  auto runner = Open(Pipelined(150));
  ASSERT_TRUE(runner->Start().ok());
  ASSERT_TRUE(runner->CatchUp(absl::Seconds(30)).ok());
  ExpectFullReplay(*runner, n);
}

}  // namespace
}  // namespace strata::projection
