// What the guard costs the lock path, on both logs with real processes:
//  * with no guarded environment, commits read none of the deploy
//    projection's objects (counted by strata_deploy_object_scans_total, not
//    timed), and a guard installed later still gets every check-out;
//  * with 100,000 objects in the repository, a guarded environment receives
//    each check-out within a second.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <thread>

#include "fmt/format.h"
#include "pg/pg.h"
#include "support/postgres.h"
#include "support/process.h"
#include "support/stack.h"

namespace strata::testing {
namespace {

constexpr char kScans[] = "strata_deploy_object_scans_total";

class GuardCostTest : public ::testing::TestWithParam<std::string> {
 protected:
  // Starts the services (strata-server, or strata-lock and strata-deploy on
  // Kafka) with a secrets file for `dev` and a metrics endpoint, and
  // registers `dev` as an environment.
  void StartOn(std::shared_ptr<Devbroker> broker = nullptr,
               const std::function<void(const Stack&)>& before_start = nullptr) {
    dev_ = std::make_unique<ScratchDatabase>("strata_it_guardcost");
    admin_ = std::move(*pg::Session::Connect(dev_->url()));
    stack_ = std::make_unique<Stack>(GetParam(), std::move(broker), /*with_history=*/false, /*with_impact=*/false,
                                     /*with_deploy=*/true);
    if (before_start) before_start(*stack_);
    const std::string secrets = stack_->data_dir() + "-secrets.yaml";
    std::ofstream(secrets) << "environments:\n  dev: {password: '" << SplitPassword(dev_->url()).second << "'}\n";
    stack_->Start("boston", {"--secrets-file", secrets, "--metrics-listen", "127.0.0.1:0"});
    lock_ = stack_->Stub();
    deploy_ = stack_->DeployStub();
    v1::AddEnvironmentRequest env;
    env.set_name("dev");
    env.set_url(SplitPassword(dev_->url()).first);
    env.set_order(1);
    v1::Environment e;
    auto s = deploy_->AddEnvironment(Ctx("dana-token").get(), env, &e);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // The deploy service's metrics page (strata-server's, or strata-deploy's).
  std::string DeployMetrics() {
    const int port = MetricsPort(*stack_, GetParam() == "kafka" ? "deploy" : "lock");
    EXPECT_GT(port, 0) << "no metrics port announced";
    httplib::Client http("127.0.0.1", port);
    http.set_read_timeout(30, 0);
    auto res = http.Get("/metrics");
    EXPECT_TRUE(res && res->status == 200);
    return res ? res->body : std::string();
  }
  double DeployMetric(const std::string& series) { return MetricSample(DeployMetrics(), series); }

  // Waits until the deploy projection has applied everything the log holds
  // now (its applied count stops short of nothing the lock service wrote).
  void WaitForDeployToApply(double events) {
    const std::string applied = R"(strata_projection_events_applied_total{projection="deploy"})";
    for (int i = 0; i < 200 && DeployMetric(applied) < events; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_GE(DeployMetric(applied), events);
  }

  void Command(const std::string& what, const std::string& object) {
    grpc::Status s;
    if (what == "checkout") {
      v1::CheckOutRequest req;
      req.add_objects(object);
      v1::CheckOutResponse resp;
      s = lock_->CheckOut(Ctx("alice-token").get(), req, &resp);
    } else {
      v1::UndoCheckOutRequest req;
      req.add_objects(object);
      v1::UndoCheckOutResponse resp;
      s = lock_->UndoCheckOut(Ctx("alice-token").get(), req, &resp);
    }
    ASSERT_TRUE(s.ok()) << what << " " << object << ": " << s.error_message();
  }

  void InstallGuard() {
    v1::GuardRequest req;
    req.set_environment("dev");
    v1::GuardReport report;
    auto s = deploy_->GuardInstall(Ctx("dana-token", 300).get(), req, &report);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Seconds until the guard's table holds (or, held = false, no longer
  // holds) a check-out of `object`; -1 after `limit`.
  double WaitForGuardRow(const std::string& object, bool held, std::chrono::milliseconds limit) {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < limit) {
      auto rows = admin_->Query("SELECT count(*) FROM strata_guard.checkouts WHERE object = $1", {object});
      if (rows.ok() && (rows->number(0, 0) == 1) == held)
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return -1;
  }

  std::unique_ptr<ScratchDatabase> dev_;
  std::unique_ptr<pg::Session> admin_;
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<v1::LockService::Stub> lock_;
  std::unique_ptr<v1::DeployService::Stub> deploy_;
};

TEST_P(GuardCostTest, CommitsWithoutAGuardedEnvironmentReadNoObjects) {
  StartOn();
  const std::string applied = R"(strata_projection_events_applied_total{projection="deploy"})";
  const double applied_before = DeployMetric(applied);
  const double scans_before = DeployMetric(kScans);
  ASSERT_GE(scans_before, 0) << DeployMetrics();
  // 40 check-outs and undos: 80 commits of object events, and an
  // environment registered (whose database has no guard).
  for (int i = 0; i < 40; ++i) {
    Command("checkout", fmt::format("table:sales.t{}", i));
    Command("undo", fmt::format("table:sales.t{}", i));
  }
  WaitForDeployToApply(applied_before + 80);
  EXPECT_EQ(DeployMetric(kScans), scans_before) << "commits read the deploy projection's objects";

  // The counter counts: a guard is installed with the whole state, once.
  InstallGuard();
  const double scans_installed = DeployMetric(kScans);
  EXPECT_GT(scans_installed, scans_before);
  // Found by the sync, compared in full once; then each check-out is
  // written alone, from the change feed.
  Command("checkout", "table:sales.first");
  ASSERT_GE(WaitForGuardRow("table:sales.first", true, std::chrono::seconds(10)), 0);
  const double scans_in_sync = DeployMetric(kScans);
  for (int i = 0; i < 20; ++i) {
    const std::string object = fmt::format("table:sales.g{}", i);
    Command("checkout", object);
    EXPECT_GE(WaitForGuardRow(object, true, std::chrono::seconds(5)), 0) << object;
    Command("undo", object);
    EXPECT_GE(WaitForGuardRow(object, false, std::chrono::seconds(5)), 0) << object;
  }
  // 40 commits, each written to the guard; no read of the whole state (the
  // periodic read-back begins 5 s after the guard was found).
  EXPECT_EQ(DeployMetric(kScans), scans_in_sync);
}

TEST_P(GuardCostTest, AGuardReceivesEachCheckOutWithinASecondAmong100000Objects) {
  // 100,000 checked-in objects (200,000 events), written to the log before
  // the services start: librdkafka's mock broker keeps about 5 MB per
  // partition, so the Kafka log has 32.
  std::shared_ptr<Devbroker> broker = GetParam() == "kafka" ? std::make_shared<Devbroker>(32) : nullptr;
  StartOn(broker, [&](const Stack& stack) {
    std::vector<std::string> argv = {BinaryPath("strata-bench-rebuild"), "--events", "200000", "--objects", "100000",
                                     "--write-only"};
    if (broker) {
      for (const char* a : {"--backend", "kafka", "--bootstrap"}) argv.push_back(a);
      argv.push_back(broker->bootstrap());
      argv.push_back("--dir");
      argv.push_back(stack.data_dir() + "-writer");
    } else {
      for (const char* a : {"--backend", "embedded", "--partitions", "4", "--dir"}) argv.push_back(a);
      argv.push_back(stack.data_dir());
    }
    Process writer(argv);
    ASSERT_TRUE(writer.WaitForLine("^log written", std::chrono::seconds(300))) << "the log was not written";
  });
  v1::GetObjectRequest get;
  get.set_object("table:bench.t99999");
  v1::ObjectHead head;
  ASSERT_TRUE(lock_->GetObject(Ctx("alice-token").get(), get, &head).ok()) << "the repository is not there";
  EXPECT_EQ(head.latest_version(), 1u);

  InstallGuard();
  auto managed = admin_->Query("SELECT count(*) FROM strata_guard.managed");
  ASSERT_TRUE(managed.ok()) << managed.status();
  EXPECT_GE(managed->number(0, 0), 100'000);
  // The sync finds the new guard and compares it in full once.
  Command("checkout", "table:bench.t0");
  ASSERT_GE(WaitForGuardRow("table:bench.t0", true, std::chrono::seconds(60)), 0);

  std::vector<double> seconds;
  for (int i = 1; i <= 15; ++i) {
    const std::string object = fmt::format("table:bench.t{}", i * 6661);
    Command("checkout", object);
    seconds.push_back(WaitForGuardRow(object, true, std::chrono::seconds(5)));
    Command("undo", object);
  }
  std::sort(seconds.begin(), seconds.end());
  std::cout << "check-out -> guard table, 15 check-outs among 100,000 objects: min " << seconds.front() << " s, max "
            << seconds.back() << " s\n";
  EXPECT_GE(seconds.front(), 0) << "a check-out never reached the guard";
  EXPECT_LT(seconds.back(), 1.0);
}

INSTANTIATE_TEST_SUITE_P(Backends, GuardCostTest, ::testing::Values("embedded", "kafka"));

}  // namespace
}  // namespace strata::testing
