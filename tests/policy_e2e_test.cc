// End to end, the team's policy (issue 23): set at one site, it refuses a
// badly named table checked in at the other site, naming the rule, the name,
// the pattern and the hint; a dba's waiver lets it through and is in the
// audit trail; warnings inform; the policy is versioned (show, diff), set
// only by a dba, refused with the line of what is wrong; `strata lint` uses
// the policy in force. Real processes, on both logs (on Kafka, the other
// site is a second lock instance on the same log).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <thread>

#include "pg/pg.h"
#include "support/postgres.h"
#include "support/stack.h"

namespace strata::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

constexpr char kPolicy[] = R"(rules:
  naming-table: {severity: error, pattern: "^[a-z][a-z0-9_]*$", hint: "lower case, digits and _"}
  require-primary-key: warning
)";

class PolicyE2ETest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(GetParam(), nullptr, /*with_history=*/true, /*with_impact=*/false,
                                     /*with_deploy=*/true);
    dev_ = std::make_unique<ScratchDatabase>("strata_policy_dev");
    const std::string secrets = stack_->data_dir() + "-secrets.yaml";
    std::ofstream(secrets) << "environments:\n  dev: {password: '" << SplitPassword(dev_->url()).second << "'}\n";
    stack_->Start("boston", {"--shadow-url", TestServerUrl(), "--secrets-file", secrets});
    lock_ = stack_->Stub();
    history_ = stack_->HistoryStub();
    deploy_ = stack_->DeployStub();
    if (GetParam() == "kafka") {
      london_ = std::make_unique<Stack>("kafka", stack_->broker());
      london_->Start("london");
      bob_lock_ = london_->Stub();
    }
  }
  // bob works at the other site: the london instance on Kafka.
  v1::LockService::Stub& Bob() { return bob_lock_ ? *bob_lock_ : *lock_; }

  // dev_ joins the pipeline as environment dev.
  void AddDev() {
    v1::AddEnvironmentRequest env;
    env.set_name("dev");
    env.set_url(SplitPassword(dev_->url()).first);
    v1::Environment added;
    ASSERT_TRUE(deploy_->AddEnvironment(Ctx("dana-token").get(), env, &added).ok());
  }

  // dana sets the policy; returns once bob's site has read that version.
  void SetPolicyAndWait(const std::string& yaml, uint64_t expected_version) {
    v1::SetPolicyRequest set;
    set.set_yaml(yaml);
    v1::PolicyVersion version;
    auto s = lock_->SetPolicy(Ctx("dana-token").get(), set, &version);
    ASSERT_TRUE(s.ok()) << s.error_message();
    ASSERT_EQ(version.version(), expected_version);
    for (int i = 0; i < 200; ++i) {
      v1::PolicyVersion seen;
      if (Bob().GetPolicy(Ctx("bob-token").get(), {}, &seen).ok() && seen.version() == expected_version) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    FAIL() << "the other site did not read policy version " << expected_version;
  }

  grpc::Status CheckIn(const std::string& object, const std::string& sql, v1::CheckInResponse* resp) {
    v1::CheckOutRequest co;
    co.add_objects(object);
    v1::CheckOutResponse held;
    auto s = Bob().CheckOut(Ctx("bob-token").get(), co, &held);
    if (!s.ok() && s.error_code() != grpc::StatusCode::ALREADY_EXISTS) return s;
    v1::CheckInRequest ci;
    ci.set_object(object);
    ci.set_definition(sql);
    ci.set_message("x");
    return Bob().CheckIn(Ctx("bob-token").get(), ci, resp);
  }

  std::unique_ptr<Stack> stack_, london_;
  std::unique_ptr<v1::LockService::Stub> lock_, bob_lock_;
  std::unique_ptr<v1::HistoryService::Stub> history_;
  std::unique_ptr<v1::DeployService::Stub> deploy_;
  std::unique_ptr<ScratchDatabase> dev_;
};

TEST_P(PolicyE2ETest, ASiteRefusesWhatThePolicySetAtAnotherSiteForbidsUntilAWaiver) {
  // Before any policy, nothing is held to one.
  v1::CheckInResponse resp;
  auto s = CheckIn("table:sales.\"Legacy\"", "CREATE TABLE sales.\"Legacy\" (id bigint PRIMARY KEY);", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(resp.warnings().empty()) << resp.DebugString();

  // Only a dba sets it; a wrong file is refused naming its line.
  v1::SetPolicyRequest set;
  set.set_yaml(kPolicy);
  set.set_message("our naming scheme");
  v1::PolicyVersion version;
  s = lock_->SetPolicy(Ctx("alice-token").get(), set, &version);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::SetPolicyRequest bad;
  bad.set_yaml("rules:\n  naming-table: {severity: error}\n  primary-key: warning\n");
  s = lock_->SetPolicy(Ctx("dana-token").get(), bad, &version);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("line 3, column 3: unknown rule `primary-key`"));
  bad.set_yaml("rules:\n  naming-table: {severity: error, pattern: \"[a-\"}\n");
  s = lock_->SetPolicy(Ctx("dana-token").get(), bad, &version);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("line 2"));
  bad.set_yaml("rules:\n  naming-table: {severity: fatal}\n");
  s = lock_->SetPolicy(Ctx("dana-token").get(), bad, &version);
  EXPECT_THAT(s.error_message(), HasSubstr("severity `fatal` does not exist"));
  s = lock_->SetPolicy(Ctx("dana-token").get(), set, &version);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(version.version(), 1u);

  // The other site has it once its projection has read it.
  for (int i = 0; i < 200; ++i) {
    v1::PolicyVersion seen;
    if (Bob().GetPolicy(Ctx("bob-token").get(), {}, &seen).ok() && seen.version() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  s = CheckIn("table:sales.\"OrderLines\"", "CREATE TABLE sales.\"OrderLines\" (id bigint PRIMARY KEY);", &resp);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("table:sales.\"OrderLines\" breaks the team's policy (version 1)"));
  EXPECT_THAT(s.error_message(), HasSubstr("error naming-table: table name \"OrderLines\" does not match "
                                           "^[a-z][a-z0-9_]*$ (hint: lower case, digits and _)"));
  EXPECT_THAT(s.error_message(), HasSubstr("strata policy waive table:sales.\"OrderLines\" RULE -r REASON"));

  // Warnings inform and let it through.
  v1::CheckInResponse warned;
  s = CheckIn("table:sales.notes", "CREATE TABLE sales.notes (line text);", &warned);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(warned.warnings(), Contains(HasSubstr("policy: warning require-primary-key: table notes has no primary key")));

  // A dba's waiver, for this object and rule only.
  v1::WaiveRequest waive;
  waive.set_object("table:sales.\"OrderLines\"");
  waive.set_rule("naming-table");
  waive.set_reason("the vendor's reporting tool needs this name");
  v1::Waiver waiver;
  EXPECT_EQ(lock_->Waive(Ctx("alice-token").get(), waive, &waiver).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  v1::WaiveRequest nameless = waive;
  nameless.clear_reason();
  EXPECT_EQ(lock_->Waive(Ctx("dana-token").get(), nameless, &waiver).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  s = lock_->Waive(Ctx("dana-token").get(), waive, &waiver);
  ASSERT_TRUE(s.ok()) << s.error_message();
  for (int i = 0; i < 200; ++i) {
    v1::PolicyVersion seen;
    if (Bob().GetPolicy(Ctx("bob-token").get(), {}, &seen).ok() && seen.waivers_size() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  s = CheckIn("table:sales.\"OrderLines\"", "CREATE TABLE sales.\"OrderLines\" (id bigint PRIMARY KEY);", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(resp.warnings(), Contains(HasSubstr("error naming-table: table name \"OrderLines\" does not match "
                                                   "^[a-z][a-z0-9_]*$ (hint: lower case, digits and _) (waived by dana: "
                                                   "the vendor's reporting tool needs this name)")));
  s = CheckIn("table:sales.\"Other\"", "CREATE TABLE sales.\"Other\" (id bigint PRIMARY KEY);", &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << "a waiver is for one object";

  // Supervisors see findings and waivers: strata show, strata status.
  v1::GetObjectRequest oreq;
  oreq.set_object("table:sales.\"OrderLines\"");
  v1::ObjectHead head;
  ASSERT_TRUE(lock_->GetObject(Ctx("vera-token").get(), oreq, &head).ok());
  ASSERT_EQ(head.waivers_size(), 1);
  EXPECT_EQ(head.waivers(0).rule(), "naming-table");
  EXPECT_THAT(head.policy_findings(), Contains(HasSubstr("error naming-table: table name \"OrderLines\"")));
  EXPECT_THAT(head.policy_findings(), Contains(HasSubstr("(waived)")));
  std::string shown;
  ASSERT_EQ(RunCli(stack_->endpoint(), "vera-token", "show 'table:sales.\"OrderLines\"'", &shown), 0) << shown;
  EXPECT_THAT(shown, HasSubstr("waived:       naming-table by dana"));
  v1::StatusRequest sreq;
  v1::StatusResponse status;
  for (int i = 0; i < 200; ++i) {
    status.Clear();
    ASSERT_TRUE(history_->Status(Ctx("vera-token").get(), sreq, &status).ok());
    if (status.waivers_size() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_EQ(status.policy_version(), 1u);
  ASSERT_EQ(status.waivers_size(), 1);
  EXPECT_EQ(status.waivers(0).object(), "table:sales.\"OrderLines\"");
  std::map<std::string, std::vector<std::string>> said;
  for (const auto& of : status.findings()) said[of.object()].assign(of.findings().begin(), of.findings().end());
  EXPECT_THAT(said["table:sales.\"OrderLines\""], Contains(HasSubstr("error naming-table: table name \"OrderLines\"")));
  EXPECT_THAT(said["table:sales.\"OrderLines\""], Contains(HasSubstr("(waived)")));
  EXPECT_THAT(said["table:sales.notes"], Contains(HasSubstr("warning require-primary-key")));
  ASSERT_EQ(RunCli(stack_->history_endpoint(), "vera-token", "status", &shown), 0) << shown;
  EXPECT_THAT(shown, HasSubstr("policy version 1 in force; 1 waiver(s):"));
  EXPECT_THAT(shown, HasSubstr("table:sales.notes@1: warning require-primary-key"));

  // The refusal and the waiver are in the audit trail, under the object.
  v1::QueryAuditRequest q;
  q.set_object("table:sales.\"OrderLines\"");
  v1::QueryAuditResponse audit;
  std::vector<std::string> actions;
  for (int i = 0; i < 200; ++i) {
    actions.clear();
    ASSERT_TRUE(history_->QueryAudit(Ctx("vera-token").get(), q, &audit).ok());
    for (const auto& e : audit.entries())
      actions.push_back(e.record().action() + "/" + e.record().outcome());
    if (std::count(actions.begin(), actions.end(), "checkin/accepted") == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_THAT(actions, Contains("checkin/refused"));
  EXPECT_THAT(actions, Contains("policy_waive/accepted"));
  EXPECT_THAT(actions, Contains("checkin/accepted"));

  // Versions: show and diff through the CLI; lint uses the policy in force.
  std::string out;
  std::ofstream(stack_->data_dir() + "-v2.yaml") << kPolicy << "  prefer-timestamptz: error\n";
  ASSERT_EQ(RunCli(stack_->endpoint(), "dana-token", "policy set " + stack_->data_dir() + "-v2.yaml -m stricter", &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("policy version 2 is in force at every site"));
  ASSERT_EQ(RunCli(stack_->endpoint(), "vera-token", "policy diff 1 2", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("+   prefer-timestamptz: error\n"));
  ASSERT_EQ(RunCli(stack_->endpoint(), "vera-token", "policy show --version 1", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("require-primary-key: warning"));
  EXPECT_THAT(out, HasSubstr("# waived: naming-table for table:sales.\"OrderLines\" by dana"));
  std::ofstream(stack_->data_dir() + "-t.sql") << "CREATE TABLE sales.events (id bigint PRIMARY KEY, at timestamp);\n";
  EXPECT_EQ(RunCli(stack_->endpoint(), "vera-token", "lint " + stack_->data_dir() + "-t.sql", &out), 1) << out;
  EXPECT_THAT(out, HasSubstr("policy version 2 from"));
  EXPECT_THAT(out, HasSubstr("error prefer-timestamptz: table:sales.events: column at is timestamp without time zone"));
}

// Work items: the policy requires one at check-out (and its pattern); the
// versions checked in under each are listed by `task show`; a release built
// from two work items carries exactly their objects' versions.
TEST_P(PolicyE2ETest, WorkItemsAreRequiredListedAndReleased) {
  SetPolicyAndWait("rules:\n  require-task: {severity: error, pattern: \"^[A-Z]+-[0-9]+$\", hint: \"the ticket id\"}\n", 1);
  auto work = [&](const std::string& task, const std::string& object, const std::string& sql) {
    v1::CheckOutRequest co;
    co.add_objects(object);
    co.set_task(task);
    v1::CheckOutResponse held;
    auto s = Bob().CheckOut(Ctx("bob-token").get(), co, &held);
    if (!s.ok()) return s;
    v1::CheckInRequest ci;
    ci.set_object(object);
    ci.set_definition(sql);
    ci.set_message(task + " " + object);
    v1::CheckInResponse done;
    return Bob().CheckIn(Ctx("bob-token").get(), ci, &done);
  };
  auto s = work("", "table:sales.a", "");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("require-task: name the work item this change belongs to (strata checkout "
                                           "OBJ --task ID) (hint: the ticket id)"));
  s = work("abc-1", "table:sales.a", "");
  EXPECT_THAT(s.error_message(), HasSubstr("work item \"abc-1\" does not match ^[A-Z]+-[0-9]+$"));

  ASSERT_TRUE(work("ABC-1", "schema:sales", "CREATE SCHEMA sales;").ok());
  ASSERT_TRUE(work("ABC-1", "table:sales.a", "CREATE TABLE sales.a (id bigint PRIMARY KEY);").ok());
  ASSERT_TRUE(work("ABC-2", "table:sales.b", "CREATE TABLE sales.b (id bigint PRIMARY KEY);").ok());
  ASSERT_TRUE(work("ABC-2", "table:sales.a", "CREATE TABLE sales.a (id bigint PRIMARY KEY, note text);").ok());
  ASSERT_TRUE(work("ABC-3", "table:sales.a", "CREATE TABLE sales.a (id bigint PRIMARY KEY, note text, n int);").ok());
  ASSERT_TRUE(work("ABC-3", "table:sales.c", "CREATE TABLE sales.c (id bigint PRIMARY KEY);").ok());

  v1::GetTaskRequest treq;
  treq.set_task("ABC-2");
  v1::Task task;
  for (int i = 0; i < 200 && task.versions_size() < 2; ++i) {
    task.Clear();
    (void)history_->GetTask(Ctx("vera-token").get(), treq, &task);
    if (task.versions_size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_EQ(task.versions_size(), 2) << task.DebugString();
  EXPECT_THAT(task.objects(), ::testing::ElementsAre("table:sales.a", "table:sales.b"));
  EXPECT_EQ(task.versions(0).version(), 2u);
  EXPECT_THAT(task.users(), ::testing::ElementsAre("bob"));
  treq.set_task("NOPE-1");
  EXPECT_EQ(history_->GetTask(Ctx("vera-token").get(), treq, &task).error_code(), grpc::StatusCode::NOT_FOUND);

  // Exactly the two work items' versions: sales.a at v2 (ABC-3 made v3), no sales.c.
  v1::CreateReleaseRequest rreq;
  rreq.set_name("R1");
  rreq.add_tasks("ABC-2");
  rreq.add_tasks("ABC-1");
  v1::Release r1;
  for (int i = 0; i < 200; ++i) {  // the deploy service may still be reading the last check-ins (Kafka)
    s = deploy_->CreateRelease(Ctx("rita-token", 60).get(), rreq, &r1);
    if (s.ok() || s.error_code() != grpc::StatusCode::NOT_FOUND) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::map<std::string, uint64_t> entries;
  for (const auto& e : r1.entries()) entries[e.object()] = e.version();
  EXPECT_EQ(entries, (std::map<std::string, uint64_t>{{"schema:sales", 1}, {"table:sales.a", 2}, {"table:sales.b", 1}}));
  EXPECT_THAT(r1.tasks(), ::testing::ElementsAre("ABC-1", "ABC-2"));
  rreq.clear_tasks();
  rreq.add_tasks("NOPE-1");
  rreq.set_name("R0");
  EXPECT_EQ(deploy_->CreateRelease(Ctx("rita-token", 60).get(), rreq, &r1).error_code(), grpc::StatusCode::NOT_FOUND);

  // A release of everything since R1 says which work items its changes were made under.
  v1::CreateReleaseRequest since;
  since.set_name("R2");
  v1::Release r2;
  s = deploy_->CreateRelease(Ctx("rita-token", 60).get(), since, &r2);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(r2.tasks(), ::testing::ElementsAre("ABC-3"));
  v1::PipelineResponse pipeline;
  ASSERT_TRUE(deploy_->Pipeline(Ctx("vera-token").get(), {}, &pipeline).ok());
  ASSERT_EQ(pipeline.releases_size(), 2);
  EXPECT_THAT(pipeline.releases(0).tasks(), ::testing::ElementsAre("ABC-3"));
  EXPECT_THAT(pipeline.releases(1).tasks(), ::testing::ElementsAre("ABC-1", "ABC-2"));
  std::string out;
  ASSERT_EQ(RunCli(stack_->history_endpoint(), "vera-token", "task show ABC-1", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("ABC-1: 2 objects, 2 versions, by bob"));
}

// A release is held to the policy as a whole: rules that need other objects
// (an index is an object of its own) and a policy set after the check-ins
// reach it; errors block its creation, its plan and its deployment until a
// dba waives them; findings show in the plan.
TEST_P(PolicyE2ETest, ReleasesAndPlansAreHeldToThePolicyAsAWhole) {
  SetPolicyAndWait("rules:\n  require-fk-index: error\n  naming-table: {severity: warning, pattern: \"^t_\"}\n", 1);
  v1::SetPolicyRequest set;
  v1::PolicyVersion version;
  v1::CheckInResponse resp;
  ASSERT_TRUE(CheckIn("schema:sales", "CREATE SCHEMA sales;", &resp).ok());
  ASSERT_TRUE(CheckIn("table:sales.parent", "CREATE TABLE sales.parent (id bigint PRIMARY KEY);", &resp).ok());
  auto s = CheckIn("table:sales.child",
                   "CREATE TABLE sales.child (id bigint PRIMARY KEY, parent_id bigint REFERENCES sales.parent (id));",
                   &resp);
  ASSERT_TRUE(s.ok()) << "the index is another object: not a check-in's business: " << s.error_message();
  EXPECT_THAT(resp.warnings(), Contains(HasSubstr("naming-table")));

  v1::CreateReleaseRequest rreq;
  rreq.set_name("R1");
  v1::Release r1;
  s = deploy_->CreateRelease(Ctx("rita-token", 60).get(), rreq, &r1);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("release R1: its changes break the team's policy (version 1)"));
  EXPECT_THAT(s.error_message(), HasSubstr("table:sales.child: error require-fk-index: foreign key (parent_id) of child"));
  v1::WaiveRequest waive;
  waive.set_object("table:sales.child");
  waive.set_rule("require-fk-index");
  waive.set_reason("a small table");
  v1::Waiver waiver;
  ASSERT_TRUE(lock_->Waive(Ctx("dana-token").get(), waive, &waiver).ok());
  for (int i = 0; i < 200; ++i) {
    s = deploy_->CreateRelease(Ctx("rita-token", 60).get(), rreq, &r1);
    if (s.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_TRUE(s.ok()) << s.error_message();

  AddDev();
  v1::PlanRequest preq;
  preq.set_release("R1");
  preq.set_environment("dev");
  v1::DeploymentPlan plan;
  ASSERT_TRUE(deploy_->Plan(Ctx("alice-token", 120).get(), preq, &plan).ok());
  std::vector<std::string> findings;
  for (const auto& f : plan.findings()) findings.push_back(f.code() + " " + f.object() + " " + f.severity() + ": " + f.reason());
  EXPECT_THAT(findings, Contains(HasSubstr("policy:require-fk-index table:sales.child error: foreign key (parent_id)")));
  EXPECT_THAT(findings, Contains(HasSubstr("(waived)")));
  EXPECT_THAT(findings, Contains(HasSubstr("policy:naming-table table:sales.parent warning")));
  EXPECT_TRUE(plan.blockers().empty()) << plan.DebugString();

  // A stricter policy set afterwards reaches the release: its plan and deployment are blocked.
  set.set_yaml("rules:\n  require-fk-index: error\n  naming-table: {severity: error, pattern: \"^t_\"}\n");
  ASSERT_TRUE(lock_->SetPolicy(Ctx("dana-token").get(), set, &version).ok());
  for (int i = 0; i < 200; ++i) {
    plan.Clear();
    ASSERT_TRUE(deploy_->Plan(Ctx("alice-token", 120).get(), preq, &plan).ok());
    if (!plan.blockers().empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_THAT(plan.blockers(), Contains(HasSubstr("its changes break the team's policy (version 2)")));
  v1::DeployRequest dreq;
  dreq.set_release("R1");
  dreq.set_environment("dev");
  v1::Deployment d;
  s = deploy_->Deploy(Ctx("alice-token", 120).get(), dreq, &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("nothing was run"));
  EXPECT_THAT(s.error_message(), HasSubstr("table:sales.parent: error naming-table"));
}

// The safety of a change at check-in: dropping a column a view still uses is
// named (rule drop-column-in-use), dropping an unused one is not.
TEST_P(PolicyE2ETest, ADroppedColumnAViewStillUsesIsNamed) {
  v1::CheckInResponse resp;
  ASSERT_TRUE(CheckIn("schema:sales", "CREATE SCHEMA sales;", &resp).ok());
  ASSERT_TRUE(CheckIn("table:sales.orders", "CREATE TABLE sales.orders (id bigint PRIMARY KEY, note text, total numeric);",
                      &resp)
                  .ok());
  ASSERT_TRUE(CheckIn("view:sales.totals", "CREATE VIEW sales.totals AS SELECT id, total FROM sales.orders;", &resp).ok());
  SetPolicyAndWait("rules:\n  drop-column-in-use: error\n  drop-column: warning\n", 1);
  auto s = CheckIn("table:sales.orders", "CREATE TABLE sales.orders (id bigint PRIMARY KEY, note text);", &resp);
  ASSERT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("error drop-column-in-use: drops column total, which view:sales.totals still uses"));
  s = CheckIn("table:sales.orders", "CREATE TABLE sales.orders (id bigint PRIMARY KEY, total numeric);", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(resp.warnings(), Contains(HasSubstr("warning drop-column: drops column note")));
}

// require-concurrent-index-creation with min_rows: the plan reads each
// table's size in the environment; an index built without CONCURRENTLY on a
// table over the size is an error there, on a small one nothing.
TEST_P(PolicyE2ETest, AnIndexWithoutConcurrentlyOnALargeTableIsAPlanFinding) {
  SetPolicyAndWait("rules:\n  require-concurrent-index-creation: {severity: error, min_rows: 1000}\n", 1);
  v1::SetPolicyRequest set;
  set.set_yaml("rules:\n  require-concurrent-index-creation: {severity: error, min_rows: many}\n");
  v1::PolicyVersion version;
  EXPECT_THAT(lock_->SetPolicy(Ctx("dana-token").get(), set, &version).error_message(),
              HasSubstr("min_rows must be a number of rows"));
  v1::CheckInResponse resp;
  ASSERT_TRUE(CheckIn("schema:sales", "CREATE SCHEMA sales;", &resp).ok());
  for (const char* t : {"big", "small"}) {
    ASSERT_TRUE(CheckIn(std::string("table:sales.") + t,
                        std::string("CREATE TABLE sales.") + t + " (id bigint PRIMARY KEY, n int);", &resp)
                    .ok());
    auto s = CheckIn(std::string("index:sales.ix_") + t + "_n",
                     std::string("CREATE INDEX ix_") + t + "_n ON sales." + t + " (n);", &resp);
    ASSERT_TRUE(s.ok()) << "the size is the environment's: not a check-in's business: " << s.error_message();
  }
  v1::CreateReleaseRequest rreq;
  rreq.set_name("R1");
  v1::Release r1;
  auto s = deploy_->CreateRelease(Ctx("rita-token", 60).get(), rreq, &r1);
  ASSERT_TRUE(s.ok()) << s.error_message();
  auto db = pg::Session::Connect(dev_->url());
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->Exec("CREATE SCHEMA sales; CREATE TABLE sales.big (id bigint PRIMARY KEY, n int); "
                          "INSERT INTO sales.big SELECT g, g FROM generate_series(1, 5000) g; ANALYZE sales.big; "
                          "CREATE TABLE sales.small (id bigint PRIMARY KEY, n int); ANALYZE sales.small")
                  .ok());
  AddDev();
  v1::PlanRequest preq;
  preq.set_release("R1");
  preq.set_environment("dev");
  v1::DeploymentPlan plan;
  ASSERT_TRUE(deploy_->Plan(Ctx("alice-token", 120).get(), preq, &plan).ok());
  std::vector<std::string> findings;
  for (const auto& f : plan.findings())
    if (f.code() == "policy:require-concurrent-index-creation") findings.push_back(f.object() + ": " + f.reason());
  ASSERT_EQ(findings.size(), 1u) << plan.DebugString();
  EXPECT_THAT(findings[0], HasSubstr("index:sales.ix_big_n: CREATE INDEX without CONCURRENTLY on sales.big, which holds "
                                     "about 5000 rows in dev (more than 1000)"));
  EXPECT_THAT(plan.blockers(), Contains(HasSubstr("its changes break the team's policy (version 1)")));
}

INSTANTIATE_TEST_SUITE_P(Backends, PolicyE2ETest, ::testing::Values("embedded", "kafka"));

}  // namespace
}  // namespace strata::testing
