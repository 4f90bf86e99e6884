// strata-bench-policy: what the team's policy (issue 23) adds to a check-in.
// (1) In process: CPU time of the policy's check of one definition (lint of
// the definition plus the safety of its change from the previous version)
// with every rule on, for a 50-column table, beside the parse a check-in
// does anyway. (2) End to end: two strata-servers on embedded logs, one with
// that policy set (rules at warning, so check-ins go through and say why)
// and one without; --rounds check-ins of the table on each, in turn (A B A
// B). Loopback only; bounded by the counts given.
#include <time.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench_server.h"
#include "figure.h"
#include "policy/policy.h"
#include "sql/analyze.h"
#include "sql/parse.h"
#include "strata/v1/lock.grpc.pb.h"

namespace {

using namespace strata;
using bench::Check;
using bench::Ctx;

std::string Wide(int round) {
  std::string sql = "CREATE TABLE bench.wide (\n  id bigint PRIMARY KEY,\n  t0_id bigint";
  for (int c = 0; c < 47; ++c) sql += fmt::format(",\n  c{} {}", c, c % 3 ? "text" : "numeric(12,2)");
  return sql + fmt::format(",\n  round_{} int\n);\nCOMMENT ON TABLE bench.wide IS 'wide';\n", round);
}

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::string PolicyYaml(const char* severity) {
  std::string yaml = "rules:\n";
  for (const auto& r : policy::Rules()) yaml += fmt::format("  {}: {}\n", r.code, severity);
  return yaml;
}

std::unique_ptr<v1::LockService::Stub> StubFor(const bench::Server& s) {
  return v1::LockService::NewStub(grpc::CreateChannel(s.endpoint(), grpc::InsecureChannelCredentials()));
}

std::vector<double> TimeCheckIns(const bench::Server& server, int first, int rounds) {
  auto stub = StubFor(server);
  std::vector<double> ms;
  for (int r = first; r < first + rounds; ++r) {
    v1::CheckInRequest in;
    in.set_object("table:bench.wide");
    in.set_definition(Wide(r));
    in.set_message("bench");
    in.set_keep_checked_out(true);
    v1::CheckInResponse resp;
    const auto start = std::chrono::steady_clock::now();
    Check(stub->CheckIn(Ctx("bench-token", 60).get(), in, &resp), "checkin bench.wide");
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return ms;
}

double Quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata-bench-policy: what a policy adds to a check-in"};
  std::string bin_dir = "build/bin", dir = "/tmp/strata-bench-policy";
  int iterations = 2000, rounds = 400;
  app.add_option("--bin-dir", bin_dir, "where strata-server is");
  app.add_option("--dir", dir, "scratch directory (wiped)");
  app.add_option("--iterations", iterations, "in-process checks timed")->check(CLI::Range(10, 1000000));
  app.add_option("--rounds", rounds, "timed check-ins on each server")->check(CLI::Range(10, 100000));
  CLI11_PARSE(app, argc, argv);

  // (1) In process.
  auto pol = policy::ParsePolicy(PolicyYaml("error"));
  Check(pol.status(), "policy");
  const std::string before = Wide(0), after = Wide(1);
  // As a check-in does it: the new definition is parsed and analyzed by the
  // check-in anyway, the previous version's analysis is remembered from its own.
  auto before_info = sql::AnalyzeDefinition(before);
  auto after_info = sql::AnalyzeDefinition(after);
  auto after_tree = sql::ParsedSql::Parse(after);
  Check(before_info.status(), "analyze");
  Check(after_info.status(), "analyze");
  Check(after_tree.status(), "parse");
  size_t findings = 0;
  double start = CpuSeconds();
  for (int i = 0; i < iterations; ++i) {
    auto f = policy::Lint(*pol, after, {.one_object = true, .parsed = &*after_tree, .info = &*after_info});
    auto c = policy::CheckChange(*pol, *before_info, *after_info);
    findings = f->size() + c.size();
  }
  const double check_us = (CpuSeconds() - start) / iterations * 1e6;
  start = CpuSeconds();
  for (int i = 0; i < iterations; ++i) (void)sql::ParsedSql::Parse(after);
  const double tree_us = (CpuSeconds() - start) / iterations * 1e6;
  start = CpuSeconds();
  for (int i = 0; i < iterations; ++i) (void)sql::AnalyzeDefinition(after);
  const double parse_us = (CpuSeconds() - start) / iterations * 1e6;
  start = CpuSeconds();
  for (int i = 0; i < iterations; ++i) (void)policy::Lint(*pol, after, {.one_object = true});
  const double standalone_us = (CpuSeconds() - start) / iterations * 1e6;
  fmt::print("  (the parse tree, shared with the check-in: {:.1f} us; `strata lint` of the same text alone {:.1f} us)\n",
             tree_us, standalone_us);
  fmt::print("{} rules on, a 50-column table: the policy's check {:.1f} us CPU ({} findings); "
             "the parse a check-in does anyway {:.1f} us\n",
             policy::Rules().size(), check_us, findings, parse_us);
  bench::Figure("policy.check_50_columns.cpu", check_us, "us");

  // (2) End to end.
  std::filesystem::remove_all(dir);
  const std::string with = dir + "/with", without = dir + "/without";
  for (const auto& d : {with, without}) {
    std::filesystem::create_directories(d);
    std::ofstream(d + "/tokens.yaml") << "tokens:\n  - {token: bench-token, user: bench, site: bench, roles: [developer]}\n"
                                         "  - {token: dba-token, user: dba, site: bench, roles: [dba]}\n";
    std::ofstream(d + "/secrets.yaml") << "environments: {}\n";
  }
  bench::Server policed(bin_dir + "/strata-server", with);
  bench::Server free(bin_dir + "/strata-server", without);
  {
    auto stub = StubFor(policed);
    v1::SetPolicyRequest set;
    set.set_yaml(PolicyYaml("warning"));
    v1::PolicyVersion v;
    Check(stub->SetPolicy(Ctx("dba-token", 60).get(), set, &v), "set the policy");
  }
  for (const bench::Server* s : {&policed, &free}) {
    auto stub = StubFor(*s);
    for (const auto& [object, sql] : std::vector<std::pair<std::string, std::string>>{
             {"schema:bench", "CREATE SCHEMA bench;"}, {"table:bench.wide", Wide(0)}}) {
      v1::CheckOutRequest out;
      out.add_objects(object);
      v1::CheckOutResponse out_resp;
      Check(stub->CheckOut(Ctx("bench-token", 60).get(), out, &out_resp), "checkout " + object);
      v1::CheckInRequest in;
      in.set_object(object);
      in.set_definition(sql);
      in.set_message("bench");
      in.set_keep_checked_out(object != "schema:bench");
      v1::CheckInResponse in_resp;
      Check(stub->CheckIn(Ctx("bench-token", 60).get(), in, &in_resp), "checkin " + object);
    }
  }
  std::vector<double> a_ms, b_ms;
  for (int quarter = 0; quarter < 4; ++quarter) {
    auto a = TimeCheckIns(policed, 1 + quarter * rounds / 4, rounds / 4);
    auto b = TimeCheckIns(free, 1 + quarter * rounds / 4, rounds / 4);
    a_ms.insert(a_ms.end(), a.begin(), a.end());
    b_ms.insert(b_ms.end(), b.begin(), b.end());
  }
  const double a50 = Quantile(a_ms, 0.5), b50 = Quantile(b_ms, 0.5);
  fmt::print("check-in of the 50-column table, {} rounds each, in turn:\n  with the policy p50 {:.3f} ms, p99 {:.3f} ms\n"
             "  without         p50 {:.3f} ms, p99 {:.3f} ms\n  difference of the medians {:+.3f} ms\n",
             a_ms.size(), a50, Quantile(a_ms, 0.99), b50, Quantile(b_ms, 0.99), a50 - b50);
  bench::Figure("policy.checkin_50_columns.p50", a50, "ms");
  bench::Figure("policy.checkin_50_columns.without.p50", b50, "ms");
  return 0;
}
