// End to end: environments, import, releases, plans, gates, drift, failures,
// rollback and concurrent deployments, with real processes (strata-server,
// or strata-devbroker + strata-lock/history/deploy) against real PostgreSQL
// databases, on both log implementations.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <future>
#include <map>
#include <sstream>

#include "pg/pg.h"
#include "schemadiff/catalog.h"
#include "schemadiff/definitions.h"
#include "support/postgres.h"
#include "support/stack.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;

// The team's existing database (dev and qa hold it before Strata arrives).
constexpr char kShopSchema[] = R"sql(
CREATE SCHEMA sales;
CREATE TYPE sales.order_status AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE sales.customers (
  id serial PRIMARY KEY,
  name text NOT NULL,
  email text UNIQUE
);
CREATE TABLE sales.orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id integer NOT NULL REFERENCES sales.customers (id),
  status sales.order_status NOT NULL DEFAULT 'new',
  total numeric(12,2) NOT NULL CHECK (total >= 0)
);
COMMENT ON TABLE sales.orders IS 'one row per order';
CREATE INDEX orders_by_customer ON sales.orders (customer_id);
CREATE VIEW sales.open_orders AS SELECT id, customer_id, total FROM sales.orders WHERE status <> 'shipped';
CREATE FUNCTION sales.customer_total(c integer) RETURNS numeric LANGUAGE sql STABLE
  AS $$ SELECT coalesce(sum(total), 0) FROM sales.orders WHERE customer_id = c $$;
INSERT INTO sales.customers (name, email) VALUES ('Acme', 'ops@acme.test');
)sql";

void Exec(const std::string& url, const std::string& sql) {
  auto s = pg::Session::Connect(url);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Exec(sql).ok()) << sql;
}

std::vector<std::string> FactsOf(const std::string& url) {
  auto s = pg::Session::Connect(url);
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return {};
  auto c = schemadiff::ReadCatalog(**s);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? schemadiff::Facts(*c) : std::vector<std::string>{};
}

long long Count(const std::string& url, const std::string& sql) {
  auto s = pg::Session::Connect(url);
  EXPECT_TRUE(s.ok());
  auto rows = (*s)->Query(sql);
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? rows->number(0, 0) : -1;
}

std::string ReplaceAll(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// The shop's orders table with total -> amount and status -> state (its
// type sales.order_status keeps its name).
std::string WithAmountAndState(const std::string& table) {
  return ReplaceAll(ReplaceAll(ReplaceAll(table, "total", "amount"), "status", "state"), "order_state", "order_status");
}

class DeployE2ETest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(GetParam(), nullptr, /*with_history=*/true, /*with_impact=*/false,
                                     /*with_deploy=*/true);
    const std::string secrets = stack_->data_dir() + "-secrets.yaml";
    std::ofstream out(secrets);
    out << "environments:\n";
    for (const char* name : {"dev", "qa", "uat", "prod"}) {
      dbs_[name] = std::make_unique<ScratchDatabase>(std::string("strata_it_") + name);
      out << "  " << name << ": {password: '" << SplitPassword(dbs_[name]->url()).second << "'}\n";
    }
    out.close();
    extra_ = {"--secrets-file", secrets, "--shadow-url", TestServerUrl()};
    stack_->Start("boston", extra_);
    Connect();
    if (GetParam() == "kafka") {
      // A second region on the same log: bob works through the london instance.
      london_ = std::make_unique<Stack>("kafka", stack_->broker());
      london_->Start("london");
      bob_lock_ = london_->Stub();
    }
    int order = 1;
    for (const char* name : {"dev", "qa", "uat", "prod"}) {
      v1::AddEnvironmentRequest req;
      req.set_name(name);
      req.set_url(SplitPassword(url(name)).first);
      req.set_order(order++);
      req.set_protected_(std::string(name) == "prod");
      v1::Environment env;
      auto s = deploy_->AddEnvironment(Ctx("dana-token").get(), req, &env);
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }

  void Connect() {
    deploy_ = stack_->DeployStub();
    lock_ = stack_->Stub();
    history_ = stack_->HistoryStub();
  }

  std::string url(const std::string& env) { return dbs_.at(env)->url(); }
  v1::LockService::Stub& LockFor(const std::string& token) {
    return token == "bob-token" && bob_lock_ ? *bob_lock_ : *lock_;
  }

  // dev and qa already hold the shop schema; Strata imports dev, then qa.
  // 10,000 orders in dev, a third of each status.
  void AddOrders() {
    Exec(url("dev"), "INSERT INTO sales.orders (customer_id, total, status) "
                     "SELECT 1, g, (ARRAY['new','paid','shipped'])[1 + g % 3]::sales.order_status "
                     "FROM generate_series(1, 10000) g");
  }
  // A number that changes when any order's total or status changes.
  long long OrdersChecksum(const std::string& table, const std::string& total, const std::string& status) {
    return Count(url("dev"), "SELECT count(*) * 1000000000 + sum(" + total + ")::bigint + sum(length(" + status +
                                 "::text)) FROM " + table);
  }
  void ExpectNoDrift(const std::string& env) {
    v1::CheckDriftRequest dreq;
    dreq.set_environment(env);
    v1::DriftReport report;
    ASSERT_TRUE(deploy_->CheckDrift(Ctx("vera-token", 120).get(), dreq, &report).ok());
    EXPECT_FALSE(report.drifted()) << report.DebugString();
  }

  void ImportShop() {
    for (const char* env : {"dev", "qa"}) {
      Exec(url(env), kShopSchema);
      v1::ImportRequest req;
      req.set_environment(env);
      v1::ImportResponse resp;
      auto s = deploy_->Import(Ctx("dana-token", 120).get(), req, &resp);
      ASSERT_TRUE(s.ok()) << s.error_message();
      ASSERT_EQ(resp.objects(), 8u) << resp.DebugString();
      if (std::string(env) == "dev") {
        EXPECT_EQ(resp.created_size(), 8);
      } else {
        EXPECT_EQ(resp.matched_size(), 8) << "qa holds the same versions";
      }
    }
  }

  std::string Definition(const std::string& object) {
    v1::GetObjectRequest req;
    req.set_object(object);
    v1::ObjectHead head;
    EXPECT_TRUE(lock_->GetObject(Ctx("alice-token").get(), req, &head).ok());
    v1::GetVersionRequest vreq;
    vreq.set_object(object);
    vreq.set_version(head.latest_version());
    v1::Version v;
    EXPECT_TRUE(history_->GetVersion(Ctx("alice-token").get(), vreq, &v).ok());
    return v.definition();
  }

  grpc::Status CheckOut(const std::string& token, const std::string& object) {
    v1::CheckOutRequest req;
    req.add_objects(object);
    v1::CheckOutResponse resp;
    return LockFor(token).CheckOut(Ctx(token).get(), req, &resp);
  }
  grpc::Status CheckIn(const std::string& token, const std::string& object, const std::string& sql) {
    v1::CheckInRequest req;
    req.set_object(object);
    req.set_definition(sql);
    req.set_message("change " + object);
    v1::CheckInResponse resp;
    return LockFor(token).CheckIn(Ctx(token).get(), req, &resp);
  }
  // Checks out, replaces `from` by `to` in the definition, checks in.
  void Change(const std::string& token, const std::string& object, const std::string& from, const std::string& to) {
    ASSERT_TRUE(CheckOut(token, object).ok());
    std::string sql = Definition(object);
    const size_t at = sql.find(from);
    ASSERT_NE(at, std::string::npos) << sql;
    sql.replace(at, from.size(), to);
    auto s = CheckIn(token, object, sql);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }

  v1::Release CreateRelease(const std::string& name, std::vector<v1::DataScript> data = {},
                            grpc::Status* status = nullptr) {
    v1::CreateReleaseRequest req;
    req.set_name(name);
    for (auto& d : data) *req.add_data_scripts() = std::move(d);
    v1::Release r;
    auto s = deploy_->CreateRelease(Ctx("rita-token").get(), req, &r);
    if (status) {
      *status = s;
    } else {
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
    return r;
  }

  grpc::Status Deploy(const std::string& token, const std::string& release, const std::string& env,
                      v1::Deployment* out = nullptr, const std::string& override_drift = "") {
    v1::DeployRequest req;
    req.set_release(release);
    req.set_environment(env);
    req.set_override_drift_reason(override_drift);
    v1::Deployment d;
    auto s = deploy_->Deploy(Ctx(token, 120).get(), req, &d);
    if (out) *out = d;
    return s;
  }

  grpc::Status PlanOf(const std::string& release, const std::string& env, v1::DeploymentPlan* plan) {
    v1::PlanRequest req;
    req.set_release(release);
    req.set_environment(env);
    return deploy_->Plan(Ctx("alice-token", 120).get(), req, plan);
  }
  grpc::Status RollBack(const std::string& env, v1::Deployment* d) {
    v1::RollbackRequest req;
    req.set_environment(env);
    return deploy_->Rollback(Ctx("alice-token", 120).get(), req, d);
  }

  // The catalog of the release's versions, loaded into a shadow.
  std::vector<std::string> ReleaseFacts(const std::string& release) {
    v1::GetReleaseRequest req;
    req.set_name(release);
    v1::Release r;
    EXPECT_TRUE(deploy_->GetRelease(Ctx("vera-token").get(), req, &r).ok());
    std::vector<schemadiff::LabelledSql> defs;
    for (const auto& e : r.entries()) {
      v1::GetVersionRequest vreq;
      vreq.set_object(e.object());
      vreq.set_version(e.version());
      v1::Version v;
      EXPECT_TRUE(history_->GetVersion(Ctx("vera-token").get(), vreq, &v).ok());
      defs.push_back({e.object(), v.definition()});
    }
    auto c = schemadiff::LoadDefinitions(defs, {.server = TestServerUrl()});
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? schemadiff::Facts(*c) : std::vector<std::string>{};
  }

  std::vector<v1::AuditEntry> Audit(const std::string& action, int at_least = 1) {
    v1::QueryAuditRequest req;
    req.set_action(action);
    v1::QueryAuditResponse resp;
    // The history service reads the log on its own: give it a moment.
    for (int i = 0; i < 100; ++i) {
      resp.Clear();
      EXPECT_TRUE(history_->QueryAudit(Ctx("dana-token").get(), req, &resp).ok());
      if (resp.entries_size() >= at_least) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return {resp.entries().begin(), resp.entries().end()};
  }

  std::unique_ptr<Stack> stack_, london_;
  std::vector<std::string> extra_;
  std::unique_ptr<v1::LockService::Stub> bob_lock_;
  std::map<std::string, std::unique_ptr<ScratchDatabase>> dbs_;
  std::unique_ptr<v1::DeployService::Stub> deploy_;
  std::unique_ptr<v1::LockService::Stub> lock_;
  std::unique_ptr<v1::HistoryService::Stub> history_;
};

TEST_P(DeployE2ETest, FromImportThroughTheWholePipelineToProduction) {
  ImportShop();
  // Two developers at two sites change different objects ...
  Change("alice-token", "table:sales.orders", "total numeric(12,2) NOT NULL", "total numeric(12,2) NOT NULL,\n    note text");
  ASSERT_TRUE(CheckOut("bob-token", "table:sales.refunds").ok());  // a new table, reserved by name
  ASSERT_TRUE(CheckIn("bob-token", "table:sales.refunds",
                      "CREATE TABLE sales.refunds (order_id bigint NOT NULL REFERENCES sales.orders (id), "
                      "amount numeric(12,2) NOT NULL);")
                  .ok());
  // ... and collide on one: alice holds the view, bob is refused and told by whom.
  ASSERT_TRUE(CheckOut("alice-token", "view:sales.open_orders").ok());
  auto collision = CheckOut("bob-token", "view:sales.open_orders");
  EXPECT_EQ(collision.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(collision.error_message(), HasSubstr("alice (boston)"));
  ASSERT_TRUE(CheckIn("alice-token", "view:sales.open_orders",
                      "CREATE VIEW sales.open_orders AS SELECT id, customer_id, total, note FROM sales.orders "
                      "WHERE status <> 'shipped';")
                  .ok());

  v1::DataScript seed;
  seed.set_name("vip-customer.sql");
  seed.set_sql("INSERT INTO sales.customers (name, email) VALUES ('Globex', 'it@globex.test');");
  seed.set_rollback_sql("DELETE FROM sales.customers WHERE email = 'it@globex.test';");
  v1::Release r1 = CreateRelease("2026.11-1", {seed});
  EXPECT_EQ(r1.object_count(), 9u);
  EXPECT_THAT(std::vector<std::string>(r1.changed().begin(), r1.changed().end()),
              ::testing::IsSupersetOf({"table:sales.orders", "table:sales.refunds", "view:sales.open_orders"}));

  // The plan is shown before anything runs.
  v1::PlanRequest preq;
  preq.set_release("2026.11-1");
  preq.set_environment("dev");
  v1::DeploymentPlan plan;
  auto ps = deploy_->Plan(Ctx("alice-token", 120).get(), preq, &plan);
  ASSERT_TRUE(ps.ok()) << ps.error_message();
  EXPECT_THAT(plan.script(), HasSubstr("ALTER TABLE sales.orders ADD COLUMN note text"));
  EXPECT_THAT(plan.script(), HasSubstr("CREATE TABLE sales.refunds"));
  EXPECT_THAT(plan.script(), HasSubstr("INSERT INTO sales.customers"));
  EXPECT_THAT(plan.rollback_script(), HasSubstr("DROP TABLE sales.refunds"));
  EXPECT_THAT(plan.rollback_script(), HasSubstr("DELETE FROM sales.customers"));
  EXPECT_EQ(plan.blockers_size(), 0) << plan.DebugString();
  EXPECT_EQ(plan.drift_size(), 0);
  const long long dev_customers = Count(url("dev"), "SELECT count(*) FROM sales.customers");
  EXPECT_EQ(Count(url("dev"), "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"), 0)
      << "planning runs nothing";

  for (const char* env : {"dev", "qa", "uat"}) {
    v1::Deployment d;
    auto s = Deploy("alice-token", "2026.11-1", env, &d);
    ASSERT_TRUE(s.ok()) << env << ": " << s.error_message();
    EXPECT_EQ(d.status(), "succeeded");
    EXPECT_EQ(d.script_sha256().size(), 64u);
  }
  auto again = Deploy("alice-token", "2026.11-1", "dev");
  EXPECT_EQ(again.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(again.error_message(), HasSubstr("already deployed on dev"));
  // prod is protected: a release-manager approves, and deploys.
  auto refused = Deploy("rita-token", "2026.11-1", "prod");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  v1::ApproveRequest areq;
  areq.set_release("2026.11-1");
  areq.set_environment("prod");
  v1::Release approved;
  ASSERT_TRUE(deploy_->Approve(Ctx("rita-token").get(), areq, &approved).ok());
  EXPECT_EQ(Deploy("alice-token", "2026.11-1", "prod").error_code(), grpc::StatusCode::PERMISSION_DENIED)
      << "protected environments are for release-managers and dbas";
  auto prod = Deploy("rita-token", "2026.11-1", "prod");
  ASSERT_TRUE(prod.ok()) << prod.error_message();

  // Every environment now holds exactly the release's state, and its data script ran.
  const auto expected = ReleaseFacts("2026.11-1");
  ASSERT_FALSE(expected.empty());
  for (const char* env : {"dev", "qa", "uat", "prod"}) EXPECT_EQ(FactsOf(url(env)), expected) << env;
  EXPECT_EQ(Count(url("dev"), "SELECT count(*) FROM sales.customers"), dev_customers + 1);
  EXPECT_EQ(Count(url("prod"), "SELECT count(*) FROM sales.customers WHERE name = 'Globex'"), 1);

  v1::PipelineResponse board;
  ASSERT_TRUE(deploy_->Pipeline(Ctx("vera-token").get(), {}, &board).ok());
  ASSERT_EQ(board.releases_size(), 1);
  EXPECT_THAT(std::vector<std::string>(board.releases(0).cells().begin(), board.releases(0).cells().end()),
              ::testing::ElementsAre("current", "current", "current", "current"));
  // The audit trail saw every deployment as the deploy service decided it.
  auto starts = Audit("deploy_start", 4);
  ASSERT_EQ(starts.size(), 4u);
  for (const auto& e : starts) EXPECT_EQ(e.record().outcome(), "accepted") << e.record().object();
  v1::VerifyAuditResponse verified;
  ASSERT_TRUE(history_->VerifyAudit(Ctx("dana-token").get(), {}, &verified).ok());
  EXPECT_TRUE(verified.ok()) << verified.problem();
  std::string out;
  EXPECT_EQ(RunCli(stack_->deploy_endpoint(), "vera-token", "pipeline", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("2026.11-1"));
  EXPECT_THAT(out, HasSubstr("* current"));
}

TEST_P(DeployE2ETest, GatesSayWhatIsMissing) {
  ImportShop();
  Change("alice-token", "table:sales.orders", "total numeric(12,2) NOT NULL", "total numeric(14,2) NOT NULL");
  CreateRelease("r1");
  // carol (developer on billing.* and dev only) may neither see the plan of a
  // release that changes sales objects nor deploy it, not even to dev.
  v1::PlanRequest preq;
  preq.set_release("r1");
  preq.set_environment("dev");
  v1::DeploymentPlan plan;
  auto denied_plan = deploy_->Plan(Ctx("carol-token", 120).get(), preq, &plan);
  EXPECT_EQ(denied_plan.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(denied_plan.error_message(), HasSubstr("carol may work on billing.* only; table:sales.orders"));
  EXPECT_EQ(Deploy("carol-token", "r1", "dev").error_code(), grpc::StatusCode::PERMISSION_DENIED);
  auto early = Deploy("alice-token", "r1", "uat");
  EXPECT_EQ(early.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(early.error_message(), HasSubstr("has not been deployed successfully to qa"));
  for (const char* env : {"dev", "qa", "uat"}) ASSERT_TRUE(Deploy("alice-token", "r1", env).ok()) << env;
  auto unapproved = Deploy("rita-token", "r1", "prod");
  EXPECT_EQ(unapproved.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(unapproved.error_message(), HasSubstr("needs the approval of a release-manager"));
  EXPECT_THAT(unapproved.error_message(), HasSubstr("strata approve r1 --env prod"));
  // Approving is for release-managers.
  v1::ApproveRequest areq;
  areq.set_release("r1");
  areq.set_environment("prod");
  v1::Release r;
  EXPECT_EQ(deploy_->Approve(Ctx("alice-token").get(), areq, &r).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // Refusals are in the audit trail.
  auto refusals = Audit("deploy");
  ASSERT_GE(refusals.size(), 2u);
  EXPECT_EQ(refusals[0].record().outcome(), "refused");
  // A contractor scoped to dev may not deploy elsewhere.
  auto scoped = Deploy("carol-token", "r1", "qa");
  EXPECT_EQ(scoped.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(scoped.error_message(), HasSubstr("carol may not work on environment qa (allowed: dev)"));
  // A URL with a password is refused: it would be written to the log.
  v1::AddEnvironmentRequest bad;
  bad.set_name("staging");
  bad.set_url("postgres://strata:secret@127.0.0.1:5432/x");
  v1::Environment env;
  auto s = deploy_->AddEnvironment(Ctx("dana-token").get(), bad, &env);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("secrets file"));
}

TEST_P(DeployE2ETest, AnOutOfBandChangeBlocksTheNextDeploymentUntilADbaOverrides) {
  ImportShop();
  Change("alice-token", "function:sales.customer_total(integer)", "coalesce(sum(total), 0)", "coalesce(sum(total), 0.0)");
  CreateRelease("r1");
  ASSERT_TRUE(Deploy("alice-token", "r1", "dev").ok());
  Exec(url("qa"), "ALTER TABLE sales.orders ADD COLUMN hotfix integer");
  auto blocked = Deploy("alice-token", "r1", "qa");
  EXPECT_EQ(blocked.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(blocked.error_message(), HasSubstr("table sales.orders: column hotfix integer is there but not expected"));
  v1::CheckDriftRequest dreq;
  dreq.set_environment("qa");
  v1::DriftReport report;
  ASSERT_TRUE(deploy_->CheckDrift(Ctx("vera-token", 120).get(), dreq, &report).ok());
  EXPECT_TRUE(report.drifted());
  ASSERT_EQ(report.differences_size(), 1);
  EXPECT_THAT(report.differences(0), HasSubstr("hotfix"));
  std::string out;
  EXPECT_EQ(RunCli(stack_->deploy_endpoint(), "vera-token", "drift --env qa", &out), 5) << out;
  EXPECT_THAT(out, HasSubstr("qa: DRIFTED, 1 differences"));
  dreq.set_environment("dev");
  ASSERT_TRUE(deploy_->CheckDrift(Ctx("vera-token", 120).get(), dreq, &report).ok());
  EXPECT_FALSE(report.drifted());
  EXPECT_EQ(RunCli(stack_->deploy_endpoint(), "vera-token", "drift --env dev", &out), 0) << out;
  // A developer may not override; a dba may, and the reason is recorded.
  EXPECT_EQ(Deploy("alice-token", "r1", "qa", nullptr, "hotfix kept").error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::Deployment d;
  auto s = Deploy("dana-token", "r1", "qa", &d, "hotfix 4711 stays until r2");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(d.drift_override(), "hotfix 4711 stays until r2");
}

TEST_P(DeployE2ETest, AFailingDataScriptLeavesTheEnvironmentUntouched) {
  ImportShop();
  Change("alice-token", "table:sales.orders", "total numeric(12,2) NOT NULL", "total numeric(12,2) NOT NULL,\n    note text");
  v1::DataScript bad;
  bad.set_name("orphan-order.sql");
  bad.set_sql("INSERT INTO sales.orders (customer_id, total) VALUES (424242, 10);");  // no such customer
  v1::DataScript commits;
  commits.set_name("commits.sql");
  commits.set_sql("INSERT INTO sales.customers (name) VALUES ('x'); COMMIT;");
  grpc::Status refused;
  CreateRelease("r0", {commits}, &refused);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("transaction control"));
  bad.set_sql("INSERT INTO sales.orders (customer_id, total) VALUES (424242, 10) -- no ';' at the end");
  CreateRelease("r1", {bad});
  const auto facts_before = FactsOf(url("dev"));
  const long long orders_before = Count(url("dev"), "SELECT count(*) FROM sales.orders");
  v1::Deployment d;
  auto s = Deploy("alice-token", "r1", "dev", &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("violates foreign key constraint"));
  EXPECT_THAT(s.error_message(), HasSubstr("INSERT INTO sales.orders"));
  EXPECT_THAT(s.error_message(), HasSubstr("dev is unchanged"));
  EXPECT_EQ(FactsOf(url("dev")), facts_before);
  EXPECT_EQ(Count(url("dev"), "SELECT count(*) FROM sales.orders"), orders_before);
  // Recorded: the deployment list and the audit trail both show the failure.
  v1::ListDeploymentsRequest lreq;
  lreq.set_environment("dev");
  v1::ListDeploymentsResponse list;
  ASSERT_TRUE(deploy_->ListDeployments(Ctx("vera-token").get(), lreq, &list).ok());
  ASSERT_EQ(list.deployments_size(), 1);
  EXPECT_EQ(list.deployments(0).status(), "failed");
  EXPECT_THAT(list.deployments(0).error(), HasSubstr("statement"));
  auto failed = Audit("deploy_failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].record().object(), "env:dev");
  EXPECT_EQ(failed[0].record().outcome(), "accepted") << "the audit trail decides like the deploy service";
  EXPECT_THAT(failed[0].record().detail(), HasSubstr("violates foreign key constraint"));
  // The environment is not claimed any more: the next deployment may run.
  v1::GetEnvironmentRequest ereq;
  ereq.set_name("dev");
  v1::Environment env;
  ASSERT_TRUE(deploy_->GetEnvironment(Ctx("vera-token").get(), ereq, &env).ok());
  EXPECT_EQ(env.running_deployment(), "");
  EXPECT_EQ(env.current_release(), "");
}

TEST_P(DeployE2ETest, RollbackReturnsTheCatalogToThePreviousState) {
  ImportShop();
  const auto before = FactsOf(url("dev"));
  Change("alice-token", "table:sales.orders", "total numeric(12,2) NOT NULL", "total numeric(12,2) NOT NULL,\n    note text");
  ASSERT_TRUE(CheckOut("bob-token", "index:sales.orders_by_status").ok());
  ASSERT_TRUE(CheckIn("bob-token", "index:sales.orders_by_status",
                      "CREATE INDEX orders_by_status ON sales.orders (status);").ok());
  CreateRelease("r1");
  ASSERT_TRUE(Deploy("alice-token", "r1", "dev").ok());
  ASSERT_NE(FactsOf(url("dev")), before);
  v1::RollbackRequest req;
  req.set_environment("dev");
  v1::Deployment d;
  auto s = deploy_->Rollback(Ctx("alice-token", 120).get(), req, &d);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(d.kind(), v1::ROLLBACK);
  EXPECT_EQ(d.status(), "succeeded");
  EXPECT_EQ(FactsOf(url("dev")), before);
  v1::CheckDriftRequest dreq;
  dreq.set_environment("dev");
  v1::DriftReport report;
  ASSERT_TRUE(deploy_->CheckDrift(Ctx("vera-token", 120).get(), dreq, &report).ok());
  EXPECT_FALSE(report.drifted()) << report.DebugString();
  // Nothing left to roll back.
  EXPECT_EQ(deploy_->Rollback(Ctx("alice-token", 120).get(), req, &d).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  // Rolled back in dev, r1 no longer counts as having succeeded there.
  auto gate = Deploy("alice-token", "r1", "qa");
  EXPECT_EQ(gate.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(gate.error_message(), HasSubstr("has not been deployed successfully to dev"));
  // And the release can go again.
  ASSERT_TRUE(Deploy("alice-token", "r1", "dev").ok());
}

grpc::Status Drop(v1::LockService::Stub& lock, const std::string& token, const std::vector<std::string>& objects,
                  bool cascade, v1::DropResponse* resp) {
  v1::DropRequest req;
  for (const auto& o : objects) req.add_objects(o);
  req.set_message("not needed any more");
  req.set_cascade(cascade);
  return lock.Drop(Ctx(token).get(), req, resp);
}

std::vector<std::string> Ids(const v1::DropResponse& resp) {
  std::vector<std::string> ids;
  for (const auto& h : resp.objects()) ids.push_back(h.object());
  return ids;
}

// Issue 20: a drop is refused while something depends on the object (the
// message names each dependent), allowed with the dependents in the same
// command, and with --cascade (a dependent someone else holds stops it).
TEST_P(DeployE2ETest, ADropWaitsForItsDependentsUnlessTheyAreDroppedToo) {
  ImportShop();
  ASSERT_TRUE(CheckOut("alice-token", "table:sales.orders").ok());
  v1::DropResponse resp;
  grpc::Status s = Drop(*lock_, "alice-token", {"table:sales.orders"}, false, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("table:sales.orders is used by"));
  for (const char* dependent :
       {"view:sales.open_orders", "function:sales.customer_total(integer)", "index:sales.orders_by_customer"})
    EXPECT_THAT(s.error_message(), HasSubstr(dependent));
  // Not checked out: refused, whatever the dependents.
  EXPECT_EQ(Drop(*lock_, "alice-token", {"view:sales.open_orders"}, false, &resp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  // The same set: dependents first.
  for (const char* o : {"view:sales.open_orders", "function:sales.customer_total(integer)",
                        "index:sales.orders_by_customer"})
    ASSERT_TRUE(CheckOut("alice-token", o).ok());
  resp.Clear();
  s = Drop(*lock_, "alice-token",
           {"table:sales.orders", "view:sales.open_orders", "function:sales.customer_total(integer)",
            "index:sales.orders_by_customer"},
           false, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.objects_size(), 4);
  EXPECT_EQ(resp.objects(3).object(), "table:sales.orders");
  for (const auto& h : resp.objects()) {
    EXPECT_TRUE(h.dropped()) << h.object();
    EXPECT_FALSE(h.has_lock()) << h.object();
  }
  EXPECT_EQ(Drop(*lock_, "alice-token", {"table:sales.orders"}, false, &resp).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION)
      << "already dropped (and not checked out)";

  // --cascade from the schema: customers and the enum type go with it; bob
  // (london on Kafka) holding customers stops it until he gives it back.
  ASSERT_TRUE(CheckOut("bob-token", "table:sales.customers").ok());
  ASSERT_TRUE(CheckOut("alice-token", "schema:sales").ok());
  resp.Clear();
  s = Drop(*lock_, "alice-token", {"schema:sales"}, false, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("table:sales.customers"));
  EXPECT_THAT(s.error_message(), HasSubstr("type:sales.order_status"));
  EXPECT_THAT(s.error_message(), ::testing::Not(HasSubstr("table:sales.orders"))) << "dropped objects use nothing";
  s = Drop(*lock_, "alice-token", {"schema:sales"}, true, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("checked out by bob"));
  v1::UndoCheckOutRequest undo;
  undo.add_objects("table:sales.customers");
  v1::UndoCheckOutResponse undone;
  ASSERT_TRUE(LockFor("bob-token").UndoCheckOut(Ctx("bob-token").get(), undo, &undone).ok());
  resp.Clear();
  s = Drop(*lock_, "alice-token", {"schema:sales"}, true, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(std::vector<std::string>(resp.cascaded().begin(), resp.cascaded().end()),
              ::testing::UnorderedElementsAre("table:sales.customers", "sequence:sales.customers_id_seq",
                                              "type:sales.order_status"));
  ASSERT_EQ(resp.objects_size(), 4);
  EXPECT_EQ(resp.objects(3).object(), "schema:sales");
  // Both sites agree.
  v1::GetObjectRequest get;
  get.set_object("table:sales.customers");
  v1::ObjectHead head;
  ASSERT_TRUE(LockFor("bob-token").GetObject(Ctx("bob-token").get(), get, &head).ok());
  EXPECT_TRUE(head.dropped());
}

// A release carries a drop: its plan loses the table's rows, so deploying
// it needs --allow-data-loss; afterwards the table is gone, nothing has
// drifted, and a revert brings the object back with its history.
TEST_P(DeployE2ETest, AReleaseDropsATableOnlyWithAllowDataLossAndARevertBringsItBack) {
  ImportShop();
  const std::vector<std::string> gone = {"table:sales.orders", "view:sales.open_orders",
                                         "function:sales.customer_total(integer)", "index:sales.orders_by_customer"};
  for (const auto& o : gone) ASSERT_TRUE(CheckOut("alice-token", o).ok());
  v1::DropResponse dropped;
  ASSERT_TRUE(Drop(*lock_, "alice-token", gone, false, &dropped).ok());
  const v1::Release r1 = CreateRelease("r1");
  for (const auto& o : gone) EXPECT_EQ(std::count(r1.changed().begin(), r1.changed().end(), o), 1) << o;
  for (const auto& e : r1.entries()) EXPECT_EQ(std::count(gone.begin(), gone.end(), e.object()), 0) << e.object();

  v1::PlanRequest preq;
  preq.set_release("r1");
  preq.set_environment("dev");
  v1::DeploymentPlan plan;
  ASSERT_TRUE(deploy_->Plan(Ctx("alice-token", 120).get(), preq, &plan).ok());
  EXPECT_THAT(plan.script(), HasSubstr("DROP TABLE sales.orders"));
  EXPECT_THAT(plan.script(), HasSubstr("DROP VIEW sales.open_orders"));
  ASSERT_GT(plan.data_loss_size(), 0);
  bool drop_table_finding = false;
  for (const auto& f : plan.findings()) drop_table_finding |= f.code() == "drop-table";
  EXPECT_TRUE(drop_table_finding) << plan.DebugString();

  auto refused = Deploy("alice-token", "r1", "dev");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Count(url("dev"), "SELECT count(*) FROM pg_class WHERE relname = 'orders'"), 1);
  v1::DeployRequest req;
  req.set_release("r1");
  req.set_environment("dev");
  req.set_allow_data_loss(true);
  v1::Deployment d;
  auto s = deploy_->Deploy(Ctx("alice-token", 120).get(), req, &d);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(d.status(), "succeeded");
  EXPECT_EQ(Count(url("dev"), "SELECT count(*) FROM pg_class WHERE relname IN ('orders', 'open_orders')"), 0);
  EXPECT_EQ(Count(url("dev"), "SELECT count(*) FROM sales.customers"), 1) << "the rest is untouched";
  v1::CheckDriftRequest dreq;
  dreq.set_environment("dev");
  v1::DriftReport report;
  ASSERT_TRUE(deploy_->CheckDrift(Ctx("vera-token", 120).get(), dreq, &report).ok());
  EXPECT_FALSE(report.drifted()) << report.DebugString();
  // Re-created by hand, the dropped table is drift.
  Exec(url("dev"), "CREATE TABLE sales.orders (id int)");
  report.Clear();
  ASSERT_TRUE(deploy_->CheckDrift(Ctx("vera-token", 120).get(), dreq, &report).ok());
  EXPECT_TRUE(report.drifted());
  Exec(url("dev"), "DROP TABLE sales.orders");

  // History: version 2 is the drop; the audit trail says "drop".
  v1::ListVersionsRequest lreq;
  lreq.set_object("table:sales.orders");
  v1::ListVersionsResponse versions;
  ASSERT_TRUE(history_->ListVersions(Ctx("vera-token").get(), lreq, &versions).ok());
  ASSERT_EQ(versions.versions_size(), 2);
  EXPECT_FALSE(versions.versions(0).dropped());
  EXPECT_TRUE(versions.versions(1).dropped());
  EXPECT_GE(Audit("drop", 4).size(), 4u);

  // Revert: the definition of version 1 as version 3.
  ASSERT_TRUE(CheckOut("alice-token", "table:sales.orders").ok());
  v1::GetVersionRequest vreq;
  vreq.set_object("table:sales.orders");
  vreq.set_version(1);
  v1::Version v1_;
  ASSERT_TRUE(history_->GetVersion(Ctx("alice-token").get(), vreq, &v1_).ok());
  ASSERT_TRUE(CheckIn("alice-token", "table:sales.orders", v1_.definition()).ok());
  v1::GetObjectRequest get;
  get.set_object("table:sales.orders");
  v1::ObjectHead head;
  ASSERT_TRUE(lock_->GetObject(Ctx("alice-token").get(), get, &head).ok());
  EXPECT_EQ(head.latest_version(), 3u);
  EXPECT_FALSE(head.dropped());
  EXPECT_THAT(head.definition(), HasSubstr("CREATE TABLE sales.orders"));
  std::string out;
  ASSERT_EQ(RunCli(stack_->history_endpoint(), "vera-token", "log table:sales.orders", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("2 dropped"));
}

// Issue 20: `checkin --rename-column`: the release renames the columns of a
// 10,000-row table (with the view and function that use them changed in the
// same release); every value stays, and the rollback renames them back.
TEST_P(DeployE2ETest, RenamedColumnsKeepTheirValuesThroughDeployAndRollback) {
  ImportShop();
  AddOrders();
  const long long before = OrdersChecksum("sales.orders", "total", "status");
  const auto facts_before = FactsOf(url("dev"));
  ASSERT_TRUE(CheckOut("alice-token", "table:sales.orders").ok());
  std::string table = WithAmountAndState(Definition("table:sales.orders"));
  v1::CheckInRequest ci;
  ci.set_object("table:sales.orders");
  ci.set_definition(table);
  ci.set_message("clearer names");
  ci.add_rename_columns("total=amount");
  ci.add_rename_columns("status=state");
  v1::CheckInResponse done;
  auto s = lock_->CheckIn(Ctx("alice-token").get(), ci, &done);
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << table;
  // A rename that does not match the definitions is refused, saying why.
  ASSERT_TRUE(CheckOut("alice-token", "table:sales.customers").ok());
  v1::CheckInRequest wrong;
  wrong.set_object("table:sales.customers");
  wrong.set_definition(Definition("table:sales.customers"));
  wrong.set_message("no");
  wrong.add_rename_columns("name=title");
  s = lock_->CheckIn(Ctx("alice-token").get(), wrong, &done);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("the new definition still has column name"));
  // The view and function as import took them in (pg_get_viewdef's layout).
  ASSERT_TRUE(CheckOut("alice-token", "view:sales.open_orders").ok());
  s = CheckIn("alice-token", "view:sales.open_orders",
              ReplaceAll(ReplaceAll(Definition("view:sales.open_orders"), "orders.total", "orders.amount AS total"),
                          "orders.status", "orders.state"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  Change("alice-token", "function:sales.customer_total(integer)", "sum(total)", "sum(amount)");
  CreateRelease("r1");

  v1::DeploymentPlan plan;
  s = PlanOf("r1", "dev", &plan);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(plan.script(), HasSubstr("ALTER TABLE sales.orders RENAME COLUMN total TO amount;"));
  EXPECT_THAT(plan.script(), HasSubstr("ALTER TABLE sales.orders RENAME COLUMN status TO state;"));
  EXPECT_THAT(plan.script(), ::testing::Not(HasSubstr("DROP COLUMN")));
  EXPECT_EQ(plan.data_loss_size(), 0) << plan.script();
  for (const auto& f : plan.findings()) EXPECT_NE(f.code(), "drop-column") << f.reason();

  v1::Deployment d;
  ASSERT_TRUE(Deploy("alice-token", "r1", "dev", &d).ok());
  EXPECT_EQ(d.status(), "succeeded");
  EXPECT_EQ(OrdersChecksum("sales.orders", "amount", "state"), before);
  EXPECT_EQ(Count(url("dev"), "SELECT count(*) FROM sales.open_orders"), 6667 + 0);
  ExpectNoDrift("dev");

  s = RollBack("dev", &d);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(OrdersChecksum("sales.orders", "total", "status"), before);
  EXPECT_EQ(FactsOf(url("dev")), facts_before);
}

// Issue 20: one release renames a 10,000-row table and two of its columns
// and drops a view; the script renames (never drops and creates), every row
// stays, the old name resolves with a notice, and the rollback renames back.
TEST_P(DeployE2ETest, ARenamedTableKeepsItsRowsThroughDeployAndRollback) {
  ImportShop();
  AddOrders();
  CreateRelease("r0");  // the shop as imported: the base of a partial release below
  const long long before = OrdersChecksum("sales.orders", "total", "status");
  const auto facts_before = FactsOf(url("dev"));
  // The rename is refused while objects that name the table are in nobody's
  // hands but the renamer's.
  ASSERT_TRUE(CheckOut("alice-token", "table:sales.orders").ok());
  v1::RenameRequest rename;
  rename.set_object("table:sales.orders");
  rename.set_to("purchases");
  rename.set_message("orders are purchases now");
  rename.set_keep_checked_out(true);
  v1::RenameResponse renamed;
  auto s = lock_->Rename(Ctx("alice-token").get(), rename, &renamed);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("function:sales.customer_total(integer)"));
  EXPECT_THAT(s.error_message(), HasSubstr("view:sales.open_orders"));

  ASSERT_TRUE(CheckOut("alice-token", "view:sales.open_orders").ok());
  ASSERT_TRUE(CheckOut("alice-token", "function:sales.customer_total(integer)").ok());
  ASSERT_TRUE(CheckOut("alice-token", "index:sales.orders_by_customer").ok());
  v1::DropResponse dropped;
  ASSERT_TRUE(Drop(*lock_, "alice-token", {"view:sales.open_orders"}, false, &dropped).ok());
  s = lock_->Rename(Ctx("alice-token").get(), rename, &renamed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(renamed.object().object(), "table:sales.purchases");
  EXPECT_EQ(renamed.object().latest_version(), 2u);  // continues version 1 of sales.orders
  EXPECT_EQ(renamed.object().renamed_from(), "table:sales.orders");
  EXPECT_THAT(renamed.object().definition(), HasSubstr("CREATE TABLE sales.purchases"));
  EXPECT_EQ(renamed.previous().renamed_to(), "table:sales.purchases");
  ASSERT_EQ(renamed.followers_size(), 1);  // the index follows its table
  EXPECT_THAT(renamed.followers(0).definition(), HasSubstr("ON sales.purchases"));

  // The columns, in the next version under the new name.
  v1::CheckInRequest ci;
  ci.set_object("table:sales.purchases");
  ci.set_definition(WithAmountAndState(Definition("table:sales.purchases")));
  ci.set_message("clearer names");
  ci.add_rename_columns("total=amount");
  ci.add_rename_columns("status=state");
  v1::CheckInResponse done;
  s = lock_->CheckIn(Ctx("alice-token").get(), ci, &done);
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << ci.definition();
  s = CheckIn("alice-token", "function:sales.customer_total(integer)",
              ReplaceAll(ReplaceAll(Definition("function:sales.customer_total(integer)"), "sum(total)", "sum(amount)"),
                          "sales.orders", "sales.purchases"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::UndoCheckOutRequest undo;
  undo.add_objects("index:sales.orders_by_customer");
  v1::UndoCheckOutResponse undone;
  ASSERT_TRUE(lock_->UndoCheckOut(Ctx("alice-token").get(), undo, &undone).ok());

  // The old name resolves, with a notice; the log shows both names.
  std::string out;
  ASSERT_EQ(RunCli(stack_->endpoint(), "alice-token", "show sales.orders", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("table:sales.orders was renamed to table:sales.purchases"));
  EXPECT_THAT(out, HasSubstr("object:       table:sales.purchases"));
  ASSERT_EQ(RunCli(stack_->history_endpoint(), "alice-token", "log table:sales.purchases", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("2 renamed from table:sales.orders"));
  EXPECT_THAT(out, HasSubstr("1 (as table:sales.orders)"));
  // A check-out of the old name is a check-out of the renamed table; --new
  // takes the old name for a new object.
  ASSERT_EQ(RunCli(stack_->endpoint(), "bob-token", "checkout table:sales.orders", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("checked out table:sales.purchases"));
  ASSERT_EQ(RunCli(stack_->endpoint(), "bob-token", "undo table:sales.purchases", &out), 0) << out;
  ASSERT_EQ(RunCli(stack_->endpoint(), "bob-token", "checkout --new table:sales.orders", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("checked out table:sales.orders (latest version 2, dropped)"));
  ASSERT_EQ(RunCli(stack_->endpoint(), "bob-token", "undo table:sales.orders", &out), 0) << out;

  // A release that names the renamed table (with the index that followed it
  // and the view it drops, or its objects would not load together) takes
  // the old name along, out of its state, as a change; the rest is as in r0.
  v1::CreateReleaseRequest only;
  only.set_name("purchases-only");
  only.add_objects("table:sales.purchases");
  only.add_objects("index:sales.orders_by_customer");
  only.add_objects("view:sales.open_orders");
  v1::Release partial;
  s = deploy_->CreateRelease(Ctx("rita-token").get(), only, &partial);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(partial.changed(), ::testing::IsSupersetOf({"table:sales.orders", "table:sales.purchases"}));
  std::vector<std::string> in_partial;
  for (const auto& e : partial.entries()) in_partial.push_back(e.object());
  EXPECT_THAT(in_partial, ::testing::Contains("table:sales.purchases"));
  EXPECT_THAT(in_partial, ::testing::Not(::testing::Contains("table:sales.orders")));

  CreateRelease("r1");
  v1::DeploymentPlan plan;
  s = PlanOf("r1", "dev", &plan);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(plan.script(), HasSubstr("ALTER TABLE sales.orders RENAME TO purchases;"));
  EXPECT_THAT(plan.script(), HasSubstr("ALTER TABLE sales.purchases RENAME COLUMN total TO amount;"));
  EXPECT_THAT(plan.script(), HasSubstr("ALTER TABLE sales.purchases RENAME COLUMN status TO state;"));
  EXPECT_THAT(plan.script(), HasSubstr("DROP VIEW sales.open_orders"));
  EXPECT_THAT(plan.script(), ::testing::Not(HasSubstr("DROP TABLE")));
  EXPECT_THAT(plan.script(), ::testing::Not(HasSubstr("CREATE TABLE")));
  EXPECT_EQ(plan.data_loss_size(), 0) << plan.script();
  bool rename_finding = false;
  for (const auto& f : plan.findings()) {
    EXPECT_NE(f.code(), "drop-table") << f.reason();
    EXPECT_NE(f.code(), "drop-column") << f.reason();
    rename_finding |= f.code() == "rename-object" && f.object() == "table:sales.purchases";
  }
  EXPECT_TRUE(rename_finding);

  v1::Deployment d;
  ASSERT_TRUE(Deploy("alice-token", "r1", "dev", &d).ok());
  EXPECT_EQ(d.status(), "succeeded");
  EXPECT_EQ(OrdersChecksum("sales.purchases", "amount", "state"), before);
  EXPECT_EQ(Count(url("dev"), "SELECT count(*) FROM pg_class WHERE relname IN ('orders', 'open_orders')"), 0);
  // What PostgreSQL rewrote (the index) and what the release changed (the
  // function's body) work on the renamed table.
  EXPECT_EQ(Count(url("dev"), "SELECT count(*) FROM pg_indexes WHERE indexname = 'orders_by_customer' AND "
                              "tablename = 'purchases'"),
            1);
  EXPECT_EQ(Count(url("dev"), "SELECT sales.customer_total(1)::bigint"), 50005000) << "1 + 2 + ... + 10,000";
  ExpectNoDrift("dev");

  // qa, imported again after the rename, still holds the old names: the
  // import matches them to the versions they had (nothing is created or
  // revived), and the plan for qa renames there too.
  v1::ImportRequest ireq;
  ireq.set_environment("qa");
  v1::ImportResponse imported;
  s = deploy_->Import(Ctx("dana-token", 120).get(), ireq, &imported);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(imported.matched(), ::testing::Contains("table:sales.orders v1")) << imported.DebugString();
  EXPECT_THAT(imported.created(), ::testing::IsEmpty()) << imported.DebugString();
  v1::GetObjectRequest old_name;
  old_name.set_object("table:sales.orders");
  v1::ObjectHead old_head;
  ASSERT_TRUE(lock_->GetObject(Ctx("alice-token").get(), old_name, &old_head).ok());
  EXPECT_EQ(old_head.renamed_to(), "table:sales.purchases") << "still renamed away after the import";
  v1::DeploymentPlan qa_plan;
  s = PlanOf("r1", "qa", &qa_plan);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(qa_plan.script(), HasSubstr("ALTER TABLE sales.orders RENAME TO purchases;"));
  EXPECT_THAT(qa_plan.script(), ::testing::Not(HasSubstr("DROP TABLE")));

  s = RollBack("dev", &d);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(OrdersChecksum("sales.orders", "total", "status"), before);
  EXPECT_EQ(FactsOf(url("dev")), facts_before);
}

// Issue 20: `checkin TYPE --rename-column OLD=NEW` on an enum renames a
// label; the release runs ALTER TYPE ... RENAME VALUE, so the rows using it
// keep it under the new label (never a rebuilt type), and the rollback
// renames it back.
TEST_P(DeployE2ETest, ARenamedEnumLabelKeepsTheRowsThatUseIt) {
  ImportShop();
  AddOrders();
  const std::string shipped_rows = "SELECT count(*) * 1000000 + sum(total)::bigint FROM sales.orders WHERE status = ";
  const long long shipped = Count(url("dev"), shipped_rows + "'shipped'");
  const auto facts_before = FactsOf(url("dev"));
  ASSERT_TRUE(CheckOut("alice-token", "type:sales.order_status").ok());
  const std::string type = ReplaceAll(Definition("type:sales.order_status"), "'shipped'", "'sent'");
  v1::CheckInRequest ci;
  ci.set_object("type:sales.order_status");
  ci.set_definition(type);
  ci.set_message("sent, not shipped");
  ci.add_rename_columns("lost=found");
  v1::CheckInResponse done;
  auto s = lock_->CheckIn(Ctx("alice-token").get(), ci, &done);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("has no label lost to rename"));
  ci.clear_rename_columns();
  ci.add_rename_columns("shipped=sent");
  s = lock_->CheckIn(Ctx("alice-token").get(), ci, &done);
  ASSERT_TRUE(s.ok()) << s.error_message() << "\n" << type;
  ASSERT_TRUE(CheckOut("alice-token", "view:sales.open_orders").ok());
  s = CheckIn("alice-token", "view:sales.open_orders",
              ReplaceAll(Definition("view:sales.open_orders"), "'shipped'", "'sent'"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  CreateRelease("r1");

  v1::DeploymentPlan plan;
  s = PlanOf("r1", "dev", &plan);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(plan.script(), HasSubstr("ALTER TYPE sales.order_status RENAME VALUE 'shipped' TO 'sent';"));
  EXPECT_THAT(plan.script(), ::testing::Not(HasSubstr("DROP TYPE")));
  EXPECT_EQ(plan.data_loss_size(), 0) << plan.script();
  for (const auto& f : plan.findings()) EXPECT_NE(f.code(), "enum-value-removed") << f.reason();

  v1::Deployment d;
  ASSERT_TRUE(Deploy("alice-token", "r1", "dev", &d).ok());
  EXPECT_EQ(d.status(), "succeeded");
  EXPECT_EQ(Count(url("dev"), shipped_rows + "'sent'"), shipped);
  EXPECT_EQ(Count(url("dev"), "SELECT count(*) FROM sales.open_orders"), 6667);
  ExpectNoDrift("dev");

  s = RollBack("dev", &d);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(Count(url("dev"), shipped_rows + "'shipped'"), shipped);
  EXPECT_EQ(FactsOf(url("dev")), facts_before);
}

// Issue 20: `strata rename schema:sales shop` moves every object in it,
// each keeping its history; the release runs one ALTER SCHEMA (no object is
// dropped or created), the rows stay, and the rollback renames it back.
TEST_P(DeployE2ETest, ARenamedSchemaMovesItsObjectsAndKeepsTheirRows) {
  ImportShop();
  AddOrders();
  const long long before = OrdersChecksum("sales.orders", "total", "status");
  const auto facts_before = FactsOf(url("dev"));
  ASSERT_TRUE(CheckOut("alice-token", "schema:sales").ok());
  v1::RenameRequest rename;
  rename.set_object("schema:sales");
  rename.set_to("shop");
  rename.set_message("the shop has its own schema name");
  v1::RenameResponse renamed;
  auto s = lock_->Rename(Ctx("alice-token").get(), rename, &renamed);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("must be checked out by you"));
  EXPECT_THAT(s.error_message(), HasSubstr("table:sales.orders"));
  // The objects it names, checked out; then the rename goes through.
  const std::string message = s.error_message();
  const size_t from = message.find("not yours: ") + 11;
  std::vector<std::string> members;
  for (std::istringstream in(message.substr(from, message.find(" (strata", from) - from)); in >> members.emplace_back();) {
  }
  members.pop_back();
  ASSERT_GE(members.size(), 6u) << message;
  for (const auto& m : members) ASSERT_TRUE(CheckOut("alice-token", m).ok()) << m;
  s = lock_->Rename(Ctx("alice-token").get(), rename, &renamed);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(renamed.object().object(), "schema:shop");
  EXPECT_EQ(renamed.previous().renamed_to(), "schema:shop");
  ASSERT_EQ(static_cast<size_t>(renamed.followers_size()), members.size());
  for (const auto& f : renamed.followers()) EXPECT_EQ(f.schema(), "shop") << f.object();
  EXPECT_THAT(Definition("view:shop.open_orders"), HasSubstr("FROM shop.orders"));
  ASSERT_EQ(renamed.warnings_size(), 1);
  EXPECT_THAT(renamed.warnings(0), HasSubstr("function:shop.customer_total(integer) still names sales.orders"));
  // The function body is the caller's to change (PostgreSQL does not rewrite it).
  ASSERT_TRUE(CheckOut("alice-token", "function:shop.customer_total(integer)").ok());
  s = CheckIn("alice-token", "function:shop.customer_total(integer)",
              ReplaceAll(Definition("function:shop.customer_total(integer)"), "sales.orders", "shop.orders"));
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::string out;
  ASSERT_EQ(RunCli(stack_->history_endpoint(), "vera-token", "log table:shop.orders", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("renamed from table:sales.orders"));

  CreateRelease("r1");
  v1::DeploymentPlan plan;
  s = PlanOf("r1", "dev", &plan);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(plan.script(), HasSubstr("ALTER SCHEMA sales RENAME TO shop;"));
  EXPECT_THAT(plan.script(), ::testing::Not(HasSubstr("SET SCHEMA")));
  EXPECT_THAT(plan.script(), ::testing::Not(HasSubstr("DROP TABLE")));
  EXPECT_THAT(plan.script(), ::testing::Not(HasSubstr("CREATE TABLE")));
  EXPECT_EQ(plan.data_loss_size(), 0) << plan.script();

  v1::Deployment d;
  ASSERT_TRUE(Deploy("alice-token", "r1", "dev", &d).ok());
  EXPECT_EQ(d.status(), "succeeded");
  EXPECT_EQ(OrdersChecksum("shop.orders", "total", "status"), before);
  EXPECT_EQ(Count(url("dev"), "SELECT shop.customer_total(1)::bigint"), 50005000);
  EXPECT_EQ(Count(url("dev"), "SELECT count(*) FROM pg_namespace WHERE nspname = 'sales'"), 0);
  ExpectNoDrift("dev");

  s = RollBack("dev", &d);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(OrdersChecksum("sales.orders", "total", "status"), before);
  EXPECT_EQ(FactsOf(url("dev")), facts_before);
}

// Issue 21: a release whose objects do not load together into PostgreSQL is
// refused at creation, naming the object (here a view checked in on a lock
// service without a shadow database, so only parsed).
TEST_P(DeployE2ETest, AReleaseWhoseObjectsDoNotLoadTogetherIsRefusedNamingTheObject) {
  ImportShop();
  ASSERT_TRUE(CheckOut("alice-token", "view:sales.open_orders").ok());
  auto s = CheckIn("alice-token", "view:sales.open_orders",
                   "CREATE VIEW sales.open_orders AS\nSELECT id, nope FROM sales.orders;\n");
  ASSERT_TRUE(s.ok()) << s.error_message();
  grpc::Status created;
  CreateRelease("r-bad", {}, &created);
  EXPECT_EQ(created.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(created.error_message(), HasSubstr("release r-bad: its objects do not load together"));
  EXPECT_THAT(created.error_message(), HasSubstr("view:sales.open_orders v2:2:"));
  EXPECT_THAT(created.error_message(), HasSubstr("column \"nope\" does not exist"));

  // A data script over --max-definition-bytes: its size and the limit, in words.
  v1::DataScript big;
  big.set_name("seed.sql");
  big.set_sql("-- " + std::string(10 * 1000 * 1000, 'x') + "\nSELECT 1;\n");
  CreateRelease("r-big", {big}, &created);
  EXPECT_EQ(created.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(created.error_message(),
              HasSubstr("data script seed.sql is " + std::to_string(big.sql().size()) +
                        " bytes; the limit is 8388608 bytes (--max-definition-bytes)"));
}

TEST_P(DeployE2ETest, TwoDeploymentsToOneEnvironmentAtOnceOneRunsTheOtherIsRefused) {
  ImportShop();
  Change("alice-token", "table:sales.orders", "total numeric(12,2) NOT NULL", "total numeric(12,2) NOT NULL,\n    note text");
  v1::DataScript slow;
  slow.set_name("slow.sql");
  slow.set_sql("SELECT pg_sleep(2);");
  CreateRelease("r1", {slow});
  auto first = std::async(std::launch::async, [&] { return Deploy("alice-token", "r1", "dev"); });
  auto second = std::async(std::launch::async, [&] { return Deploy("bob-token", "r1", "dev"); });
  grpc::Status a = first.get(), b = second.get();
  EXPECT_NE(a.ok(), b.ok()) << a.error_message() << " / " << b.error_message();
  const grpc::Status& loser = a.ok() ? b : a;
  EXPECT_EQ(loser.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << loser.error_message();
  EXPECT_THAT(loser.error_message(), HasSubstr("one deployment at a time"));
  EXPECT_EQ(Count(url("dev"), "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"), 1);
}

// The deploy service dies mid-deployment while the environment's database
// cannot be reached afterwards: nobody can read back whether it committed,
// so the deployment stays running until a dba abandons it. (When the
// database can be reached, the deploy service records the outcome itself:
// deploy_recovery_test.cc.)
TEST_P(DeployE2ETest, ADeploymentWhoseServerDiedRollsBackAndADbaAbandonsItWhenItsDatabaseIsUnreachable) {
  ImportShop();
  Change("alice-token", "table:sales.orders", "total numeric(12,2) NOT NULL", "total numeric(12,2) NOT NULL,\n    note text");
  v1::DataScript slow;
  slow.set_name("slow.sql");
  slow.set_sql("SELECT pg_sleep(30);");
  CreateRelease("r1", {slow});
  const auto before = FactsOf(url("dev"));
  auto running = std::async(std::launch::async, [&] { return Deploy("alice-token", "r1", "dev"); });
  v1::GetEnvironmentRequest ereq;
  ereq.set_name("dev");
  v1::Environment env;
  for (int i = 0; i < 300 && env.running_deployment().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ASSERT_TRUE(deploy_->GetEnvironment(Ctx("vera-token").get(), ereq, &env).ok());
  }
  ASSERT_FALSE(env.running_deployment().empty());
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // inside the transaction now
  v1::AbandonRequest early;
  early.set_environment("dev");
  early.set_reason("impatient");
  v1::Deployment not_abandoned;
  auto alive = deploy_->Abandon(Ctx("dana-token").get(), early, &not_abandoned);
  EXPECT_EQ(alive.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(alive.error_message(), HasSubstr("still running in PostgreSQL"));
  stack_->Stop(SIGKILL);
  EXPECT_FALSE(running.get().ok());
  // PostgreSQL notices the dead client and rolls back (client_connection_check_interval).
  const std::string sleeping =
      "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()";
  for (int i = 0; i < 100 && Count(TestServerUrl(), sleeping) > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(Count(TestServerUrl(), sleeping), 0) << "the orphaned transaction should end within seconds, not run on";
  EXPECT_EQ(FactsOf(url("dev")), before);

  // The database is out of reach (renamed away) when the service restarts.
  const std::string name = dbs_.at("dev")->name();
  Exec(TestServerUrl(), "ALTER DATABASE " + name + " RENAME TO " + name + "_away");
  stack_->Start("boston", extra_);
  Connect();
  std::this_thread::sleep_for(std::chrono::seconds(6));  // more than a recovery round
  ASSERT_TRUE(deploy_->GetEnvironment(Ctx("vera-token").get(), ereq, &env).ok());
  EXPECT_FALSE(env.running_deployment().empty()) << "nobody can know its outcome yet";
  auto blocked = Deploy("alice-token", "r1", "dev");
  EXPECT_EQ(blocked.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(blocked.error_message(), HasSubstr("is running on dev"));
  v1::AbandonRequest areq;
  areq.set_environment("dev");
  areq.set_reason("server crashed during the deployment");
  v1::Deployment abandoned;
  EXPECT_EQ(deploy_->Abandon(Ctx("alice-token").get(), areq, &abandoned).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  auto s = deploy_->Abandon(Ctx("dana-token").get(), areq, &abandoned);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(abandoned.status(), "failed");
  EXPECT_THAT(abandoned.error(), HasSubstr("abandoned by dana: server crashed"));
  EXPECT_THAT(abandoned.error(), HasSubstr("could not be reached"));
  Exec(TestServerUrl(), "ALTER DATABASE " + name + "_away RENAME TO " + name);
  v1::CheckDriftRequest dreq;
  dreq.set_environment("dev");
  v1::DriftReport report;
  ASSERT_TRUE(deploy_->CheckDrift(Ctx("vera-token", 120).get(), dreq, &report).ok());
  EXPECT_FALSE(report.drifted()) << report.DebugString();
}

INSTANTIATE_TEST_SUITE_P(Backends, DeployE2ETest, ::testing::Values("embedded", "kafka"));

}  // namespace
}  // namespace strata::testing
