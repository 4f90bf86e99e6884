// strata-bench-console: the web console with a large repository.
//
// Writes a log of --events check-out/check-in events over --objects objects
// (strata-bench-rebuild's), starts strata-server on it with the console,
// checks out --checkouts objects, then:
//   1. requests every page --requests times (one client, keep-alive) and
//      reads the console's own time for each from its Server-Timing header
//      (p50, p99), with the response size and the server process's CPU
//      time per page (console and services: they share the process);
//   2. connects --live-clients browsers' live feeds (/live, Server-Sent
//      Events), makes --live-events check-outs one after another, and times
//      each from the check-out's acknowledgement to its arrival in every
//      connected feed (p50, p99 over all feeds and events).
// Everything on loopback; stops by itself.
#include <httplib.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <thread>

#include "CLI/CLI.hpp"
#include "bench_server.h"
#include "figure.h"
#include "strata/v1/lock.grpc.pb.h"

namespace strata::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// One live feed: the times at which each object's record arrived.
class Feed {
 public:
  Feed(const std::string& host, int port, const std::string& token) : client_(host, port) {
    client_.set_read_timeout(600, 0);
    thread_ = std::thread([this, token] {
      client_.Get("/live", {{"Authorization", "Bearer " + token}}, [&](const char* data, size_t n) {
        const auto now = Clock::now();
        std::lock_guard lock(mu_);
        buffer_.append(data, n);
        for (size_t end; (end = buffer_.find("\n\n")) != std::string::npos;) {
          const std::string event = buffer_.substr(0, end);
          buffer_.erase(0, end + 2);
          if (event.find("event: ready") != std::string::npos) ready_ = true;
          static const std::regex kObject("\"object\":\"(table:live\\.t[0-9]+)\"");
          std::smatch m;
          if (std::regex_search(event, m, kObject)) arrivals_.emplace(m[1], now);
        }
        return !stop_;
      });
    });
  }
  ~Feed() {
    stop_ = true;
    client_.stop();
    thread_.join();
  }
  bool ready() {
    std::lock_guard lock(mu_);
    return ready_;
  }
  std::optional<Clock::time_point> Arrival(const std::string& object) {
    std::lock_guard lock(mu_);
    auto it = arrivals_.find(object);
    if (it == arrivals_.end()) return std::nullopt;
    return it->second;
  }

 private:
  httplib::Client client_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string buffer_;
  bool ready_ = false;
  std::map<std::string, Clock::time_point> arrivals_;
};

}  // namespace
}  // namespace strata::bench

int main(int argc, char** argv) {
  using namespace strata;
  using namespace strata::bench;
  CLI::App app{"strata-bench-console: the web console's pages and live feed with a large repository"};
  std::string bin = "build/bin", dir;
  int64_t events = 1'000'000, objects = 100'000;
  int checkouts = 10'000, requests = 100, live_clients = 200, live_events = 100;
  app.add_option("--bin", bin, "where strata-server and strata-bench-rebuild are")->capture_default_str();
  app.add_option("--dir", dir, "scratch directory")->required();
  app.add_option("--events", events)->capture_default_str();
  app.add_option("--objects", objects)->capture_default_str();
  app.add_option("--checkouts", checkouts)->capture_default_str();
  app.add_option("--requests", requests, "requests per page")->capture_default_str();
  app.add_option("--live-clients", live_clients)->capture_default_str();
  app.add_option("--live-events", live_events)->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (checkouts > objects) Die("--checkouts must not exceed --objects");
  // 200 feeds hold 200 sockets here and in the server.
  rlimit nofile{8192, 8192};
  setrlimit(RLIMIT_NOFILE, &nofile);

  std::filesystem::create_directories(dir);
  const std::string rebuild = fmt::format(
      "{}/strata-bench-rebuild --backend embedded --events {} --objects {} --dir {}/rebuild > {}/rebuild.out",
      bin, events, objects, dir, dir);
  if (std::system(rebuild.c_str()) != 0) Die("strata-bench-rebuild failed; see " + dir + "/rebuild.out");
  std::filesystem::create_directories(dir + "/data");
  std::filesystem::remove_all(dir + "/data/log");
  std::filesystem::copy(dir + "/rebuild/log", dir + "/data/log", std::filesystem::copy_options::recursive);
  std::ofstream(dir + "/tokens.yaml") << "tokens:\n  - {token: bench-token, user: bench, site: bench, roles: [dba]}\n";
  std::ofstream(dir + "/secrets.yaml") << "environments: {}\n";

  const auto started = Clock::now();
  Server server(bin + "/strata-server", dir, {"--console-listen", "127.0.0.1:0"});
  fmt::print("strata-server caught up with {} events over {} objects in {:.1f} s; console at {}\n", events, objects,
             std::chrono::duration<double>(Clock::now() - started).count(), server.console_url());
  auto channel = grpc::CreateChannel(server.endpoint(), grpc::InsecureChannelCredentials());
  auto lock = v1::LockService::NewStub(channel);
  const std::string token = "bench-token";
  for (int first = 0; first < checkouts; first += 100) {
    v1::CheckOutRequest req;
    for (int i = first; i < std::min(checkouts, first + 100); ++i) req.add_objects(fmt::format("table:bench.t{}", i));
    req.set_reason("console benchmark");
    v1::CheckOutResponse resp;
    Check(lock->CheckOut(Ctx(token, 60).get(), req, &resp), "check-out");
  }
  fmt::print("{} objects checked out\n", checkouts);

  const std::string url = server.console_url();
  const std::string host = "127.0.0.1";
  const int port = std::stoi(url.substr(url.rfind(':') + 1));
  httplib::Client http(host, port);
  http.set_read_timeout(60, 0);
  http.set_keep_alive(true);
  const httplib::Headers auth = {{"Authorization", "Bearer " + token}, {"Accept", "text/html"}};
  // The pages as a supervisor opens them (HTML: the JSON is the same model).
  const std::vector<std::pair<std::string, std::string>> pages = {
      {"summary", "/"},
      {"locks", "/locks"},
      {"locks_by_site", "/locks?group=site"},
      {"locks_one_user", "/locks?user=bench&schema=bench&kind=table"},
      {"activity", "/activity"},
      {"object", fmt::format("/objects/table:bench.t{}", objects * 42 / 1000)},
      {"pipeline", "/pipeline"},
      {"audit", "/audit"},
      {"audit_by_user", "/audit?user=user7"},
      {"audit_by_object", fmt::format("/audit?object=table:bench.t{}", objects / 1000)},
  };
  static const std::regex kTiming("page;dur=([0-9.]+)");
  for (const auto& [name, path] : pages) {
    std::vector<double> server_ms, total_ms;
    size_t bytes = 0;
    const double cpu0 = ProcessCpuSeconds(server.pid());
    for (int i = 0; i < requests; ++i) {
      const auto t0 = Clock::now();
      auto res = http.Get(path, auth);
      const auto t1 = Clock::now();
      if (!res || res->status != 200)
        Die(fmt::format("{} answered {}", path, res ? std::to_string(res->status) : "nothing"));
      std::smatch m;
      const std::string timing = res->get_header_value("Server-Timing");
      if (!std::regex_search(timing, m, kTiming)) Die("no Server-Timing on " + path);
      server_ms.push_back(std::stod(m[1]));
      total_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      bytes = res->body.size();
    }
    const double cpu_ms = 1e3 * (ProcessCpuSeconds(server.pid()) - cpu0) / requests;
    fmt::print("page[{}] {}: server p50={:.2f}ms p99={:.2f}ms max={:.2f}ms; with transfer p50={:.2f}ms; "
               "server CPU {:.2f}ms/page; {} KB\n",
               name, path, Percentile(server_ms, 0.5), Percentile(server_ms, 0.99),
               *std::max_element(server_ms.begin(), server_ms.end()), Percentile(total_ms, 0.5), cpu_ms, bytes / 1024);
    Figure(fmt::format("console.page.{}.server_cpu", name), cpu_ms, "ms/page");
    Figure(fmt::format("console.page.{}.p50", name), Percentile(server_ms, 0.5), "ms");
    Figure(fmt::format("console.page.{}.p99", name), Percentile(server_ms, 0.99), "ms");
  }

  // The live feed: live_clients connected feeds, live_events check-outs.
  std::vector<std::unique_ptr<Feed>> feeds;
  for (int i = 0; i < live_clients; ++i) feeds.push_back(std::make_unique<Feed>(host, port, token));
  const auto connect_deadline = Clock::now() + std::chrono::seconds(60);
  for (auto& f : feeds)
    while (!f->ready()) {
      if (Clock::now() > connect_deadline) Die("live feeds did not all connect within 60 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  fmt::print("{} live feeds connected\n", live_clients);
  std::vector<double> latency_ms;
  int lost = 0;
  for (int e = 0; e < live_events; ++e) {
    const std::string object = fmt::format("table:live.t{}", e);
    v1::CheckOutRequest req;
    req.add_objects(object);
    v1::CheckOutResponse resp;
    Check(lock->CheckOut(Ctx(token, 30).get(), req, &resp), "live check-out");
    const auto acked = Clock::now();
    const auto deadline = acked + std::chrono::seconds(10);
    for (auto& f : feeds) {
      std::optional<Clock::time_point> at;
      while (!(at = f->Arrival(object)) && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      if (!at) {
        ++lost;
        continue;
      }
      latency_ms.push_back(std::max(0.0, std::chrono::duration<double, std::milli>(*at - acked).count()));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // a team's pace, not a flood
  }
  fmt::print("live[{} feeds x {} check-outs]: acknowledgement -> feed p50={:.1f}ms p99={:.1f}ms max={:.1f}ms, "
             "{} not arrived within 10 s\n",
             live_clients, live_events, Percentile(latency_ms, 0.5), Percentile(latency_ms, 0.99),
             latency_ms.empty() ? 0.0 : *std::max_element(latency_ms.begin(), latency_ms.end()), lost);
  Figure("console.live.p50", Percentile(latency_ms, 0.5), "ms");
  Figure("console.live.p99", Percentile(latency_ms, 0.99), "ms");
  feeds.clear();
  server.Stop();
  return lost == 0 ? 0 : 1;
}
