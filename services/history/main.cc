// strata-history: the history service alone, reading and writing a Kafka log.

#include "CLI/CLI.hpp"
#include "history/history_service.h"
#include "hosting/hosting.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  using namespace strata;
  hosting::BlockTerminationSignals();
  hosting::InitLogging("strata-history");
  CLI::App app{"strata-history: versions, audit trail and baselines over a Kafka event log"};
  hosting::ServerFlags flags;
  flags.listen = "127.0.0.1:7302";
  hosting::AddServerFlags(app, &flags, /*kafka_required=*/true);
  CLI11_PARSE(app, argc, argv);

  auto basics = hosting::OpenServerBasics(flags);
  if (!basics.ok()) return hosting::Fail("strata-history", basics.status());
  eventlog::EventLog* log = basics->log.get();
  auto module = history::HistoryModule::Open(
      {.data_dir = flags.data_dir, .site = flags.site, .rebuild = flags.rebuild}, log, basics->tokens);
  if (!module.ok()) return hosting::Fail("strata-history", module.status());
  spdlog::info("strata-history: catching up with {}", log->Describe());
  if (absl::Status s = (*module)->Start(absl::Minutes(30)); !s.ok())
    return hosting::Fail("strata-history: catching up with the log", s);

  auto server = hosting::GrpcServer::Start(flags.listen, {(*module)->service()});
  if (!server.ok()) return hosting::Fail("strata-history", server.status());
  (*server)->SetServing("strata.v1.HistoryService", true);
  hosting::AnnounceListening("strata-history", flags, **server, *log);

  int sig = hosting::WaitForTerminationSignal();
  spdlog::info("strata-history: signal {}, shutting down", sig);
  (*server)->Shutdown();
  (*module)->Stop();
  return 0;
}
