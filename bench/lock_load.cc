// strata-bench-lock: check-out + undo round trips through gRPC against a
// running Strata endpoint. Each client works on its own objects (no lock
// contention), so the figures measure the command path: gRPC, validation,
// append to the log, projection apply, answer.
//
//   strata-bench-lock --endpoint 127.0.0.1:7300 --token T --clients 32 --seconds 10 [--server-pid PID]
//
// With --noop, each round trip is instead two calls that do no work on the
// same server (grpc.health.v1.Health/Check, through the same interceptors,
// channel settings and metadata): the floor a command's round trip is
// compared with, run in turn with the lock runs (bench/lock_floor.sh).
//
// Prints round-trip latency percentiles and commands per second; with
// --server-pid, the CPU time the server process (all its threads, also
// those that ended) spent per command during the measurement, from
// /proc/PID/stat. Figures also go out as "figure:" lines (bench/figure.h),
// keyed lock.<label>.c<clients>.*.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/impl/codegen/client_unary_call.h>

#include "CLI/CLI.hpp"
#include "figure.h"
#include "fmt/format.h"
#include "strata/v1/lock.grpc.pb.h"

namespace {

double OwnCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"strata-bench-lock: check-out+undo round trips"};
  std::string endpoint = "127.0.0.1:7300", token, label = "run";
  int clients = 1, objects_per_client = 16, server_pid = 0;
  double seconds = 10, warmup = 1;
  app.add_option("--endpoint", endpoint);
  app.add_option("--token", token)->required();
  app.add_option("--clients", clients);
  app.add_option("--seconds", seconds, "measurement time (bounded)")->check(CLI::Range(0.1, 300.0));
  app.add_option("--warmup", warmup);
  app.add_option("--label", label, "names the figures: lock.<label>.c<clients>.*");
  app.add_option("--server-pid", server_pid, "also report this process's CPU time per command");
  bool noop = false;
  app.add_flag("--noop", noop, "the floor: two calls that do no work (gRPC health checks) per round trip");
  CLI11_PARSE(app, argc, argv);

  using Clock = std::chrono::steady_clock;
  std::atomic<bool> measuring{false}, stop{false};
  std::atomic<int64_t> errors{0};
  std::vector<std::vector<double>> lat(clients);  // microseconds per round trip
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      auto ctx = [&] {
        auto x = std::make_unique<grpc::ClientContext>();
        x->AddMetadata("authorization", "Bearer " + token);
        x->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
        return x;
      };
      // One channel per client, like independent users.
      grpc::ChannelArguments args;
      args.SetInt("grpc.use_local_subchannel_pool", 1);
      auto channel = grpc::CreateCustomChannel(endpoint, grpc::InsecureChannelCredentials(), args);
      auto stub = strata::v1::LockService::NewStub(channel);
      const grpc::internal::RpcMethod health("/grpc.health.v1.Health/Check", grpc::internal::RpcMethod::NORMAL_RPC);
      auto nothing = [&]() {
        // An empty HealthCheckRequest (service "": the server as a whole) is
        // zero bytes, but a message: one empty slice.
        grpc::Slice empty("", 0);
        grpc::ByteBuffer request(&empty, 1), response;
        return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(channel.get(), health,
                                                                                    ctx().get(), request, &response);
      };
      for (int64_t i = 0; !stop; ++i) {
        const std::string obj = fmt::format("table:bench.c{}_{}", c, i % objects_per_client);
        strata::v1::CheckOutRequest co;
        co.add_objects(obj);
        strata::v1::CheckOutResponse cor;
        strata::v1::UndoCheckOutRequest un;
        un.add_objects(obj);
        strata::v1::UndoCheckOutResponse unr;
        const auto t0 = Clock::now();
        grpc::Status s1 = noop ? nothing() : stub->CheckOut(ctx().get(), co, &cor);
        grpc::Status s2 = !s1.ok() ? s1 : noop ? nothing() : stub->UndoCheckOut(ctx().get(), un, &unr);
        const auto t1 = Clock::now();
        if (!s1.ok() || !s2.ok()) {
          if (errors++ < 5) std::cerr << "error: " << s2.error_message() << "\n";
          continue;
        }
        if (measuring) lat[c].push_back(std::chrono::duration<double, std::micro>(t1 - t0).count());
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(warmup));
  const double server_cpu0 = server_pid ? strata::bench::ProcessCpuSeconds(server_pid) : -1, own_cpu0 = OwnCpuSeconds();
  measuring = true;
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  measuring = false;
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  const double server_cpu = server_pid ? strata::bench::ProcessCpuSeconds(server_pid) - server_cpu0 : -1;
  const double own_cpu = OwnCpuSeconds() - own_cpu0;
  stop = true;
  for (auto& t : threads) t.join();

  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  if (all.empty()) {
    std::cerr << "no successful round trips\n";
    return 1;
  }
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) { return all[std::min(all.size() - 1, size_t(p * all.size()))] / 1000.0; };
  const double rps = all.size() / elapsed;
  const double commands = 2.0 * all.size();
  std::cout << fmt::format(
      "{}: clients={} round_trips={} errors={} {} p50={:.3f}ms p99={:.3f}ms "
      "max={:.3f}ms round_trips/s={:.0f} commands/s={:.0f}",
      label, clients, all.size(), errors.load(), noop ? "noop+noop" : "checkout+undo", pct(0.50), pct(0.99), all.back() / 1000.0, rps, 2 * rps);
  if (server_cpu >= 0) std::cout << fmt::format(" server_cpu/command={:.0f}us", 1e6 * server_cpu / commands);
  std::cout << fmt::format(" driver_cpu/command={:.0f}us\n", 1e6 * own_cpu / commands);
  const std::string key = fmt::format("lock.{}.c{}", label, clients);
  strata::bench::Figure(key + ".p50", pct(0.50), "ms");
  strata::bench::Figure(key + ".p99", pct(0.99), "ms");
  strata::bench::Figure(key + ".throughput", 2 * rps, "commands/s");
  if (server_cpu >= 0) strata::bench::Figure(key + ".server_cpu", 1e6 * server_cpu / commands, "us/command");
  return errors.load() > 0 ? 2 : 0;
}
