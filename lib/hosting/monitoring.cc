#include "hosting/monitoring.h"

#include <httplib.h>

#include "fmt/format.h"
#include "hosting/hosting.h"
#include "projection/projection.h"
#include "spdlog/spdlog.h"

namespace strata::hosting {
namespace {

// "/strata.v1.LockService/CheckOut" -> {"strata.v1.LockService", "CheckOut"}.
std::pair<std::string, std::string> SplitMethod(const char* full) {
  std::string_view m = full ? full : "";
  if (!m.empty() && m.front() == '/') m.remove_prefix(1);
  const size_t slash = m.find('/');
  if (slash == std::string_view::npos) return {std::string(m), ""};
  return {std::string(m.substr(0, slash)), std::string(m.substr(slash + 1))};
}

const char* CodeName(grpc::StatusCode code) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i <= 16 ? kNames[i] : "UNKNOWN";
}

class RequestMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  RequestMetricsInterceptor(grpc::experimental::ServerRpcInfo* info, metrics::Registry& registry)
      : registry_(registry), start_(absl::Now()) {
    std::tie(service_, method_) = SplitMethod(info->method());
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      registry_
          .GetCounter("strata_grpc_requests_total", "gRPC requests handled, by service, method and status code",
                      {{"service", service_}, {"method", method_}, {"code", CodeName(status.error_code())}})
          .Increment();
      registry_
          .GetHistogram("strata_grpc_request_duration_seconds", "gRPC request latency in seconds",
                        {{"service", service_}, {"method", method_}})
          .Observe(absl::ToDoubleSeconds(absl::Now() - start_));
    }
    methods->Proceed();
  }

 private:
  metrics::Registry& registry_;
  const absl::Time start_;
  std::string service_, method_;
};

class RequestMetricsFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit RequestMetricsFactory(metrics::Registry& registry) : registry_(registry) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(grpc::experimental::ServerRpcInfo* info) override {
    return new RequestMetricsInterceptor(info, registry_);
  }

 private:
  metrics::Registry& registry_;
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRequestMetricsInterceptorFactory(
    metrics::Registry& registry) {
  return std::make_unique<RequestMetricsFactory>(registry);
}

ServerMonitor::ServerMonitor(eventlog::EventLog* log, metrics::Registry& registry, absl::Duration ready_grace)
    : log_(log), registry_(registry), ready_grace_(ready_grace) {
  collector_id_ = registry_.AddCollector([this](metrics::GaugeSink& sink) { Collect(sink); });
}

ServerMonitor::~ServerMonitor() {
  Stop();
  registry_.RemoveCollector(collector_id_);
}

void ServerMonitor::WatchProjection(const std::string& name, projection::ProjectionRunner* runner) {
  absl::MutexLock lock(&mu_);
  watched_.push_back({name, runner});
}

void ServerMonitor::RefreshEndOffsets() {
  std::vector<int64_t> end(log_->partitions(), -1);
  for (int32_t p = 0; p < log_->partitions() && !stopping_.load(); ++p) {
    auto offset = log_->EndOffset(p);
    if (!offset.ok()) break;  // the log does not answer: no point asking for the others
    end[p] = *offset;
  }
  absl::MutexLock lock(&mu_);
  end_offsets_ = std::move(end);
  end_offsets_read_ = absl::Now();
}

std::vector<ServerMonitor::Lag> ServerMonitor::Measure() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  std::vector<int64_t> end = end_offsets_;
  end.resize(log_->partitions(), -1);
  // A reading older than the grace period says nothing about now.
  const bool fresh = now - end_offsets_read_ <= ready_grace_;
  std::vector<Lag> lags;
  for (Watched& w : watched_) {
    Lag lag;
    lag.name = w.name;
    const absl::Status health = w.runner->health();
    lag.healthy = health.ok();
    lag.error = std::string(health.message());
    const projection::RunnerStats stats = w.runner->stats();
    lag.events_applied = stats.events_applied;
    lag.end_offsets = end;
    lag.next_offsets = stats.next_offsets;
    lag.next_offsets.resize(end.size(), 0);
    bool known = fresh;
    for (size_t p = 0; p < end.size(); ++p) {
      if (end[p] < 0) known = false;
      else lag.total += std::max<int64_t>(0, end[p] - lag.next_offsets[p]);
    }
    if (!known) {
      lag.healthy = false;
      if (lag.error.empty()) lag.error = "the log's end offsets cannot be read";
    }
    if (lag.healthy && lag.total == 0) w.last_caught_up = now;
    lags.push_back(std::move(lag));
  }
  return lags;
}

ServerMonitor::Readiness ServerMonitor::CheckReadiness() {
  const std::vector<Lag> lags = Measure();
  Readiness r;
  r.ready = true;
  absl::MutexLock lock(&mu_);
  const absl::Time now = absl::Now();
  for (size_t i = 0; i < lags.size(); ++i) {
    const Lag& lag = lags[i];
    const bool recent = now - watched_[i].last_caught_up <= ready_grace_;
    if (!lag.healthy) {
      r.ready = false;
      r.detail += fmt::format("{}: stopped: {}\n", lag.name, lag.error);
    } else if (!recent) {
      r.ready = false;
      r.detail += fmt::format("{}: {} records behind the log\n", lag.name, lag.total);
    } else {
      r.detail += fmt::format("{}: caught up ({} records behind now)\n", lag.name, lag.total);
    }
  }
  return r;
}

void ServerMonitor::Collect(metrics::GaugeSink& sink) {
  const std::vector<Lag> lags = Measure();
  if (!lags.empty()) {
    const std::vector<int64_t>& end = lags.front().end_offsets;  // one reading for all projections
    for (size_t p = 0; p < end.size(); ++p)
      sink.Gauge("strata_log_end_offset", "the log's end offset (high watermark) per partition; -1: unreadable",
                 {{"partition", std::to_string(p)}}, end[p]);
  }
  for (const Lag& lag : lags) {
    const metrics::Labels who = {{"projection", lag.name}};
    sink.Gauge("strata_projection_healthy", "1 while the projection applies the log, 0 after it stopped on an error",
               who, lag.healthy ? 1 : 0);
    sink.CounterValue("strata_projection_events_applied_total",
                      "events applied to the projection since the server started", who, lag.events_applied);
    sink.Gauge("strata_projection_lag", "records in the log the projection has not applied yet (all partitions)", who,
               lag.total);
    for (size_t p = 0; p < lag.end_offsets.size(); ++p) {
      const metrics::Labels labels = {{"projection", lag.name}, {"partition", std::to_string(p)}};
      sink.Gauge("strata_projection_next_offset", "next offset the projection will apply, per partition", labels,
                 lag.next_offsets[p]);
      sink.Gauge("strata_projection_lag_records", "records behind the log's end, per partition", labels,
                 std::max<int64_t>(0, lag.end_offsets[p] - lag.next_offsets[p]));
    }
  }
}

absl::StatusOr<int> ServerMonitor::StartHttp(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos)
    return absl::InvalidArgumentError(fmt::format("--metrics-listen '{}' is not host:port", address));
  const std::string host = address.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(address.substr(colon + 1));
  } catch (...) {
    return absl::InvalidArgumentError(fmt::format("--metrics-listen '{}' has no port number", address));
  }
  http_ = std::make_unique<httplib::Server>();
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry_.Render(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http_->Get("/healthz", [](const httplib::Request&, httplib::Response& res) { res.set_content("ok\n", "text/plain"); });
  http_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    const Readiness r = CheckReadiness();
    res.status = r.ready ? 200 : 503;
    res.set_content(r.detail, "text/plain");
  });
  if (port == 0) {
    port = http_->bind_to_any_port(host);
  } else if (!http_->bind_to_port(host, port)) {
    port = -1;
  }
  if (port <= 0) return absl::UnavailableError(fmt::format("cannot listen for metrics on {}", address));
  http_thread_ = std::thread([this] { http_->listen_after_bind(); });
  // stop() is a no-op until the server runs: wait for it, so Stop() always ends it.
  for (int i = 0; i < 500 && !http_->is_running(); ++i) absl::SleepFor(absl::Milliseconds(2));
  return port;
}

void ServerMonitor::Start() {
  RefreshEndOffsets();
  // Two threads: reading the log's end may block for seconds when the
  // brokers are gone, and that must not keep the health status from
  // following (a stale reading makes the server unready).
  thread_ = std::thread([this] { Every(absl::Seconds(1), [this] { RefreshEndOffsets(); }); });
  serving_thread_ = std::thread([this] { Every(absl::Seconds(1), [this] { UpdateServing(); }); });
}

void ServerMonitor::Every(absl::Duration period, const std::function<void()>& work) {
  while (!stopping_.load()) {
    for (absl::Duration slept; slept < period && !stopping_.load(); slept += absl::Milliseconds(100))
      absl::SleepFor(absl::Milliseconds(100));
    if (!stopping_.load()) work();
  }
}

void ServerMonitor::UpdateServing() {
  GrpcServer* server = nullptr;
  std::vector<std::string> services;
  {
    absl::MutexLock lock(&mu_);
    server = grpc_;
    services = grpc_services_;
  }
  if (!server) return;
  absl::MutexLock serving_lock(&serving_mu_);
  const bool ready = CheckReadiness().ready;
  if (static_cast<int>(ready) == serving_) return;
  for (const auto& s : services) server->SetServing(s, ready);
  server->SetServing("", ready);
  if (serving_ != -1) spdlog::info("readiness: {}", ready ? "caught up with the log, serving" : "behind the log");
  serving_ = ready;
}

void ServerMonitor::FollowReadiness(GrpcServer* server, std::vector<std::string> services) {
  {
    absl::MutexLock lock(&mu_);
    grpc_ = server;
    grpc_services_ = std::move(services);
  }
  // The first verdict is given before returning, so a server announced as
  // listening already answers health checks; the serving thread gives the later ones.
  RefreshEndOffsets();
  UpdateServing();
}

void ServerMonitor::Stop() {
  stopping_ = true;
  if (serving_thread_.joinable()) serving_thread_.join();
  if (thread_.joinable()) thread_.join();
  if (http_) http_->stop();
  if (http_thread_.joinable()) http_thread_.join();
}

}  // namespace strata::hosting
