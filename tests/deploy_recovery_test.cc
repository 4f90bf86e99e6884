// Deployments under faults, with real processes and PostgreSQL, on both logs.
// The deploy service kills itself (as kill -9 would) at each point of a
// deployment: after its claim and before its transaction, inside the
// transaction just before COMMIT, and after COMMIT before its end is
// recorded. Afterwards the environment is either entirely at the release or
// untouched, what the log says agrees with the database, and no person is
// needed: the restarted deploy service (or, on Kafka, another one that kept
// running) reads the deployment's id back from the database and records
// succeeded or failed. And the fencing: while a session holds Strata's
// advisory lock in the environment's database (a deployment that might
// still be running), no deployment starts there.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

#include "pg/pg.h"
#include "support/postgres.h"
#include "support/stack.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;

long long Count(const std::string& url, const std::string& sql) {
  auto s = pg::Session::Connect(url);
  if (!s.ok()) return -1;
  auto rows = (*s)->Query(sql);
  return rows.ok() ? rows->number(0, 0) : -1;
}

void Exec(const std::string& url, const std::string& sql) {
  auto s = pg::Session::Connect(url);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Exec(sql).ok()) << sql;
}

// (backend, fault point, who recovers: "restart" or "other")
using Param = std::tuple<std::string, std::string, std::string>;

class DeployRecoveryTest : public ::testing::TestWithParam<Param> {
 protected:
  std::string backend() const { return std::get<0>(GetParam()); }

  void SetUp() override {
    stack_ = std::make_unique<Stack>(backend(), nullptr, /*with_history=*/true, /*with_impact=*/false,
                                     /*with_deploy=*/true);
    dev_ = std::make_unique<ScratchDatabase>("strata_rec_dev");
    const std::string secrets = stack_->data_dir() + "-secrets.yaml";
    std::ofstream(secrets) << "environments:\n  dev: {password: '" << SplitPassword(dev_->url()).second << "'}\n";
    extra_ = {"--secrets-file", secrets, "--shadow-url", TestServerUrl()};
    stack_->Start("boston", extra_);
    Connect();
    v1::AddEnvironmentRequest add;
    add.set_name("dev");
    add.set_url(SplitPassword(dev_->url()).first);
    add.set_order(1);
    v1::Environment env;
    auto s = deploy_->AddEnvironment(Ctx("dana-token").get(), add, &env);
    ASSERT_TRUE(s.ok()) << s.error_message();
    Exec(dev_->url(), "CREATE SCHEMA app; CREATE TABLE app.items (id int PRIMARY KEY, name text);");
    v1::ImportRequest imp;
    imp.set_environment("dev");
    v1::ImportResponse imported;
    s = deploy_->Import(Ctx("dana-token", 120).get(), imp, &imported);
    ASSERT_TRUE(s.ok()) << s.error_message();
    // r1 adds a column.
    v1::CheckOutRequest out;
    out.add_objects("table:app.items");
    v1::CheckOutResponse out_resp;
    ASSERT_TRUE(lock_->CheckOut(Ctx("alice-token").get(), out, &out_resp).ok());
    v1::CheckInRequest in;
    in.set_object("table:app.items");
    in.set_definition("CREATE TABLE app.items (id int PRIMARY KEY, name text, note text);");
    in.set_message("a note per item");
    v1::CheckInResponse in_resp;
    s = lock_->CheckIn(Ctx("alice-token").get(), in, &in_resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    v1::CreateReleaseRequest rel;
    rel.set_name("r1");
    v1::Release r;
    s = deploy_->CreateRelease(Ctx("rita-token").get(), rel, &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  void Connect() {
    deploy_ = stack_->DeployStub();
    lock_ = stack_->Stub();
  }

  grpc::Status Deploy(v1::DeployService::Stub& stub, v1::Deployment* d) {
    v1::DeployRequest req;
    req.set_release("r1");
    req.set_environment("dev");
    return stub.Deploy(Ctx("alice-token", 120).get(), req, d);
  }

  v1::Environment Env(v1::DeployService::Stub& stub) {
    v1::GetEnvironmentRequest req;
    req.set_name("dev");
    v1::Environment env;
    EXPECT_TRUE(stub.GetEnvironment(Ctx("vera-token").get(), req, &env).ok());
    return env;
  }

  v1::Deployment Latest(v1::DeployService::Stub& stub) {
    v1::ListDeploymentsRequest req;
    req.set_environment("dev");
    v1::ListDeploymentsResponse resp;
    EXPECT_TRUE(stub.ListDeployments(Ctx("vera-token").get(), req, &resp).ok());
    return resp.deployments_size() > 0 ? resp.deployments(0) : v1::Deployment();
  }

  long long NoteColumns() {
    return Count(dev_->url(),
                 "SELECT count(*) FROM information_schema.columns WHERE table_schema = 'app' AND column_name = 'note'");
  }

  std::unique_ptr<Stack> stack_, other_;
  std::unique_ptr<ScratchDatabase> dev_;
  std::vector<std::string> extra_;
  std::unique_ptr<v1::DeployService::Stub> deploy_;
  std::unique_ptr<v1::LockService::Stub> lock_;
};

TEST_P(DeployRecoveryTest, KilledMidDeploymentTheOutcomeIsRecordedFromTheDatabase) {
  const std::string point = std::get<1>(GetParam());
  const bool restart = std::get<2>(GetParam()) == "restart";
  const bool commits = point == "after-commit";
  if (!restart) {
    // A second deploy service on the same log, at another site.
    other_ = std::make_unique<Stack>("kafka", stack_->broker(), false, false, /*with_deploy=*/true);
    other_->Start("london", extra_);
  }
  // The deploy service that will die at `point`.
  stack_->Stop(SIGTERM);
  setenv("STRATA_TEST_DEPLOY_CRASH", point.c_str(), 1);
  stack_->Start("boston", extra_);
  unsetenv("STRATA_TEST_DEPLOY_CRASH");
  Connect();
  v1::Deployment d;
  grpc::Status s = Deploy(*deploy_, &d);
  ASSERT_FALSE(s.ok()) << "the deploy service was to die at " << point;

  if (restart) {
    stack_->Stop(SIGKILL);
    stack_->Start("boston", extra_);
    Connect();
  }
  // Who records the outcome: the restarted service, or the other one.
  std::unique_ptr<v1::DeployService::Stub> other_stub = restart ? nullptr : other_->DeployStub();
  v1::DeployService::Stub& stub = restart ? *deploy_ : *other_stub;
  // Recorded without anyone asking: within a few recovery rounds.
  v1::Environment env = Env(stub);
  for (int i = 0; i < 300 && !env.running_deployment().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    env = Env(stub);
  }
  ASSERT_TRUE(env.running_deployment().empty()) << "still running after 30 s";
  const v1::Deployment latest = Latest(stub);
  EXPECT_EQ(latest.status(), commits ? "succeeded" : "failed") << latest.DebugString();
  if (!commits) {
    EXPECT_THAT(latest.error(), HasSubstr("stopped before its transaction committed"));
  }
  // The log agrees with the database.
  EXPECT_EQ(NoteColumns(), commits ? 1 : 0);
  // (Not committed: the row is absent, and so is the table, created by the
  // same transaction on the environment's first deployment: -1.)
  const long long recorded =
      Count(dev_->url(), "SELECT count(*) FROM strata_deploy.deployments WHERE id = '" + latest.id() + "'");
  if (commits) {
    EXPECT_EQ(recorded, 1);
  } else {
    EXPECT_LE(recorded, 0);
  }
  EXPECT_EQ(env.current_release(), commits ? "r1" : "");
  v1::CheckDriftRequest dreq;
  dreq.set_environment("dev");
  v1::DriftReport report;
  ASSERT_TRUE(stub.CheckDrift(Ctx("vera-token", 120).get(), dreq, &report).ok());
  EXPECT_FALSE(report.drifted()) << report.DebugString();
  if (!commits) {
    // Nothing blocks the environment: the release goes out now.
    v1::Deployment again;
    s = Deploy(stub, &again);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(NoteColumns(), 1);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Points, DeployRecoveryTest,
    ::testing::Values(Param{"embedded", "after-claim", "restart"}, Param{"embedded", "in-transaction", "restart"},
                      Param{"embedded", "after-commit", "restart"}, Param{"kafka", "after-claim", "restart"},
                      Param{"kafka", "in-transaction", "restart"}, Param{"kafka", "after-commit", "restart"},
                      Param{"kafka", "in-transaction", "other"}, Param{"kafka", "after-commit", "other"}),
    [](const auto& info) {
      std::string name = std::get<0>(info.param) + "_" + std::get<1>(info.param) + "_" + std::get<2>(info.param);
      for (char& c : name)
        if (c == '-') c = '_';
      return name;
    });

class DeployFencingTest : public DeployRecoveryTest {};

// A session that holds Strata's advisory lock in the environment's database
// (a deployment that might still be running, from a deploy service the log
// no longer knows about) keeps every other deployment out of it.
TEST_P(DeployFencingTest, NoDeploymentStartsWhileTheDatabaseLockIsHeld) {
  auto holder = pg::Session::Connect(dev_->url());
  ASSERT_TRUE(holder.ok());
  auto got = (*holder)->Query("SELECT pg_try_advisory_lock(21332, hashtext('dev'))");
  ASSERT_TRUE(got.ok() && got->is_true(0, 0));
  v1::Deployment d;
  grpc::Status s = Deploy(*deploy_, &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("still running in its database"));
  EXPECT_TRUE(Env(*deploy_).running_deployment().empty()) << "nothing was claimed";
  EXPECT_EQ(NoteColumns(), 0);
  holder->reset();  // the session ends, and with it the lock
  s = Deploy(*deploy_, &d);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(NoteColumns(), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, DeployFencingTest,
                         ::testing::Values(Param{"embedded", "", ""}, Param{"kafka", "", ""}),
                         [](const auto& info) { return std::get<0>(info.param); });

}  // namespace
}  // namespace strata::testing
