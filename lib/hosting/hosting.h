// strata_hosting: what every Strata server binary shares: the gRPC edge
// (status mapping, authentication), server start-up with health checking and
// reflection, log flags, and clean shutdown on SIGTERM.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "auth/tokens.h"
#include "eventlog/event_log.h"

namespace CLI {
class App;
}

namespace strata::hosting {

// Maps an internal status to the gRPC status with the same code and message.
grpc::Status ToGrpcStatus(const absl::Status& status);

// The caller's identity from the `authorization` metadata of the call.
absl::StatusOr<auth::Principal> AuthenticateCall(const grpc::ServerContext& context,
                                                 const auth::TokenStore& tokens);

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
  // How unqualified names in SQL definitions resolve (PostgreSQL's search_path).
  std::vector<std::string> search_path = {"public"};
  // Deploy service: environment credentials and the shadow database server.
  std::string secrets_file;
  std::string shadow_url;
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
  // Listens on `address` ("host:port"; port 0 picks a free one).
  static absl::StatusOr<std::unique_ptr<GrpcServer>> Start(
      const std::string& address, const std::vector<grpc::Service*>& services);
  ~GrpcServer();
  int port() const { return port_; }
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

// Sends logs to stderr (stdout carries only the "listening on" line).
void InitLogging(const std::string& name);
// Prints "<name> listening on HOST:PORT (site S, log L)" to stdout: the line
// scripts and tests wait for.
void AnnounceListening(const std::string& name, const ServerFlags& flags, const GrpcServer& server,
                       const eventlog::EventLog& log);

// Prints "<what>: <message>" to stderr and returns exit code 1.
int Fail(const std::string& what, const absl::Status& status);

}  // namespace strata::hosting
