// End to end, on both log backends: the lock service as a real process, spoken
// to over gRPC on loopback (and through the strata CLI).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>

#include "support/stack.h"

namespace strata::testing {
namespace {

using v1::LockService;

class LockE2ETest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(GetParam());
    stack_->Start();
    stub_ = stack_->Stub();
  }
  void Restart() {
    stack_->Stop();
    stack_->Start();
    stub_ = stack_->Stub();
  }

  grpc::Status CheckOut(const std::string& token, std::vector<std::string> objects,
                        v1::CheckOutResponse* resp = nullptr, const std::string& reason = "") {
    v1::CheckOutRequest req;
    for (auto& o : objects) req.add_objects(o);
    req.set_reason(reason);
    v1::CheckOutResponse r;
    return stub_->CheckOut(Ctx(token).get(), req, resp ? resp : &r);
  }
  grpc::Status CheckIn(const std::string& token, const std::string& object, const std::string& ddl,
                       v1::CheckInResponse* resp = nullptr, const std::string& message = "change") {
    v1::CheckInRequest req;
    req.set_object(object);
    req.set_definition(ddl);
    req.set_message(message);
    v1::CheckInResponse r;
    return stub_->CheckIn(Ctx(token).get(), req, resp ? resp : &r);
  }
  grpc::Status Undo(const std::string& token, std::vector<std::string> objects) {
    v1::UndoCheckOutRequest req;
    for (auto& o : objects) req.add_objects(o);
    v1::UndoCheckOutResponse r;
    return stub_->UndoCheckOut(Ctx(token).get(), req, &r);
  }
  grpc::Status Get(const std::string& object, v1::ObjectHead* head) {
    v1::GetObjectRequest req;
    req.set_object(object);
    return stub_->GetObject(Ctx("alice-token").get(), req, head);
  }
  v1::ListLocksResponse Locks(const std::string& user = "", const std::string& schema = "",
                              const std::string& site = "") {
    v1::ListLocksRequest req;
    req.set_user(user);
    req.set_schema(schema);
    req.set_site(site);
    v1::ListLocksResponse resp;
    EXPECT_TRUE(stub_->ListLocks(Ctx("alice-token").get(), req, &resp).ok());
    return resp;
  }
  // Everything a client can see, serialized, to compare states across restarts.
  std::string Snapshot(const std::vector<std::string>& objects) {
    std::string out = Locks().SerializeAsString();
    for (const auto& o : objects) {
      v1::ObjectHead h;
      grpc::Status s = Get(o, &h);
      out += std::to_string(s.error_code()) + "|" + h.SerializeAsString();
    }
    return out;
  }

  std::unique_ptr<Stack> stack_;
  std::unique_ptr<LockService::Stub> stub_;
};

constexpr char kOrdersV1[] = "CREATE TABLE sales.orders (id bigint PRIMARY KEY, total numeric(12,2));";

TEST_P(LockE2ETest, CheckOutRefusalCheckInUndoSurviveRestartAndRebuild) {
  v1::CheckOutResponse co;
  ASSERT_TRUE(CheckOut("alice-token", {"table:sales.orders"}, &co, "add totals").ok());
  ASSERT_EQ(co.objects_size(), 1);
  EXPECT_EQ(co.objects(0).lock().user(), "alice");
  EXPECT_EQ(co.objects(0).lock().site(), "boston");
  EXPECT_EQ(co.objects(0).latest_version(), 0u) << "a new name is reserved";

  // Someone else is refused, told who holds it and since when.
  grpc::Status refused = CheckOut("bob-token", {"sales.orders"});
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(refused.error_message().find("checked out by alice (boston) since 20"), std::string::npos)
      << refused.error_message();
  EXPECT_NE(refused.error_message().find("add totals"), std::string::npos);

  // Checking out what one already holds is fine and changes nothing.
  EXPECT_TRUE(CheckOut("alice-token", {"sales.orders"}).ok());

  v1::CheckInResponse ci;
  ASSERT_TRUE(CheckIn("alice-token", "sales.orders", kOrdersV1, &ci, "orders table").ok());
  EXPECT_EQ(ci.object().latest_version(), 1u);
  EXPECT_FALSE(ci.object().has_lock());
  EXPECT_EQ(ci.object().last_check_in().user(), "alice");
  EXPECT_EQ(ci.object().last_check_in().message(), "orders table");
  EXPECT_EQ(ci.object().definition(), kOrdersV1);

  // Bob can now take it, and undo.
  ASSERT_TRUE(CheckOut("bob-token", {"sales.orders"}).ok());
  EXPECT_EQ(Locks("bob").locks_size(), 1);
  EXPECT_EQ(Locks("", "", "london").locks_size(), 1);
  EXPECT_EQ(Locks("alice").locks_size(), 0);
  ASSERT_TRUE(Undo("bob-token", {"sales.orders"}).ok());
  EXPECT_EQ(Locks().locks_size(), 0);

  // Leave some state behind: a version 2 by bob, a held lock and a reservation.
  ASSERT_TRUE(CheckOut("bob-token", {"sales.orders"}).ok());
  ASSERT_TRUE(CheckIn("bob-token", "sales.orders", "CREATE TABLE sales.orders (id bigint);").ok());
  ASSERT_TRUE(CheckOut("alice-token", {"view:sales.v_orders", "sales.orders"}).ok());
  const std::vector<std::string> objects = {"table:sales.orders", "view:sales.v_orders",
                                            "table:sales.none"};
  const std::string before = Snapshot(objects);
  v1::ObjectHead h;
  ASSERT_TRUE(Get("sales.orders", &h).ok());
  EXPECT_EQ(h.latest_version(), 2u);
  EXPECT_EQ(h.last_check_in().user(), "bob");

  // Restart with the same data dir: state intact.
  Restart();
  EXPECT_EQ(Snapshot(objects), before);

  // Delete the service's state: rebuilt identically from the log.
  stack_->Stop();
  stack_->WipeProjection();
  stack_->Start();
  stub_ = stack_->Stub();
  EXPECT_EQ(Snapshot(objects), before);

  // And --rebuild does the same on an existing directory.
  stack_->Stop();
  stack_->Start("boston", {"--rebuild"});
  stub_ = stack_->Stub();
  EXPECT_EQ(Snapshot(objects), before);
}

TEST_P(LockE2ETest, MultiObjectCheckOutIsAllOrNothing) {
  ASSERT_TRUE(CheckOut("bob-token", {"table:sales.b"}).ok());
  grpc::Status s = CheckOut("alice-token", {"table:sales.a", "table:sales.b", "table:sales.c"});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("table:sales.b is checked out by bob"), std::string::npos);
  auto locks = Locks();
  ASSERT_EQ(locks.locks_size(), 1) << "alice's partial check-out was given back";
  EXPECT_EQ(locks.locks(0).user(), "bob");
  v1::CheckOutResponse resp;
  ASSERT_TRUE(CheckOut("alice-token", {"table:sales.a", "table:sales.c"}, &resp).ok());
  EXPECT_EQ(resp.objects_size(), 2);
}

TEST_P(LockE2ETest, BadInputGetsPreciseStatuses) {
  // Broken DDL: INVALID_ARGUMENT with line and column; nothing changes.
  ASSERT_TRUE(CheckOut("alice-token", {"table:sales.orders"}).ok());
  grpc::Status s = CheckIn("alice-token", "sales.orders",
                           "CREATE TABLE sales.orders (\n  id bigint,\n  total numeric(12,2)\n  oops\n);");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("line 4, column 3"), std::string::npos) << s.error_message();
  v1::ObjectHead h;
  ASSERT_TRUE(Get("sales.orders", &h).ok());
  EXPECT_EQ(h.latest_version(), 0u);
  EXPECT_EQ(h.lock().user(), "alice") << "a refused check-in keeps the lock";

  // Check-in by a non-holder.
  s = CheckIn("bob-token", "sales.orders", kOrdersV1);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("checked out by alice"), std::string::npos);

  // Check-in without a lock.
  ASSERT_TRUE(CheckIn("alice-token", "sales.orders", kOrdersV1).ok());
  s = CheckIn("alice-token", "sales.orders", kOrdersV1);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("not checked out"), std::string::npos);

  // Unknown objects.
  EXPECT_EQ(Get("table:sales.nothing", &h).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(CheckIn("alice-token", "table:sales.nothing", kOrdersV1).error_code(),
            grpc::StatusCode::NOT_FOUND);
  s = CheckOut("alice-token", {"sales.nothing"});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("give its kind, e.g. table:sales.nothing"), std::string::npos);
  EXPECT_EQ(Undo("alice-token", {"table:sales.nothing"}).error_code(), grpc::StatusCode::NOT_FOUND);

  // Malformed ids and empty requests.
  EXPECT_EQ(CheckOut("alice-token", {"widget:sales.x"}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CheckOut("alice-token", {}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(CheckIn("alice-token", "sales.orders", kOrdersV1, nullptr, "").error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  // Credentials: none, empty, unknown.
  EXPECT_EQ(CheckOut("", {"table:sales.x"}).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  {
    auto ctx = Ctx("");
    ctx->AddMetadata("authorization", "Bearer ");
    v1::ListLocksResponse r;
    EXPECT_EQ(stub_->ListLocks(ctx.get(), {}, &r).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  EXPECT_EQ(CheckOut("forged", {"table:sales.x"}).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // Roles: a viewer cannot check out; only dba/admin force-release.
  EXPECT_EQ(CheckOut("vera-token", {"table:sales.x"}).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(CheckOut("bob-token", {"table:sales.orders"}).ok());
  v1::ForceReleaseRequest fr;
  fr.set_object("sales.orders");
  fr.set_reason("bob is on leave");
  v1::ForceReleaseResponse frr;
  s = stub_->ForceRelease(Ctx("alice-token").get(), fr, &frr);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("dba or admin"), std::string::npos);
  ASSERT_TRUE(stub_->ForceRelease(Ctx("dana-token").get(), fr, &frr).ok());
  EXPECT_EQ(frr.released().user(), "bob");
  EXPECT_EQ(Locks().locks_size(), 0);
}

TEST_P(LockE2ETest, GarbageOnTheLogIsSkippedAndTheServiceKeepsGoing) {
  ASSERT_TRUE(CheckOut("alice-token", {"table:sales.g"}).ok());
  if (GetParam() == "embedded") stack_->Stop();  // one process owns the embedded log
  ASSERT_TRUE(stack_->AppendRaw("object:table:sales.g", "\x08\x96\x01 garbage \xff\xff").ok());
  ASSERT_TRUE(stack_->AppendRaw("object:table:sales.g", "").ok());
  if (GetParam() == "embedded") {
    stack_->Start();
    stub_ = stack_->Stub();
  }
  // The service still decides correctly after the garbage.
  ASSERT_TRUE(CheckIn("alice-token", "sales.g", "CREATE TABLE sales.g (id int);").ok());
  v1::ObjectHead h;
  ASSERT_TRUE(Get("sales.g", &h).ok());
  EXPECT_EQ(h.latest_version(), 1u);
  std::ifstream in(stack_->stderr_path());
  std::string log((std::istreambuf_iterator<char>(in)), {});
  // Counted by the lock projection (strata-server's history projection skips them too).
  const std::string skipped = "/lock: skipped a record";
  size_t count = 0;
  for (size_t p = log.find(skipped); p != std::string::npos; p = log.find(skipped, p + 1)) ++count;
  EXPECT_EQ(count, 2u) << log;
}

// The strata CLI against a live server: exit codes and output.
TEST_P(LockE2ETest, CliChecksOutChecksInAndReportsErrorsInOneLine) {
  auto run = [&](const std::string& token, const std::string& args, std::string* out) {
    return RunCli(stack_->endpoint(), token, args, out);
  };
  std::string out;
  EXPECT_EQ(run("alice-token", "checkout table:sales.cli -r 'try the cli'", &out), 0) << out;
  EXPECT_NE(out.find("checked out table:sales.cli"), std::string::npos);
  EXPECT_EQ(run("bob-token", "checkout sales.cli", &out), 5);
  EXPECT_EQ(out.rfind("error: table:sales.cli is checked out by alice (boston)", 0), 0u) << out;
  EXPECT_EQ(std::count(out.begin(), out.end(), '\n'), 1) << "one line: " << out;
  EXPECT_EQ(run("alice-token", "locks", &out), 0);
  EXPECT_NE(out.find("try the cli"), std::string::npos) << out;

  const std::string file = stack_->data_dir() + "/../cli.sql";
  std::ofstream(file) << "CREATE TABLE sales.cli (id int);\n";
  EXPECT_EQ(run("alice-token", "checkin sales.cli --file " + file + " -m 'first'", &out), 0) << out;
  EXPECT_NE(out.find("version 1"), std::string::npos);
  EXPECT_EQ(run("alice-token", "--json show sales.cli", &out), 0);
  EXPECT_NE(out.find("\"latest_version\": \"1\""), std::string::npos) << out;
  EXPECT_EQ(run("alice-token", "show sales.cli --definition", &out), 0);
  EXPECT_EQ(out, "CREATE TABLE sales.cli (id int);\n");
  // Checking out into a file: the current definition, ready to edit and check in.
  const std::string edit = stack_->data_dir() + "/../edit.sql";
  EXPECT_EQ(run("alice-token", "checkout sales.cli --file " + edit, &out), 0) << out;
  EXPECT_NE(out.find("wrote version 1 of table:sales.cli to " + edit), std::string::npos) << out;
  std::ifstream written(edit);
  EXPECT_EQ(std::string((std::istreambuf_iterator<char>(written)), {}), "CREATE TABLE sales.cli (id int);\n");
  EXPECT_EQ(run("alice-token", "undo sales.cli", &out), 0) << out;
  EXPECT_EQ(run("alice-token", "checkout sales.a sales.b --file " + edit, &out), 2) << out;
  EXPECT_EQ(run("alice-token", "show table:sales.nope", &out), 4);
  EXPECT_EQ(run("", "locks", &out), 3);
  EXPECT_NE(out.find("no credentials"), std::string::npos);
  EXPECT_EQ(run("alice-token", "frobnicate", &out), 2);
}

TEST_P(LockE2ETest, AContractorWorksOnlyInTheSchemasOfTheirScope) {
  ASSERT_TRUE(CheckOut("carol-token", {"table:billing.invoices"}).ok());
  ASSERT_TRUE(CheckIn("carol-token", "table:billing.invoices", "CREATE TABLE billing.invoices (id int);").ok());
  auto outside = CheckOut("carol-token", {"table:sales.orders"});
  EXPECT_EQ(outside.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(outside.error_message(), "carol may work on billing.* only; table:sales.orders is outside that scope");
  // All or nothing: one object outside the scope refuses the whole check-out.
  auto mixed = CheckOut("carol-token", {"table:billing.payments", "view:sales.totals"});
  EXPECT_EQ(mixed.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(Locks("carol").locks().empty()) << Locks("carol").DebugString();
  // Unscoped developers are not limited.
  EXPECT_TRUE(CheckOut("alice-token", {"table:sales.orders"}).ok());
}

TEST_P(LockE2ETest, TheTokenFileIsReloadedOnSighupWithoutARestart) {
  EXPECT_EQ(CheckOut("erin-token", {"table:s.t"}).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  stack_->AddTokensAndHangUp("  - {token: erin-token, user: erin, site: oslo, roles: [developer]}\n");
  grpc::Status s;
  for (int i = 0; i < 100; ++i) {  // the reload is asynchronous to this test
    s = CheckOut("erin-token", {"table:s.t"});
    if (s.error_code() != grpc::StatusCode::UNAUTHENTICATED) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_TRUE(stack_->running());
  v1::ObjectHead head;
  ASSERT_TRUE(Get("table:s.t", &head).ok());
  EXPECT_EQ(head.lock().site(), "oslo");
}

// A definition larger than a Kafka record may be by default (about 1 MB)
// is checked in and read back whole, also after the projection is rebuilt
// from the log (on Kafka it travels in fragments: docs/events.md).
TEST_P(LockE2ETest, ADefinitionLargerThanKafkasDefaultRecordLimitIsCheckedInAndRebuilt) {
  const std::string big = "CREATE VIEW sales.big AS SELECT '" + std::string(2'500'000, 'y') + "'::text AS t;";
  ASSERT_TRUE(CheckOut("alice-token", {"view:sales.big"}).ok());
  v1::CheckInResponse in;
  grpc::Status s = CheckIn("alice-token", "view:sales.big", big, &in);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(in.object().latest_version(), 1u);
  v1::ObjectHead head;
  ASSERT_TRUE(Get("view:sales.big", &head).ok());
  EXPECT_TRUE(head.definition() == big) << head.definition().size() << " bytes";
  const std::string before = Snapshot({"view:sales.big"});
  stack_->Stop();
  stack_->WipeProjection();
  stack_->Start();
  stub_ = stack_->Stub();
  EXPECT_TRUE(Snapshot({"view:sales.big"}) == before) << "rebuilt from the log";
}

INSTANTIATE_TEST_SUITE_P(Backends, LockE2ETest, ::testing::Values("embedded", "kafka"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace strata::testing
