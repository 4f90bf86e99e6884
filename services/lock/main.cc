// strata-lock: the lock service alone, reading and writing a Kafka log.

#include "CLI/CLI.hpp"
#include "hosting/hosting.h"
#include "lock/lock_service.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  using namespace strata;
  hosting::BlockTerminationSignals();
  hosting::InitLogging("strata-lock");
  CLI::App app{"strata-lock: check-out/check-in of database objects over a Kafka event log"};
  hosting::ServerFlags flags;
  flags.listen = "127.0.0.1:7301";
  hosting::AddServerFlags(app, &flags, /*kafka_required=*/true);
  CLI11_PARSE(app, argc, argv);

  auto basics = hosting::OpenServerBasics(flags);
  if (!basics.ok()) return hosting::Fail("strata-lock", basics.status());
  eventlog::EventLog* log = basics->log.get();
  auto module = lock::LockModule::Open(
      {.data_dir = flags.data_dir, .site = flags.site, .rebuild = flags.rebuild}, log, basics->tokens);
  if (!module.ok()) return hosting::Fail("strata-lock", module.status());
  spdlog::info("strata-lock: catching up with {}", log->Describe());
  if (absl::Status s = (*module)->Start(absl::Minutes(30)); !s.ok())
    return hosting::Fail("strata-lock: catching up with the log", s);

  auto server = hosting::GrpcServer::Start(flags.listen, {(*module)->service()});
  if (!server.ok()) return hosting::Fail("strata-lock", server.status());
  (*server)->SetServing("strata.v1.LockService", true);
  hosting::AnnounceListening("strata-lock", flags, **server, *log);

  int sig = hosting::WaitForTerminationSignal();
  spdlog::info("strata-lock: signal {}, shutting down", sig);
  (*server)->Shutdown();
  (*module)->Stop();
  return 0;
}
