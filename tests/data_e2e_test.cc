// End to end, reference data (issue 22): a lookup table's rows tracked,
// versioned, released and deployed through dev, qa, uat and prod; rolled
// back; reached by an environment that skipped a release; rows changed by
// hand reported as drift that blocks deployment; a delete that a foreign key
// forbids reported in the plan and failing whole; bad input refused with its
// line and column. Real processes and PostgreSQL, on both logs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "fmt/format.h"
#include "pg/pg.h"
#include "refdata/live.h"
#include "refdata/rows.h"
#include "support/postgres.h"
#include "support/stack.h"

namespace strata::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

// A lookup table, a table that references it, and a log without a key.
constexpr char kRefSchema[] = R"sql(
CREATE SCHEMA ref;
CREATE TABLE ref.codes (code integer PRIMARY KEY, label text NOT NULL, rate numeric(6,3));
CREATE TABLE ref.orders (id integer PRIMARY KEY, code integer REFERENCES ref.codes (code));
CREATE TABLE ref.log (at timestamptz, line text);
)sql";

// Version 1: codes 1..10,000, as the databases hold them before Strata.
constexpr char kVersionOneRows[] =
    "INSERT INTO ref.codes SELECT g, 'label ' || g, (g % 1000)::numeric(6,3) FROM generate_series(1, 10000) g";

const std::vector<refdata::Column> kColumns = {{"code", "integer"}, {"label", "text"}, {"rate", "numeric(6,3)"}};

struct Row {
  std::string label, rate;
};
using Rows = std::map<int, Row>;

Rows VersionOne() {
  Rows rows;
  for (int i = 1; i <= 10000; ++i) rows[i] = {absl::StrCat("label ", i), fmt::format("{}.000", i % 1000)};
  return rows;
}

// Version 2: 50 deleted, 300 updated, 200 inserted.
Rows VersionTwo() {
  Rows rows = VersionOne();
  for (int i = 200; i <= 10000; i += 200) rows.erase(i);
  int updated = 0;
  for (auto& [code, row] : rows)
    if (code % 33 == 0 && updated < 300) {
      row = {absl::StrCat("label ", code, " (v2), \"quoted\", it's"), fmt::format("{}.500", code % 1000)};
      ++updated;
    }
  for (int i = 10001; i <= 10200; ++i) rows[i] = {absl::StrCat("new ", i), "1.250"};
  return rows;
}

std::string Csv(const Rows& rows) {
  std::string csv = "code,label,rate\n";
  for (const auto& [code, row] : rows) {
    std::string label;
    for (char c : row.label) label += c == '"' ? std::string("\"\"") : std::string(1, c);
    absl::StrAppend(&csv, code, ",\"", label, "\",", row.rate, "\n");
  }
  return csv;
}

std::string Inserts(const Rows& rows) {
  std::string sql = "-- ref.codes, as INSERT statements\n";
  for (const auto& [code, row] : rows) {
    std::string label;
    for (char c : row.label) label += c == '\'' ? std::string("''") : std::string(1, c);
    absl::StrAppend(&sql, "INSERT INTO ref.codes (code, label, rate) VALUES (", code, ", '", label, "', ", row.rate,
                    ");\n");
  }
  return sql;
}

void Exec(const std::string& url, const std::string& sql) {
  auto s = pg::Session::Connect(url);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Exec(sql).ok()) << sql;
}

// The environment's rows of ref.codes in Strata's canonical CSV.
std::string RowsIn(const std::string& url) {
  auto s = pg::Session::Connect(url);
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return "";
  auto rows = refdata::ReadRows(**s, "ref.codes", kColumns, {"code"});
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? refdata::Canonical(*rows) : "";
}

// The canonical CSV of rows as the test wrote them.
std::string CanonicalOf(const Rows& rows) {
  auto set = refdata::ParseCsv(Csv(rows), kColumns, {"code"});
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? refdata::Canonical(*set) : "";
}

class DataE2ETest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(GetParam(), nullptr, /*with_history=*/true, /*with_impact=*/false,
                                     /*with_deploy=*/true);
    const std::string secrets = stack_->data_dir() + "-secrets.yaml";
    std::ofstream out(secrets);
    out << "environments:\n";
    for (const char* name : {"dev", "qa", "uat", "prod"}) {
      dbs_[name] = std::make_unique<ScratchDatabase>(std::string("strata_data_") + name);
      out << "  " << name << ": {password: '" << SplitPassword(dbs_[name]->url()).second << "'}\n";
    }
    out.close();
    stack_->Start("boston", {"--secrets-file", secrets, "--shadow-url", TestServerUrl()});
    deploy_ = stack_->DeployStub();
    lock_ = stack_->Stub();
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

  std::string url(const std::string& env) { return dbs_.at(env)->url(); }

  v1::ImportResponse Import(const std::string& env) {
    v1::ImportRequest req;
    req.set_environment(env);
    v1::ImportResponse resp;
    auto s = deploy_->Import(Ctx("dana-token", 120).get(), req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  grpc::Status Track(const std::string& token, const std::string& table, std::vector<std::string> key = {}) {
    v1::TrackDataRequest req;
    req.set_table(table);
    for (const auto& k : key) req.add_key(k);
    v1::DataTable resp;
    return deploy_->TrackData(Ctx(token).get(), req, &resp);
  }

  // dev and qa hold the lookup table's 10,000 rows; Strata imports dev,
  // the table is tracked, and imports of dev and qa take the rows in.
  void ImportAndTrack() {
    for (const char* env : {"dev", "qa"}) {
      Exec(url(env), kRefSchema);
      Exec(url(env), kVersionOneRows);
    }
    v1::ImportResponse dev = Import("dev");
    ASSERT_EQ(dev.created_size(), 4) << dev.DebugString();
    ASSERT_TRUE(Track("dana-token", "ref.codes").ok());
    dev = Import("dev");
    EXPECT_THAT(dev.data_created(), Contains("data:ref.codes")) << dev.DebugString();
    v1::ImportResponse qa = Import("qa");
    EXPECT_THAT(qa.data_matched(), Contains("data:ref.codes v1")) << qa.DebugString();
  }

  // A data check-in ends the check-out through the log: on Kafka the lock
  // service sees it a moment later. Wait for it before checking out again.
  void WaitUnlocked(const std::string& object) {
    v1::GetObjectRequest get;
    get.set_object(object);
    for (int i = 0; i < 200; ++i) {
      v1::ObjectHead head;
      if (lock_->GetObject(Ctx("alice-token").get(), get, &head).ok() && !head.has_lock()) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }

  grpc::Status CheckOut(const std::string& object) {
    WaitUnlocked(object);
    v1::CheckOutRequest req;
    req.add_objects(object);
    v1::CheckOutResponse resp;
    return lock_->CheckOut(Ctx("alice-token").get(), req, &resp);
  }

  grpc::Status CheckInRows(const std::string& rows, v1::DataVersion* out) {
    v1::CheckInDataRequest req;
    req.set_table("ref.codes");
    req.set_rows(rows);
    req.set_message("new rows");
    return deploy_->CheckInData(Ctx("alice-token", 60).get(), req, out);
  }

  v1::Release CreateRelease(const std::string& name) {
    v1::CreateReleaseRequest req;
    req.set_name(name);
    v1::Release r;
    auto s = deploy_->CreateRelease(Ctx("rita-token", 60).get(), req, &r);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return r;
  }

  grpc::Status Deploy(const std::string& release, const std::string& env, v1::Deployment* out = nullptr) {
    if (env == "prod") {
      v1::ApproveRequest a;
      a.set_release(release);
      a.set_environment("prod");
      v1::Release r;
      EXPECT_TRUE(deploy_->Approve(Ctx("rita-token").get(), a, &r).ok());
    }
    v1::DeployRequest req;
    req.set_release(release);
    req.set_environment(env);
    v1::Deployment d;
    // Protected prod: a release-manager deploys.
    auto s = deploy_->Deploy(Ctx(env == "prod" ? "rita-token" : "alice-token", 120).get(), req, &d);
    if (out) *out = d;
    return s;
  }

  grpc::Status PlanOf(const std::string& release, const std::string& env, v1::DeploymentPlan* plan) {
    v1::PlanRequest req;
    req.set_release(release);
    req.set_environment(env);
    return deploy_->Plan(Ctx("alice-token", 120).get(), req, plan);
  }

  std::string StoredRows(uint64_t version) {
    v1::GetDataRequest req;
    req.set_table("ref.codes");
    req.set_version(version);
    v1::DataVersion v;
    auto s = deploy_->GetData(Ctx("vera-token").get(), req, &v);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return v.rows_csv();
  }

  std::unique_ptr<Stack> stack_;
  std::map<std::string, std::unique_ptr<ScratchDatabase>> dbs_;
  std::unique_ptr<v1::DeployService::Stub> deploy_;
  std::unique_ptr<v1::LockService::Stub> lock_;
};

TEST_P(DataE2ETest, TenThousandRowsMoveThroughFourEnvironmentsBackAndPastASkippedRelease) {
  ImportAndTrack();
  const std::string v1_rows = StoredRows(1);
  ASSERT_EQ(v1_rows, CanonicalOf(VersionOne())) << "import takes the rows in as version 1";

  // R1: the schema and version 1 of the rows; uat and prod start empty.
  v1::Release r1 = CreateRelease("R1");
  EXPECT_THAT(r1.changed(), Contains("data:ref.codes"));
  for (const char* env : {"dev", "qa", "uat", "prod"}) {
    auto s = Deploy("R1", env);
    ASSERT_TRUE(s.ok()) << env << ": " << s.error_message();
    EXPECT_EQ(RowsIn(url(env)), v1_rows) << env;
  }

  // Rows are checked in by the holder of the table's check-out.
  v1::DataVersion v;
  auto s = CheckInRows(Csv(VersionTwo()), &v);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("check table:ref.codes out first"));
  ASSERT_TRUE(CheckOut("table:ref.codes").ok());
  s = CheckInRows(Csv(VersionTwo()), &v);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(v.version(), 2u);
  EXPECT_EQ(v.row_count(), 10150u);
  EXPECT_EQ(v.inserted(), 200u);
  EXPECT_EQ(v.updated(), 300u);
  EXPECT_EQ(v.deleted(), 50u);
  v1::GetObjectRequest get;
  get.set_object("table:ref.codes");
  v1::ObjectHead head;
  // On Kafka the lock service reads the end of the check-out from the log a moment later.
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(lock_->GetObject(Ctx("alice-token").get(), get, &head).ok());
    if (!head.has_lock()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  EXPECT_FALSE(head.has_lock()) << "the data check-in ends the check-out";
  EXPECT_EQ(head.latest_version(), 1u) << "the table's definition did not change";

  v1::DiffDataRequest dreq;
  dreq.set_table("ref.codes");
  dreq.set_from_version(1);
  dreq.set_to_version(2);
  v1::DataDiff diff;
  ASSERT_TRUE(deploy_->DiffData(Ctx("vera-token").get(), dreq, &diff).ok());
  EXPECT_EQ(diff.inserted(), 200u);
  EXPECT_EQ(diff.updated(), 300u);
  EXPECT_EQ(diff.deleted(), 50u);
  ASSERT_EQ(diff.changes_size(), 550);
  EXPECT_EQ(diff.changes(0).kind(), v1::DataRowChange::DELETED);
  EXPECT_EQ(diff.changes(0).key(0), "1000");  // keys compare as text
  EXPECT_THAT(diff.changes(50).detail(0), HasSubstr("label: 'label 1023' -> 'label 1023 (v2)"));

  v1::Release r2 = CreateRelease("R2");
  EXPECT_THAT(r2.changed(), ::testing::ElementsAre("data:ref.codes"));
  v1::DeploymentPlan plan;
  ASSERT_TRUE(PlanOf("R2", "dev", &plan).ok());
  ASSERT_EQ(plan.data_changes_size(), 1);
  EXPECT_EQ(plan.data_changes(0), "ref.codes: data v1 -> v2: 200 inserted, 300 updated, 50 deleted");
  EXPECT_THAT(plan.script(), HasSubstr("DELETE FROM ref.codes WHERE code = '200'::integer"));
  EXPECT_THAT(plan.rollback_script(), HasSubstr("DELETE FROM ref.codes WHERE code = '10200'::integer"));
  EXPECT_TRUE(plan.blockers().empty()) << plan.DebugString();
  const std::string v2_rows = StoredRows(2);
  ASSERT_EQ(v2_rows, CanonicalOf(VersionTwo()));
  for (const char* env : {"dev", "qa", "uat", "prod"}) {
    v1::Deployment d;
    s = Deploy("R2", env, &d);
    ASSERT_TRUE(s.ok()) << env << ": " << s.error_message();
    EXPECT_EQ(RowsIn(url(env)), v2_rows) << env;
  }

  // Rollback gives version 1's rows back exactly.
  v1::RollbackRequest rb;
  rb.set_environment("prod");
  v1::Deployment d;
  s = deploy_->Rollback(Ctx("rita-token", 120).get(), rb, &d);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(RowsIn(url("prod")), v1_rows);

  // Version 3, given as INSERT statements through the CLI: prod, back at R1,
  // skips R2 and reaches version 3's rows.
  Rows three = VersionTwo();
  for (int i = 1; i <= 10; ++i) three[i].label = absl::StrCat("label ", i, " (v3)");
  const std::string file = stack_->data_dir() + "-v3.sql";
  std::ofstream(file) << Inserts(three);
  std::string out;
  WaitUnlocked("table:ref.codes");
  ASSERT_EQ(RunCli(stack_->endpoint(), "alice-token", "checkout table:ref.codes", &out), 0) << out;
  ASSERT_EQ(RunCli(stack_->deploy_endpoint(), "alice-token", "checkin ref.codes --data " + file + " -m v3", &out), 0)
      << out;
  EXPECT_THAT(out, HasSubstr("data v3 stored, 10150 rows (0 inserted, 10 updated, 0 deleted)"));
  ASSERT_EQ(RunCli(stack_->deploy_endpoint(), "vera-token", "data diff ref.codes 2 3", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("data v2 -> v3: 0 inserted, 10 updated, 0 deleted"));
  EXPECT_THAT(out, HasSubstr("label: 'label 1' -> 'label 1 (v3)'"));
  ASSERT_EQ(RunCli(stack_->deploy_endpoint(), "vera-token", "data show ref.codes@1", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("\"code\",\"label\",\"rate\"\n\"1\",\"label 1\",\"1.000\"\n"));
  CreateRelease("R3");
  for (const char* env : {"dev", "qa", "uat", "prod"}) {
    s = Deploy("R3", env);
    ASSERT_TRUE(s.ok()) << env << ": " << s.error_message();
  }
  EXPECT_EQ(RowsIn(url("prod")), CanonicalOf(three)) << "prod went from version 1 to version 3";
  EXPECT_EQ(RowsIn(url("uat")), CanonicalOf(three));
}

TEST_P(DataE2ETest, HandDeletedRowIsDriftAndAReferencedDeleteFailsWhole) {
  ImportAndTrack();
  CreateRelease("R1");
  for (const char* env : {"dev", "qa"}) ASSERT_TRUE(Deploy("R1", env).ok()) << env;

  // A row deleted by hand in qa: drift by key, and it blocks deployment.
  Exec(url("qa"), "DELETE FROM ref.codes WHERE code = 17; UPDATE ref.codes SET rate = 9.5 WHERE code = 18");
  // The same value spelled otherwise is not drift.
  Exec(url("dev"), "UPDATE ref.codes SET rate = 19.0 WHERE code = 19");
  v1::CheckDriftRequest creq;
  creq.set_environment("qa");
  v1::DriftReport report;
  ASSERT_TRUE(deploy_->CheckDrift(Ctx("vera-token", 120).get(), creq, &report).ok());
  EXPECT_TRUE(report.drifted());
  EXPECT_THAT(report.differences(), Contains("data ref.codes: row (17): missing"));
  EXPECT_THAT(report.differences(), Contains("data ref.codes: row (18): column rate is '9.500', expected '18.000'"));
  creq.set_environment("dev");
  ASSERT_TRUE(deploy_->CheckDrift(Ctx("vera-token", 120).get(), creq, &report).ok());
  EXPECT_FALSE(report.drifted()) << report.DebugString();
  std::string out;
  EXPECT_EQ(RunCli(stack_->deploy_endpoint(), "vera-token", "drift --env qa", &out), 5) << out;
  EXPECT_THAT(out, HasSubstr("data ref.codes: row (17): missing"));

  Rows two = VersionOne();
  two[6].label = "six";
  ASSERT_TRUE(CheckOut("table:ref.codes").ok());
  v1::DataVersion v;
  ASSERT_TRUE(CheckInRows(Csv(two), &v).ok());
  CreateRelease("R2");
  ASSERT_TRUE(Deploy("R2", "dev").ok());
  v1::DeploymentPlan plan;
  ASSERT_TRUE(PlanOf("R2", "qa", &plan).ok());
  EXPECT_THAT(plan.blockers(), Contains(HasSubstr("qa has drifted")));
  EXPECT_THAT(plan.drift(), Contains("data ref.codes: row (17): missing"));
  auto s = Deploy("R2", "qa");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("row (17): missing"));
  // Nor can the drifted rows be imported as what qa holds.
  v1::ImportRequest ireq;
  ireq.set_environment("qa");
  v1::ImportResponse iresp;
  s = deploy_->Import(Ctx("dana-token", 120).get(), ireq, &iresp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("data ref.codes: the rows differ from every data version in Strata (3 rows "
                                           "differ from the latest, v2"))
      << "17 missing, 18 changed by hand, 6 changed by v2";

  // A delete that rows of ref.orders still reference: a finding in the plan,
  // and the deployment fails in one transaction, changing nothing.
  Exec(url("dev"), "INSERT INTO ref.orders VALUES (1, 5), (2, 5), (3, 7)");
  Rows three = two;
  three.erase(5);
  three[8].label = "eight";
  ASSERT_TRUE(CheckOut("table:ref.codes").ok());
  ASSERT_TRUE(CheckInRows(Csv(three), &v).ok());
  CreateRelease("R3");
  ASSERT_TRUE(PlanOf("R3", "dev", &plan).ok());
  bool found = false;
  for (const auto& f : plan.findings())
    if (f.code() == "data-delete-referenced") {
      found = true;
      EXPECT_EQ(f.object(), "data:ref.codes");
      EXPECT_EQ(f.severity(), "high");
      EXPECT_THAT(f.reason(), HasSubstr("2 rows of ref.orders reference"));
      EXPECT_THAT(f.reason(), HasSubstr("the deployment will fail and change nothing"));
    }
  EXPECT_TRUE(found) << plan.DebugString();
  const std::string before = RowsIn(url("dev"));
  v1::Deployment d;
  s = Deploy("R3", "dev", &d);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(s.error_message(), HasSubstr("violates foreign key constraint"));
  EXPECT_EQ(RowsIn(url("dev")), before) << "nothing changed, not even row 8's label";
  v1::GetEnvironmentRequest ereq;
  ereq.set_name("dev");
  v1::Environment env;
  ASSERT_TRUE(deploy_->GetEnvironment(Ctx("vera-token").get(), ereq, &env).ok());
  EXPECT_EQ(env.current_release(), "R2");
}

TEST_P(DataE2ETest, BadInputIsRefusedNamingLineAndColumn) {
  for (const char* env : {"dev"}) {
    Exec(url(env), kRefSchema);
    Exec(url(env), kVersionOneRows);
  }
  Import("dev");
  // Tracking: a dba; a key; a key that is one.
  auto s = Track("alice-token", "ref.codes");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
  std::string out;
  EXPECT_EQ(RunCli(stack_->deploy_endpoint(), "dana-token", "data track ref.log", &out), 2) << out;
  EXPECT_THAT(out, HasSubstr("table:ref.log has neither a primary key nor a unique key"));
  s = Track("dana-token", "ref.codes", {"label"});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("(label) is not a primary or unique key of table:ref.codes; its keys: "
                                           "PRIMARY KEY (code)"));
  ASSERT_EQ(RunCli(stack_->deploy_endpoint(), "dana-token", "data track ref.codes --key code", &out), 0) << out;
  ASSERT_EQ(RunCli(stack_->endpoint(), "alice-token", "checkout ref.codes", &out), 0) << out;

  auto checkin = [&](const std::string& name, const std::string& rows) {
    const std::string file = stack_->data_dir() + "-" + name;
    std::ofstream(file) << rows;
    return RunCli(stack_->deploy_endpoint(), "alice-token", "checkin ref.codes --data " + file + " -m bad", &out);
  };
  EXPECT_EQ(checkin("nokey.csv", "label,rate\nx,1\n"), 2) << out;
  EXPECT_THAT(out, HasSubstr("rows of ref.codes: line 1: the header lacks key column code"));
  EXPECT_EQ(checkin("dup.csv", "code,label\n1,a\n2,b\n1,c\n"), 2) << out;
  EXPECT_THAT(out, HasSubstr("line 4: key (1) repeats line 2"));
  EXPECT_EQ(checkin("type.csv", "code,label,rate\n1,a,1.5\n2,b,lots\n"), 2) << out;
  EXPECT_THAT(out, HasSubstr("line 3, column 3 (rate): \"lots\" is not a number"));
  EXPECT_EQ(checkin("type.sql", "INSERT INTO ref.codes VALUES (1, 'a', 1.5),\n  ('two', 'b', 2);"), 2) << out;
  EXPECT_THAT(out, HasSubstr("line 2, value 1 (code): \"two\" is not an integer"));
  EXPECT_EQ(checkin("unknown.csv", "code,colour\n1,red\n"), 2) << out;
  EXPECT_THAT(out, HasSubstr("line 1, column 2: the table has no column \"colour\""));
  std::string many = "code,label\n";
  for (int i = 0; i <= 100000; ++i) absl::StrAppend(&many, i, ",x\n");
  EXPECT_NE(checkin("many.csv", many), 0) << out;
  EXPECT_THAT(out, HasSubstr("reference data is bounded to 100000 rows per table"));
  // Nothing was stored; the check-out is still alice's.
  v1::GetDataRequest get;
  get.set_table("ref.codes");
  v1::DataVersion v;
  EXPECT_EQ(deploy_->GetData(Ctx("vera-token").get(), get, &v).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(checkin("good.csv", "code,label,rate\n1,a,1.5\n"), 0) << out;
  EXPECT_THAT(out, HasSubstr("data v1 stored, 1 rows"));
  // The rows an environment holds, as the next version.
  WaitUnlocked("table:ref.codes");
  ASSERT_EQ(RunCli(stack_->endpoint(), "alice-token", "checkout ref.codes", &out), 0) << out;
  ASSERT_EQ(RunCli(stack_->deploy_endpoint(), "alice-token", "checkin ref.codes --data-from-env dev -m as-in-dev", &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("data v2 stored, 10000 rows (9999 inserted, 1 updated, 0 deleted)"));
  EXPECT_EQ(StoredRows(2), CanonicalOf(VersionOne()));
}

// A release that adds rows and a foreign key that needs them: the key is
// added after the rows are in, in the same transaction.
TEST_P(DataE2ETest, AForeignKeyAddedWithTheRowsItNeedsComesAfterThem) {
  Exec(url("dev"), "CREATE SCHEMA ref; CREATE TABLE ref.codes (code integer PRIMARY KEY, label text NOT NULL, "
                   "rate numeric(6,3)); CREATE TABLE ref.orders (id integer PRIMARY KEY, code integer); "
                   "INSERT INTO ref.codes VALUES (1, 'one', 1); INSERT INTO ref.orders VALUES (1, 1), (2, 20001)");
  Import("dev");
  ASSERT_TRUE(Track("dana-token", "ref.codes").ok());
  Import("dev");
  CreateRelease("R1");
  ASSERT_TRUE(Deploy("R1", "dev").ok());
  ASSERT_TRUE(CheckOut("table:ref.orders").ok());
  v1::CheckInRequest ci;
  ci.set_object("table:ref.orders");
  ci.set_definition("CREATE TABLE ref.orders (id integer PRIMARY KEY, code integer CONSTRAINT orders_code_fkey "
                    "REFERENCES ref.codes (code));");
  ci.set_message("orders name their code");
  v1::CheckInResponse done;
  auto s = lock_->CheckIn(Ctx("alice-token").get(), ci, &done);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_TRUE(CheckOut("table:ref.codes").ok());
  v1::DataVersion v;
  s = CheckInRows("code,label,rate\n1,one,1.000\n20001,big,2.000\n", &v);
  ASSERT_TRUE(s.ok()) << s.error_message();
  CreateRelease("R2");
  v1::DeploymentPlan plan;
  ASSERT_TRUE(PlanOf("R2", "dev", &plan).ok());
  const size_t insert = plan.script().find("INSERT INTO ref.codes");
  const size_t fk = plan.script().find("FOREIGN KEY");
  ASSERT_NE(insert, std::string::npos) << plan.script();
  ASSERT_NE(fk, std::string::npos) << plan.script();
  EXPECT_LT(insert, fk) << plan.script();
  s = Deploy("R2", "dev");
  ASSERT_TRUE(s.ok()) << s.error_message();
  auto session = pg::Session::Connect(url("dev"));
  ASSERT_TRUE(session.ok());
  auto rows = (*session)->Query("SELECT count(*) FROM pg_constraint WHERE conname = 'orders_code_fkey'");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->number(0, 0), 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, DataE2ETest, ::testing::Values("embedded", "kafka"));

}  // namespace
}  // namespace strata::testing
