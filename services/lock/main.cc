// strata-lock: the lock service alone, reading and writing a Kafka log.
#include <iostream>

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

  auto tokens = auth::TokenStore::LoadFile(flags.tokens_file, flags.site);
  if (!tokens.ok()) return hosting::Fail("strata-lock", tokens.status());
  auto config = hosting::LogConfigFromFlags(flags);
  if (!config.ok()) return hosting::Fail("strata-lock", config.status());
  auto log = eventlog::OpenEventLog(*config);
  if (!log.ok()) return hosting::Fail("strata-lock: event log", log.status());
  auto module = lock::LockModule::Open(
      {.data_dir = flags.data_dir, .site = flags.site, .rebuild = flags.rebuild}, log->get(), *tokens);
  if (!module.ok()) return hosting::Fail("strata-lock", module.status());
  spdlog::info("strata-lock: catching up with {}", (*log)->Describe());
  if (absl::Status s = (*module)->Start(absl::Minutes(30)); !s.ok())
    return hosting::Fail("strata-lock: catching up with the log", s);

  auto server = hosting::GrpcServer::Start(flags.listen, {(*module)->service()});
  if (!server.ok()) return hosting::Fail("strata-lock", server.status());
  (*server)->SetServing("strata.v1.LockService", true);
  std::cout << "strata-lock listening on " << flags.listen.substr(0, flags.listen.rfind(':')) << ":"
            << (*server)->port() << " (site " << flags.site
            << ", log " << (*log)->Describe() << ")" << std::endl;

  int sig = hosting::WaitForTerminationSignal();
  spdlog::info("strata-lock: signal {}, shutting down", sig);
  (*server)->Shutdown();
  (*module)->Stop();
  return 0;
}
