#include "hosting/hosting.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <signal.h>

#include <fstream>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/synchronization/mutex.h"
#include "fmt/format.h"
#include "fmt/ranges.h"
#include "events/events.h"
#include "model/object_id.h"
#include "nlohmann/json.hpp"
#include "spdlog/pattern_formatter.h"
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
  absl::StatusOr<auth::Principal> caller = absl::UnauthenticatedError("");
  std::optional<std::string> subject;
  if (value.empty() && (subject = PeerCertificateSubject(context))) {
    caller = tokens.AuthenticateCertificate(*subject);
  } else {
    caller = tokens.Authenticate(value);
  }
  auto behalf = md.find("strata-on-behalf-of");
  if (behalf == md.end() || !caller.ok()) return caller;
  // A delegate (the web console) acting for a user who proved a client
  // certificate to it: the call runs as that certificate's entry.
  if (!caller->delegate)
    return absl::PermissionDeniedError(fmt::format(
        "{} may not act on behalf of another user (strata-on-behalf-of): only a delegate identity "
        "(delegate: true in the token file, the web console's) may",
        caller->user));
  return tokens.AuthenticateCertificate(std::string_view(behalf->second.data(), behalf->second.size()));
}

bool ObjectInScope(const auth::Principal& who, std::string_view object) {
  if (who.schemas.empty()) return true;
  // Reference data ("data:<schema>.<table>") is in the scope of its table.
  if (object.starts_with("data:")) return who.InSchemaScope(object.substr(5));
  auto id = model::ParseObjectId(object);
  if (!id.ok()) id = model::ObjectIdFromAggregate(object);
  if (!id.ok()) return true;  // not an object: environments, releases, baselines
  return who.InSchemaScope(id->QualifiedName());
}

absl::Status RequireObjectInScope(const auth::Principal& who, std::string_view object, const RefusalAudit& audit) {
  if (ObjectInScope(who, object)) return absl::OkStatus();
  absl::Status denied = absl::PermissionDeniedError(fmt::format("{} may work on {} only; {} is outside that scope",
                                                                who.user, fmt::join(who.schemas, ", "), object));
  if (!audit.log) return denied;
  auto id = model::ParseObjectId(object);
  const std::string aggregate = id.ok() ? id->Aggregate() : std::string(object);
  events::AppendRefusal(*audit.log, events::NewEvent(who.user, who.site, audit.origin_site, aggregate, 0),
                        audit.command, denied);
  return denied;
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
  app.add_option("--kafka-config", f->kafka_config_file,
                 "file of librdkafka properties, one k=v per line (# comments): keeps SASL passwords off the command "
                 "line; --kafka-property values override it");
  app.add_option("--secrets-file", f->secrets_file,
                 "YAML file with environment passwords (deploy service; never logged or written to the log)");
  app.add_option("--max-definition-bytes", f->max_definition_bytes,
                 "the largest definition or data script accepted (bytes); larger ones are refused saying so")
      ->capture_default_str();
  app.add_option("--shadow-url", f->shadow_url,
                 "PostgreSQL server for shadow databases: the lock service proves each check-in there (without "
                 "this flag check-ins are parsed only), the deploy service plans there (default for it: the secrets "
                 "file's shadow_url, STRATA_SHADOW_URL, or libpq's defaults)");
  app.add_option("--tls-cert", f->tls.cert, "PEM certificate (chain): serve gRPC over TLS");
  app.add_option("--tls-key", f->tls.key, "PEM private key of --tls-cert");
  app.add_option("--tls-client-ca", f->tls.client_ca,
                 "PEM CA bundle: require client certificates signed by it (mTLS); a certificate's subject "
                 "can stand for a user (cert_subject in the token file)");
  app.add_option("--metrics-listen", f->metrics_listen,
                 "HTTP address for Prometheus /metrics, /healthz and /readyz (e.g. 0.0.0.0:9300; default: off)");
  app.add_option("--log-level", f->log_level,
                 "trace, debug, info (every command, one line each), warn or error")
      ->capture_default_str();
  app.add_option("--log-format", f->log_format, "text or json (one JSON object per line)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
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
  if (!f.kafka_config_file.empty()) {
    std::ifstream in(f.kafka_config_file);
    if (!in) return absl::InvalidArgumentError(fmt::format("cannot read --kafka-config {}", f.kafka_config_file));
    int number = 0;
    for (std::string line; std::getline(in, line);) {
      ++number;
      line = std::string(absl::StripAsciiWhitespace(line));
      if (line.empty() || line[0] == '#') continue;
      const auto eq = line.find('=');
      // The line may hold a secret: name only its place.
      if (eq == std::string::npos || eq == 0)
        return absl::InvalidArgumentError(fmt::format("{}:{}: not k=v", f.kafka_config_file, number));
      c.kafka_properties.emplace_back(std::string(absl::StripAsciiWhitespace(line.substr(0, eq))),
                                      std::string(absl::StripAsciiWhitespace(line.substr(eq + 1))));
    }
  }
  for (const auto& kv : f.kafka_properties) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0)
      return absl::InvalidArgumentError(fmt::format("--kafka-property '{}' is not k=v", kv.substr(0, kv.find('='))));
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

void AnnounceListening(const std::string& name, const ServerFlags& flags, const RunningServer& server,
                       const eventlog::EventLog& log) {
  std::string extras;
  if (flags.tls.enabled()) extras += flags.tls.client_ca.empty() ? ", TLS" : ", mTLS";
  if (server.metrics_port > 0)
    extras += fmt::format(", metrics on {}:{}", flags.metrics_listen.substr(0, flags.metrics_listen.rfind(':')),
                          server.metrics_port);
  std::cout << fmt::format("{} listening on {}:{} (site {}, log {}{})", name,
                           flags.listen.substr(0, flags.listen.rfind(':')), server.grpc->port(), flags.site,
                           log.Describe(), extras)
            << std::endl;
}

absl::StatusOr<RunningServer> StartMonitoring(const ServerFlags& flags, eventlog::EventLog* log,
                                              const std::vector<HostedModule>& modules) {
  RunningServer running;
  running.monitor = std::make_unique<ServerMonitor>(log);
  for (const HostedModule& m : modules) running.monitor->WatchProjection(m.name, m.runner);
  running.monitor->Start();
  if (!flags.metrics_listen.empty()) {
    auto port = running.monitor->StartHttp(flags.metrics_listen);
    if (!port.ok()) return port.status();
    running.metrics_port = *port;
  }
  return running;
}

absl::Status StartModules(const std::vector<ModuleStart>& modules, size_t parallel) {
  size_t replaying = 0;  // modules [0, replaying) have started their replay
  for (size_t i = 0; i < modules.size(); ++i) {
    // Module i and the next ones, up to `parallel` in all, replay while i catches up.
    for (; replaying < std::min(modules.size(), i + std::max<size_t>(parallel, 1)); ++replaying) {
      const ModuleStart& m = modules[replaying];
      if (absl::Status s = m.replay(); !s.ok())
        return absl::Status(s.code(),
                            fmt::format("{} service: starting its projection: {}", m.name, std::string(s.message())));
    }
    if (absl::Status s = modules[i].start(); !s.ok())
      return absl::Status(s.code(), fmt::format("{} service: catching up with the log: {}", modules[i].name,
                                                std::string(s.message())));
  }
  return absl::OkStatus();
}

absl::Status StartServing(const ServerFlags& flags, const std::vector<HostedModule>& modules,
                          RunningServer* server) {
  std::vector<grpc::Service*> services;
  std::vector<std::string> names;
  for (const HostedModule& m : modules) {
    services.push_back(m.service);
    names.push_back(m.grpc_service);
  }
  auto grpc_server = GrpcServer::Start(flags.listen, services, flags.tls, metrics::Registry::Default(),
                                       flags.max_definition_bytes);
  if (!grpc_server.ok()) return grpc_server.status();
  server->grpc = std::move(*grpc_server);
  server->monitor->FollowReadiness(server->grpc.get(), names);
  return absl::OkStatus();
}

void RunningServer::Shutdown() {
  if (monitor) monitor->Stop();
  if (grpc) grpc->Shutdown();
}

absl::StatusOr<std::unique_ptr<GrpcServer>> GrpcServer::Start(const std::string& address,
                                                              const std::vector<grpc::Service*>& services,
                                                              const TlsServerFiles& tls,
                                                              metrics::Registry& registry,
                                                              int64_t max_definition_bytes) {
  auto credentials = MakeServerCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  auto server = std::unique_ptr<GrpcServer>(new GrpcServer());
  builder.AddListeningPort(address, *credentials, &server->port_);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewRequestMetricsInterceptorFactory(registry));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  for (grpc::Service* s : services) builder.RegisterService(s);
  // Handlers block until the log has decided their command, so many run at
  // once. gRPC's synchronous server lets a thread that finished a call exit
  // when more than MAX_POLLERS threads are waiting for work (default 2) and
  // starts new ones when too few wait: under load that is a thread created
  // and destroyed for nearly every call. Keeping up to 64 waiting threads
  // (their stacks are reserved, not resident) avoids it.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 64);
  // A definition over the limit still arrives, to be refused in words.
  builder.SetMaxReceiveMessageSize(GrpcMessageLimit(max_definition_bytes));
  builder.SetMaxSendMessageSize(GrpcMessageLimit(max_definition_bytes));
  server->server_ = builder.BuildAndStart();
  if (!server->server_ || server->port_ == 0)
    return absl::UnavailableError(fmt::format("cannot listen on {}", address));
  return server;
}

GrpcServer::~GrpcServer() { Shutdown(absl::ZeroDuration()); }

std::shared_ptr<grpc::Channel> GrpcServer::InProcessChannel() {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  return server_->InProcessChannel(args);
}

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

void InitProcess(const std::string& name) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  spdlog::set_default_logger(spdlog::stderr_logger_mt(name));
}

namespace {
// Formats each log line as one JSON object; the message is escaped by the
// JSON library, so quotes or newlines in it cannot break the line apart.
class JsonFormatter : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since_epoch = msg.time.time_since_epoch();
    const int64_t micros = std::chrono::duration_cast<std::chrono::microseconds>(since_epoch).count();
    const std::string time = absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", absl::FromUnixMicros(micros), absl::UTCTimeZone());
    nlohmann::json line = {
        {"time", time},
        {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                              spdlog::level::to_string_view(msg.level).size())},
        {"logger", std::string(msg.logger_name.data(), msg.logger_name.size())},
        {"message", std::string(msg.payload.data(), msg.payload.size())},
        {"thread", msg.thread_id},
    };
    const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    dest.append(text.data(), text.data() + text.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};
}  // namespace

absl::Status ConfigureLogging(const ServerFlags& flags) {
  const spdlog::level::level_enum level = spdlog::level::from_str(flags.log_level);
  if (level == spdlog::level::off && flags.log_level != "off")
    return absl::InvalidArgumentError(
        fmt::format("--log-level '{}': trace, debug, info, warn, error or off", flags.log_level));
  spdlog::set_level(level);
  const std::string& format = flags.log_format;
  if (format == "text" || format.empty()) return absl::OkStatus();
  if (format != "json") return absl::InvalidArgumentError(fmt::format("--log-format '{}': text or json", format));
  spdlog::set_formatter(std::make_unique<JsonFormatter>());
  return absl::OkStatus();
}

int Fail(const std::string& what, const absl::Status& status) {
  std::cerr << what << ": " << status.message() << std::endl;
  return 1;
}

}  // namespace strata::hosting
