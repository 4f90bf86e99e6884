// strata-bench-impact: the SQL model and the impact service at scale.
//
//  1. parse: schema dumps of --dump-lines lines, parsed and analyzed
//     (identity, references, columns) with AnalyzeDump; MB/s over
//     --parse-runs runs. Two dumps: the test schema lib/sql/testdata/shop.sql
//     repeated under schemas shop1, shop2, ... (views and functions dense),
//     and the synthetic schema of part 2.
//  2. graph: a synthetic schema of --objects objects (modules of 40 tables,
//     40 views and 20 functions; 1-3 foreign keys per table, views on three
//     tables or views calling a function, PL/pgSQL functions using three
//     tables and calling another function, 5% of tables referencing an
//     earlier module) checked in through the event log
//     (check-out + check-in per object), then
//       - the impact projection's rebuild from the log (events/s),
//       - GetDependents (transitive, depth 0) through gRPC on loopback for
//         --queries random objects: p50/p99/max latency and closure sizes,
//       - the same for the most depended-on object found among them.
//
//  3. the parser's floor: libpg_query's own calls on the first 20,000
//     definitions of part 2, one thread, CPU per definition (the tree as
//     JSON, which is what Strata decodes; the tokens, for the
//     fingerprint; PL/pgSQL bodies; for comparison the grammar without
//     any output, and the tree as protobuf), and what that leaves of the CPU a
//     replay of part 2's log may spend per event at 100,000 events/s.
//
//   strata-bench-impact --objects 100000 --queries 1000 --dir /tmp/ib
#include <grpcpp/grpcpp.h>

extern "C" {
#include <pg_query.h>
}

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include <sys/resource.h>

#include "CLI/CLI.hpp"
#include "figure.h"
#include "eventlog/embedded_log.h"
#include "fmt/format.h"
#include "hosting/hosting.h"
#include "impact/impact_service.h"
#include "rocksdb/db.h"
#include "sql/analyze.h"
#include "sql/parse.h"
#include "strata/v1/impact.grpc.pb.h"

namespace {

using namespace strata;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

template <typename T>
T Pct(std::vector<T> v, int pct) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, v.size() * pct / 100)];
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Synthetic;
Synthetic MakeObject(int64_t n, std::mt19937_64& rng);

// A dump of about `target_lines` lines: the test schema repeated under
// schemas shop1, shop2, ... ("shop"), or the graph benchmark's synthetic
// schema ("synthetic": 40% tables, 40% views, 20% PL/pgSQL functions).
std::string MakeDump(const std::string& kind, const std::string& schema_file, int target_lines);

int ParseBench(const std::string& kind, const std::string& schema_file, int target_lines, int runs) {
  const std::string dump = MakeDump(kind, schema_file, target_lines);
  if (dump.empty()) return std::cerr << "cannot read " << schema_file << "\n", 1;
  const int lines = static_cast<int>(std::count(dump.begin(), dump.end(), '\n'));
  std::vector<double> mbps, parse_mbps, cpu_mbps;
  size_t objects = 0, references = 0;
  for (int r = 0; r < (getenv("BENCH_NO_PARSE_ALONE") ? 1 : runs); ++r) {
    // The parser alone (split into statements, parsed on every core, decoded).
    const auto tp = Clock::now();
    auto parsed = sql::ParsedSql::Parse(dump);
    if (!parsed.ok()) return std::cerr << parsed.status() << "\n", 1;
    parse_mbps.push_back(dump.size() / 1e6 / Seconds(tp));
  }
  for (int r = 0; r < runs; ++r) {
    const double cpu0 = ProcessCpuSeconds();
    const auto t = Clock::now();
    auto result = sql::AnalyzeDump(dump);
    const double s = Seconds(t);
    if (!result.ok()) return std::cerr << result.status() << "\n", 1;
    objects = result->objects.size();
    references = 0;
    for (const auto& o : result->objects) references += o.references.size();
    mbps.push_back(dump.size() / 1e6 / s);
    cpu_mbps.push_back(dump.size() / 1e6 / (ProcessCpuSeconds() - cpu0));
  }
  std::cout << fmt::format(
      "parse+analyze[{}]: dump lines={} bytes={} objects={} references={} runs={} MB/s median={:.1f} min={:.1f} "
      "max={:.1f} (per CPU-second: {:.1f} MB); libpg_query parse alone: median {:.1f} MB/s\n",
      kind, lines, dump.size(), objects, references, runs, Pct(mbps, 50), Pct(mbps, 0), Pct(mbps, 100), Pct(cpu_mbps, 50),
      Pct(parse_mbps, 50));
  bench::Figure("impact.analyze." + kind, Pct(mbps, 50), "MB/s");
  return 0;
}

// The definition of object n of the synthetic schema.
struct Synthetic {
  std::string id, ddl;
};

Synthetic MakeObject(int64_t n, std::mt19937_64& rng) {
  const int64_t module = n / 100, i = n % 100;
  const std::string s = fmt::format("m{}", module);
  auto pick = [&](int64_t below) { return static_cast<int64_t>(rng() % static_cast<uint64_t>(below)); };
  if (i < 40) {  // tables t0..t39
    std::string ref1 = i > 0 ? fmt::format("{}.t{}", s, pick(i)) : "";
    std::string ref2 = i > 1 ? fmt::format("{}.t{}", s, pick(i)) : "";
    // Half the tables have a third foreign key.
    std::string ref3 = i > 2 && pick(2) == 0 ? fmt::format("{}.t{}", s, pick(i)) : "";
    if (module > 0 && pick(100) < 5) ref2 = fmt::format("m{}.t{}", pick(module), pick(40));
    std::string ddl = fmt::format("CREATE TABLE {}.t{} (\n  id bigint PRIMARY KEY,\n  a integer NOT NULL,\n"
                                  "  b text,\n  c numeric(12,2),\n  ref1_id bigint{},\n  ref2_id bigint{},\n"
                                  "  ref3_id bigint{}\n);\n",
                                  s, i, ref1.empty() ? "" : " REFERENCES " + ref1 + " (id)",
                                  ref2.empty() ? "" : " REFERENCES " + ref2 + " (id)",
                                  ref3.empty() ? "" : " REFERENCES " + ref3 + " (id)");
    return {fmt::format("table:{}.t{}", s, i), ddl};
  }
  // A relation of the module: a table, or a view defined before.
  auto relation = [&](int64_t before_view) {
    if (before_view > 0 && pick(3) == 0) return fmt::format("{}.v{}", s, pick(before_view));
    return fmt::format("{}.t{}", s, pick(40));
  };
  if (i < 80) {  // views v0..v39
    const int64_t v = i - 40;
    // Three relations and, for most views, a function of the module.
    std::string fn = pick(4) ? fmt::format("{}.f{}(x.id)", s, pick(20)) : "x.id";
    std::string ddl = fmt::format(
        "CREATE VIEW {}.v{} AS\n  SELECT x.id, x.a, y.b, x.c, x.ref1_id, {} AS score\n  FROM {} x\n"
        "  JOIN {} y ON y.id = x.ref1_id\n"
        "  WHERE x.c > 0 AND EXISTS (SELECT 1 FROM {} z WHERE z.id = x.id AND z.a > 1);\n",
        s, v, fn, relation(v), relation(v), relation(v));
    return {fmt::format("view:{}.v{}", s, v), ddl};
  }
  const int64_t f = i - 80;  // functions f0..f19
  std::string call = f > 0 ? fmt::format(" + {}.f{}(p)", s, pick(f)) : "";
  std::string ddl = fmt::format(
      "CREATE FUNCTION {}.f{}(p bigint) RETURNS bigint LANGUAGE plpgsql STABLE AS $$\nDECLARE\n  n bigint;\n"
      "BEGIN\n  SELECT count(*) INTO n FROM {} WHERE a = p;\n  UPDATE {} SET b = 'seen' WHERE id = p;\n"
      "  DELETE FROM {} WHERE ref1_id = p AND c < 0;\n  RETURN n{};\nEND\n$$;\n",
      s, f, relation(40), relation(40), fmt::format("{}.t{}", s, pick(40)), call);
  return {fmt::format("function:{}.f{}(bigint)", s, f), ddl};
}

std::string MakeDump(const std::string& kind, const std::string& schema_file, int target_lines) {
  std::string dump;
  auto lines = [&] { return static_cast<int>(std::count(dump.begin(), dump.end(), '\n')); };
  if (kind == "synthetic") {
    std::mt19937_64 rng(42);
    for (int64_t n = 0; lines() < target_lines; ++n) dump += MakeObject(n, rng).ddl;
    return dump;
  }
  const std::string one = ReadFile(schema_file);
  if (one.empty()) return "";
  for (int copies = 0; lines() < target_lines; ++copies) {
    const std::string schema = fmt::format("shop{}", copies + 1);
    dump += std::regex_replace(std::regex_replace(one, std::regex("shop\\."), schema + "."),
                               std::regex("SCHEMA shop;"), "SCHEMA " + schema + ";");
  }
  return dump;
}

// libpg_query's grammar without its output, for the floor only: an entry
// point the shared library exports, declared in its pg_query_internal.h
// beside PostgreSQL's own headers (which Debian does not ship, so the tree
// it returns cannot be read here). It says how much of a parse is the
// grammar and how much the serialization of its tree.
struct RawParseResult {
  void* tree;  // a List* in the memory context
  char* stderr_buffer;
  PgQueryError* error;
};
extern "C" RawParseResult pg_query_raw_parse(const char* input);
extern "C" void* pg_query_enter_memory_context();
extern "C" void pg_query_exit_memory_context(void* context);
extern "C" void pg_query_free_error(PgQueryError* error);

void RawParse(const char* text) {
  void* context = pg_query_enter_memory_context();
  RawParseResult r = pg_query_raw_parse(text);
  pg_query_exit_memory_context(context);
  if (r.error) pg_query_free_error(r.error);
  free(r.stderr_buffer);
}

// Part 3: libpg_query alone on the synthetic definitions (see the top).
void ParserFloor(int cores) {
  std::mt19937_64 rng(42);
  std::vector<std::string> ddl;
  for (int64_t n = 0; n < 20'000; ++n) ddl.push_back(MakeObject(n, rng).ddl);
  auto per_definition_us = [&](auto call, bool functions_only) {
    const double cpu0 = ProcessCpuSeconds();
    int calls = 0;
    for (const std::string& d : ddl) {
      if (functions_only && !d.starts_with("CREATE FUNCTION")) continue;
      call(d.c_str());
      ++calls;
    }
    return std::make_pair(1e6 * (ProcessCpuSeconds() - cpu0) / std::max(1, calls), calls);
  };
  const auto [parse_us, n] = per_definition_us(
      [](const char* t) { pg_query_free_parse_result(pg_query_parse(t)); }, false);
  const auto [raw_us, n3] = per_definition_us(RawParse, false);
  const auto [protobuf_us, n4] = per_definition_us(
      [](const char* t) { pg_query_free_protobuf_parse_result(pg_query_parse_protobuf(t)); }, false);
  const auto [scan_us, n2] = per_definition_us(
      [](const char* t) { pg_query_free_scan_result(pg_query_scan(t)); }, false);
  const auto [plpgsql_us, functions] = per_definition_us(
      [](const char* t) { pg_query_free_plpgsql_parse_result(pg_query_parse_plpgsql(t)); }, true);
  // Each object of part 2's log is a check-out and a check-in: two events.
  const double per_check_in = parse_us + scan_us + plpgsql_us * functions / n;
  const double budget = 1e6 * cores / 100'000;
  std::cout << fmt::format(
      "parser floor (libpg_query alone, one thread, {} definitions, {} functions): parse {:.1f} us, "
      "scan {:.1f} us, PL/pgSQL body {:.1f} us per function; {:.1f} us of CPU per check-in, {:.1f} us per "
      "event of the log; 100,000 events/s on {} cores allows {:.1f} us per event for everything\n",
      n, functions, parse_us, scan_us, plpgsql_us, per_check_in, per_check_in / 2, cores, budget);
  std::cout << fmt::format(
      "  of which the grammar (pg_query_raw_parse, no output) {:.1f} us and the JSON {:.1f} us per definition; "
      "the tree as protobuf instead of JSON (pg_query_parse_protobuf) {:.1f} us\n",
      raw_us, parse_us - raw_us, protobuf_us);
  bench::Figure("impact.parser_floor.grammar", raw_us, "us/definition");
  bench::Figure("impact.parser_floor", per_check_in / 2, "us/event");
}

// Check-ins carry the names their definition uses, as the lock service
// writes them (sql::DependencyKeys of the definition's analysis).
void Append(eventlog::EventLog& log, const std::string& object, uint64_t seq, const std::string& ddl) {
  v1::Event e;
  e.set_event_id(fmt::format("{}-{}", object, seq));
  e.set_aggregate("object:" + object);
  e.set_seq(seq);
  e.mutable_time()->set_seconds(1'800'000'000);
  e.mutable_actor()->set_user("bench");
  e.mutable_actor()->set_site("bench");
  if (seq == 1) {
    e.mutable_checked_out()->set_reason("bench");
  } else {
    e.mutable_checked_in()->set_version(1);
    e.mutable_checked_in()->set_definition(ddl);
    e.mutable_checked_in()->set_message("bench");
    if (auto info = sql::AnalyzeDefinition(ddl); info.ok())
      for (auto& k : sql::DependencyKeys(*info)) e.mutable_checked_in()->mutable_references()->add_keys(std::move(k));
  }
  (void)log.Append(e.aggregate(), e.SerializeAsString(), {});
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata-bench-impact: SQL analysis throughput, impact graph rebuild and queries"};
  std::string dir = "/tmp/strata-bench-impact", schema_file = STRATA_SOURCE_DIR "/lib/sql/testdata/shop.sql";
  int64_t objects = 100'000;
  int queries = 1000, dump_lines = 15'000, parse_runs = 10, partitions = 8;
  bool reuse = false, parse_only = false;
  app.add_option("--objects", objects);
  app.add_option("--queries", queries);
  app.add_option("--dump-lines", dump_lines);
  app.add_option("--parse-runs", parse_runs);
  app.add_option("--schema", schema_file, "schema file the dump repeats");
  app.add_option("--dir", dir);
  app.add_option("--partitions", partitions);
  app.add_flag("--reuse", reuse, "replay the log already in DIR/log");
  app.add_flag("--parse-only", parse_only);
  CLI11_PARSE(app, argc, argv);

  for (const std::string kind : {"shop", "synthetic"})
    if (int rc = ParseBench(kind, schema_file, dump_lines, parse_runs); rc != 0) return rc;
  ParserFloor(static_cast<int>(std::max(1u, std::thread::hardware_concurrency())));
  if (parse_only) return 0;

  if (!reuse) std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir + "/impact");
  auto log = eventlog::OpenEmbeddedLog({.dir = dir + "/log", .partitions = partitions, .sync = false});
  if (!log.ok()) return std::cerr << log.status() << "\n", 1;
  std::vector<std::string> ids;
  {
    std::mt19937_64 rng(42);
    const auto t = Clock::now();
    for (int64_t n = 0; n < objects; ++n) {
      Synthetic o = MakeObject(n, rng);
      if (!reuse) {
        Append(**log, o.id, 1, "");
        Append(**log, o.id, 2, o.ddl);
      }
      ids.push_back(o.id);
    }
    if (!reuse) std::cout << fmt::format("log: {} objects, {} events written in {:.1f}s\n", objects, 2 * objects, Seconds(t));
  }

  auto tokens = auth::TokenStore::Parse("tokens:\n  - {token: b, user: bench, site: x, roles: [viewer]}\n", "x");
  if (!tokens.ok()) return std::cerr << tokens.status() << "\n", 1;
  auto module = impact::ImpactModule::Open({.data_dir = dir, .site = "bench", .rebuild = true}, log->get(), *tokens);
  if (!module.ok()) return std::cerr << module.status() << "\n", 1;
  const double cpu_before = ProcessCpuSeconds();
  const auto t_rebuild = Clock::now();
  if (absl::Status s = (*module)->Start(absl::Minutes(60)); !s.ok()) return std::cerr << s << "\n", 1;
  const double rebuild_s = Seconds(t_rebuild);
  const double cpu_s = ProcessCpuSeconds() - cpu_before;
  const auto stats = (*module)->runner()->stats();
  // Edges: every stored reference of every object.
  int64_t edges = 0, unknown = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it((*module)->runner()->db()->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek("d/"); it->Valid() && it->key().starts_with("d/"); it->Next()) {
      internal::ImpactDependents d;
      if (d.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) edges += d.edges_size();
      std::string names;
      if (!(*module)->runner()->db()->Get(rocksdb::ReadOptions(), "n/" + it->key().ToString().substr(2), &names).ok())
        ++unknown;
    }
  }
  std::cout << fmt::format(
      "rebuild[impact]: objects={} edges={} unknown_targets={} events={} seconds={:.2f} events/s={:.0f} "
      "objects/s={:.0f} cpu_us/event={:.1f}\n",
      objects, edges, unknown, stats.events_applied, rebuild_s, stats.events_applied / rebuild_s,
      objects / rebuild_s, 1e6 * cpu_s / std::max<double>(1, stats.events_applied));
  bench::Figure("impact.rebuild", stats.events_applied / rebuild_s, "events/s");

  auto server = hosting::GrpcServer::Start("127.0.0.1:0", {(*module)->service()});
  if (!server.ok()) return std::cerr << server.status() << "\n", 1;
  auto stub = v1::ImpactService::NewStub(
      grpc::CreateChannel(fmt::format("127.0.0.1:{}", (*server)->port()), grpc::InsecureChannelCredentials()));
  auto call = [&](const std::string& object, double* ms, int* nodes) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("authorization", "Bearer b");
    v1::DependencyRequest req;
    req.set_object(object);
    v1::DependencyTree tree;
    const auto t = Clock::now();
    grpc::Status s = stub->GetDependents(&ctx, req, &tree);
    *ms = Seconds(t) * 1000;
    *nodes = tree.nodes_size();
    if (!s.ok()) std::cerr << object << ": " << s.error_message() << "\n";
    return s.ok();
  };
  std::mt19937_64 rng(7);
  std::vector<double> ms;
  std::vector<int> sizes;
  std::string widest;
  int widest_size = -1;
  for (int q = 0; q < queries; ++q) {
    const std::string& object = ids[rng() % ids.size()];
    double m;
    int n;
    if (!call(object, &m, &n)) return 1;
    ms.push_back(m);
    sizes.push_back(n);
    if (n > widest_size) widest_size = n, widest = object;
  }
  std::cout << fmt::format(
      "query[dependents, transitive]: calls={} p50={:.3f}ms p99={:.3f}ms max={:.3f}ms closure p50={} p99={} "
      "max={}\n",
      queries, Pct(ms, 50), Pct(ms, 99), Pct(ms, 100), Pct(sizes, 50), Pct(sizes, 99), Pct(sizes, 100));
  bench::Figure("impact.dependents.p50", Pct(ms, 50), "ms");
  bench::Figure("impact.dependents.p99", Pct(ms, 99), "ms");
  std::vector<double> wide_ms;
  for (int q = 0; q < 50; ++q) {
    double m;
    int n;
    if (!call(widest, &m, &n)) return 1;
    wide_ms.push_back(m);
  }
  std::cout << fmt::format("query[dependents of {} ({} objects)]: calls=50 p50={:.3f}ms p99={:.3f}ms\n", widest,
                           widest_size, Pct(wide_ms, 50), Pct(wide_ms, 99));
  (*server)->Shutdown();
  (*module)->Stop();
  return 0;
}
