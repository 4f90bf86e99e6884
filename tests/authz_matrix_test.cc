// Who may do what: every role of the token file against every RPC family of
// the four services, on real processes. A call is "allowed" when the server
// does not answer PERMISSION_DENIED (it may still fail for other reasons:
// an unknown release, an unreachable database); "denied" when it does.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <set>

#include "support/stack.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;

// One token per role (the shared token file has them: vera viewer, alice
// developer, dana dba, rita release-manager; adam admin is added here).
const std::vector<std::pair<std::string, std::string>> kRoles = {
    {"viewer", "vera-token"}, {"developer", "alice-token"}, {"dba", "dana-token"},
    {"release-manager", "rita-token"}, {"admin", "adam-token"}};

class AuthzMatrixTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(GetParam(), nullptr, /*with_history=*/true, /*with_impact=*/true,
                                     /*with_deploy=*/true);
    stack_->Start();
    stack_->AddTokensAndHangUp("  - {token: adam-token, user: adam, site: hq, roles: [admin]}\n");
    lock_ = stack_->Stub();
    history_ = stack_->HistoryStub();
    impact_ = stack_->ImpactStub();
    deploy_ = stack_->DeployStub();
    for (int i = 0; i < 100; ++i) {  // until the reload is in
      v1::WhoAmIResponse me;
      if (lock_->WhoAmI(Ctx("adam-token").get(), {}, &me).ok()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // An environment to deploy to, unreachable on purpose: nothing here needs a database.
    v1::AddEnvironmentRequest env;
    env.set_name("dev");
    env.set_url("postgres://nobody@127.0.0.1:1/none");
    v1::Environment e;
    ASSERT_TRUE(deploy_->AddEnvironment(Ctx("dana-token").get(), env, &e).ok());
    env.set_name("prod");
    env.set_protected_(true);
    ASSERT_TRUE(deploy_->AddEnvironment(Ctx("dana-token").get(), env, &e).ok());
  }

  // RPC family -> a call with `token`.
  std::map<std::string, std::function<grpc::Status(const std::string&)>> Families() {
    using Fn = std::function<grpc::Status(const std::string&)>;
    std::map<std::string, Fn> f;
    f["lock.read"] = [&](const std::string& t) {
      v1::ListLocksResponse r;
      return lock_->ListLocks(Ctx(t).get(), {}, &r);
    };
    f["lock.checkout"] = [&](const std::string& t) {
      v1::CheckOutRequest req;
      req.add_objects("table:app.t_" + t.substr(0, t.find('-')));
      v1::CheckOutResponse r;
      return lock_->CheckOut(Ctx(t).get(), req, &r);
    };
    f["lock.force_release"] = [&](const std::string& t) {
      v1::ForceReleaseRequest req;
      req.set_object("table:app.nothing");
      req.set_reason("matrix");
      v1::ForceReleaseResponse r;
      return lock_->ForceRelease(Ctx(t).get(), req, &r);
    };
    f["history.read"] = [&](const std::string& t) {
      v1::QueryAuditResponse r;
      return history_->QueryAudit(Ctx(t).get(), {}, &r);
    };
    f["history.baseline_create"] = [&](const std::string& t) {
      v1::CreateBaselineRequest req;
      req.set_name("b-" + t.substr(0, t.find('-')));
      v1::Baseline r;
      return history_->CreateBaseline(Ctx(t).get(), req, &r);
    };
    f["impact.read"] = [&](const std::string& t) {
      v1::DependencyRequest req;
      req.set_object("table:app.nothing");
      v1::DependencyTree r;
      return impact_->GetDependents(Ctx(t).get(), req, &r);
    };
    f["deploy.read"] = [&](const std::string& t) {
      v1::PipelineResponse r;
      return deploy_->Pipeline(Ctx(t).get(), {}, &r);
    };
    f["deploy.env_add"] = [&](const std::string& t) {
      v1::AddEnvironmentRequest req;
      req.set_name("e-" + t.substr(0, t.find('-')));
      req.set_url("postgres://nobody@127.0.0.1:1/none");
      v1::Environment r;
      return deploy_->AddEnvironment(Ctx(t).get(), req, &r);
    };
    f["deploy.import"] = [&](const std::string& t) {
      v1::ImportRequest req;
      req.set_environment("dev");
      v1::ImportResponse r;
      return deploy_->Import(Ctx(t).get(), req, &r);
    };
    f["deploy.release_create"] = [&](const std::string& t) {
      v1::CreateReleaseRequest req;
      req.set_name("r-" + t.substr(0, t.find('-')));
      v1::Release r;
      return deploy_->CreateRelease(Ctx(t).get(), req, &r);
    };
    f["deploy.approve"] = [&](const std::string& t) {
      v1::ApproveRequest req;
      req.set_release("no-such-release");
      req.set_environment("prod");
      v1::Release r;
      return deploy_->Approve(Ctx(t).get(), req, &r);
    };
    f["deploy.deploy"] = [&](const std::string& t) {
      v1::DeployRequest req;
      req.set_release("no-such-release");
      req.set_environment("dev");
      v1::Deployment r;
      return deploy_->Deploy(Ctx(t).get(), req, &r);
    };
    f["deploy.deploy_protected"] = [&](const std::string& t) {
      v1::DeployRequest req;
      req.set_release("no-such-release");
      req.set_environment("prod");
      v1::Deployment r;
      return deploy_->Deploy(Ctx(t).get(), req, &r);
    };
    f["deploy.abandon"] = [&](const std::string& t) {
      v1::AbandonRequest req;
      req.set_environment("dev");
      req.set_reason("matrix");
      v1::Deployment r;
      return deploy_->Abandon(Ctx(t).get(), req, &r);
    };
    f["deploy.guard_install"] = [&](const std::string& t) {
      v1::GuardRequest req;
      req.set_environment("dev");
      v1::GuardReport r;
      return deploy_->GuardInstall(Ctx(t).get(), req, &r);
    };
    f["deploy.guard_status"] = [&](const std::string& t) {
      v1::GuardRequest req;
      req.set_environment("dev");
      v1::GuardReport r;
      return deploy_->GuardStatus(Ctx(t).get(), req, &r);
    };
    f["lock.policy_read"] = [&](const std::string& t) {
      v1::PolicyVersion r;
      return lock_->GetPolicy(Ctx(t).get(), {}, &r);
    };
    f["lock.policy_set"] = [&](const std::string& t) {
      v1::SetPolicyRequest req;
      req.set_yaml("rules:\n  require-primary-key: warning\n");
      v1::PolicyVersion r;
      return lock_->SetPolicy(Ctx(t).get(), req, &r);
    };
    f["lock.policy_waive"] = [&](const std::string& t) {
      v1::WaiveRequest req;
      req.set_object("table:app.nothing");
      req.set_rule("naming-table");
      req.set_reason("matrix");
      v1::Waiver r;
      return lock_->Waive(Ctx(t).get(), req, &r);
    };
    f["deploy.data_read"] = [&](const std::string& t) {
      v1::ListDataResponse r;
      return deploy_->ListData(Ctx(t).get(), {}, &r);
    };
    f["deploy.data_track"] = [&](const std::string& t) {
      v1::TrackDataRequest req;
      req.set_table("app.nothing");
      v1::DataTable r;
      return deploy_->TrackData(Ctx(t).get(), req, &r);
    };
    f["deploy.data_checkin"] = [&](const std::string& t) {
      v1::CheckInDataRequest req;
      req.set_table("app.nothing");
      req.set_rows("id\n1\n");
      v1::DataVersion r;
      return deploy_->CheckInData(Ctx(t).get(), req, &r);
    };
    return f;
  }

  std::unique_ptr<Stack> stack_;
  std::unique_ptr<v1::LockService::Stub> lock_;
  std::unique_ptr<v1::HistoryService::Stub> history_;
  std::unique_ptr<v1::ImpactService::Stub> impact_;
  std::unique_ptr<v1::DeployService::Stub> deploy_;
};

TEST_P(AuthzMatrixTest, EachRoleAgainstEachRpcFamily) {
  // The specification (docs/deploy.md, README): which roles each family admits.
  const std::map<std::string, std::set<std::string>> allowed = {
      {"lock.read", {"viewer", "developer", "dba", "release-manager", "admin"}},
      {"lock.checkout", {"developer", "dba", "admin"}},
      {"lock.force_release", {"dba", "admin"}},
      {"history.read", {"viewer", "developer", "dba", "release-manager", "admin"}},
      {"history.baseline_create", {"developer", "dba", "release-manager", "admin"}},
      {"impact.read", {"viewer", "developer", "dba", "release-manager", "admin"}},
      {"deploy.read", {"viewer", "developer", "dba", "release-manager", "admin"}},
      {"deploy.env_add", {"dba", "admin"}},
      {"deploy.import", {"dba", "admin"}},
      {"deploy.release_create", {"dba", "release-manager", "admin"}},
      {"deploy.approve", {"release-manager", "admin"}},
      {"deploy.deploy", {"developer", "dba", "release-manager", "admin"}},
      {"deploy.deploy_protected", {"dba", "release-manager", "admin"}},
      {"deploy.abandon", {"dba", "admin"}},
      {"deploy.guard_install", {"dba", "admin"}},
      {"deploy.guard_status", {"viewer", "developer", "dba", "release-manager", "admin"}},
      {"deploy.data_read", {"viewer", "developer", "dba", "release-manager", "admin"}},
      {"lock.policy_read", {"viewer", "developer", "dba", "release-manager", "admin"}},
      {"lock.policy_set", {"dba", "admin"}},
      {"lock.policy_waive", {"dba", "admin"}},
      {"deploy.data_track", {"dba", "admin"}},
      {"deploy.data_checkin", {"developer", "dba", "admin"}},
  };
  auto families = Families();
  ASSERT_EQ(families.size(), allowed.size());
  for (auto& [family, call] : families) {
    for (const auto& [role, token] : kRoles) {
      grpc::Status s = call(token);
      const bool expect_allowed = allowed.at(family).count(role) > 0;
      if (expect_allowed) {
        EXPECT_NE(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << family << " as " << role << ": " << s.error_message();
      } else {
        EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED)
            << family << " as " << role << " should be denied; got " << s.error_code() << " " << s.error_message();
        EXPECT_THAT(s.error_message(), HasSubstr(role)) << "the message names what the caller has";
      }
    }
  }
  // Denied attempts are in the audit trail.
  v1::QueryAuditRequest req;
  req.set_outcome("refused");
  req.set_user("vera");
  v1::QueryAuditResponse resp;
  for (int i = 0; i < 100; ++i) {
    resp.Clear();
    ASSERT_TRUE(history_->QueryAudit(Ctx("dana-token").get(), req, &resp).ok());
    if (resp.entries_size() >= 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::set<std::string> actions;
  for (const auto& e : resp.entries()) actions.insert(e.record().action());
  EXPECT_THAT(actions, ::testing::IsSupersetOf({"checkout", "deploy"}));
}

// A schema scope limits reads too: carol (developer on billing.* only) cannot
// read sales objects, their history or impact, and lists, audit trail and
// status show her only what is in scope.
TEST_P(AuthzMatrixTest, SchemaScopeLimitsReads) {
  auto check_in = [&](const std::string& token, const std::string& object, const std::string& sql) {
    v1::CheckOutRequest co;
    co.add_objects(object);
    v1::CheckOutResponse cor;
    ASSERT_TRUE(lock_->CheckOut(Ctx(token).get(), co, &cor).ok()) << object;
    v1::CheckInRequest ci;
    ci.set_object(object);
    ci.set_definition(sql);
    ci.set_message("first");
    v1::CheckInResponse cir;
    auto s = lock_->CheckIn(Ctx(token).get(), ci, &cir);
    ASSERT_TRUE(s.ok()) << s.error_message();
  };
  check_in("alice-token", "table:sales.orders", "CREATE TABLE sales.orders (id int PRIMARY KEY);");
  check_in("carol-token", "table:billing.invoices", "CREATE TABLE billing.invoices (id int PRIMARY KEY);");
  v1::CheckOutRequest hold;
  hold.add_objects("table:sales.customers");
  v1::CheckOutResponse held;
  ASSERT_TRUE(lock_->CheckOut(Ctx("alice-token").get(), hold, &held).ok());

  auto expect_denied = [](const grpc::Status& s, const char* what) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << what << ": " << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("carol may work on billing.* only")) << what;
  };
  v1::GetObjectRequest get;
  get.set_object("table:sales.orders");
  v1::ObjectHead head;
  expect_denied(lock_->GetObject(Ctx("carol-token").get(), get, &head), "lock GetObject");
  get.set_object("table:billing.invoices");
  EXPECT_TRUE(lock_->GetObject(Ctx("carol-token").get(), get, &head).ok());

  v1::ListVersionsRequest lv;
  lv.set_object("table:sales.orders");
  v1::ListVersionsResponse versions;
  expect_denied(history_->ListVersions(Ctx("carol-token").get(), lv, &versions), "history ListVersions");
  v1::GetVersionRequest gv;
  gv.set_object("table:sales.orders");
  gv.set_version(1);
  v1::Version version;
  expect_denied(history_->GetVersion(Ctx("carol-token").get(), gv, &version), "history GetVersion");
  EXPECT_TRUE(history_->GetVersion(Ctx("dana-token").get(), gv, &version).ok()) << "unscoped users read it";
  gv.set_object("table:billing.invoices");
  EXPECT_TRUE(history_->GetVersion(Ctx("carol-token").get(), gv, &version).ok());

  v1::DependencyRequest dep;
  dep.set_object("table:sales.orders");
  v1::DependencyTree tree;
  expect_denied(impact_->GetDependents(Ctx("carol-token").get(), dep, &tree), "impact GetDependents");

  v1::ListLocksResponse locks;
  ASSERT_TRUE(lock_->ListLocks(Ctx("carol-token").get(), {}, &locks).ok());
  EXPECT_EQ(locks.locks_size(), 0) << locks.DebugString();
  ASSERT_TRUE(lock_->ListLocks(Ctx("dana-token").get(), {}, &locks).ok());
  EXPECT_EQ(locks.locks_size(), 1);

  v1::QueryAuditRequest audit;
  audit.set_page_size(1000);
  v1::QueryAuditResponse trail;
  ASSERT_TRUE(history_->QueryAudit(Ctx("carol-token").get(), audit, &trail).ok());
  std::set<std::string> objects;
  for (const auto& e : trail.entries()) objects.insert(e.record().object());
  EXPECT_TRUE(objects.count("table:billing.invoices")) << trail.DebugString();
  EXPECT_FALSE(objects.count("table:sales.orders"));
  EXPECT_FALSE(objects.count("table:sales.customers"));
  audit.set_object("table:sales.orders");
  expect_denied(history_->QueryAudit(Ctx("carol-token").get(), audit, &trail), "history QueryAudit by object");

  // The denied reads are in the audit trail.
  v1::QueryAuditRequest refused;
  refused.set_user("carol");
  refused.set_outcome("refused");
  refused.set_action("read");
  v1::QueryAuditResponse refusals;
  for (int i = 0; i < 100; ++i) {
    refusals.Clear();
    ASSERT_TRUE(history_->QueryAudit(Ctx("dana-token").get(), refused, &refusals).ok());
    if (refusals.entries_size() >= 5) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(refusals.entries_size(), 5) << refusals.DebugString();
  for (const auto& e : refusals.entries()) EXPECT_EQ(e.record().object(), "table:sales.orders") << e.DebugString();

  // Baselines and releases show her only the entries in scope; a release that
  // changes objects outside it hides its data scripts' SQL from her.
  v1::CreateBaselineRequest cb;
  cb.set_name("carol-b1");
  v1::Baseline baseline;
  ASSERT_TRUE(history_->CreateBaseline(Ctx("carol-token").get(), cb, &baseline).ok());
  ASSERT_EQ(baseline.entries_size(), 1) << baseline.DebugString();
  EXPECT_EQ(baseline.entries(0).object(), "table:billing.invoices");
  v1::CreateReleaseRequest cr;
  cr.set_name("r-mixed");
  cr.add_objects("table:sales.orders");
  cr.add_objects("table:billing.invoices");
  auto* ds = cr.add_data_scripts();
  ds->set_name("fill");
  ds->set_sql("UPDATE sales.orders SET id = id;");
  v1::Release release;
  auto rs = deploy_->CreateRelease(Ctx("rita-token").get(), cr, &release);
  ASSERT_TRUE(rs.ok()) << rs.error_message();
  v1::GetReleaseRequest gr;
  gr.set_name("r-mixed");
  ASSERT_TRUE(deploy_->GetRelease(Ctx("carol-token").get(), gr, &release).ok());
  for (const auto& e : release.entries()) EXPECT_EQ(e.object(), "table:billing.invoices");
  EXPECT_THAT(release.changed(), ::testing::ElementsAre("table:billing.invoices"));
  ASSERT_EQ(release.data_scripts_size(), 1);
  EXPECT_EQ(release.data_scripts(0).sql(), "");
  ASSERT_TRUE(deploy_->GetRelease(Ctx("dana-token").get(), gr, &release).ok());
  EXPECT_EQ(release.changed_size(), 2);
  EXPECT_NE(release.data_scripts(0).sql(), "");

  v1::StatusResponse status;
  ASSERT_TRUE(history_->Status(Ctx("carol-token").get(), {}, &status).ok());
  for (const auto& u : status.users()) EXPECT_EQ(u.held_size(), 0) << u.DebugString();
  for (const auto& v : status.recent_check_ins()) EXPECT_EQ(v.object(), "table:billing.invoices");
}

INSTANTIATE_TEST_SUITE_P(Backends, AuthzMatrixTest, ::testing::Values("embedded", "kafka"));

}  // namespace
}  // namespace strata::testing
