// strata-server: every Strata service in one process (the embedded default).
// Without --kafka it keeps the event log itself, durably, in <data-dir>/log;
// with --kafka it is one more instance on a shared Kafka log.
#include <iostream>

#include "CLI/CLI.hpp"
#include "hosting/hosting.h"
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

  auto tokens = auth::TokenStore::LoadFile(flags.tokens_file, flags.site);
  if (!tokens.ok()) return hosting::Fail("strata-server", tokens.status());
  auto config = hosting::LogConfigFromFlags(flags);
  if (!config.ok()) return hosting::Fail("strata-server", config.status());
  auto log = eventlog::OpenEventLog(*config);
  if (!log.ok()) return hosting::Fail("strata-server: event log", log.status());

  auto lock = lock::LockModule::Open(
      {.data_dir = flags.data_dir, .site = flags.site, .rebuild = flags.rebuild}, log->get(), *tokens);
  if (!lock.ok()) return hosting::Fail("strata-server: lock service", lock.status());
  spdlog::info("strata-server: catching up with {}", (*log)->Describe());
  if (absl::Status s = (*lock)->Start(absl::Minutes(30)); !s.ok())
    return hosting::Fail("strata-server: catching up with the log", s);

  auto server = hosting::GrpcServer::Start(flags.listen, {(*lock)->service()});
  if (!server.ok()) return hosting::Fail("strata-server", server.status());
  (*server)->SetServing("strata.v1.LockService", true);
  std::cout << "strata-server listening on " << flags.listen.substr(0, flags.listen.rfind(':'))
            << ":" << (*server)->port() << " (site " << flags.site << ", log " << (*log)->Describe()
            << ")" << std::endl;

  int sig = hosting::WaitForTerminationSignal();
  spdlog::info("strata-server: signal {}, shutting down", sig);
  (*server)->Shutdown();
  (*lock)->Stop();
  return 0;
}
