#include "hosting/hosting.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "eventlog/embedded_log.h"
#include "projection/projection.h"

namespace strata::hosting {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(KafkaConfigTest, FilePropertiesComeFirstAndFlagsOverrideThem) {
  const std::string path = ::testing::TempDir() + "/kafka.properties";
  std::ofstream(path) << "# credentials\nsecurity.protocol = SASL_SSL\nsasl.password=s3cr3t=x\n\n";
  ServerFlags flags;
  flags.kafka = "127.0.0.1:9092";
  flags.kafka_config_file = path;
  flags.kafka_properties = {"security.protocol=SSL"};
  auto config = LogConfigFromFlags(flags);
  ASSERT_TRUE(config.ok()) << config.status();
  using KV = std::pair<std::string, std::string>;
  EXPECT_THAT(config->kafka_properties,
              ::testing::ElementsAre(KV{"security.protocol", "SASL_SSL"}, KV{"sasl.password", "s3cr3t=x"},
                                     KV{"security.protocol", "SSL"}));
  std::remove(path.c_str());
}

TEST(KafkaConfigTest, ErrorsNameThePlaceNotTheSecret) {
  const std::string path = ::testing::TempDir() + "/bad.properties";
  std::ofstream(path) << "sasl.username=u\nhunter2\n";
  ServerFlags flags;
  flags.kafka = "127.0.0.1:9092";
  flags.kafka_config_file = path;
  auto config = LogConfigFromFlags(flags);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(std::string(config.status().message()), HasSubstr("bad.properties:2: not k=v"));
  EXPECT_THAT(std::string(config.status().message()), Not(HasSubstr("hunter2")));
  flags.kafka_config_file = "/nonexistent/kafka.properties";
  EXPECT_FALSE(LogConfigFromFlags(flags).ok());
  std::remove(path.c_str());
}

TEST(ScopeTest, ObjectsOutsideTheSchemaScopeAreHidden) {
  auth::Principal carol;
  carol.user = "carol";
  carol.schemas = {"billing.*"};
  EXPECT_TRUE(ObjectInScope(carol, "table:billing.invoices"));
  EXPECT_TRUE(ObjectInScope(carol, "object:table:billing.invoices"));
  EXPECT_FALSE(ObjectInScope(carol, "table:sales.orders"));
  EXPECT_FALSE(ObjectInScope(carol, "object:view:sales.open_orders"));
  EXPECT_TRUE(ObjectInScope(carol, "env:dev")) << "not an object";
  auth::Principal dana;
  dana.user = "dana";
  EXPECT_TRUE(ObjectInScope(dana, "table:sales.orders")) << "no scope: everything";
}

// A projection that cannot finish its replay until `other` has applied an
// event: two of them catch up only if their replays run at the same time.
class NeedsTheOther : public projection::Projection {
 public:
  absl::Status Apply(const v1::Event&, const eventlog::Position&, projection::StateTxn&) override {
    applied_ = true;
    for (int i = 0; i < 500 && !other->applied_; ++i) absl::SleepFor(absl::Milliseconds(10));
    return other->applied_ ? absl::OkStatus() : absl::DeadlineExceededError("the other replay never ran");
  }
  NeedsTheOther* other = nullptr;
  std::atomic<bool> applied_{false};
};

TEST(StartModulesTest, ReplaysRunAtTheSameTimeThenEachModuleStartsInOrder) {
  const std::string dir = ::testing::TempDir() + "/start_modules";
  std::filesystem::remove_all(dir);
  auto log = eventlog::OpenEmbeddedLog({.dir = dir + "/log", .partitions = 1, .sync = false});
  ASSERT_TRUE(log.ok()) << log.status();
  v1::Event e;
  e.set_event_id("e1");
  e.set_aggregate("object:table:public.t");
  e.set_seq(1);
  e.mutable_checked_out()->set_reason("test");
  ASSERT_TRUE((*log)->Append(e.aggregate(), e.SerializeAsString(), {}).ok());

  NeedsTheOther a, b;
  a.other = &b;
  b.other = &a;
  auto runner_a = projection::ProjectionRunner::Open({.db_path = dir + "/a"}, log->get(), &a);
  auto runner_b = projection::ProjectionRunner::Open({.db_path = dir + "/b"}, log->get(), &b);
  ASSERT_TRUE(runner_a.ok() && runner_b.ok());
  std::vector<std::string> order;
  auto module = [&](const std::string& name, projection::ProjectionRunner* runner) {
    return ModuleStart{name, [runner] { return runner->Start(); },
                       [&order, name, runner] {
                         order.push_back(name);
                         if (absl::Status s = runner->CatchUp(absl::Seconds(10)); !s.ok()) return s;
                         return runner->health();
                       }};
  };
  EXPECT_TRUE(StartModules({module("a", runner_a->get()), module("b", runner_b->get())}, 2).ok());
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(a.applied_ && b.applied_);
  (*runner_a)->Stop();
  (*runner_b)->Stop();

  // One at a time: a replay starts once the one before has caught up.
  std::vector<std::string> steps;
  auto logged = [&](const std::string& name) {
    return ModuleStart{name, [&steps, name] { steps.push_back("replay " + name); return absl::OkStatus(); },
                       [&steps, name] { steps.push_back("start " + name); return absl::OkStatus(); }};
  };
  EXPECT_TRUE(StartModules({logged("a"), logged("b"), logged("c")}, 1).ok());
  EXPECT_EQ(steps, (std::vector<std::string>{"replay a", "start a", "replay b", "start b", "replay c", "start c"}));
  steps.clear();
  EXPECT_TRUE(StartModules({logged("a"), logged("b"), logged("c")}, 2).ok());
  EXPECT_EQ(steps, (std::vector<std::string>{"replay a", "replay b", "start a", "replay c", "start b", "start c"}));

  // A module that cannot start names itself.
  absl::Status s = StartModules(
      {{"lock", [] { return absl::OkStatus(); }, [] { return absl::OkStatus(); }},
       {"history", [] { return absl::OkStatus(); }, [] { return absl::DeadlineExceededError("30 minutes passed"); }}},
      4);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(s.message(), "history service: catching up with the log: 30 minutes passed");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace strata::hosting
