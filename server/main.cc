// strata-server: every Strata service in one process (the embedded default).
// Without --kafka it keeps the event log itself, durably, in <data-dir>/log;
// with --kafka it is one more instance on a shared Kafka log.

#include "CLI/CLI.hpp"
#include "deploy/deploy_service.h"
#include "history/history_service.h"
#include "hosting/hosting.h"
#include "impact/impact_service.h"
#include "lock/lock_service.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  using namespace strata;
  hosting::BlockTerminationSignals();
  hosting::InitLogging("strata-server");
  CLI::App app{"strata-server: all Strata services in one process"};
  hosting::ServerFlags flags;
  hosting::AddServerFlags(app, &flags, /*kafka_required=*/false);
  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = hosting::ConfigureLogging(flags); !s.ok()) return hosting::Fail("strata-server", s);

  auto basics = hosting::OpenServerBasics(flags);
  if (!basics.ok()) return hosting::Fail("strata-server", basics.status());
  eventlog::EventLog* log = basics->log.get();
  auto lock = lock::LockModule::Open(
      {.data_dir = flags.data_dir, .site = flags.site, .rebuild = flags.rebuild, .search_path = flags.search_path},
      log, basics->tokens);
  if (!lock.ok()) return hosting::Fail("strata-server: lock service", lock.status());
  auto history = history::HistoryModule::Open(
      {.data_dir = flags.data_dir, .site = flags.site, .rebuild = flags.rebuild}, log, basics->tokens);
  if (!history.ok()) return hosting::Fail("strata-server: history service", history.status());
  auto impact = impact::ImpactModule::Open(
      {.data_dir = flags.data_dir, .site = flags.site, .rebuild = flags.rebuild, .search_path = flags.search_path},
      log, basics->tokens);
  if (!impact.ok()) return hosting::Fail("strata-server: impact service", impact.status());
  auto deploy = deploy::DeployModule::Open({.data_dir = flags.data_dir,
                                           .site = flags.site,
                                           .rebuild = flags.rebuild,
                                           .secrets_file = flags.secrets_file,
                                           .shadow_url = flags.shadow_url},
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
  if (absl::Status s = (*lock)->Start(absl::Minutes(30)); !s.ok())
    return hosting::Fail("strata-server: lock service catching up with the log", s);
  if (absl::Status s = (*history)->Start(absl::Minutes(30)); !s.ok())
    return hosting::Fail("strata-server: history service catching up with the log", s);
  if (absl::Status s = (*impact)->Start(absl::Minutes(30)); !s.ok())
    return hosting::Fail("strata-server: impact service catching up with the log", s);

  if (absl::Status s = (*deploy)->Start(absl::Minutes(30)); !s.ok())
    return hosting::Fail("strata-server: deploy service catching up with the log", s);

  if (absl::Status s = hosting::StartServing(flags, hosted, &*server); !s.ok())
    return hosting::Fail("strata-server", s);
  hosting::AnnounceListening("strata-server", flags, *server, *log);

  int sig = hosting::WaitForTerminationSignal(
      [&] { hosting::ReloadTokensOnHangup(flags, *basics->tokens); });
  spdlog::info("strata-server: signal {}, shutting down", sig);
  server->Shutdown();
  (*lock)->Stop();
  (*history)->Stop();
  (*impact)->Stop();
  (*deploy)->Stop();
  return 0;
}
