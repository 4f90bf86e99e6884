// Issue 21: a check-in proves that the definition runs on PostgreSQL. The
// lock service (strata-server, or strata-lock on Kafka) gets --shadow-url; a
// definition PostgreSQL refuses is refused at check-in, with PostgreSQL's
// message and the line in the submitted text.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include "lock/proof.h"
#include "pg/pg.h"
#include "support/postgres.h"
#include "support/stack.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;

class ProofE2ETest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(GetParam(), nullptr, /*with_history=*/true);
    stack_->Start("boston", {"--shadow-url", TestServerUrl()});
    stub_ = stack_->Stub();
  }
  // Checks `definition` in as a new version of `object` (checked out first),
  // keeping the lock.
  grpc::Status CheckIn(const std::string& object, const std::string& definition,
                       v1::CheckInResponse* resp = nullptr) {
    v1::CheckOutRequest out;
    out.add_objects(object);
    v1::CheckOutResponse out_resp;
    if (auto s = stub_->CheckOut(Ctx("alice-token").get(), out, &out_resp); !s.ok()) return s;
    v1::CheckInRequest in;
    in.set_object(object);
    in.set_definition(definition);
    in.set_message("proof");
    in.set_keep_checked_out(true);
    v1::CheckInResponse ignored;
    return stub_->CheckIn(Ctx("alice-token").get(), in, resp ? resp : &ignored);
  }
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<v1::LockService::Stub> stub_;
};

TEST_P(ProofE2ETest, WhatPostgreSQLRefusesIsRefusedAtCheckInWithItsLine) {
  v1::CheckInResponse resp;
  ASSERT_TRUE(CheckIn("schema:sales", "CREATE SCHEMA sales;\n", &resp).ok());
  EXPECT_THAT(resp.validation(), HasSubstr("proven on PostgreSQL"));

  // 3,000 columns parse, but PostgreSQL allows 1,600.
  std::string wide = "CREATE TABLE public.t (\n";
  for (int i = 0; i < 3000; ++i) wide += "  c" + std::to_string(i) + " int" + (i < 2999 ? ",\n" : "\n");
  wide += ");\n";
  auto s = CheckIn("table:public.t", wide);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("tables can have at most 1600 columns"));
  EXPECT_THAT(s.error_message(), HasSubstr("line 1,"));

  // An unknown type, on line 3.
  s = CheckIn("table:sales.customers", "CREATE TABLE sales.customers (\n  id int PRIMARY KEY,\n  email textt\n);\n");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("line 3, column 9: type \"textt\" does not exist"));
  ASSERT_TRUE(CheckIn("table:sales.customers",
                      "CREATE TABLE sales.customers (\n  id int PRIMARY KEY,\n  email text\n);\n", &resp)
                  .ok());
  EXPECT_THAT(resp.validation(), HasSubstr("proven on PostgreSQL"));
  EXPECT_THAT(resp.validation(), HasSubstr("after 1 object"));  // schema sales

  // A foreign key to a column that is not unique.
  s = CheckIn("table:sales.orders",
              "CREATE TABLE sales.orders (\n  id int PRIMARY KEY,\n  customer_email text REFERENCES sales.customers "
              "(email)\n);\n");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("there is no unique constraint matching given keys"));

  // A view of a column the table does not have, on line 3.
  s = CheckIn("view:sales.emails", "CREATE VIEW sales.emails AS\nSELECT id,\n       mail\n  FROM sales.customers;\n");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("line 3, column 8: column \"mail\" does not exist"));

  // A function body PostgreSQL checks at creation, the error on line 3.
  s = CheckIn("function:sales.email_of(integer)",
              "CREATE FUNCTION sales.email_of(c integer) RETURNS text LANGUAGE sql STABLE AS $$\n"
              "  SELECT email\n"
              "    FROM sales.customers WHERE idd = c\n"
              "$$;\n");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("line 3, column 32: column \"idd\" does not exist"));

  // Fixed, they are accepted; so is what depends on them.
  ASSERT_TRUE(CheckIn("table:sales.customers",
                      "CREATE TABLE sales.customers (\n  id int PRIMARY KEY,\n  email text UNIQUE\n);\n")
                  .ok());
  s = CheckIn("table:sales.orders",
              "CREATE TABLE sales.orders (\n  id int PRIMARY KEY,\n  customer_email text REFERENCES sales.customers "
              "(email)\n);\n",
              &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(resp.validation(), HasSubstr("after 2 objects"));
  s = CheckIn("view:sales.emails", "CREATE VIEW sales.emails AS\nSELECT o.id, c.email\n  FROM sales.orders o "
                                    "JOIN sales.customers c ON c.email = o.customer_email;\n",
              &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(resp.validation(), HasSubstr("after 3 objects"));
  s = CheckIn("function:sales.email_of(integer)",
              "CREATE FUNCTION sales.email_of(c integer) RETURNS text LANGUAGE sql STABLE AS $$\n"
              "  SELECT email FROM sales.customers WHERE id = c\n$$;\n",
              &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(resp.validation(), HasSubstr("proven on PostgreSQL"));

  // Names Strata does not know yet: accepted, with a warning naming them.
  s = CheckIn("view:sales.legacy", "CREATE VIEW sales.legacy AS SELECT * FROM billing.invoices;\n", &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(resp.warnings_size(), 1);
  EXPECT_THAT(resp.warnings(0), HasSubstr("billing.invoices, which Strata does not know yet"));
  EXPECT_THAT(resp.validation(), HasSubstr("parsed only"));

  // The CLI: PostgreSQL's refusal is exit code 2 with the line, as a parse error is.
  const std::string file = stack_->data_dir() + "/../bad.sql";
  std::ofstream(file) << "CREATE TABLE sales.items (\n  id int,\n  price numeric(5, 10, 1)\n);\n";
  std::string out;
  ASSERT_EQ(RunCli(stack_->endpoint(), "alice-token", "checkout table:sales.items", &out), 0) << out;
  EXPECT_EQ(RunCli(stack_->endpoint(), "alice-token", "checkin sales.items --file " + file + " -m x", &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("line 3"));
}

// Limits with words: a 10 MB definition gets the size and the limit, from
// the server (gRPC would have refused it at 4 MB) and from the CLI.
TEST_P(ProofE2ETest, ADefinitionOverTheLimitIsRefusedSayingItsSizeAndTheLimit) {
  std::string big = "CREATE TABLE public.big (id int);\n";
  big += "-- " + std::string(10 * 1000 * 1000, 'x') + "\n";
  auto s = CheckIn("table:public.big", big);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("the definition of table:public.big is " + std::to_string(big.size()) +
                                           " bytes; the limit is 8388608 bytes (--max-definition-bytes)"));
  const std::string file = stack_->data_dir() + "/../big.sql";
  std::ofstream(file) << big;
  std::string out;
  EXPECT_EQ(RunCli(stack_->endpoint(), "alice-token", "checkin public.big --file " + file + " -m x", &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("big.sql is " + std::to_string(big.size()) + " bytes; the limit is 8388608 bytes"));
}

// A revert is a check-in, proven like any other: going back to a view's
// version 1 after the column it selects was dropped is refused, saying why.
TEST_P(ProofE2ETest, ARevertIsProvenLikeACheckIn) {
  ASSERT_TRUE(CheckIn("table:public.items", "CREATE TABLE public.items (id int PRIMARY KEY, label text);").ok());
  ASSERT_TRUE(CheckIn("view:public.labels", "CREATE VIEW public.labels AS\nSELECT id, label FROM public.items;").ok());
  ASSERT_TRUE(CheckIn("view:public.labels", "CREATE VIEW public.labels AS\nSELECT id FROM public.items;").ok());
  ASSERT_TRUE(CheckIn("table:public.items", "CREATE TABLE public.items (id int PRIMARY KEY);").ok());
  std::string out;
  const std::string revert =
      "--history-endpoint " + stack_->history_endpoint() + " revert public.labels --to 1 -m 'labels again'";
  EXPECT_EQ(RunCli(stack_->endpoint(), "alice-token", revert, &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("line 2, column 12: column \"label\" does not exist"));
}

INSTANTIATE_TEST_SUITE_P(Backends, ProofE2ETest, ::testing::Values("embedded", "kafka"),
                         [](const auto& info) { return info.param; });

// Without --shadow-url, check-ins are parsed only, and the answer says so.
TEST(ProofE2EWithoutShadow, CheckInsAreParsedOnlyAndSaySo) {
  Stack stack("embedded");
  stack.Start();
  std::string out;
  const std::string file = stack.data_dir() + "/../t.sql";
  std::ofstream(file) << "CREATE TABLE public.t (id int);\n";
  ASSERT_EQ(RunCli(stack.endpoint(), "alice-token", "checkout table:public.t", &out), 0) << out;
  ASSERT_EQ(RunCli(stack.endpoint(), "alice-token", "checkin public.t --file " + file + " -m x", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("validation: parsed only: this lock service has no shadow database (--shadow-url)"));
}

// A shadow server that cannot be reached at start does not stop the lock
// service: check-ins are parsed only, and each answer says why.
TEST(ProofE2EWithoutShadow, AnUnreachableShadowServerLeavesCheckInsParsedOnlySayingWhy) {
  Stack stack("embedded");
  stack.Start("boston", {"--shadow-url", "postgres://strata:pw@127.0.0.1:1/postgres?connect_timeout=2"});
  std::string out;
  const std::string file = stack.data_dir() + "/../t.sql";
  std::ofstream(file) << "CREATE TABLE public.t (id int);\n";
  ASSERT_EQ(RunCli(stack.endpoint(), "alice-token", "checkout table:public.t", &out), 0) << out;
  ASSERT_EQ(RunCli(stack.endpoint(), "alice-token", "checkin public.t --file " + file + " -m x", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("validation: parsed only: the shadow database for proofs could not be created at start "
                             "(--shadow-url postgres://strata:***@127.0.0.1:1/postgres"));
}

// The prover's database, dropped under it (as the next shadow made drops one
// nobody is connected to whose service lost its lock when the server
// restarted), is made again: the next proofs are proven, not reported
// unreachable.
TEST(Prover, ADatabaseDroppedUnderItIsMadeAgain) {
  auto prover = lock::Prover::Open(TestServerUrl(), {"public"});
  ASSERT_TRUE(prover.ok()) << prover.status();
  auto first = (*prover)->Prove({}, {}, "CREATE TABLE t (id int)");
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(first->proven) << first->note;
  // Its database: this process's long-lived shadow, with the prover's idle
  // session on it.
  auto admin = pg::Session::Connect(TestServerUrl());
  ASSERT_TRUE(admin.ok()) << admin.status();
  auto db = (*admin)->Query(
      "SELECT d.datname FROM pg_database AS d WHERE starts_with(d.datname, $1) AND d.datname LIKE '%_kept' "
      "AND EXISTS (SELECT 1 FROM pg_stat_activity AS a WHERE a.datid = d.oid)",
      {"strata_shadow_" + std::to_string(getpid()) + "_"});
  ASSERT_TRUE(db.ok()) << db.status();
  ASSERT_EQ(db->size(), 1);
  ASSERT_TRUE((*admin)->Exec("DROP DATABASE " + db->text(0, 0) + " WITH (FORCE)").ok());

  auto again = (*prover)->Prove({}, {}, "CREATE TABLE t (id int)");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->proven) << again->note;
  auto refused = (*prover)->Prove({}, {}, "CREATE TABLE u (v txet)");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_EQ(CountDatabases(db->text(0, 0)), 0);
}

}  // namespace
}  // namespace strata::testing
