// Faults: kill -9 of the service under load (both log backends), and broker
// errors and outages injected through strata-devbroker's control interface.
// Invariant: the service never acknowledges what it did not write.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "eventlog/event_log.h"
#include "strata/v1/events.pb.h"
#include "support/stack.h"

namespace strata::testing {
namespace {

struct Acked {
  std::string object;
  uint64_t version;
  bool operator<(const Acked& o) const { return std::tie(object, version) < std::tie(o.object, o.version); }
};

// All accepted-looking check-ins in the log: (object id, version).
std::set<Acked> CheckInsInLog(Stack& stack) {
  eventlog::LogConfig c;
  c.partitions = 4;
  if (stack.backend() == "kafka") {
    c.kafka_bootstrap = stack.broker()->bootstrap();
  } else {
    c.embedded_dir = stack.data_dir() + "/log";
  }
  std::set<Acked> out;
  auto log = eventlog::OpenEventLog(c);
  EXPECT_TRUE(log.ok()) << log.status();
  if (!log.ok()) return out;
  std::vector<int64_t> ends;
  int64_t total = 0;
  for (int p = 0; p < (*log)->partitions(); ++p) {
    ends.push_back(*(*log)->EndOffset(p));
    total += ends.back();
  }
  auto reader = (*log)->OpenReader({});
  int64_t read = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (read < total && absl::Now() < deadline) {
    auto batch = (*reader)->Poll(1000, absl::Milliseconds(100));
    if (!batch.ok()) break;
    for (const auto& r : *batch) {
      ++read;
      v1::Event e;
      if (e.ParseFromString(r.value) && e.has_checked_in())
        out.insert({e.aggregate().substr(7), e.checked_in().version()});
    }
  }
  EXPECT_EQ(read, total);
  return out;
}

class KillNineTest : public ::testing::TestWithParam<std::string> {};

TEST_P(KillNineTest, EveryAcknowledgedCheckInSurvivesACrash) {
  Stack stack(GetParam());
  stack.Start();
  std::mutex mu;
  std::vector<Acked> acked;
  std::atomic<bool> crashed{false};
  std::atomic<int> failures_before_crash{0};
  constexpr int kClients = 4, kMaxRounds = 400;  // bounded load

  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&, c] {
      auto stub = stack.Stub();
      const std::string token = RacerToken(c);
      for (int round = 0; round < kMaxRounds; ++round) {
        const std::string object = "table:load.c" + std::to_string(c) + "_" + std::to_string(round % 5);
        v1::CheckOutRequest co;
        co.add_objects(object);
        v1::CheckOutResponse cor;
        grpc::Status s = stub->CheckOut(Ctx(token, 5).get(), co, &cor);
        if (!s.ok()) {
          if (!crashed) failures_before_crash++;
          return;  // the server is gone
        }
        v1::CheckInRequest ci;
        ci.set_object(object);
        ci.set_definition("CREATE TABLE " + object.substr(6) + " (id int, round int DEFAULT " +
                          std::to_string(round) + ");");
        ci.set_message("round " + std::to_string(round));
        v1::CheckInResponse cir;
        s = stub->CheckIn(Ctx(token, 5).get(), ci, &cir);
        if (!s.ok()) {
          if (!crashed) failures_before_crash++;
          return;
        }
        std::lock_guard lk(mu);
        acked.push_back({object, cir.object().latest_version()});
      }
    });
  }
  // Crash mid-load, once 150 check-ins are acknowledged (within 20 s: a
  // sanitizer build is several times slower).
  for (int i = 0; i < 2000; ++i) {
    {
      std::lock_guard lk(mu);
      if (acked.size() >= 150) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  crashed = true;
  stack.Stop(SIGKILL);
  for (auto& t : clients) t.join();
  EXPECT_EQ(failures_before_crash.load(), 0);
  ASSERT_GE(acked.size(), 50u) << "the load did not get going before the crash";

  // Every acknowledged check-in is in the log ...
  const std::set<Acked> in_log = CheckInsInLog(stack);
  for (const Acked& a : acked)
    EXPECT_TRUE(in_log.count(a)) << a.object << " v" << a.version << " was acknowledged but is not in the log";

  // ... and in the projection after restart.
  stack.Start();
  auto stub = stack.Stub();
  std::map<std::string, uint64_t> latest_acked;
  for (const Acked& a : acked) latest_acked[a.object] = std::max(latest_acked[a.object], a.version);
  for (const auto& [object, version] : latest_acked) {
    v1::GetObjectRequest req;
    req.set_object(object);
    v1::ObjectHead h;
    ASSERT_TRUE(stub->GetObject(Ctx("alice-token").get(), req, &h).ok()) << object;
    EXPECT_GE(h.latest_version(), version) << object;
    EXPECT_LE(h.latest_version(), version + 1) << object << ": at most one unacknowledged check-in";
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, KillNineTest, ::testing::Values("embedded", "kafka"),
                         [](const auto& info) { return info.param; });

class BrokerFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>("kafka");
    // Fail appends after 2 s instead of the default 10 s, to keep the test short.
    stack_->Start("boston", {"--kafka-property", "message.timeout.ms=2000"});
    stub_ = stack_->Stub();
  }
  grpc::Status CheckOut(const std::string& object) {
    v1::CheckOutRequest req;
    req.add_objects(object);
    v1::CheckOutResponse resp;
    return stub_->CheckOut(Ctx("alice-token", 30).get(), req, &resp);
  }
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<v1::LockService::Stub> stub_;
};

TEST_F(BrokerFaultTest, RetriableProduceErrorsAreRetriedAndTheCommandSucceeds) {
  ASSERT_TRUE(CheckOut("table:f.warm").ok());
  ASSERT_TRUE(stack_->broker()->Control("errors produce 4 NOT_ENOUGH_REPLICAS"));
  grpc::Status s = CheckOut("table:f.retried");
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(stack_->broker()->Control("errors produce 3 REQUEST_TIMED_OUT"));
  ASSERT_TRUE(CheckOut("table:f.retried2").ok());
  // Each command was written exactly once: a second instance rebuilt from
  // the log sees exactly these locks.
  Stack replica("kafka", stack_->broker());
  replica.Start("london");
  v1::ListLocksResponse locks;
  ASSERT_TRUE(replica.Stub()->ListLocks(Ctx("alice-token").get(), {}, &locks).ok());
  EXPECT_EQ(locks.locks_size(), 3);
}

TEST_F(BrokerFaultTest, BrokersDownFailsCleanlyAndServiceRecovers) {
  ASSERT_TRUE(CheckOut("table:f.before").ok());
  ASSERT_TRUE(stack_->broker()->Control("down -1"));
  const absl::Time start = absl::Now();
  grpc::Status s = CheckOut("table:f.during");
  EXPECT_FALSE(s.ok()) << "acknowledged a check-out while no broker was reachable";
  EXPECT_TRUE(s.error_code() == grpc::StatusCode::UNAVAILABLE ||
              s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      << s.error_code() << " " << s.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(25));
  ASSERT_TRUE(stack_->broker()->Control("up -1"));

  // The service recovers: new commands succeed once the brokers are back.
  grpc::Status after;
  for (int i = 0; i < 40; ++i) {
    after = CheckOut("table:f.after");
    if (after.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
  ASSERT_TRUE(after.ok()) << after.error_message();
  // Whatever happened to the failed command, retrying it converges: alice
  // holds the object (either the write did land, or the retry takes it).
  ASSERT_TRUE(CheckOut("table:f.during").ok());
  v1::ListLocksResponse locks;
  ASSERT_TRUE(stub_->ListLocks(Ctx("alice-token").get(), {}, &locks).ok());
  EXPECT_EQ(locks.locks_size(), 3);
}

}  // namespace
}  // namespace strata::testing
