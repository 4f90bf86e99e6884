// The guard end to end: real PostgreSQL with two developers' database roles
// sharing an owner role (as in a shared development database), the deploy
// service installing the guard and keeping its check-out table equal to the
// log, on both log implementations.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include "pg/pg.h"
#include "schemadiff/catalog.h"
#include "support/postgres.h"
#include "support/stack.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;

// `url` with another user and password.
std::string AsRole(const std::string& url, const std::string& role, const std::string& password) {
  const size_t start = url.find("://") + 3;
  const size_t at = url.find('@', start);
  return url.substr(0, start) + role + ":" + password + url.substr(at);
}

std::unique_ptr<pg::Session> Connect(const std::string& url) {
  auto s = pg::Session::Connect(url);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

class GuardE2ETest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    // Roles are cluster-wide and ctest runs test cases in parallel processes.
    suffix_ = GetParam() + "_" + std::to_string(getpid());
    gina_ = "strata_it_gina_" + suffix_;
    hugo_ = "strata_it_hugo_" + suffix_;
    owner_ = "strata_it_owner_" + suffix_;
    dev_ = std::make_unique<ScratchDatabase>("strata_it_guard");
    admin_ = Connect(dev_->url());
    ASSERT_TRUE(admin_);
    DropRoles();
    for (const std::string& role : {gina_, hugo_})
      ASSERT_TRUE(admin_->Exec("CREATE ROLE " + role + " LOGIN PASSWORD 'pw'").ok());
    ASSERT_TRUE(admin_->Exec("CREATE ROLE " + owner_ + " NOLOGIN").ok());
    ASSERT_TRUE(admin_->Exec("GRANT " + owner_ + " TO " + gina_ + ", " + hugo_).ok());
    // The team's shared development database: objects owned by the team role.
    ASSERT_TRUE(admin_
                    ->Exec("CREATE SCHEMA sales AUTHORIZATION " + owner_ + "; SET ROLE " + owner_ +
                           "; CREATE TABLE sales.orders (id bigint PRIMARY KEY, total numeric NOT NULL);"
                           " CREATE VIEW sales.big_orders AS SELECT id, total FROM sales.orders WHERE total > 100;"
                           " RESET ROLE")
                    .ok());

    stack_ = std::make_unique<Stack>(GetParam(), nullptr, /*with_history=*/false, /*with_impact=*/false,
                                     /*with_deploy=*/true);
    const std::string secrets = stack_->data_dir() + "-secrets.yaml";
    std::ofstream(secrets) << "environments:\n  dev: {password: '" << SplitPassword(dev_->url()).second
                           << "'}\n  dev_as_hugo: {password: 'pw'}\n";
    stack_->Start("boston", {"--secrets-file", secrets, "--shadow-url", TestServerUrl()});
    stack_->AddTokensAndHangUp("  - {token: gina-token, user: gina, site: boston, roles: [developer], db_role: " +
                               gina_ + "}\n  - {token: hugo-token, user: hugo, site: london, roles: [developer], "
                               "db_role: " + hugo_ + "}\n");
    lock_ = stack_->Stub();
    deploy_ = stack_->DeployStub();
    for (int i = 0; i < 100; ++i) {  // until the reload is in
      v1::WhoAmIResponse me;
      if (lock_->WhoAmI(Ctx("gina-token").get(), {}, &me).ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    v1::AddEnvironmentRequest env;
    env.set_name("dev");
    env.set_url(SplitPassword(dev_->url()).first);
    env.set_order(1);
    v1::Environment e;
    ASSERT_TRUE(deploy_->AddEnvironment(Ctx("dana-token").get(), env, &e).ok());
    v1::ImportRequest import;
    import.set_environment("dev");
    v1::ImportResponse imported;
    auto s = deploy_->Import(Ctx("dana-token", 120).get(), import, &imported);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(imported.created_size(), 3) << imported.DebugString();  // schema, table, view
  }

  void TearDown() override {
    stack_.reset();
    dev_.reset();  // drops the database (and with it what the roles own there)
    if (admin_) {
      admin_.reset();
      admin_ = Connect(TestServerUrl());
      DropRoles();
    }
  }

  void DropRoles() {
    for (const std::string& role : {gina_, hugo_, owner_}) (void)admin_->Exec("DROP ROLE IF EXISTS " + role);
  }

  std::string RoleUrl(const std::string& role) { return AsRole(dev_->url(), role, "pw"); }

  // Runs `sql` as `role` in the dev database; the error message, or "" on success.
  std::string RunAs(const std::string& role, const std::string& sql) {
    auto s = Connect(RoleUrl(role));
    if (!s) return "cannot connect";
    absl::Status st = s->Exec(sql);
    return st.ok() ? "" : std::string(st.message());
  }

  grpc::Status Guard(const std::string& what, v1::GuardReport* status) {
    v1::GuardRequest req;
    req.set_environment("dev");
    auto ctx = Ctx("dana-token", 60);
    if (what == "install") return deploy_->GuardInstall(ctx.get(), req, status);
    if (what == "uninstall") return deploy_->GuardUninstall(ctx.get(), req, status);
    return deploy_->GuardStatus(ctx.get(), req, status);
  }

  void CheckOut(const std::string& token, const std::string& object) {
    v1::CheckOutRequest req;
    req.add_objects(object);
    v1::CheckOutResponse resp;
    auto s = lock_->CheckOut(Ctx(token).get(), req, &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  // Waits until the guard table says `object` is held by `db_role` ("" : by
  // nobody); returns how long it took (or -1 after 5 s).
  double WaitForGuardRow(const std::string& object, const std::string& db_role) {
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < std::chrono::seconds(5)) {
      auto rows = admin_->Query("SELECT coalesce((SELECT db_role FROM strata_guard.checkouts WHERE object = $1), '')",
                                {object});
      if (rows.ok() && rows->text(0, 0) == db_role)
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

  std::string suffix_, gina_, hugo_, owner_;
  std::unique_ptr<ScratchDatabase> dev_;
  std::unique_ptr<pg::Session> admin_;
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<v1::LockService::Stub> lock_;
  std::unique_ptr<v1::DeployService::Stub> deploy_;
};

TEST_P(GuardE2ETest, OnlyTheHolderOfACheckOutChangesAnObjectInTheDatabase) {
  v1::GuardReport status;
  auto s = Guard("install", &status);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(status.installed());
  EXPECT_TRUE(status.in_sync());
  EXPECT_EQ(status.managed(), 3u);
  EXPECT_EQ(status.checkouts(), 0u);

  // Nothing is checked out: managed objects are closed to everyone.
  EXPECT_THAT(RunAs(gina_, "ALTER TABLE sales.orders ADD COLUMN note text"),
              HasSubstr("sales.orders is managed by Strata and not checked out"));

  CheckOut("gina-token", "table:sales.orders");
  const double propagation = WaitForGuardRow("table:sales.orders", gina_);
  ASSERT_GE(propagation, 0) << "the check-out never reached the database";
  std::printf("check-out to the guard table in the database: %.0f ms (%s)\n", propagation * 1000, GetParam().c_str());
  EXPECT_LT(propagation, 1.0) << "a check-out shows up in the database within a second";

  // hugo cannot change what gina holds; the message names her.
  const std::string refused = RunAs(hugo_, "ALTER TABLE sales.orders ADD COLUMN note text");
  EXPECT_THAT(refused, HasSubstr("sales.orders is checked out by gina (boston) since"));
  EXPECT_THAT(RunAs(hugo_, "DROP TABLE sales.orders CASCADE"), HasSubstr("checked out"));
  EXPECT_THAT(RunAs(hugo_, "CREATE INDEX orders_total ON sales.orders (total)"), HasSubstr("checked out by gina"));
  EXPECT_THAT(RunAs(hugo_, "COMMENT ON TABLE sales.orders IS 'mine'"), HasSubstr("checked out by gina"));
  // gina can.
  EXPECT_EQ(RunAs(gina_, "ALTER TABLE sales.orders ADD COLUMN note text"), "");
  EXPECT_EQ(RunAs(gina_, "CREATE INDEX orders_total ON sales.orders (total)"), "");

  // The view is managed and nobody holds it: CREATE OR REPLACE and DROP are refused.
  EXPECT_THAT(RunAs(hugo_, "CREATE OR REPLACE VIEW sales.big_orders AS SELECT id, total FROM sales.orders WHERE "
                           "total > 1000"),
              HasSubstr("sales.big_orders is managed by Strata and not checked out"));
  EXPECT_THAT(RunAs(hugo_, "DROP VIEW sales.big_orders"), HasSubstr("not checked out"));
  CheckOut("hugo-token", "view:sales.big_orders");
  ASSERT_GE(WaitForGuardRow("view:sales.big_orders", hugo_), 0);
  EXPECT_EQ(RunAs(hugo_, "CREATE OR REPLACE VIEW sales.big_orders AS SELECT id, total FROM sales.orders WHERE "
                         "total > 1000"),
            "");

  // Strata's own deployments pass (the guard's owner role, as the deploy
  // service connects); the same role from psql does not.
  {
    auto strata_session = Connect(dev_->url());
    ASSERT_TRUE(strata_session);
    EXPECT_THAT(std::string(strata_session->Exec("COMMENT ON TABLE sales.orders IS 'x'").message()),
                HasSubstr("checked out by gina"));
    EXPECT_TRUE(strata_session->Exec("SET application_name = 'strata-deploy'; COMMENT ON TABLE sales.orders IS 'x'").ok());
  }

  // Objects Strata does not manage are free for all.
  EXPECT_EQ(RunAs(hugo_, "CREATE TABLE sales.scratch (x int); DROP TABLE sales.scratch"), "");
  // Nobody but the guard's owner writes its table.
  EXPECT_THAT(RunAs(hugo_, "DELETE FROM strata_guard.checkouts"), HasSubstr("permission denied"));
  EXPECT_THAT(RunAs(hugo_, "INSERT INTO strata_guard.checkouts VALUES ('table:sales.orders', '" + hugo_ +
                               "', 'hugo', 'x', now())"),
              HasSubstr("permission denied"));

  // After her check-in, gina's next ALTER is refused until she checks out again.
  // She checks in what she built in the database, captured from its catalog
  // (no DDL copied by hand); it loads into an empty database as the same table.
  EXPECT_EQ(RunAs(gina_, "DROP INDEX sales.orders_total"), "");
  std::string out;
  ASSERT_EQ(RunCli(stack_->endpoint(), "gina-token",
                   "--deploy-endpoint " + stack_->deploy_endpoint() +
                       " checkin sales.orders --from-env dev -m 'note column'",
                   &out),
            0)
      << out;
  v1::GetObjectRequest get;
  get.set_object("table:sales.orders");
  v1::ObjectHead head;
  ASSERT_TRUE(lock_->GetObject(Ctx("gina-token").get(), get, &head).ok());
  EXPECT_EQ(head.latest_version(), 2u);
  EXPECT_THAT(head.definition(), HasSubstr("note text"));
  {
    ScratchDatabase empty("strata_it_capture");
    auto target = Connect(empty.url());
    ASSERT_TRUE(target);
    ASSERT_TRUE(target->Exec("CREATE SCHEMA sales;\n" + head.definition()).ok()) << head.definition();
    auto facts_of_orders = [](pg::Session& db) {
      auto catalog = schemadiff::ReadCatalog(db);
      EXPECT_TRUE(catalog.ok()) << catalog.status();
      std::vector<std::string> facts;
      if (!catalog.ok()) return facts;
      for (auto& f : schemadiff::Facts(*catalog))
        if (f.find("sales.orders") != std::string::npos && f.find("big_orders") == std::string::npos)
          facts.push_back(std::move(f));
      return facts;
    };
    const auto captured = facts_of_orders(*target);
    EXPECT_FALSE(captured.empty());
    EXPECT_EQ(captured, facts_of_orders(*admin_));
  }
  ASSERT_GE(WaitForGuardRow("table:sales.orders", ""), 0);
  EXPECT_THAT(RunAs(gina_, "ALTER TABLE sales.orders ADD COLUMN more text"), HasSubstr("not checked out"));
  CheckOut("gina-token", "table:sales.orders");
  ASSERT_GE(WaitForGuardRow("table:sales.orders", gina_), 0);
  EXPECT_EQ(RunAs(gina_, "ALTER TABLE sales.orders ADD COLUMN more text"), "");

  ASSERT_TRUE(Guard("status", &status).ok());
  EXPECT_TRUE(status.in_sync());
  EXPECT_EQ(status.checkouts(), 2u);

  // Uninstalled, the database is as open as before and nothing of the guard remains.
  ASSERT_TRUE(Guard("uninstall", &status).ok());
  EXPECT_FALSE(status.installed());
  EXPECT_EQ(RunAs(hugo_, "ALTER TABLE sales.orders ADD COLUMN hugos text"), "");
  auto left = admin_->Query(
      "SELECT (SELECT count(*) FROM pg_namespace WHERE nspname = 'strata_guard') + "
      "(SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'strata_guard%')");
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->number(0, 0), 0);
}

TEST_P(GuardE2ETest, InstallingWithoutSuperuserRightsSaysSoAndLeavesNothing) {
  v1::AddEnvironmentRequest env;
  env.set_name("dev_as_hugo");
  env.set_url(SplitPassword(RoleUrl(hugo_)).first);
  env.set_order(2);
  v1::Environment e;
  ASSERT_TRUE(deploy_->AddEnvironment(Ctx("dana-token").get(), env, &e).ok());
  v1::GuardRequest req;
  req.set_environment("dev_as_hugo");
  v1::GuardReport status;
  auto s = deploy_->GuardInstall(Ctx("dana-token", 60).get(), req, &status);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("needs a superuser connection"));
  EXPECT_THAT(s.error_message(), HasSubstr("role " + hugo_ + " is not one"));
  EXPECT_THAT(s.error_message(), HasSubstr("Nothing was installed"));
  auto left = admin_->Query("SELECT count(*) FROM pg_namespace WHERE nspname = 'strata_guard'");
  ASSERT_TRUE(left.ok());
  EXPECT_EQ(left->number(0, 0), 0);
  // Developers may not install it at all.
  req.set_environment("dev");
  EXPECT_EQ(deploy_->GuardInstall(Ctx("gina-token").get(), req, &status).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
}

INSTANTIATE_TEST_SUITE_P(Backends, GuardE2ETest, ::testing::Values("embedded", "kafka"));

}  // namespace
}  // namespace strata::testing
