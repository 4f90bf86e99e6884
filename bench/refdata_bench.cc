// strata-bench-refdata: the reference-data row engine (issue 22) on a
// 100,000-row table with 5% of its rows changed (1,000 inserted, 1,000
// deleted, 3,000 updated): parse both versions from CSV, diff them, and write
// the forward and rollback statements. Prints wall and CPU time per run and
// the process's peak memory. With --pg-url, also applies the forward script
// to a scratch database holding version 1 (one transaction) and, in turn,
// restores the same table with pg_dump --data-only | psql after a TRUNCATE:
// the peer a team would use to move the rows. Bounded by --runs.
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "bench_server.h"
#include "figure.h"
#include "pg/pg.h"
#include "refdata/rows.h"

namespace {

using namespace strata;

const std::vector<refdata::Column> kColumns = {{"id", "integer"},    {"code", "text"},    {"label", "text"},
                                               {"rate", "numeric"}, {"active", "boolean"}, {"since", "date"}};

std::string Version(int rows, bool changed) {
  std::string csv = "id,code,label,rate,active,since\n";
  csv.reserve(static_cast<size_t>(rows) * 64);
  for (int i = 1; i <= rows + (changed ? rows / 100 : 0); ++i) {
    if (changed && i <= rows && i % 100 == 0) continue;  // 1% deleted
    const bool updated = changed && i <= rows && i % 25 == 0;  // 3% updated (i % 100 == 0: deleted)
    absl::StrAppend(&csv, i, ",C", i, ",\"Label ", i, updated ? " (renamed, \"\"v2\"\")" : "", "\",", i % 997, ".",
                    updated ? 75 : 25, ",", i % 3 ? "true" : "false", ",2026-", 1 + i % 12, "-1", i % 9, "\n");
  }
  return csv;
}

double PeakMegabytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata-bench-refdata: diff and scripts of a 100,000-row reference table, 5% changed"};
  int rows = 100000, runs = 5;
  std::string pg_url;
  app.add_option("--rows", rows, "rows in version 1")->check(CLI::Range(1000, 100000));
  app.add_option("--runs", runs, "timed runs")->check(CLI::Range(1, 100));
  app.add_option("--pg-url", pg_url, "a PostgreSQL server (role with CREATEDB) for the apply comparison");
  CLI11_PARSE(app, argc, argv);
  const std::string v1_csv = Version(rows, false), v2_csv = Version(rows, true);
  std::vector<double> wall, cpu;
  size_t statements = 0, bytes = 0;
  for (int r = 0; r < runs; ++r) {
    const double cpu_start = bench::ProcessCpuSeconds(getpid());
    const auto start = std::chrono::steady_clock::now();
    auto v1 = refdata::ParseCsv(v1_csv, kColumns, {"id"});
    auto v2 = refdata::ParseCsv(v2_csv, kColumns, {"id"});
    bench::Check(v1.status(), "version 1");
    bench::Check(v2.status(), "version 2");
    auto forward = refdata::Diff(*v1, *v2);
    auto back = refdata::Diff(*v2, *v1);
    bench::Check(forward.status(), "diff");
    auto up = refdata::Statements(*forward, *v2, "ref.items");
    auto down = refdata::Statements(*back, *v1, "ref.items");
    wall.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    cpu.push_back(bench::ProcessCpuSeconds(getpid()) - cpu_start);
    statements = up.size() + down.size();
    bytes = 0;
    for (const auto& s : up) bytes += s.size();
    if (r == 0)
      fmt::print("{} rows -> {} rows: {} inserted, {} deleted, {} updated; {} statements forward + back ({} KB "
                 "forward)\n",
                 v1->rows.size(), v2->rows.size(), forward->inserted.size(), forward->deleted.size(),
                 forward->updated.size(), statements, bytes / 1024);
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  const double peak = PeakMegabytes();  // the diff's, before the database part
  fmt::print("parse both + diff both ways + scripts: median {:.3f} s wall, {:.3f} s CPU (of {} runs); peak memory "
             "{:.0f} MB\n",
             wall[wall.size() / 2], cpu[cpu.size() / 2], runs, peak);
  bench::Figure("refdata.diff_100k_5pct.wall", wall[wall.size() / 2], "s");
  bench::Figure("refdata.diff_100k_5pct.cpu", cpu[cpu.size() / 2], "s");
  bench::Figure("refdata.diff_100k_5pct.peak", peak, "MB");
  if (!pg_url.empty()) {
    // A scratch database with version 1, then A B A B: the script, the dump.
    const std::string name = absl::StrCat("strata_bench_refdata_", getpid());
    auto admin = pg::Session::Connect(pg_url);
    bench::Check(admin.status(), "connect");
    bench::Check((*admin)->Exec("CREATE DATABASE " + name), "create database");
    const std::string url = pg::WithDatabase(pg_url, name);
    auto db = pg::Session::Connect(url);
    bench::Check(db.status(), "connect scratch");
    bench::Check((*db)->Exec("CREATE SCHEMA ref; CREATE TABLE ref.items (id integer PRIMARY KEY, code text, label text, "
                             "rate numeric, active boolean, since date)"),
                 "create table");
    auto v1 = refdata::ParseCsv(v1_csv, kColumns, {"id"});
    auto v2 = refdata::ParseCsv(v2_csv, kColumns, {"id"});
    refdata::RowSet empty = *v1;
    empty.rows.clear();
    auto run = [&](const std::vector<std::string>& statements) {
      std::string script = "BEGIN;\n";
      for (const auto& st : statements) absl::StrAppend(&script, st, ";\n");
      bench::Check((*db)->Exec(script + "COMMIT;"), "apply");
    };
    run(refdata::Statements(*refdata::Diff(empty, *v1), *v1, "ref.items"));
    const auto up = refdata::Statements(*refdata::Diff(*v1, *v2), *v2, "ref.items");
    const auto down = refdata::Statements(*refdata::Diff(*v2, *v1), *v1, "ref.items");
    const std::string dump = absl::StrCat("/tmp/", name, ".sql");
    std::vector<double> script_s, dump_s;
    for (int r = 0; r < 2; ++r) {
      auto start = std::chrono::steady_clock::now();
      run(up);
      script_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
      run(down);
      // The peer: dump the table's rows (version 1 now), then restore them.
      start = std::chrono::steady_clock::now();
      const std::string cmd = absl::StrCat("pg_dump --data-only -t ref.items -f ", dump, " '", url,
                                           "' && psql -q -v ON_ERROR_STOP=1 -c 'TRUNCATE ref.items' -f ", dump, " '",
                                           url, "' > /dev/null");
      if (std::system(cmd.c_str()) != 0) bench::Die("pg_dump | psql failed");
      dump_s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::remove(dump.c_str());
    db->reset();
    (void)(*admin)->Exec("DROP DATABASE " + name + " WITH (FORCE)");
    fmt::print("apply the 5% script (one transaction): {:.3f} s, {:.3f} s; pg_dump --data-only + TRUNCATE + restore of "
               "the table: {:.3f} s, {:.3f} s (A B A B)\n",
               script_s[0], script_s[1], dump_s[0], dump_s[1]);
    bench::Figure("refdata.apply_100k_5pct", (script_s[0] + script_s[1]) / 2, "s");
    bench::Figure("refdata.apply_vs_dump_restore", (dump_s[0] + dump_s[1]) / (script_s[0] + script_s[1]), "x");
  }
  return 0;
}
