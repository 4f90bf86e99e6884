#include "hosting/hosting.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <iostream>

#include "CLI/CLI.hpp"
#include "fmt/format.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/spdlog.h"

namespace strata::hosting {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  // absl and gRPC share the canonical code numbering.
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()));
}

absl::StatusOr<auth::Principal> AuthenticateCall(const grpc::ServerContext& context,
                                                 const auth::TokenStore& tokens) {
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  std::string_view value;
  if (it != md.end()) value = std::string_view(it->second.data(), it->second.size());
  return tokens.Authenticate(value);
}

void AddServerFlags(CLI::App& app, ServerFlags* f, bool kafka_required) {
  app.add_option("--listen", f->listen, "gRPC address to listen on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--data-dir", f->data_dir, "directory for this server's RocksDB state")
      ->capture_default_str();
  app.add_option("--site", f->site, "this server's site (region), recorded in events")
      ->capture_default_str();
  app.add_option("--tokens", f->tokens_file, "YAML token file (tokens: [{token, user, site, roles}])")
      ->required();
  app.add_flag("--rebuild", f->rebuild, "discard local state and rebuild it from the log");
  auto* kafka = app.add_option("--kafka", f->kafka, "Kafka bootstrap servers (host:port,...)");
  if (kafka_required) kafka->required();
  app.add_option("--topic", f->topic, "event log topic")->capture_default_str();
  app.add_option("--partitions", f->partitions, "partitions when creating the log")
      ->capture_default_str();
  app.add_option("--search-path", f->search_path,
                 "schemas that unqualified names in definitions resolve to, in order (like PostgreSQL's "
                 "search_path)")
      ->delimiter(',')
      ->capture_default_str();
  app.add_option("--kafka-property", f->kafka_properties,
                 "librdkafka property k=v (TLS, SASL, ...), repeatable");
  app.add_option("--secrets-file", f->secrets_file,
                 "YAML file with environment passwords (deploy service; never logged or written to the log)");
  app.add_option("--shadow-url", f->shadow_url,
                 "PostgreSQL server where the deploy service creates its shadow databases (default: the secrets "
                 "file's shadow_url, STRATA_SHADOW_URL, or libpq's defaults)");
}

absl::StatusOr<eventlog::LogConfig> LogConfigFromFlags(const ServerFlags& f) {
  eventlog::LogConfig c;
  c.topic = f.topic;
  c.partitions = f.partitions;
  if (f.kafka.empty()) {
    c.embedded_dir = f.data_dir + "/log";
  } else {
    c.kafka_bootstrap = f.kafka;
  }
  for (const auto& kv : f.kafka_properties) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return absl::InvalidArgumentError(fmt::format("--kafka-property '{}' is not k=v", kv));
    c.kafka_properties.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return c;
}

absl::StatusOr<ServerBasics> OpenServerBasics(const ServerFlags& flags) {
  ServerBasics basics;
  auto tokens = auth::TokenStore::LoadFile(flags.tokens_file, flags.site);
  if (!tokens.ok()) return tokens.status();
  basics.tokens = std::move(*tokens);
  auto config = LogConfigFromFlags(flags);
  if (!config.ok()) return config.status();
  auto log = eventlog::OpenEventLog(*config);
  if (!log.ok())
    return absl::Status(log.status().code(), fmt::format("event log: {}", std::string(log.status().message())));
  basics.log = std::move(*log);
  return basics;
}

void AnnounceListening(const std::string& name, const ServerFlags& flags, const GrpcServer& server,
                       const eventlog::EventLog& log) {
  std::cout << fmt::format("{} listening on {}:{} (site {}, log {})", name,
                           flags.listen.substr(0, flags.listen.rfind(':')), server.port(),
                           flags.site, log.Describe())
            << std::endl;
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(
    const std::string& address, const std::vector<grpc::Service*>& services) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  auto server = std::unique_ptr<GrpcServer>(new GrpcServer());
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &server->port_);
  for (grpc::Service* s : services) builder.RegisterService(s);
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0)
    return absl::UnavailableError(fmt::format("cannot listen on {}", address));
  return server;
}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

void GrpcServer::SetServing(const std::string& service, bool serving) {
  if (auto* health = server_ ? server_->GetHealthCheckService() : nullptr)
    health->SetServingStatus(service, serving);
}

void GrpcServer::Shutdown(absl::Duration grace) {
  if (!server_) return;
  SetServing("", false);
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoNanoseconds(grace));
  server_->Wait();
  server_.reset();
}

namespace {
sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}
}  // namespace

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal(const std::function<void()>& on_hangup) {
  sigset_t set = TerminationSignals();
  for (;;) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig != SIGHUP) return sig;
    if (on_hangup) on_hangup();
  }
}

void ReloadTokensOnHangup(const ServerFlags& flags, auth::TokenStore& tokens) {
  absl::Status s = tokens.ReloadFile(flags.tokens_file, flags.site);
  if (s.ok()) {
    spdlog::info("SIGHUP: token file {} reloaded, {} tokens", flags.tokens_file, tokens.size());
  } else {
    spdlog::error("SIGHUP: token file not reloaded, the previous tokens stay in force: {}", s.ToString());
  }
}

void InitLogging(const std::string& name) {
  spdlog::set_default_logger(spdlog::stderr_logger_mt(name));
}

int Fail(const std::string& what, const absl::Status& status) {
  std::cerr << what << ": " << status.message() << std::endl;
  return 1;
}

}  // namespace strata::hosting
