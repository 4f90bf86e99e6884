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
#include <thread>

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
    stack_ = std::make_unique<Stack>(GetParam(), nullptr, /*with_history=*/true);
    stack_->Start("boston");
    lock_ = stack_->Stub();
    history_ = stack_->HistoryStub();
    if (GetParam() == "kafka") {
      london_ = std::make_unique<Stack>("kafka", stack_->broker());
      london_->Start("london");
      bob_lock_ = london_->Stub();
    }
  }
  // bob works at the other site: the london instance on Kafka.
  v1::LockService::Stub& Bob() { return bob_lock_ ? *bob_lock_ : *lock_; }

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

INSTANTIATE_TEST_SUITE_P(Backends, PolicyE2ETest, ::testing::Values("embedded", "kafka"));

}  // namespace
}  // namespace strata::testing
