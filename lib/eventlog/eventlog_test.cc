// One suite, run against both EventLog implementations: the embedded log and
// Kafka (librdkafka's mock cluster on loopback, spoken to over the Kafka protocol).
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "devbroker/mock_kafka.h"
#include "eventlog/embedded_log.h"
#include "eventlog/event_log.h"
#include "eventlog/kafka_log.h"

namespace strata::eventlog {
namespace {

namespace fs = std::filesystem;

std::string TempDir(const std::string& name) {
  fs::path p = fs::temp_directory_path() /
               (name + "-" + std::to_string(getpid()) + "-" + std::to_string(rand()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

// A backend under test: opens (and reopens) logs that share the same storage.
class Backend {
 public:
  virtual ~Backend() = default;
  virtual absl::StatusOr<std::unique_ptr<EventLog>> Open() = 0;
  virtual devbroker::MockKafka* kafka() { return nullptr; }
};

class EmbeddedBackend : public Backend {
 public:
  EmbeddedBackend() : dir_(TempDir("eventlog")) {}
  ~EmbeddedBackend() override { fs::remove_all(dir_); }
  absl::StatusOr<std::unique_ptr<EventLog>> Open() override {
    return OpenEmbeddedLog({.dir = dir_, .partitions = 4});
  }

 private:
  std::string dir_;
};

class KafkaBackend : public Backend {
 public:
  KafkaBackend() {
    auto mk = devbroker::MockKafka::Start(3, "", 0);
    EXPECT_TRUE(mk.ok()) << mk.status();
    mk_ = std::move(*mk);
  }
  absl::StatusOr<std::unique_ptr<EventLog>> Open() override {
    LogConfig c;
    c.kafka_bootstrap = mk_->bootstrap();
    c.topic = "test.events";
    c.partitions = 4;
    c.append_timeout = absl::Seconds(3);
    return OpenKafkaLog(c);
  }
  devbroker::MockKafka* kafka() override { return mk_.get(); }

 private:
  std::unique_ptr<devbroker::MockKafka> mk_;
};

std::vector<Record> ReadAll(EventLog& log, size_t expected, std::vector<int64_t> start = {}) {
  auto reader = log.OpenReader(start);
  EXPECT_TRUE(reader.ok()) << reader.status();
  std::vector<Record> out;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (out.size() < expected && absl::Now() < deadline) {
    auto batch = (*reader)->Poll(1000, absl::Milliseconds(50));
    EXPECT_TRUE(batch.ok());
    for (auto& r : *batch) out.push_back(std::move(r));
  }
  return out;
}

// Opens a log on the backend a test names.
class LogFixture {
 protected:
  void OpenOn(std::unique_ptr<Backend> backend) {
    backend_ = std::move(backend);
    auto log = backend_->Open();
    ASSERT_TRUE(log.ok()) << log.status();
    log_ = std::move(*log);
  }
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<EventLog> log_;
};

class EventLogTest : public ::testing::TestWithParam<std::string>, protected LogFixture {
 protected:
  void SetUp() override {
    if (GetParam() == "embedded")
      OpenOn(std::make_unique<EmbeddedBackend>());
    else
      OpenOn(std::make_unique<KafkaBackend>());
  }
};

TEST_P(EventLogTest, AppendsAreReadBackInOrderWithHeaders) {
  EXPECT_EQ(log_->partitions(), 4);
  std::map<int32_t, int64_t> next;
  for (int i = 0; i < 20; ++i) {
    std::string key = "object:table:s.t" + std::to_string(i % 5);
    auto pos = log_->Append(key, "v" + std::to_string(i), {{"strata-event-type", "x"}});
    ASSERT_TRUE(pos.ok()) << pos.status();
    EXPECT_EQ(pos->partition, KeyPartition(key, 4));
    EXPECT_EQ(pos->offset, next[pos->partition]++);
  }
  auto records = ReadAll(*log_, 20);
  ASSERT_EQ(records.size(), 20u);
  std::map<int32_t, int64_t> seen;
  std::map<std::string, std::vector<std::string>> by_key;
  for (const Record& r : records) {
    EXPECT_EQ(r.offset, seen[r.partition]++) << "gap or reorder in partition " << r.partition;
    ASSERT_EQ(r.headers.size(), 1u);
    EXPECT_EQ(r.headers[0].key, "strata-event-type");
    EXPECT_GT(r.timestamp_ms, 0);
    by_key[r.key].push_back(r.value);
  }
  EXPECT_EQ(by_key["object:table:s.t0"], (std::vector<std::string>{"v0", "v5", "v10", "v15"}));
  for (auto [p, n] : next) {
    auto end = log_->EndOffset(p);
    ASSERT_TRUE(end.ok());
    EXPECT_EQ(*end, n);
  }
}

TEST_P(EventLogTest, EndOffsetsOfAllPartitionsAtOnceMatchEachPartitions) {
  for (int i = 0; i < 25; ++i)
    ASSERT_TRUE(log_->Append("object:table:s.ends" + std::to_string(i % 9), "x", {}).ok());
  auto ends = log_->EndOffsets();
  ASSERT_TRUE(ends.ok()) << ends.status();
  ASSERT_EQ(static_cast<int32_t>(ends->size()), log_->partitions());
  int64_t total = 0;
  for (int32_t p = 0; p < log_->partitions(); ++p) {
    auto one = log_->EndOffset(p);
    ASSERT_TRUE(one.ok());
    EXPECT_EQ((*ends)[p], *one) << "partition " << p;
    total += (*ends)[p];
  }
  EXPECT_EQ(total, 25);
}

TEST_P(EventLogTest, BacklogCountsWhatTheReaderHasNotReturnedYet) {
  const std::string key = "object:table:s.backlog";
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log_->Append(key, std::to_string(i), {}).ok());
  auto reader = log_->OpenReader({});
  ASSERT_TRUE(reader.ok());
  size_t got = 0;
  for (int i = 0; i < 200 && got < 4; ++i) {
    auto batch = (*reader)->Poll(4 - got, absl::Milliseconds(50));
    ASSERT_TRUE(batch.ok());
    got += batch->size();
  }
  ASSERT_EQ(got, 4u);
  // Kafka learns the partition's end from its fetches: by now it has fetched.
  EXPECT_EQ((*reader)->Backlog(), 6);
  for (int i = 0; i < 200 && got < 10; ++i) got += (*reader)->Poll(100, absl::Milliseconds(50))->size();
  ASSERT_EQ(got, 10u);
  EXPECT_EQ((*reader)->Backlog(), 0);
}

TEST_P(EventLogTest, ReaderStartsAtGivenOffsets) {
  const std::string key = "release:r1";
  const int32_t p = KeyPartition(key, 4);
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(log_->Append(key, std::to_string(i), {}).ok());
  std::vector<int64_t> start(4, 0);
  start[p] = 7;
  auto records = ReadAll(*log_, 3, start);
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].value, "7");
  EXPECT_EQ(records[2].value, "9");
  // Nothing more arrives after the end.
  std::vector<int64_t> end(4, 0);
  end[p] = 10;
  auto reader = log_->OpenReader(end);
  ASSERT_TRUE(reader.ok());
  auto none = (*reader)->Poll(10, absl::Milliseconds(100));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(EventLogTest, ConcurrentAppendsAreAllReadExactlyOnce) {
  constexpr int kThreads = 8, kPerThread = 100;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto pos = log_->Append("k" + std::to_string(i % 13), std::to_string(t * 1000 + i), {});
        if (!pos.ok()) failures++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto records = ReadAll(*log_, kThreads * kPerThread);
  std::set<std::string> values;
  for (const Record& r : records) values.insert(r.value);
  EXPECT_EQ(records.size(), size_t(kThreads * kPerThread));
  EXPECT_EQ(values.size(), size_t(kThreads * kPerThread));
}

TEST_P(EventLogTest, ASecondHandleSeesTheSameLog) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(log_->Append("env:qa", std::to_string(i), {}).ok());
  if (GetParam() == "embedded") log_.reset();  // one process owns an embedded log
  auto other = backend_->Open();
  ASSERT_TRUE(other.ok()) << other.status();
  auto records = ReadAll(**other, 5);
  ASSERT_EQ(records.size(), 5u);
  EXPECT_EQ(records[4].value, "4");
  auto pos = (*other)->Append("env:qa", "5", {});
  ASSERT_TRUE(pos.ok());
  EXPECT_EQ(pos->offset, 5);  // offsets continue where the log ended
}

TEST_P(EventLogTest, WakeEndsAPollUnderWayOrTheNextOne) {
  auto reader = log_->OpenReader({});
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE((*reader)->Poll(10, absl::Milliseconds(50)).ok());  // Kafka: the consumer is set up
  // A wake with no Poll under way ends the next one at once.
  (*reader)->Wake();
  absl::Time t = absl::Now();
  auto none = (*reader)->Poll(10, absl::Seconds(20));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_LT(absl::Now() - t, absl::Seconds(5));
  // A wake from another thread ends a Poll under way.
  std::thread waker([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    (*reader)->Wake();
  });
  t = absl::Now();
  none = (*reader)->Poll(10, absl::Seconds(20));
  const absl::Duration waited = absl::Now() - t;
  waker.join();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_LT(waited, absl::Seconds(5));
  // One wake ends one Poll: the next waits for records again and returns them.
  ASSERT_TRUE(log_->Append("object:table:s.woken", "v", {}).ok());
  size_t got = 0;
  for (int i = 0; i < 100 && got == 0; ++i) got += (*reader)->Poll(10, absl::Milliseconds(100))->size();
  EXPECT_EQ(got, 1u);
}

INSTANTIATE_TEST_SUITE_P(Backends, EventLogTest, ::testing::Values("embedded", "kafka"),
                         [](const auto& info) { return info.param; });

// Broker faults exist only for Kafka.
class KafkaFaultTest : public ::testing::Test, protected LogFixture {
 protected:
  void SetUp() override { OpenOn(std::make_unique<KafkaBackend>()); }
};

TEST_F(KafkaFaultTest, RetriableBrokerErrorsAreRetriedTransparently) {
  ASSERT_TRUE(log_->Append("a", "warmup", {}).ok());
  ASSERT_TRUE(backend_->kafka()->PushRequestErrors("produce", 3, "NOT_ENOUGH_REPLICAS").ok());
  auto pos = log_->Append("a", "after-errors", {});
  ASSERT_TRUE(pos.ok()) << pos.status();
  auto records = ReadAll(*log_, 2);
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].value, "after-errors");  // written exactly once
}

TEST_F(KafkaFaultTest, UnreachableBrokersFailTheAppendInsteadOfAcknowledging) {
  ASSERT_TRUE(log_->Append("a", "before", {}).ok());
  ASSERT_TRUE(backend_->kafka()->SetBrokerDown(-1).ok());
  auto pos = log_->Append("a", "while-down", {});
  EXPECT_FALSE(pos.ok());
  EXPECT_EQ(pos.status().code(), absl::StatusCode::kUnavailable) << pos.status();
  ASSERT_TRUE(backend_->kafka()->SetBrokerUp(-1).ok());
  auto after = log_->Append("a", "after", {});
  ASSERT_TRUE(after.ok()) << after.status();
}

TEST_F(KafkaFaultTest, AReaderReportsEventsTheLogNoLongerHasInsteadOfSkippingThem) {
  // librdkafka's mock broker keeps about 5 MB per partition and drops older
  // records, as retention would on a real broker.
  const std::string big(200 * 1024, 'x');
  int32_t partition = log_->PartitionFor("a");
  for (int i = 0; i < 40; ++i) ASSERT_TRUE(log_->Append("a", big, {}).ok());
  std::vector<int64_t> start(log_->partitions(), 0);
  auto reader = log_->OpenReader(start);
  ASSERT_TRUE(reader.ok());
  absl::Status status;
  for (int i = 0; i < 100 && status.ok(); ++i) {
    auto records = (*reader)->Poll(100, absl::Milliseconds(100));
    if (!records.ok()) status = records.status();
    else
      for (const Record& r : *records)
        ASSERT_NE(r.partition, partition) << "delivered offset " << r.offset << " after a gap";
  }
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
}

// Records larger than Kafka accepts (about 1 MB by default): written as
// fragments, read back whole (see "Large records" in event_log.h).
class KafkaLargeRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto mk = devbroker::MockKafka::Start(3, "", 0);
    ASSERT_TRUE(mk.ok()) << mk.status();
    mk_ = std::move(*mk);
  }
  std::unique_ptr<EventLog> Open(size_t max_record_bytes = LogConfig().max_record_bytes,
                                 std::vector<std::pair<std::string, std::string>> properties = {}) {
    LogConfig c;
    c.kafka_bootstrap = mk_->bootstrap();
    c.topic = "test.large";
    c.partitions = 4;
    c.append_timeout = absl::Seconds(10);
    c.max_record_bytes = max_record_bytes;
    c.kafka_properties = std::move(properties);
    auto log = OpenKafkaLog(c);
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? std::move(*log) : nullptr;
  }
  // The `raw` records (fragments too) of `key`'s partition from `start`;
  // those that are not fragments.
  std::vector<Record> Whole(EventLog& log, const std::string& key, size_t raw, int64_t start = 0,
                            int* fragments = nullptr) {
    std::vector<int64_t> starts(log.partitions(), 0);
    starts[log.PartitionFor(key)] = start;
    std::vector<Record> out;
    std::vector<Record> all = ReadAll(log, raw, starts);
    EXPECT_EQ(all.size(), raw);
    for (Record& r : all) {
      if (fragments) *fragments += r.fragment;
      if (!r.fragment) out.push_back(std::move(r));
    }
    return out;
  }
  static std::string Payload(size_t n) {
    std::string v(n, ' ');
    for (size_t i = 0; i < n; ++i) v[i] = static_cast<char>('a' + (i * 7919) % 26);
    return v;
  }
  std::unique_ptr<devbroker::MockKafka> mk_;
};

TEST_F(KafkaLargeRecordTest, WithoutFragmentsKafkaRefusesARecordOverItsLimit) {
  auto log = Open(/*max_record_bytes=*/size_t{64} << 20);  // never fragment
  auto pos = log->Append("k", Payload(2'500'000), {});
  ASSERT_FALSE(pos.ok());
  EXPECT_EQ(pos.status().code(), absl::StatusCode::kUnavailable) << pos.status();
}

TEST_F(KafkaLargeRecordTest, ARecordOverTheLimitIsWrittenInFragmentsAndReadWhole) {
  auto log = Open();
  const std::string big = Payload(2'500'000);
  ASSERT_TRUE(log->Append("k", "before", {{"h", "1"}}).ok());
  auto pos = log->Append("k", big, {{"strata-event-type", "checked_in"}});
  ASSERT_TRUE(pos.ok()) << pos.status();
  ASSERT_TRUE(log->Append("k", "after", {}).ok());
  int fragments = 0;
  auto records = Whole(*log, "k", 6, 0, &fragments);
  EXPECT_EQ(fragments, 3) << "2.5 MB in pieces of just under 1 MB";
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0].value, "before");
  EXPECT_EQ(records[1].offset, pos->offset) << "the record is where Append said";
  EXPECT_TRUE(records[1].value == big) << records[1].value.size() << " bytes";
  ASSERT_FALSE(records[1].headers.empty());
  EXPECT_EQ(records[1].headers[0].key, "strata-event-type");
  EXPECT_EQ(records[2].value, "after");
}

TEST_F(KafkaLargeRecordTest, AReaderThatStartsAfterTheFragmentsFetchesThem) {
  auto log = Open();
  const std::string big = Payload(1'800'000);
  auto pos = log->Append("k", big, {});
  ASSERT_TRUE(pos.ok()) << pos.status();
  auto records = Whole(*log, "k", 1, /*start=*/pos->offset);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].value == big);
}

TEST_F(KafkaLargeRecordTest, AKafkaPropertyLowersTheLimit) {
  auto log = Open(LogConfig().max_record_bytes, {{"message.max.bytes", "100000"}});
  const std::string big = Payload(1'000'000);
  auto pos = log->Append("k", big, {});
  ASSERT_TRUE(pos.ok()) << pos.status();
  int fragments = 0;
  auto records = Whole(*log, "k", 12, 0, &fragments);
  EXPECT_EQ(fragments, 11);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_TRUE(records[0].value == big);
}

TEST(EmbeddedLogTest, SurvivesReopenWithOffsetsIntact) {
  EmbeddedBackend backend;
  {
    auto log = backend.Open();
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 50; ++i) ASSERT_TRUE((*log)->Append("k" + std::to_string(i), "x", {}).ok());
  }
  auto log = backend.Open();
  ASSERT_TRUE(log.ok());
  int64_t total = 0;
  for (int p = 0; p < 4; ++p) total += *(*log)->EndOffset(p);
  EXPECT_EQ(total, 50);
}

TEST(EmbeddedLogTest, RecordEncodingRoundTripsAndRejectsTruncation) {
  Record r{.partition = 0, .offset = 0, .timestamp_ms = 1234, .key = "k", .value = std::string("v\0x", 3),
           .headers = {{"h", "1"}}};
  std::string enc = EncodeStoredRecord(r);
  Record back;
  ASSERT_TRUE(DecodeStoredRecord(enc, &back));
  EXPECT_EQ(back.value, r.value);
  EXPECT_EQ(back.timestamp_ms, 1234);
  EXPECT_FALSE(DecodeStoredRecord(std::string_view(enc).substr(0, enc.size() - 1), &back));
}

// Reference values from Apache Kafka's UtilsTest.testMurmur2.
TEST(PartitionerTest, MatchesKafkaMurmur2) {
  EXPECT_EQ(static_cast<int32_t>(KafkaMurmur2("21")), -973932308);
  EXPECT_EQ(static_cast<int32_t>(KafkaMurmur2("foobar")), -790332482);
  EXPECT_EQ(static_cast<int32_t>(KafkaMurmur2("a-little-bit-long-string")), -985981536);
  EXPECT_EQ(static_cast<int32_t>(KafkaMurmur2("a-little-bit-longer-string")), -1486304829);
  EXPECT_EQ(static_cast<int32_t>(KafkaMurmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")),
            -58897971);
  EXPECT_EQ(static_cast<int32_t>(KafkaMurmur2("abc")), 479470107);
}

}  // namespace
}  // namespace strata::eventlog
