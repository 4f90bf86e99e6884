// The event stream as an integrator sees it: the example Python consumer
// (examples/consumer, Debian's python3-kafka and python3-protobuf) reads a
// Kafka log (strata-devbroker) that real services wrote while doing one of
// everything, decodes every record, and applies the accept rule itself;
// the lock holders it derives equal what the lock service says.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <fstream>
#include <map>
#include <set>

#include "nlohmann/json.hpp"
#include "support/postgres.h"
#include "support/stack.h"

namespace strata::testing {
namespace {

std::string RunCommand(const std::string& command, int* exit_code) {
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  std::string out;
  char buf[4096];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  *exit_code = p ? WEXITSTATUS(pclose(p)) : -1;
  return out;
}

void CheckOut(v1::LockService::Stub& lock, const std::string& token, const std::string& object) {
  v1::CheckOutRequest req;
  req.add_objects(object);
  v1::CheckOutResponse resp;
  auto s = lock.CheckOut(Ctx(token).get(), req, &resp);
  ASSERT_TRUE(s.ok()) << object << ": " << s.error_message();
}

TEST(EventStreamTest, PythonConsumerDecodesEveryEventTypeAndAgreesOnState) {
  ScratchDatabase dev("strata_it_stream");
  Stack stack("kafka", nullptr, /*with_history=*/true, /*with_impact=*/false, /*with_deploy=*/true);
  const std::string secrets = stack.data_dir() + "-secrets.yaml";
  std::ofstream(secrets) << "environments:\n  dev: {password: '" << SplitPassword(dev.url()).second << "'}\n";
  stack.Start("boston", {"--secrets-file", secrets, "--shadow-url", TestServerUrl(), "--metrics-listen", "127.0.0.1:0"});
  auto lock = stack.Stub();
  auto history = stack.HistoryStub();
  auto deploy = stack.DeployStub();

  // One of everything the services emit.
  v1::AddEnvironmentRequest env;  // environment_registered
  env.set_name("dev");
  env.set_url(SplitPassword(dev.url()).first);
  env.set_order(1);
  v1::Environment registered;
  ASSERT_TRUE(deploy->AddEnvironment(Ctx("dana-token").get(), env, &registered).ok());
  v1::ImportRequest import;  // environment_imported, of an empty database
  import.set_environment("dev");
  v1::ImportResponse imported;
  auto s = deploy->Import(Ctx("dana-token", 120).get(), import, &imported);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(imported.objects(), 0u);

  for (const auto& [object, sql] : std::vector<std::pair<std::string, std::string>>{
           {"schema:sales", "CREATE SCHEMA sales;"},
           {"table:sales.orders", "CREATE TABLE sales.orders (id bigint PRIMARY KEY, total numeric NOT NULL);"},
           // Larger than a Kafka record may be by default (1 MB): written
           // in fragments, which the consumer joins (docs/events.md).
           {"view:sales.big", "CREATE VIEW sales.big AS SELECT '" + std::string(1'500'000, 'x') + "'::text AS t;"}}) {
    CheckOut(*lock, "alice-token", object);  // checked_out
    v1::CheckInRequest ci;                   // checked_in
    ci.set_object(object);
    ci.set_definition(sql);
    ci.set_message("first");
    v1::CheckInResponse checked_in;
    auto s = lock->CheckIn(Ctx("alice-token").get(), ci, &checked_in);
    ASSERT_TRUE(s.ok()) << object << ": " << s.error_message();
  }
  CheckOut(*lock, "alice-token", "table:sales.scratch");  // check_out_undone
  v1::UndoCheckOutRequest undo;
  undo.add_objects("table:sales.scratch");
  v1::UndoCheckOutResponse undone;
  ASSERT_TRUE(lock->UndoCheckOut(Ctx("alice-token").get(), undo, &undone).ok());
  CheckOut(*lock, "bob-token", "table:sales.customers");  // lock_force_released
  v1::ForceReleaseRequest force;
  force.set_object("table:sales.customers");
  force.set_reason("bob is on leave");
  v1::ForceReleaseResponse forced;
  ASSERT_TRUE(lock->ForceRelease(Ctx("dana-token").get(), force, &forced).ok());
  CheckOut(*lock, "bob-token", "view:sales.totals");  // still held at the end
  v1::CheckOutRequest denied;                         // command_refused
  denied.add_objects("table:sales.orders");
  v1::CheckOutResponse denied_resp;
  EXPECT_EQ(lock->CheckOut(Ctx("vera-token").get(), denied, &denied_resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::CreateBaselineRequest baseline;  // baseline_created
  baseline.set_name("b1");
  v1::Baseline created_baseline;
  ASSERT_TRUE(history->CreateBaseline(Ctx("dana-token").get(), baseline, &created_baseline).ok());
  v1::CreateReleaseRequest release;  // release_created
  release.set_name("r1");
  release.add_objects("schema:sales");
  release.add_objects("table:sales.orders");
  v1::Release created_release;
  s = deploy->CreateRelease(Ctx("rita-token").get(), release, &created_release);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::ApproveRequest approve;  // release_approved
  approve.set_release("r1");
  approve.set_environment("dev");
  v1::Release approved;
  s = deploy->Approve(Ctx("rita-token").get(), approve, &approved);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::DeployRequest run;  // deployment_started, deployment_finished
  run.set_release("r1");
  run.set_environment("dev");
  v1::Deployment deployment;
  s = deploy->Deploy(Ctx("dana-token", 120).get(), run, &deployment);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // Reference data: data_tracked, data_version_stored (and the check-out
  // it ends), data_untracked.
  v1::TrackDataRequest track;
  track.set_table("sales.orders");
  v1::DataTable tracked;
  s = deploy->TrackData(Ctx("dana-token").get(), track, &tracked);
  ASSERT_TRUE(s.ok()) << s.error_message();
  CheckOut(*lock, "alice-token", "table:sales.orders");
  v1::CheckInDataRequest rows;
  rows.set_table("sales.orders");
  rows.set_rows("id,total\n1,10.5\n2,20\n");
  rows.set_message("two orders");
  v1::DataVersion stored;
  s = deploy->CheckInData(Ctx("alice-token").get(), rows, &stored);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::UntrackDataRequest untrack;
  untrack.set_table("sales.orders");
  untrack.set_reason("orders are not reference data");
  s = deploy->UntrackData(Ctx("dana-token").get(), untrack, &tracked);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // The policy: policy_set, policy_waived.
  v1::SetPolicyRequest policy;
  policy.set_yaml("rules:\n  naming-table: {severity: error, pattern: \"^[a-z_]+$\"}\n");
  policy.set_message("names");
  v1::PolicyVersion set;
  s = lock->SetPolicy(Ctx("dana-token").get(), policy, &set);
  ASSERT_TRUE(s.ok()) << s.error_message();
  v1::WaiveRequest waive;
  waive.set_object("table:sales.Legacy");
  waive.set_rule("naming-table");
  waive.set_reason("vendor table");
  v1::Waiver waived;
  s = lock->Waive(Ctx("dana-token").get(), waive, &waived);
  ASSERT_TRUE(s.ok()) << s.error_message();

  // The deploy service counted the deployment by outcome.
  int metrics_port = 0;
  for (const std::string& line : stack.StdoutLines("deploy")) {
    const size_t at = line.find("metrics on 127.0.0.1:");
    if (at != std::string::npos) metrics_port = std::stoi(line.substr(at + 21));
  }
  ASSERT_GT(metrics_port, 0);
  httplib::Client http("127.0.0.1", metrics_port);
  auto scraped = http.Get("/metrics");
  ASSERT_TRUE(scraped && scraped->status == 200);
  EXPECT_THAT(scraped->body,
              ::testing::HasSubstr("strata_deployments_total{environment=\"dev\",kind=\"deploy\",outcome=\"succeeded\"} 1\n"));
  EXPECT_THAT(scraped->body, ::testing::HasSubstr("strata_deployment_duration_seconds_count{environment=\"dev\"} 1\n"));

  // The consumer, as docs/events.md tells integrators to run it.
  TempDir gen("strata-pb2");
  int code = 0;
  std::string out = RunCommand(std::string(STRATA_PROTOC) + " -I " + STRATA_SOURCE_DIR + "/proto --python_out=" +
                                   gen.path() + " " + STRATA_SOURCE_DIR + "/proto/strata/v1/events.proto",
                               &code);
  ASSERT_EQ(code, 0) << out;
  const std::string lines_path = gen.path() + "/stream.jsonl";
  out = RunCommand("(timeout 120 /usr/bin/python3 " + std::string(STRATA_SOURCE_DIR) +
                       "/examples/consumer/strata_consumer.py --bootstrap " + stack.broker()->bootstrap() +
                       " --until-idle 3 --strict --proto-path " + gen.path() + " > " + lines_path + ")",
                   &code);
  ASSERT_EQ(code, 0) << out;
  EXPECT_THAT(out, ::testing::HasSubstr("0 not Strata events"));

  std::set<std::string> types;
  std::map<std::string, std::string> holders;  // from accepted events only
  std::ifstream in(lines_path);
  int records = 0;
  size_t big_definition = 0;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << line;
    ++records;
    ASSERT_TRUE(j["type"].is_string()) << "undecodable record: " << line;
    const std::string type = j["type"];
    types.insert(type);
    if (!j["accepted"].get<bool>()) continue;
    const auto& e = j["event"];
    const std::string aggregate = e["aggregate"];
    if (type == "checked_out") holders[aggregate] = e["actor"]["user"];
    if (type == "check_out_undone" || type == "lock_force_released") holders.erase(aggregate);
    if (type == "checked_in" && !e["checked_in"].value("keep_checked_out", false)) holders.erase(aggregate);
    if (type == "checked_in" && aggregate == "object:view:sales.big") {
      big_definition = e["checked_in"]["definition"].get<std::string>().size();
      EXPECT_TRUE(j["headers"].contains("strata-fragments")) << "written in fragments";
    }
  }
  EXPECT_EQ(big_definition, 1'500'000u + 46) << "the large definition came through whole";
  EXPECT_GT(records, 10);

  // Every payload type of strata.v1.Event showed up and decoded.
  std::set<std::string> all;
  const auto* oneof = v1::Event::descriptor()->FindOneofByName("payload");
  ASSERT_NE(oneof, nullptr);
  for (int i = 0; i < oneof->field_count(); ++i) all.insert(oneof->field(i)->name());
  EXPECT_EQ(types, all);

  // The consumer's accept rule leads to the lock service's state.
  v1::ListLocksResponse locks;
  ASSERT_TRUE(lock->ListLocks(Ctx("dana-token").get(), {}, &locks).ok());
  std::map<std::string, std::string> served;
  for (const auto& l : locks.locks()) served["object:" + l.object()] = l.user();
  EXPECT_EQ(holders, served);
}

}  // namespace
}  // namespace strata::testing
