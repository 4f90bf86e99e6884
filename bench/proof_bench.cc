// strata-bench-proof: what the proof at check-in (issue 21) costs. Two
// strata-servers on embedded logs, one with --shadow-url (every check-in is
// created on PostgreSQL first) and one without (parsed only), each holding a
// repository of --objects tables; then --rounds check-ins of a 50-column
// table with a foreign key into that repository are timed on each, in turn.
// Loopback only; bounded by the counts given.
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "bench_server.h"
#include "figure.h"
#include "strata/v1/lock.grpc.pb.h"

namespace {

using namespace strata;
using bench::Check;
using bench::Ctx;

std::unique_ptr<v1::LockService::Stub> StubFor(const bench::Server& s) {
  return v1::LockService::NewStub(grpc::CreateChannel(s.endpoint(), grpc::InsecureChannelCredentials()));
}

void CheckOutIn(v1::LockService::Stub& stub, const std::string& object, const std::string& sql, bool keep) {
  v1::CheckOutRequest out;
  out.add_objects(object);
  v1::CheckOutResponse out_resp;
  Check(stub.CheckOut(Ctx("bench-token", 60).get(), out, &out_resp), "checkout " + object);
  v1::CheckInRequest in;
  in.set_object(object);
  in.set_definition(sql);
  in.set_message("bench");
  in.set_keep_checked_out(keep);
  v1::CheckInResponse in_resp;
  Check(stub.CheckIn(Ctx("bench-token", 60).get(), in, &in_resp), "checkin " + object);
}

// The repository: schema bench and `objects` two-column tables, 8 clients.
void Fill(const bench::Server& server, int objects) {
  auto stub = StubFor(server);
  CheckOutIn(*stub, "schema:bench", "CREATE SCHEMA bench;", false);
  std::atomic<int> next{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 8; ++c)
    clients.emplace_back([&] {
      auto s = StubFor(server);
      for (int i; (i = next++) < objects;)
        CheckOutIn(*s, fmt::format("table:bench.t{}", i),
                   fmt::format("CREATE TABLE bench.t{} (id int PRIMARY KEY, note text);", i), false);
    });
  for (auto& t : clients) t.join();
}

// Check-in latencies (ms) of `rounds` versions of a 50-column table with a
// foreign key to bench.t0, the lock kept between them.
std::vector<double> TimeCheckIns(const bench::Server& server, int rounds, std::string* validation) {
  auto stub = StubFor(server);
  v1::CheckOutRequest out;
  out.add_objects("table:bench.wide");
  v1::CheckOutResponse out_resp;
  Check(stub->CheckOut(Ctx("bench-token", 60).get(), out, &out_resp), "checkout bench.wide");
  std::vector<double> ms;
  for (int r = 0; r < rounds; ++r) {
    std::string sql = "CREATE TABLE bench.wide (\n  id bigint PRIMARY KEY,\n  t0_id int REFERENCES bench.t0 (id)";
    for (int c = 0; c < 48; ++c) sql += fmt::format(",\n  c{} {}", c, c % 3 ? "text" : "numeric(12,2)");
    sql += fmt::format(",\n  round_{} int\n);\n", r);  // every version differs
    v1::CheckInRequest in;
    in.set_object("table:bench.wide");
    in.set_definition(sql);
    in.set_message("bench");
    in.set_keep_checked_out(true);
    v1::CheckInResponse resp;
    const auto start = std::chrono::steady_clock::now();
    Check(stub->CheckIn(Ctx("bench-token", 60).get(), in, &resp), "checkin bench.wide");
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    *validation = resp.validation();
  }
  std::sort(ms.begin(), ms.end());
  return ms;
}

double Quantile(const std::vector<double>& sorted, double q) {
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata-bench-proof: the cost of proving check-ins on PostgreSQL"};
  std::string bin_dir = "build/bin", dir = "/tmp/strata-bench-proof",
              shadow_url = "postgres://strata:strata@127.0.0.1:5432/postgres";
  int objects = 10000, rounds = 200;
  app.add_option("--bin-dir", bin_dir, "where strata-server is");
  app.add_option("--dir", dir, "scratch directory (wiped)");
  app.add_option("--shadow-url", shadow_url, "the PostgreSQL server for the proof's shadow database");
  app.add_option("--objects", objects, "tables in the repository")->check(CLI::Range(1, 200000));
  app.add_option("--rounds", rounds, "timed check-ins on each server")->check(CLI::Range(10, 100000));
  CLI11_PARSE(app, argc, argv);

  std::filesystem::remove_all(dir);
  const std::string with = dir + "/with", without = dir + "/without";
  for (const auto& d : {with, without}) {
    std::filesystem::create_directories(d);
    std::ofstream(d + "/tokens.yaml") << "tokens:\n  - {token: bench-token, user: bench, site: bench, roles: [developer]}\n";
    std::ofstream(d + "/secrets.yaml") << "environments: {}\n";
  }
  bench::Server proving(bin_dir + "/strata-server", with, {"--shadow-url", shadow_url});
  bench::Server parsing(bin_dir + "/strata-server", without);
  const auto fill_start = std::chrono::steady_clock::now();
  Fill(proving, objects);
  Fill(parsing, objects);
  fmt::print("repositories of {} tables filled in {:.1f} s (both servers)\n", objects,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - fill_start).count());
  // In turn (A B A B), against the machine's drift.
  std::vector<double> proven, parsed;
  std::string proven_how, parsed_how;
  for (int half = 0; half < 2; ++half) {
    auto a = TimeCheckIns(proving, rounds / 2, &proven_how);
    auto b = TimeCheckIns(parsing, rounds / 2, &parsed_how);
    proven.insert(proven.end(), a.begin(), a.end());
    parsed.insert(parsed.end(), b.begin(), b.end());
  }
  std::sort(proven.begin(), proven.end());
  std::sort(parsed.begin(), parsed.end());
  fmt::print("with --shadow-url ({}):\n  check-in p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms\n", proven_how,
             Quantile(proven, 0.5), Quantile(proven, 0.99), proven.back());
  fmt::print("without ({}):\n  check-in p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms\n", parsed_how,
             Quantile(parsed, 0.5), Quantile(parsed, 0.99), parsed.back());
  bench::Figure("proof.checkin_50_columns.p50", Quantile(proven, 0.5), "ms");
  bench::Figure("proof.checkin_50_columns.p99", Quantile(proven, 0.99), "ms");
  bench::Figure("proof.parsed_only.checkin_50_columns.p50", Quantile(parsed, 0.5), "ms");
  bench::Figure("proof.parsed_only.checkin_50_columns.p99", Quantile(parsed, 0.99), "ms");
  return 0;
}
