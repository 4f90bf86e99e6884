// strata-bench-schemadiff: the schema diff engine on two synthetic schemas
// (default: 5,000 tables of 20 columns and 1,000 views, differing in 500
// places), timed end to end as `strata schema diff` runs it: both shadow
// loads, catalog reads, the diff and the script. --verify applies the script
// to a database holding the first schema and checks its catalog equals the
// second; --peer times another tool on the same two files (e.g. apgdiff).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "figure.h"
#include "fmt/format.h"
#include "pg/pg.h"
#include "schemadiff/apply.h"
#include "schemadiff/diff.h"
#include "schemadiff/source.h"

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct Table {
  std::string name;
  std::vector<std::pair<std::string, std::string>> columns;  // name, definition
  std::vector<std::string> extra;  // indexes, comments, keys (full statements)
  bool dropped = false;
};

struct Schema {
  std::vector<Table> tables;
  std::vector<std::string> views;  // CREATE VIEW statements
  std::string Render() const {
    std::string out = "CREATE SCHEMA app;\n";
    for (const Table& t : tables) {
      if (t.dropped) continue;
      out += fmt::format("CREATE TABLE app.{} (\n", t.name);
      for (size_t i = 0; i < t.columns.size(); ++i) {
        out += fmt::format("  {} {}{}\n", t.columns[i].first, t.columns[i].second, i + 1 < t.columns.size() ? "," : "");
      }
      out += ");\n";
    }
    for (const Table& t : tables) {
      if (t.dropped) continue;
      for (const auto& s : t.extra) out += s + ";\n";
    }
    for (const auto& v : views) out += v + ";\n";
    return out;
  }
};

const char* kTypes[] = {"integer", "text", "varchar(50)", "numeric(12,2)", "timestamptz", "boolean", "bigint"};

std::string ViewSql(int i, int tables, bool extra_column) {
  int t = i % (tables / 2) + 1, u = (i * 7) % (tables / 2) + 1;
  return fmt::format(
      "CREATE VIEW app.v{:04} AS SELECT a.id, a.c01, a.c02, b.c03{} FROM app.t{:05} a JOIN app.t{:05} b ON b.id = a.id "
      "WHERE a.c01 > {}",
      i, extra_column ? ", b.c04" : "", t, u, i);
}

Schema Generate(int tables, int columns, int views) {
  Schema s;
  for (int i = 1; i <= tables; ++i) {
    Table t{fmt::format("t{:05}", i)};
    t.columns.push_back({"id", "bigint PRIMARY KEY"});
    for (int c = 1; c < columns; ++c) {
      std::string def = kTypes[(i + c) % 7];
      if (c == 1) def = "integer NOT NULL DEFAULT 0";
      if (c == 2) def = "varchar(50)";
      if (c == 3) def = "integer";
      t.columns.push_back({fmt::format("c{:02}", c), def});
    }
    if (i % 5 == 0) t.extra.push_back(fmt::format("CREATE INDEX {0}_c01 ON app.{0} (c01)", t.name));
    if (i % 10 == 0) {
      t.extra.push_back(fmt::format("ALTER TABLE app.{} ADD CONSTRAINT {}_prev FOREIGN KEY (c03) REFERENCES app.t{:05} (id)",
                                    t.name, t.name, i - 1));
    }
    s.tables.push_back(std::move(t));
  }
  for (int v = 1; v <= views; ++v) s.views.push_back(ViewSql(v, tables, false));
  return s;
}

// Changes `count` distinct places: columns added, dropped, retyped (some under
// views), defaults, NOT NULL, indexes, comments, views, tables added and dropped.
int Mutate(Schema& s, int count, int columns) {
  std::mt19937 rng(42);
  int n = static_cast<int>(s.tables.size()), made = 0;
  std::vector<bool> touched(n + 1, false);
  auto pick = [&](int lo, int hi) {
    for (;;) {
      int i = std::uniform_int_distribution<int>(lo, hi)(rng);
      if (!touched[i] && i % 10 != 9 && i % 10 != 0) {
        touched[i] = true;
        return i;
      }
    }
  };
  int last = columns - 1;
  for (; made < count; ++made) {
    switch (made % 10) {
      case 0: s.tables[pick(1, n) - 1].columns.push_back({"added", "text DEFAULT 'x'"}); break;
      case 1: s.tables[pick(1, n) - 1].columns.pop_back(); break;  // drops c<last>
      case 2: s.tables[pick(1, n / 2) - 1].columns[2].second = "varchar(100)"; break;  // c02, used by views
      case 3: s.tables[pick(1, n) - 1].columns[1].second = "integer NOT NULL DEFAULT 1"; break;
      case 4: {
        Table& t = s.tables[pick(1, n) - 1];
        t.extra.push_back(fmt::format("CREATE INDEX {0}_c{1:02} ON app.{0} (c{1:02})", t.name, last));
        break;
      }
      case 5: {
        Table& t = s.tables[pick(1, n) - 1];
        t.extra.push_back(fmt::format("COMMENT ON TABLE app.{} IS 'changed'", t.name));
        break;
      }
      case 6: {
        int v = std::uniform_int_distribution<int>(1, static_cast<int>(s.views.size()))(rng);
        s.views[v - 1] = ViewSql(v, n, true);
        break;
      }
      case 7: {
        Table t{fmt::format("new{:04}", made)};
        t.columns = {{"id", "bigint PRIMARY KEY"}, {"v", "text"}};
        s.tables.push_back(std::move(t));
        break;
      }
      case 8: s.tables[pick(n / 2 + 1, n) - 1].dropped = true; break;  // no views use the second half
      case 9: s.tables[pick(1, n) - 1].columns[3].second = "integer NOT NULL DEFAULT 0"; break;
    }
  }
  (void)last;
  return made;
}

}  // namespace

int main(int argc, char** argv) {
  int tables = 5000, columns = 20, views = 1000, changes = 500, runs = 3;
  std::string dir = "/tmp/strata-bench-schemadiff", shadow, peer;
  bool verify = false;
  CLI::App app{"schema diff benchmark"};
  app.add_option("--tables", tables);
  app.add_option("--columns", columns);
  app.add_option("--views", views);
  app.add_option("--changes", changes);
  app.add_option("--runs", runs);
  app.add_option("--dir", dir, "where the two schema files are written");
  app.add_option("--shadow-url", shadow, "shadow server (default: libpq defaults, database postgres)");
  app.add_option("--peer", peer, "another diff tool to time on the same files, e.g. apgdiff");
  app.add_flag("--verify", verify, "apply the script to the first schema and compare with the second");
  CLI11_PARSE(app, argc, argv);

  std::filesystem::create_directories(dir);
  Schema a = Generate(tables, columns, views), b = a;
  int made = Mutate(b, changes, columns);
  std::string a_path = dir + "/a.sql", b_path = dir + "/b.sql", script_path = dir + "/a_to_b.sql";
  std::ofstream(a_path) << a.Render();
  std::ofstream(b_path) << b.Render();
  fmt::print("schemas: {} tables x {} columns, {} views; {} changes ({} KB and {} KB of SQL)\n", tables, columns, views,
             made, std::filesystem::file_size(a_path) / 1024, std::filesystem::file_size(b_path) / 1024);

  strata::schemadiff::ShadowOptions options{shadow};
  std::string script;
  std::vector<double> totals;
  for (int r = 1; r <= runs; ++r) {
    auto t0 = Clock::now();
    auto catalogs = strata::schemadiff::LoadCatalogs(a_path, b_path, options);
    if (!catalogs.ok()) {
      fmt::print(stderr, "load: {}\n", catalogs.status().ToString());
      return 1;
    }
    double load = Since(t0);
    auto t1 = Clock::now();
    auto plan = strata::schemadiff::Diff(catalogs->first, catalogs->second, {.allow_data_loss = true});
    if (!plan.ok()) {
      fmt::print(stderr, "diff: {}\n", plan.status().ToString());
      return 1;
    }
    script = strata::schemadiff::RenderScript(*plan, "bench");
    double diff = Since(t1);
    fmt::print("run {}: total {:.2f} s (shadow loads + catalog reads {:.2f} s, diff + script {:.3f} s); "
               "{} objects -> {} objects, {} statements, {} data-loss steps\n",
               r, Since(t0), load, diff, catalogs->first.objects.size(), catalogs->second.objects.size(),
               plan->steps.size(), plan->data_loss.size());
    totals.push_back(Since(t0));
  }
  std::sort(totals.begin(), totals.end());
  if (!totals.empty()) strata::bench::Figure("schemadiff.synthetic.total", totals[totals.size() / 2], "s");
  std::ofstream(script_path) << script;
  if (!peer.empty()) {
    auto t0 = Clock::now();
    std::string cmd = fmt::format("{} {} {} > {}/peer.sql 2> {}/peer.err", peer, a_path, b_path, dir, dir);
    int rc = std::system(cmd.c_str());
    const double peer_s = Since(t0);
    fmt::print("peer {}: {:.2f} s (exit {})\n", peer, peer_s, rc);
    if (!totals.empty()) strata::bench::Figure("schemadiff.synthetic.vs_" + peer, peer_s / totals[totals.size() / 2], "x");
  }
  if (verify) {
    std::string admin = shadow.empty() ? "dbname=postgres" : shadow;
    std::string db = fmt::format("strata_bench_verify_{}", getpid());
    auto s = strata::pg::Session::Connect(admin);
    if (!s.ok() || !(*s)->Exec("CREATE DATABASE " + db + " TEMPLATE template0").ok()) {
      fmt::print(stderr, "verify: cannot create {}\n", db);
      return 1;
    }
    int rc = 0;
    {
      auto target = strata::schemadiff::LoadCatalog(b_path, options);
      auto v = strata::pg::Session::Connect(strata::pg::WithDatabase(admin, db));
      // Statement by statement: one transaction could not hold the locks of every table.
      std::string first = a.Render();
      std::vector<std::string_view> statements;
      for (size_t at = 0, end; at < first.size(); at = end + 2) {
        end = first.find(";\n", at);
        if (end == std::string::npos) break;
        statements.push_back(std::string_view(first).substr(at, end - at));
      }
      int failed = -1;
      strata::pg::ErrorInfo info;
      if (!target.ok() || !v.ok() || !(*v)->ExecEach(statements, &failed, &info).ok()) {
        fmt::print(stderr, "verify: cannot load the first schema\n");
        rc = 1;
      } else {
        auto t0 = Clock::now();
        auto applied = strata::schemadiff::ApplyScript(**v, script, script_path);
        double apply = Since(t0);
        auto after = applied.ok() ? strata::schemadiff::ReadCatalog(**v) : absl::StatusOr<strata::schemadiff::Catalog>(applied.status());
        if (!after.ok()) {
          fmt::print(stderr, "verify: {}\n", after.status().ToString());
          rc = 1;
        } else {
          bool equal = strata::schemadiff::Facts(*after) == strata::schemadiff::Facts(*target);
          fmt::print("verify: script applied in {:.2f} s; catalog {} the target\n", apply, equal ? "equals" : "DIFFERS FROM");
          rc = equal ? 0 : 1;
        }
      }
    }
    (void)(*s)->Exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
    return rc;
  }
  return 0;
}
