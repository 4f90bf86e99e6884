// strata-bench-guard: what the guard costs and how fast it follows the log,
// with a real strata-server and PostgreSQL.
//  * DDL overhead: the same 1,000 `ALTER TABLE ... SET DEFAULT n` statements
//    (autocommit, one connection) without and with the guard, alternating in
//    rounds within one run; reports ms per statement.
//  * GRANT overhead: `--grants` GRANT statements on the checked-out table,
//    without and with the guard (GRANT reaches the guard without a target:
//    it reads the catalog rows the transaction wrote, so its cost grows with
//    the catalog; `--tables` tables of 5 columns each are created and
//    imported first).
//  * Propagation: from the check-out call's return to the row in
//    strata_guard.checkouts (polled every 2 ms), for `--checkouts` objects;
//    reports p50, p99 and max.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "CLI/CLI.hpp"
#include "bench_server.h"
#include "figure.h"
#include "fmt/format.h"
#include "pg/pg.h"
#include "strata/v1/deploy.grpc.pb.h"
#include "strata/v1/lock.grpc.pb.h"

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

using strata::bench::Check;
using strata::bench::Die;

// Calls as the benchmark's user (tokens.yaml).
std::unique_ptr<grpc::ClientContext> Ctx() { return strata::bench::Ctx("bench-token", 300); }

// postgres://user:pw@host/db -> (user, pw, the URL for database `db`).
struct PgParts {
  std::string user, password, url_without_db;
};
PgParts Parse(const std::string& url) {
  const size_t start = url.find("://") + 3;
  const size_t at = url.find('@', start);
  const size_t colon = url.find(':', start);
  const size_t slash = url.find('/', at);
  if (at == std::string::npos || colon == std::string::npos || colon > at || slash == std::string::npos)
    Die("--pg-url must be postgres://user:password@host:port/db");
  return {url.substr(start, colon - start), url.substr(colon + 1, at - colon - 1), url.substr(0, slash + 1)};
}

// Seconds for `n` autocommit ALTERs on one connection.
double TimeAlters(strata::pg::Session& db, int n, int round) {
  const auto t = Clock::now();
  for (int i = 0; i < n; ++i)
    Check(db.Exec(fmt::format("ALTER TABLE bench.t ALTER COLUMN c SET DEFAULT {}", round * n + i)), "ALTER");
  return Since(t);
}

// Seconds for `n` autocommit GRANTs on one connection.
double TimeGrants(strata::pg::Session& db, int n) {
  const auto t = Clock::now();
  for (int i = 0; i < n; ++i)
    Check(db.Exec(i % 2 ? "REVOKE SELECT ON bench.t FROM PUBLIC" : "GRANT SELECT ON bench.t TO PUBLIC"), "GRANT");
  return Since(t);
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata-bench-guard: DDL overhead of the guard and check-out propagation to the database"};
  std::string pg_url = "postgres://strata:strata@127.0.0.1:5432/postgres";
  std::string bin_dir = fs::path(argv[0]).parent_path().string();
  std::string dir = "/tmp/strata-bench-guard";
  int alters = 1000, rounds = 3, checkouts = 200, grants = 200, tables = 1000;
  app.add_option("--pg-url", pg_url, "a superuser's URL on the PostgreSQL server (the guard needs one)");
  app.add_option("--bin-dir", bin_dir, "where strata-server is");
  app.add_option("--dir", dir, "scratch directory (wiped)");
  app.add_option("--alters", alters, "ALTER statements per measurement");
  app.add_option("--rounds", rounds, "rounds of (without, with) guard");
  app.add_option("--checkouts", checkouts, "check-outs timed to the database");
  app.add_option("--grants", grants, "GRANT/REVOKE statements per measurement");
  app.add_option("--tables", tables, "extra tables (5 columns each) in the database, imported");
  CLI11_PARSE(app, argc, argv);

  fs::remove_all(dir);
  fs::create_directories(dir);
  const PgParts pg = Parse(pg_url);
  const std::string db_name = fmt::format("bench_guard_{}", getpid());
  auto admin = strata::pg::Session::Connect(pg_url);
  if (!admin.ok()) Die(std::string(admin.status().message()));
  Check((*admin)->Exec("CREATE DATABASE " + db_name), "create database");
  const std::string db_url = pg.url_without_db + db_name;
  {
    auto db = strata::pg::Session::Connect(db_url);
    if (!db.ok()) Die(std::string(db.status().message()));
    Check((*db)->Exec("CREATE SCHEMA bench; CREATE TABLE bench.t (id int PRIMARY KEY, c int)"), "schema");
    Check((*db)->Exec(fmt::format("DO $$ BEGIN FOR i IN 1..{} LOOP EXECUTE format('CREATE TABLE bench.x%s (id int "
                                  "PRIMARY KEY, a text, b int, c date, d numeric)', i); END LOOP; END $$",
                                  tables)),
          "tables");
  }
  // The benchmark's user maps to the connecting role, so the guard lets its ALTERs through.
  std::ofstream(dir + "/tokens.yaml") << "tokens:\n  - {token: bench-token, user: bench, roles: [dba], db_role: "
                                      << pg.user << "}\n";
  std::ofstream(dir + "/secrets.yaml") << "environments:\n  dev: {password: '" << pg.password << "'}\n";
  strata::bench::Server server(bin_dir + "/strata-server", dir);
  auto channel = grpc::CreateChannel(server.endpoint(), grpc::InsecureChannelCredentials());
  auto lock = strata::v1::LockService::NewStub(channel);
  auto deploy = strata::v1::DeployService::NewStub(channel);

  strata::v1::AddEnvironmentRequest env;
  env.set_name("dev");
  env.set_url(fmt::format("postgres://{}@{}", pg.user, db_url.substr(db_url.find('@') + 1)));
  env.set_order(1);
  strata::v1::Environment registered;
  Check(deploy->AddEnvironment(Ctx().get(), env, &registered), "env add");
  strata::v1::ImportRequest import;
  import.set_environment("dev");
  strata::v1::ImportResponse imported;
  Check(deploy->Import(Ctx().get(), import, &imported), "import");
  strata::v1::CheckOutRequest co;
  co.add_objects("table:bench.t");
  strata::v1::CheckOutResponse cor;
  Check(lock->CheckOut(Ctx().get(), co, &cor), "checkout");

  auto ddl = strata::pg::Session::Connect(db_url);
  if (!ddl.ok()) Die(std::string(ddl.status().message()));
  strata::v1::GuardRequest guard;
  guard.set_environment("dev");
  strata::v1::GuardReport report;
  std::vector<double> without, with, grants_without, grants_with;
  for (int r = 0; r < rounds; ++r) {
    Check(deploy->GuardUninstall(Ctx().get(), guard, &report), "guard uninstall");
    without.push_back(TimeAlters(**ddl, alters, 2 * r));
    grants_without.push_back(TimeGrants(**ddl, grants));
    Check(deploy->GuardInstall(Ctx().get(), guard, &report), "guard install");
    with.push_back(TimeAlters(**ddl, alters, 2 * r + 1));
    grants_with.push_back(TimeGrants(**ddl, grants));
  }
  fmt::print("{} managed objects, {} tables in the database\n", report.managed(), tables + 1);
  for (int r = 0; r < rounds; ++r)
    fmt::print("round {}: {} ALTERs without the guard {:.3f} s ({:.3f} ms each), with it {:.3f} s ({:.3f} ms each): "
               "+{:.3f} ms per DDL; {} GRANT/REVOKE {:.3f} ms each without, {:.3f} ms with: +{:.3f} ms\n",
               r + 1, alters, without[r], 1000 * without[r] / alters, with[r], 1000 * with[r] / alters,
               1000 * (with[r] - without[r]) / alters, grants, 1000 * grants_without[r] / grants,
               1000 * grants_with[r] / grants, 1000 * (grants_with[r] - grants_without[r]) / grants);

  // Propagation: check-out returned -> row in the guard table.
  auto probe = strata::pg::Session::Connect(db_url);
  if (!probe.ok()) Die(std::string(probe.status().message()));
  std::vector<double> latencies;
  for (int i = 0; i < checkouts; ++i) {
    const std::string object = fmt::format("table:bench.p{:04d}", i);
    strata::v1::CheckOutRequest req;
    req.add_objects(object);
    strata::v1::CheckOutResponse resp;
    Check(lock->CheckOut(Ctx().get(), req, &resp), "checkout " + object);
    const auto t = Clock::now();
    for (;;) {
      auto rows = (*probe)->Query("SELECT count(*) FROM strata_guard.checkouts WHERE object = $1", {object});
      if (!rows.ok()) Die(std::string(rows.status().message()));
      if (rows->number(0, 0) == 1) break;
      if (Since(t) > 10) Die(object + " did not reach the database within 10 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    latencies.push_back(1000 * Since(t));
  }
  fmt::print("check-out -> guard table, {} check-outs: p50 {:.0f} ms, p99 {:.0f} ms, max {:.0f} ms\n", checkouts,
             Percentile(latencies, 0.5), Percentile(latencies, 0.99), *std::max_element(latencies.begin(), latencies.end()));
  std::vector<double> alter_overhead, grant_overhead;
  for (int r = 0; r < rounds; ++r) {
    alter_overhead.push_back(1000 * (with[r] - without[r]) / alters);
    grant_overhead.push_back(1000 * (grants_with[r] - grants_without[r]) / grants);
  }
  strata::bench::Figure("guard.alter_overhead", Percentile(alter_overhead, 0.5), "ms");
  strata::bench::Figure("guard.grant_overhead", Percentile(grant_overhead, 0.5), "ms");
  strata::bench::Figure("guard.propagation.p99", Percentile(latencies, 0.99), "ms");

  ddl->reset();
  probe->reset();
  server.Stop();
  (void)(*admin)->Exec("DROP DATABASE " + db_name + " WITH (FORCE)");
  return 0;
}
