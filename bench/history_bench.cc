// strata-bench-history: the history service over a large log.
//
// Writes --events events (check-out / check-in cycles over --objects objects)
// to a fresh embedded log, then measures
//   1. the history projection's rebuild from the log (events/s),
//   2. QueryAudit's first page (100 rows, newest first) through gRPC on
//      loopback: p50/p99 over --queries calls, unfiltered, by user, by object,
//   3. ExportAudit of the whole trail through gRPC (records/s).
//
//   strata-bench-history --events 1000000 --objects 100000 --dir /tmp/hb
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <sys/resource.h>

#include "CLI/CLI.hpp"
#include "figure.h"
#include "bench_events.h"
#include "eventlog/embedded_log.h"
#include "fmt/format.h"
#include "history/history_service.h"
#include "hosting/hosting.h"

namespace {

using namespace strata;
using Clock = std::chrono::steady_clock;

// User and system time of every thread of this process.
double ProcessCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

void PrintLatency(const std::string& label, std::vector<double> ms, int rows) {
  std::sort(ms.begin(), ms.end());
  std::cout << fmt::format("query[{}]: calls={} rows/page={} p50={:.3f}ms p99={:.3f}ms max={:.3f}ms\n",
                           label, ms.size(), rows, ms[ms.size() / 2], ms[ms.size() * 99 / 100],
                           ms.back());
  std::string key = "history.query.";
  for (char c : label) {
    const bool word = std::isalnum(static_cast<unsigned char>(c));
    if (word) key += c;
    else if (key.back() != '_') key += '_';
  }
  bench::Figure(key + ".p50", ms[ms.size() / 2], "ms");
  bench::Figure(key + ".p99", ms[ms.size() * 99 / 100], "ms");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata-bench-history: history rebuild, audit query and export"};
  std::string dir = "/tmp/strata-bench-history";
  int64_t events = 1'000'000, objects = 100'000;
  int queries = 500, partitions = 8;
  bool reuse = false;
  app.add_option("--events", events)->check(CLI::Range(int64_t{1}, int64_t{20'000'000}));
  app.add_option("--objects", objects);
  app.add_option("--partitions", partitions);
  app.add_option("--queries", queries, "calls per query kind");
  app.add_option("--dir", dir);
  app.add_flag("--reuse", reuse, "replay the log already in DIR/log");
  CLI11_PARSE(app, argc, argv);
  const int64_t per_object = std::max<int64_t>(1, events / objects);
  events = per_object * objects;

  if (!reuse) std::filesystem::remove_all(dir);
  std::filesystem::remove_all(dir + "/history");
  auto log = eventlog::OpenEmbeddedLog({.dir = dir + "/log", .partitions = partitions, .sync = false});
  if (!log.ok()) return std::cerr << log.status() << "\n", 1;
  if (!reuse) {
    const auto t = Clock::now();
    const int threads = 16;
    for (int64_t i = 0; i < per_object; ++i) {
      std::vector<std::thread> ts;
      for (int w = 0; w < threads; ++w)
        ts.emplace_back([&, w, i] {
          for (int64_t o = w; o < objects; o += threads) {
            v1::Event e = bench::MakeEvent(o, i);
            // One event per millisecond of log time, so time ranges mean something.
            const int64_t n = i * objects + o;
            e.mutable_time()->set_seconds(1'800'000'000 + n / 1000);
            e.mutable_time()->set_nanos(static_cast<int32_t>(n % 1000) * 1'000'000);
            (void)(*log)->Append(e.aggregate(), e.SerializeAsString(), {});
          }
        });
      for (auto& t : ts) t.join();
    }
    std::cout << fmt::format("log: {} events over {} objects written in {:.1f}s\n", events, objects,
                             Seconds(t));
  }

  auto tokens = auth::TokenStore::Parse("tokens:\n  - {token: b, user: bench, site: x, roles: [viewer]}\n", "x");
  if (!tokens.ok()) return std::cerr << tokens.status() << "\n", 1;
  auto module = history::HistoryModule::Open({.data_dir = dir, .site = "bench", .rebuild = true},
                                             log->get(), *tokens);
  if (!module.ok()) return std::cerr << module.status() << "\n", 1;
  const double cpu_before = ProcessCpuSeconds();
  const auto t_rebuild = Clock::now();
  if (absl::Status s = (*module)->Start(absl::Minutes(30)); !s.ok()) return std::cerr << s << "\n", 1;
  const double rebuild_s = Seconds(t_rebuild);
  const double rebuild_cpu_s = ProcessCpuSeconds() - cpu_before;
  const auto stats = (*module)->runner()->stats();
  std::cout << fmt::format(
      "rebuild[history]: events={} seconds={:.2f} events/s={:.0f} commits={} cpu_seconds={:.2f} "
      "cpu_us/event={:.1f}\n",
      stats.events_applied, rebuild_s, stats.events_applied / rebuild_s, stats.batches, rebuild_cpu_s,
      1e6 * rebuild_cpu_s / std::max<double>(1, stats.events_applied));
  bench::Figure("history.rebuild", stats.events_applied / rebuild_s, "events/s");
  bench::Figure("history.rebuild.cpu", 1e6 * rebuild_cpu_s / std::max<double>(1, stats.events_applied),
                "us/event");

  auto server = hosting::GrpcServer::Start("127.0.0.1:0", {(*module)->service()});
  if (!server.ok()) return std::cerr << server.status() << "\n", 1;
  auto stub = v1::HistoryService::NewStub(grpc::CreateChannel(
      fmt::format("127.0.0.1:{}", (*server)->port()), grpc::InsecureChannelCredentials()));
  auto ctx = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->AddMetadata("authorization", "Bearer b");
    return c;
  };

  auto measure = [&](const std::string& label, auto fill) {
    std::vector<double> ms;
    int rows = 0;
    for (int q = 0; q < queries; ++q) {
      v1::QueryAuditRequest req;
      req.set_page_size(100);
      req.set_newest_first(true);
      fill(q, &req);
      v1::QueryAuditResponse resp;
      const auto t = Clock::now();
      grpc::Status s = stub->QueryAudit(ctx().get(), req, &resp);
      ms.push_back(Seconds(t) * 1000);
      if (!s.ok()) return std::cerr << "query: " << s.error_message() << "\n", false;
      rows = resp.entries_size();
    }
    PrintLatency(label, ms, rows);
    return true;
  };
  if (!measure("newest, no filter", [](int, v1::QueryAuditRequest*) {})) return 1;
  if (!measure("by user", [](int q, v1::QueryAuditRequest* r) { r->set_user(fmt::format("user{}", q % 50)); }))
    return 1;
  if (!measure("by object", [&](int q, v1::QueryAuditRequest* r) {
        r->set_object(fmt::format("table:bench.t{}", (q * 7919) % objects));
      }))
    return 1;
  if (!measure("action=checkin, oldest first", [](int, v1::QueryAuditRequest* r) {
        r->set_action("checkin");
        r->set_newest_first(false);
      }))
    return 1;

  const auto t_export = Clock::now();
  auto export_ctx = ctx();  // must outlive the stream
  auto reader = stub->ExportAudit(export_ctx.get(), v1::ExportAuditRequest());
  v1::AuditChunk chunk;
  uint64_t exported = 0, bytes = 0;
  while (reader->Read(&chunk)) {
    for (const v1::AuditEntry& entry : chunk.entries()) {
      ++exported;
      bytes += entry.canonical().size() + 140;  // the JSON line around it
    }
  }
  if (grpc::Status s = reader->Finish(); !s.ok()) return std::cerr << s.error_message() << "\n", 1;
  const double export_s = Seconds(t_export);
  std::cout << fmt::format("export: records={} seconds={:.2f} records/s={:.0f} (~{:.0f} MB of JSON Lines)\n",
                           exported, export_s, exported / export_s, bytes / 1e6);
  bench::Figure("history.export", exported / export_s, "records/s");
  (*server)->Shutdown();
  (*module)->Stop();
  return exported == static_cast<uint64_t>(events) ? 0 : 2;
}
