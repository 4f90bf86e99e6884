// main() of a binary that serves one Strata service on a Kafka log
// (strata-lock, strata-history, ...): flags, tokens, log, catch-up, gRPC
// server, clean shutdown on SIGTERM. strata-server composes modules itself.
#pragma once

#include <string>

#include "CLI/CLI.hpp"
#include "hosting/hosting.h"
#include "spdlog/spdlog.h"

namespace strata::hosting {

struct ServiceMainSpec {
  std::string name;            // "strata-lock"
  std::string description;     // one line for --help
  std::string default_listen;  // "127.0.0.1:7301"
  std::string grpc_service;    // "strata.v1.LockService", for health checking
  std::string module_name;     // "lock", in metrics
};

// Module: has static Open(Options, EventLog*, shared_ptr<TokenStore>),
// Start(Duration), Stop(), service(); Options has data_dir, site, rebuild
// and maybe search_path.
template <typename Module, typename Options>
int ServeOneModule(int argc, char** argv, const ServiceMainSpec& spec) {
  BlockTerminationSignals();
  InitProcess(spec.name);
  CLI::App app{spec.name + ": " + spec.description};
  ServerFlags flags;
  flags.listen = spec.default_listen;
  AddServerFlags(app, &flags, /*kafka_required=*/true);
  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = ConfigureLogging(flags); !s.ok()) return Fail(spec.name, s);

  auto basics = OpenServerBasics(flags);
  if (!basics.ok()) return Fail(spec.name, basics.status());
  eventlog::EventLog* log = basics->log.get();
  Options options;
  options.data_dir = flags.data_dir;
  options.site = flags.site;
  options.rebuild = flags.rebuild;
  if constexpr (requires { options.search_path; }) options.search_path = flags.search_path;
  if constexpr (requires { options.secrets_file; }) options.secrets_file = flags.secrets_file;
  if constexpr (requires { options.shadow_url; }) options.shadow_url = flags.shadow_url;
  if constexpr (requires { options.max_definition_bytes; }) options.max_definition_bytes = flags.max_definition_bytes;
  auto module = Module::Open(std::move(options), log, basics->tokens);
  if (!module.ok()) return Fail(spec.name, module.status());
  const std::vector<HostedModule> hosted = {{.name = spec.module_name,
                                             .grpc_service = spec.grpc_service,
                                             .service = (*module)->service(),
                                             .runner = (*module)->runner()}};
  auto server = StartMonitoring(flags, log, hosted);
  if (!server.ok()) return Fail(spec.name, server.status());
  spdlog::info("{}: catching up with {}", spec.name, log->Describe());
  if (absl::Status s = (*module)->Start(absl::Minutes(30)); !s.ok())
    return Fail(spec.name + ": catching up with the log", s);

  if (absl::Status s = StartServing(flags, hosted, &*server); !s.ok()) return Fail(spec.name, s);
  AnnounceListening(spec.name, flags, *server, *log);

  const int sig = WaitForTerminationSignal([&] { ReloadTokensOnHangup(flags, *basics->tokens); });
  spdlog::info("{}: signal {}, shutting down", spec.name, sig);
  server->Shutdown();
  (*module)->Stop();
  return 0;
}

}  // namespace strata::hosting
