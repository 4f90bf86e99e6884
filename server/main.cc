// strata-server: every Strata service in one process (the embedded default).
// Without --kafka it keeps the event log itself, durably, in <data-dir>/log;
// with --kafka it is one more instance on a shared Kafka log.

#include <iostream>

#include "CLI/CLI.hpp"
#include "console/console.h"
#include "console/session.h"
#include "fmt/format.h"
#include "deploy/deploy_service.h"
#include "history/history_service.h"
#include "hosting/hosting.h"
#include "impact/impact_service.h"
#include "lock/lock_service.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  using namespace strata;
  hosting::BlockTerminationSignals();
  hosting::InitProcess("strata-server");
  CLI::App app{"strata-server: all Strata services in one process"};
  hosting::ServerFlags flags;
  hosting::AddServerFlags(app, &flags, /*kafka_required=*/false);
  std::string console_listen;
  double long_held_hours = 24, session_hours = 8;
  app.add_option("--console-listen", console_listen,
                 "serve the web console on this HOST:PORT (HTTPS with --tls-cert/--tls-key; port 0: any free port)");
  app.add_option("--console-long-held", long_held_hours, "console: hours after which a check-out stands out")
      ->capture_default_str();
  app.add_option("--console-session-hours", session_hours, "console: hours a sign-in lasts")->capture_default_str();
  int parallel_replays = 4;
  app.add_option("--parallel-replays", parallel_replays,
                 "how many services replay the log at once when the server starts (1: one after another, "
                 "slower, with the smallest memory peak)")
      ->check(CLI::Range(1, 4))
      ->capture_default_str();
  int store_memory_mb = 128;
  app.add_option("--store-memory", store_memory_mb,
                 "MB of RocksDB memory the four projection stores share: half one block cache, half their "
                 "memtables together")
      ->check(CLI::Range(16, 1 << 20))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  const size_t half = (size_t{1} << 20) * store_memory_mb / 2;
  auto shared_memory = std::make_shared<projection::SharedMemory>(
      projection::SharedMemoryOptions{.block_cache_bytes = half, .memtable_bytes = half});
  if (absl::Status s = hosting::ConfigureLogging(flags); !s.ok()) return hosting::Fail("strata-server", s);

  auto basics = hosting::OpenServerBasics(flags);
  if (!basics.ok()) return hosting::Fail("strata-server", basics.status());
  eventlog::EventLog* log = basics->log.get();
  auto lock = lock::LockModule::Open(
      {.data_dir = flags.data_dir,
       .site = flags.site,
       .rebuild = flags.rebuild,
       .search_path = flags.search_path,
       .shadow_url = flags.shadow_url,
       .max_definition_bytes = flags.max_definition_bytes,
       .shared_memory = shared_memory},
      log, basics->tokens);
  if (!lock.ok()) return hosting::Fail("strata-server: lock service", lock.status());
  auto history = history::HistoryModule::Open(
      {.data_dir = flags.data_dir, .site = flags.site, .rebuild = flags.rebuild, .shared_memory = shared_memory}, log,
      basics->tokens);
  if (!history.ok()) return hosting::Fail("strata-server: history service", history.status());
  auto impact = impact::ImpactModule::Open(
      {.data_dir = flags.data_dir,
       .site = flags.site,
       .rebuild = flags.rebuild,
       .search_path = flags.search_path,
       .shared_memory = shared_memory},
      log, basics->tokens);
  if (!impact.ok()) return hosting::Fail("strata-server: impact service", impact.status());
  auto deploy = deploy::DeployModule::Open({.data_dir = flags.data_dir,
                                           .site = flags.site,
                                           .rebuild = flags.rebuild,
                                           .secrets_file = flags.secrets_file,
                                           .shadow_url = flags.shadow_url,
                                           .max_definition_bytes = flags.max_definition_bytes,
                                           .shared_memory = shared_memory},
                                          log, basics->tokens);
  if (!deploy.ok()) return hosting::Fail("strata-server: deploy service", deploy.status());
  const std::vector<hosting::HostedModule> hosted = {
      {"lock", "strata.v1.LockService", (*lock)->service(), (*lock)->runner()},
      {"history", "strata.v1.HistoryService", (*history)->service(), (*history)->runner()},
      {"impact", "strata.v1.ImpactService", (*impact)->service(), (*impact)->runner()},
      {"deploy", "strata.v1.DeployService", (*deploy)->service(), (*deploy)->runner()}};
  auto server = hosting::StartMonitoring(flags, log, hosted);
  if (!server.ok()) return hosting::Fail("strata-server", server.status());
  spdlog::info("strata-server: catching up with {}", log->Describe());
  const absl::Duration catch_up = absl::Minutes(30);
  if (absl::Status s = hosting::StartModules(
          {{"lock", [&] { return (*lock)->StartReplay(); }, [&] { return (*lock)->Start(catch_up); }},
           {"history", [&] { return (*history)->StartReplay(); }, [&] { return (*history)->Start(catch_up); }},
           {"impact", [&] { return (*impact)->StartReplay(); }, [&] { return (*impact)->Start(catch_up); }},
           {"deploy", [&] { return (*deploy)->StartReplay(); }, [&] { return (*deploy)->Start(catch_up); }}},
          parallel_replays);
      !s.ok())
    return hosting::Fail("strata-server", s);

  if (absl::Status s = hosting::StartServing(flags, hosted, &*server); !s.ok())
    return hosting::Fail("strata-server", s);
  std::unique_ptr<console::Console> web;
  if (!console_listen.empty()) {
    // The console calls the services through this server, in process (the
    // same authentication, roles and scopes as any gRPC client).
    auto channel = server->grpc->InProcessChannel();
    const std::string self = fmt::format("strata-server {}", flags.listen);
    // Under mTLS the console signs in browsers with a client certificate and
    // acts for them with a delegate token that only this process knows.
    std::string delegate;
    if (!flags.tls.client_ca.empty()) {
      delegate = console::RandomHex32();
      basics->tokens->AddProcessToken(
          delegate, auth::Principal{.user = "strata-console", .site = flags.site, .roles = {"viewer"}, .delegate = true});
    }
    auto started = console::Console::Start(
        {.listen = console_listen,
         .tls_cert = flags.tls.cert,
         .tls_key = flags.tls.key,
         .tls_client_ca = flags.tls.client_ca,
         .delegate_token = delegate,
         .session_ttl = absl::Hours(session_hours),
         .long_held = absl::Hours(long_held_hours)},
        {channel, channel, channel, channel, self, self, self, self});
    if (!started.ok()) return hosting::Fail("strata-server: console", started.status());
    web = std::move(*started);
    std::cout << fmt::format("strata-server console on {}://{}:{}/", web->tls() ? "https" : "http",
                             console_listen.substr(0, console_listen.rfind(':')), web->port())
              << std::endl;
  }
  hosting::AnnounceListening("strata-server", flags, *server, *log);

  int sig = hosting::WaitForTerminationSignal(
      [&] { hosting::ReloadTokensOnHangup(flags, *basics->tokens); });
  spdlog::info("strata-server: signal {}, shutting down", sig);
  if (web) web->Stop();
  server->Shutdown();
  (*lock)->Stop();
  (*history)->Stop();
  (*impact)->Stop();
  (*deploy)->Stop();
  return 0;
}
