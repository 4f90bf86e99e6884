// strata_hosting: what every Strata server binary shares: the gRPC edge
// (status mapping, authentication), server start-up with health checking and
// reflection, log flags, and clean shutdown on SIGTERM.
#pragma once

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "auth/tokens.h"
#include "eventlog/event_log.h"
#include "hosting/monitoring.h"
#include "hosting/tls.h"

namespace CLI {
class App;
}

namespace strata::hosting {

// Maps an internal status to the gRPC status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The caller's identity: the `authorization` metadata's bearer token if the
// call has one, else the verified client certificate's subject (mTLS).
// With `strata-on-behalf-of: SUBJECT` metadata from a delegate identity, the
// certificate entry SUBJECT names; PERMISSION_DENIED from anyone else.
absl::StatusOr<auth::Principal> AuthenticateCall(const grpc::ServerContext& context,
                                                 const auth::TokenStore& tokens);

// Schema scopes on reads (tokens with `schemas:`): whether `who` may see the
// object named by `object` ("table:sales.orders", an aggregate, or any text
// that is not an object id, which is always visible), and the refusal that
// names the scope. Principals without a schema scope see everything.
// A refusal is written to the audit trail (command_refused) through `log` by
// the server at `origin_site`, naming `command` (e.g. "read"); with no `log`
// it is only returned (for callers whose command handler audits refusals).
struct RefusalAudit {
  eventlog::EventLog* log;
  std::string_view origin_site;
  std::string_view command;
};
bool ObjectInScope(const auth::Principal& who, std::string_view object);
absl::Status RequireObjectInScope(const auth::Principal& who, std::string_view object, const RefusalAudit& audit);
// Leaves out of `list` (a repeated field or a vector) the elements whose
// object, as `object_of(element)` names it, `who` may not see; returns how
// many were left out.
template <typename List, typename ObjectOf>
int KeepInScope(const auth::Principal& who, List* list, ObjectOf object_of) {
  const auto kept_end = std::remove_if(list->begin(), list->end(),
                                       [&](const auto& element) { return !ObjectInScope(who, object_of(element)); });
  const int left_out = static_cast<int>(list->end() - kept_end);
  list->erase(kept_end, list->end());
  return left_out;
}

// Flags shared by every server: how to reach the log, where to keep state.
struct ServerFlags {
  std::string listen = "127.0.0.1:7300";
  std::string data_dir = "./strata-data";
  std::string site = "local";
  std::string tokens_file;
  bool rebuild = false;
  std::string kafka;  // empty: embedded log (strata-server only)
  std::string topic = "strata.events";
  int partitions = 8;
  std::vector<std::string> kafka_properties;  // k=v, passed to librdkafka
  // A file of k=v lines (librdkafka properties), for credentials that should
  // not be on the command line (sasl.password, ssl.key.password).
  std::string kafka_config_file;
  // How unqualified names in SQL definitions resolve (PostgreSQL's search_path).
  std::vector<std::string> search_path = {"public"};
  // Deploy service: environment credentials and the shadow database server.
  std::string secrets_file;
  std::string shadow_url;
  // The largest definition or data script the services take; their gRPC
  // message limits follow from it (tls.h, GrpcMessageLimit).
  int64_t max_definition_bytes = kDefaultMaxDefinitionBytes;
  // gRPC TLS (and mTLS with a client CA).
  TlsServerFiles tls;
  // HTTP address for /metrics, /healthz, /readyz; empty: none.
  std::string metrics_listen;
  std::string log_format = "text";  // or "json"
  std::string log_level = "info";   // trace, debug, info, warn, error
};
void AddServerFlags(CLI::App& app, ServerFlags* flags, bool kafka_required);
// The log configuration the flags describe; the embedded log lives in
// <data-dir>/log.
absl::StatusOr<eventlog::LogConfig> LogConfigFromFlags(const ServerFlags& flags);

// What every server opens before its services: the token file and the log
// the flags name.
struct ServerBasics {
  std::shared_ptr<auth::TokenStore> tokens;
  std::unique_ptr<eventlog::EventLog> log;
};
absl::StatusOr<ServerBasics> OpenServerBasics(const ServerFlags& flags);

// A gRPC server with health checking and reflection.
class GrpcServer {
 public:
  // Listens on `address` ("host:port"; port 0 picks a free one), with TLS
  // when `tls` names a certificate. Every call is counted in `registry`.
  // Requests up to GrpcMessageLimit(max_definition_bytes) are received.
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const std::string& address, const std::vector<grpc::Service*>& services,
      const TlsServerFiles& tls = {}, metrics::Registry& registry = metrics::Registry::Default(),
      int64_t max_definition_bytes = kDefaultMaxDefinitionBytes);
  ~GrpcServer();
  int port() const { return port_; }
  // A channel to this server that bypasses the network (and TLS): for
  // clients in the same process, such as the web console in strata-server.
  // Calls still carry their own credentials (the bearer token).
  std::shared_ptr<grpc::Channel> InProcessChannel();
  // Marks `service` (or the whole server, "") SERVING or NOT_SERVING.
  void SetServing(const std::string& service, bool serving);
  // Stops accepting calls, lets running ones finish for up to `grace`.
  void Shutdown(absl::Duration grace = absl::Seconds(2));

 private:
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

// Call first in main(), before any thread starts: routes SIGTERM/SIGINT (and
// SIGHUP) to WaitForTerminationSignal() instead of killing the process.
void BlockTerminationSignals();
// Blocks until SIGTERM or SIGINT arrives; returns the signal. Each SIGHUP
// meanwhile calls `on_hangup` (if any) and the wait goes on.
int WaitForTerminationSignal(const std::function<void()>& on_hangup = nullptr);
// What servers do on SIGHUP: reload the token file into `tokens` (logged;
// on error the previous tokens stay).
void ReloadTokensOnHangup(const ServerFlags& flags, auth::TokenStore& tokens);

// What every server process does first: logs go to stderr (stdout carries
// only the "listening on" line), and absl::Mutex runs without deadlock
// detection (Debian's absl keeps it on; it roughly doubled what a lock
// command spends in mutexes, and the lock order is checked at build time by
// clang's -Wthread-safety instead).
void InitProcess(const std::string& name);
// The flags' --log-format, "text" (the default) or "json": one JSON object
// per line with time, level, logger and message, for log collectors; and
// --log-level (INVALID_ARGUMENT naming the choices for anything else).
absl::Status ConfigureLogging(const ServerFlags& flags);

// What a server runs besides its modules: a monitor of their projections
// with, given --metrics-listen, the HTTP endpoint (started before catching up,
// so liveness probes answer during a long rebuild while /readyz says 503),
// then the gRPC server for their services (marked SERVING while the
// projections are caught up with the log).
struct HostedModule {
  std::string name;                      // "lock"
  std::string grpc_service;              // "strata.v1.LockService"
  grpc::Service* service;
  projection::ProjectionRunner* runner;
};
struct RunningServer {
  // Declared before the monitor, so destroyed after it: the monitor's
  // threads use the gRPC server until they stop.
  std::unique_ptr<GrpcServer> grpc;
  std::unique_ptr<ServerMonitor> monitor;
  int metrics_port = 0;
  void Shutdown();
};
absl::StatusOr<RunningServer> StartMonitoring(const ServerFlags& flags, eventlog::EventLog* log,
                                              const std::vector<HostedModule>& modules);
absl::Status StartServing(const ServerFlags& flags, const std::vector<HostedModule>& modules,
                          RunningServer* server);

// How a server brings up the modules it hosts: each module's `replay`
// starts its projection's replay of the log and returns at once; its `start`
// waits until the projection has caught up, then starts what follows the
// log. Modules start in order, and up to `parallel` replays run at the same
// time, sharing the cores: one after another (parallel = 1), a cold start
// leaves a core idle, since a single replay keeps at most one or two busy;
// all at once, the memory peak is the sum of theirs. The first failure is
// returned, prefixed with the module's name; replays already started keep
// running (the caller exits or stops the modules).
struct ModuleStart {
  std::string name;
  std::function<absl::Status()> replay;
  std::function<absl::Status()> start;
};
absl::Status StartModules(const std::vector<ModuleStart>& modules, size_t parallel);

// Prints "<name> listening on HOST:PORT (site S, log L)" to stdout: the line
// scripts and tests wait for.
void AnnounceListening(const std::string& name, const ServerFlags& flags, const RunningServer& server,
                       const eventlog::EventLog& log);

// Prints "<what>: <message>" to stderr and returns exit code 1.
int Fail(const std::string& what, const absl::Status& status);

}  // namespace strata::hosting
