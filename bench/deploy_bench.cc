// strata-bench-deploy: a release with 1,000 changed objects (default: 500
// tables gain a column, 250 new indexes, 250 new views, over a base of 500
// tables already deployed), planned and deployed by a real strata-server to
// a real PostgreSQL database; and, in the same run, Sqitch deploying the same
// 1,000 changes as 1,000 Sqitch changes to a second database. Prints plan
// time, apply time (the deployment's transaction), the whole `deploy` call
// (gates, drift check, plan again, apply) and Sqitch's deploy time, then
// checks that both databases ended with the same catalog.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "CLI/CLI.hpp"
#include "bench_server.h"
#include "figure.h"
#include "fmt/format.h"
#include "pg/pg.h"
#include "schemadiff/catalog.h"
#include "strata/v1/deploy.grpc.pb.h"
#include "strata/v1/lock.grpc.pb.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

using strata::bench::Check;
using strata::bench::Die;

std::string Table(int i) { return fmt::format("t{:04d}", i); }

// The base: `tables` tables of 8 columns.
std::string TableSql(int i, bool with_note) {
  return fmt::format(
      "CREATE TABLE bench.{} (\n    id bigint NOT NULL,\n    name text,\n    qty integer,\n    price numeric(12,2),\n"
      "    created timestamp with time zone,\n    flag boolean,\n    ref bigint,\n    code character varying(20){}\n);\n"
      "ALTER TABLE bench.{} ADD CONSTRAINT {}_pkey PRIMARY KEY (id);\n",
      Table(i), with_note ? ",\n    note text" : "", Table(i), Table(i));
}
std::string IndexSql(int i) { return fmt::format("CREATE INDEX {}_by_ref ON bench.{} USING btree (ref);\n", Table(i), Table(i)); }
std::string ViewSql(int i) {
  return fmt::format("CREATE VIEW bench.{}_priced AS SELECT id, name, price FROM bench.{} WHERE price > 0;\n", Table(i),
                     Table(i));
}

// Calls as the benchmark's user (tokens.yaml).
std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) { return strata::bench::Ctx(token, 1800); }

// Checks out (reserving new names) and checks in each definition.
void CheckIn(strata::v1::LockService::Stub& lock, const std::vector<std::pair<std::string, std::string>>& defs) {
  for (const auto& [id, sql] : defs) {
    strata::v1::CheckOutRequest co;
    co.add_objects(id);
    strata::v1::CheckOutResponse cor;
    Check(lock.CheckOut(Ctx("dev-token").get(), co, &cor), "checkout " + id);
    strata::v1::CheckInRequest ci;
    ci.set_object(id);
    ci.set_definition(sql);
    ci.set_message("bench");
    strata::v1::CheckInResponse cir;
    Check(lock.CheckIn(Ctx("dev-token").get(), ci, &cir), "checkin " + id);
  }
}

std::vector<std::string> CatalogFacts(const std::string& url) {
  auto s = strata::pg::Session::Connect(url);
  if (!s.ok()) Die(std::string(s.status().message()));
  auto c = strata::schemadiff::ReadCatalog(**s);
  if (!c.ok()) Die(std::string(c.status().message()));
  std::vector<std::string> facts;
  for (auto& f : strata::schemadiff::Facts(*c))
    if (f.find("sqitch") == std::string::npos) facts.push_back(std::move(f));  // Sqitch's own registry
  return facts;
}

// A Sqitch project: change "base" (the base tables), then one change per
// changed object; plan file written directly (sqitch add per change would
// time Perl start-ups, not deployments).
void WriteSqitchProject(const std::string& dir, int tables, int altered, int indexes, int views) {
  fs::create_directories(dir + "/deploy");
  fs::create_directories(dir + "/revert");
  fs::create_directories(dir + "/verify");
  std::ofstream(dir + "/sqitch.conf") << "[core]\n\tengine = pg\n\ttop_dir = .\n";
  std::ofstream plan(dir + "/sqitch.plan");
  plan << "%syntax-version=1.0.0\n%project=bench\n\n";
  auto add = [&](const std::string& name, const std::string& deploy, const std::string& revert) {
    std::ofstream(dir + "/deploy/" + name + ".sql") << "BEGIN;\n" << deploy << "COMMIT;\n";
    std::ofstream(dir + "/revert/" + name + ".sql") << "BEGIN;\n" << revert << "COMMIT;\n";
    std::ofstream(dir + "/verify/" + name + ".sql") << "SELECT 1;\n";
    plan << name << " 2026-11-25T00:00:00Z Bench <bench@example.test> # " << name << "\n";
  };
  std::string base = "CREATE SCHEMA bench;\n";
  for (int i = 0; i < tables; ++i) base += TableSql(i, false);
  add("base", base, "DROP SCHEMA bench CASCADE;\n");
  for (int i = 0; i < altered; ++i)
    add("note_" + Table(i), fmt::format("ALTER TABLE bench.{} ADD COLUMN note text;\n", Table(i)),
        fmt::format("ALTER TABLE bench.{} DROP COLUMN note;\n", Table(i)));
  for (int i = 0; i < indexes; ++i)
    add("index_" + Table(i), IndexSql(i), fmt::format("DROP INDEX bench.{}_by_ref;\n", Table(i)));
  for (int i = 0; i < views; ++i)
    add("view_" + Table(i), ViewSql(i), fmt::format("DROP VIEW bench.{}_priced;\n", Table(i)));
}

int Run(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata-bench-deploy: plan and deploy a 1,000-object release; Sqitch on the same changes"};
  std::string pg_url = "postgres://strata:strata@127.0.0.1:5432/postgres";
  std::string bin_dir = fs::path(argv[0]).parent_path().string();
  std::string dir = "/tmp/strata-bench-deploy";
  int tables = 500, altered = 500, indexes = 250, views = 250;
  bool sqitch = true;
  app.add_option("--pg-url", pg_url, "a database on the PostgreSQL server to use (role needs CREATEDB)");
  app.add_option("--bin-dir", bin_dir, "where strata-server is");
  app.add_option("--dir", dir, "scratch directory (wiped)");
  app.add_option("--tables", tables, "base tables");
  app.add_option("--altered", altered, "tables that gain a column in the release");
  app.add_option("--indexes", indexes, "new indexes in the release");
  app.add_option("--views", views, "new views in the release");
  app.add_flag("!--no-sqitch", sqitch, "skip the Sqitch peer");
  CLI11_PARSE(app, argc, argv);
  if (altered > tables || indexes > tables || views > tables) Die("changes need that many base tables");

  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string strata_db = fmt::format("bench_deploy_strata_{}", getpid());
  const std::string sqitch_db = fmt::format("bench_deploy_sqitch_{}", getpid());
  auto admin = strata::pg::Session::Connect(pg_url);
  if (!admin.ok()) Die(std::string(admin.status().message()));
  for (const auto& db : {strata_db, sqitch_db})
    if (auto s = (*admin)->Exec("CREATE DATABASE " + db); !s.ok()) Die(std::string(s.message()));
  struct DropDbs {
    strata::pg::Session* admin;
    std::vector<std::string> dbs;
    ~DropDbs() {
      for (const auto& d : dbs) (void)admin->Exec("DROP DATABASE IF EXISTS " + d + " WITH (FORCE)");
    }
  } drop{admin->get(), {strata_db, sqitch_db}};

  // Credentials stay in the secrets file; the environment URL has none.
  const size_t scheme = pg_url.find("://") + 3, at = pg_url.find('@'), colon = pg_url.find(':', scheme);
  const std::string password = colon < at ? pg_url.substr(colon + 1, at - colon - 1) : "";
  const std::string env_url = strata::pg::WithDatabase(colon < at ? pg_url.substr(0, colon) + pg_url.substr(at) : pg_url,
                                                       strata_db);
  std::ofstream(dir + "/tokens.yaml") << "tokens:\n  - {token: dev-token, user: bench, site: bench, roles: [dba, "
                                         "release-manager]}\n";
  std::ofstream(dir + "/secrets.yaml") << "environments:\n  dev: {password: '" << password << "'}\nshadow_url: '"
                                       << pg_url << "'\n";
  auto server = std::make_unique<strata::bench::Server>(bin_dir + "/strata-server", dir);
  auto channel = grpc::CreateChannel(server->endpoint(), grpc::InsecureChannelCredentials());
  auto lock = strata::v1::LockService::NewStub(channel);
  auto deploy = strata::v1::DeployService::NewStub(channel);

  strata::v1::AddEnvironmentRequest env;
  env.set_name("dev");
  env.set_url(env_url);
  strata::v1::Environment env_resp;
  Check(deploy->AddEnvironment(Ctx("dev-token").get(), env, &env_resp), "env add");

  // Base release: schema + tables, deployed before anything is timed.
  std::vector<std::pair<std::string, std::string>> base = {{"schema:bench", "CREATE SCHEMA bench;\n"}};
  for (int i = 0; i < tables; ++i) base.push_back({"table:bench." + Table(i), TableSql(i, false)});
  auto t = Clock::now();
  CheckIn(*lock, base);
  strata::v1::CreateReleaseRequest r0;
  r0.set_name("base");
  strata::v1::Release release;
  Check(deploy->CreateRelease(Ctx("dev-token").get(), r0, &release), "release base");
  strata::v1::DeployRequest d0;
  d0.set_release("base");
  d0.set_environment("dev");
  strata::v1::Deployment dep;
  Check(deploy->Deploy(Ctx("dev-token").get(), d0, &dep), "deploy base");
  fmt::print("setup: {} base objects checked in and deployed in {:.1f} s\n", base.size(), Since(t));

  // The release: `altered` + `indexes` + `views` changed objects.
  std::vector<std::pair<std::string, std::string>> changes;
  for (int i = 0; i < altered; ++i) changes.push_back({"table:bench." + Table(i), TableSql(i, true)});
  for (int i = 0; i < indexes; ++i) changes.push_back({fmt::format("index:bench.{}_by_ref", Table(i)), IndexSql(i)});
  for (int i = 0; i < views; ++i) changes.push_back({fmt::format("view:bench.{}_priced", Table(i)), ViewSql(i)});
  t = Clock::now();
  CheckIn(*lock, changes);
  strata::v1::CreateReleaseRequest r1;
  r1.set_name("big");
  Check(deploy->CreateRelease(Ctx("dev-token").get(), r1, &release), "release big");
  fmt::print("setup: {} changed objects checked in, release of {} changed objects created in {:.1f} s\n",
             changes.size(), release.changed_size(), Since(t));

  strata::v1::PlanRequest plan_req;
  plan_req.set_release("big");
  plan_req.set_environment("dev");
  strata::v1::DeploymentPlan plan;
  t = Clock::now();
  Check(deploy->Plan(Ctx("dev-token").get(), plan_req, &plan), "plan");
  const double plan_s = Since(t);
  // Drift of the environment (its deployed state against the live database).
  strata::v1::CheckDriftRequest drift_req;
  drift_req.set_environment("dev");
  strata::v1::DriftReport drift;
  t = Clock::now();
  Check(deploy->CheckDrift(Ctx("dev-token").get(), drift_req, &drift), "drift");
  const double drift_s = Since(t);
  if (drift.drifted()) Die("the benchmark's environment drifted");
  fmt::print("strata: release state {} objects; plan {:.2f} s; drift check {:.2f} s ({} objects checked)\n",
             release.entries_size(), plan_s, drift_s, drift.objects_checked());
  strata::bench::Figure("deploy.1000.drift", drift_s, "s");
  {
    // The same after a restart: the first drift check needs the
    // environment's state, the first plan the release's (read from the
    // catalogs the first server kept on disk). The restarted server serves
    // the rest.
    server->Stop();
    server = std::make_unique<strata::bench::Server>(bin_dir + "/strata-server", dir);
    channel = grpc::CreateChannel(server->endpoint(), grpc::InsecureChannelCredentials());
    deploy = strata::v1::DeployService::NewStub(channel);
    lock = strata::v1::LockService::NewStub(channel);
    strata::v1::DriftReport cold_drift;
    t = Clock::now();
    Check(deploy->CheckDrift(Ctx("dev-token").get(), drift_req, &cold_drift), "drift after restart");
    const double cold_drift_s = Since(t);
    strata::v1::DeploymentPlan cold_plan;
    t = Clock::now();
    Check(deploy->Plan(Ctx("dev-token").get(), plan_req, &cold_plan), "plan after restart");
    const double cold_plan_s = Since(t);
    fmt::print("strata: after a restart: drift check {:.2f} s, then plan {:.2f} s (catalogs kept on disk by the "
               "first server; a build without them loads the environment's state, then the release's)\n",
               cold_drift_s, cold_plan_s);
    strata::bench::Figure("deploy.1000.drift_cold", cold_drift_s, "s");
    strata::bench::Figure("deploy.1000.plan_cold", cold_plan_s, "s");
  }
  strata::v1::DeployRequest d1;
  d1.set_release("big");
  d1.set_environment("dev");
  t = Clock::now();
  Check(deploy->Deploy(Ctx("dev-token").get(), d1, &dep), "deploy");
  const double deploy_s = Since(t);
  const double apply_s = dep.duration_ms() / 1000.0;
  fmt::print("strata: plan {:.2f} s ({} statements, {} changed objects); apply {:.2f} s (one transaction); "
             "plan + apply {:.2f} s; whole deploy call (gates, drift check, plan, apply) {:.2f} s\n",
             plan_s, plan.statements(), plan.changed_objects_size(), apply_s, plan_s + apply_s, deploy_s);
  strata::bench::Figure("deploy.1000.plan", plan_s, "s");
  strata::bench::Figure("deploy.1000.apply", apply_s, "s");

  if (!sqitch) return 0;
  const std::string sq = dir + "/sqitch";
  WriteSqitchProject(sq, tables, altered, indexes, views);
  const std::string target = "db:pg://" + pg_url.substr(scheme, pg_url.rfind('/') - scheme) + "/" + sqitch_db;
  if (Run(fmt::format("cd {} && sqitch deploy --to base {} > {}/sqitch-base.log 2>&1", sq, target, dir)) != 0)
    Die("sqitch deploy --to base failed; see " + dir + "/sqitch-base.log");
  t = Clock::now();
  if (Run(fmt::format("cd {} && sqitch deploy {} > {}/sqitch.log 2>&1", sq, target, dir)) != 0)
    Die("sqitch deploy failed; see " + dir + "/sqitch.log");
  const double sqitch_s = Since(t);
  fmt::print("sqitch: deploy of {} changes {:.2f} s\n", altered + indexes + views, sqitch_s);
  fmt::print("ratio: sqitch deploy / strata (plan + apply) = {:.1f}x; sqitch deploy / strata whole deploy call = "
             "{:.1f}x\n",
             sqitch_s / (plan_s + apply_s), sqitch_s / deploy_s);
  strata::bench::Figure("deploy.1000.vs_sqitch", sqitch_s / (plan_s + apply_s), "x");
  const bool same = CatalogFacts(strata::pg::WithDatabase(pg_url, strata_db)) ==
                    CatalogFacts(strata::pg::WithDatabase(pg_url, sqitch_db));
  fmt::print("verify: both databases have {} catalogs\n", same ? "equal" : "DIFFERENT");
  return same ? 0 : 1;
}
