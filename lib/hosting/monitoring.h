// Observability of a Strata server: Prometheus metrics and health over HTTP
// (/metrics, /healthz, /readyz), gRPC request metrics, and readiness.
//
// Readiness means "the projections have caught up with the log": every
// watched projection runner is healthy and has applied every record up to
// the log's end offsets, now or within the last `ready_grace` (a busy log is
// never exactly caught up at the instant of a probe). The gRPC health
// service follows the same readiness.
#pragma once

#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "eventlog/event_log.h"
#include "metrics/metrics.h"

namespace httplib {
class Server;
}
namespace strata::projection {
class ProjectionRunner;
}

namespace strata::hosting {

class GrpcServer;

// Counts every RPC by service, method and status code
// (strata_grpc_requests_total) and times it
// (strata_grpc_request_duration_seconds).
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewRequestMetricsInterceptorFactory(
    metrics::Registry& registry);

class ServerMonitor {
 public:
  explicit ServerMonitor(eventlog::EventLog* log, metrics::Registry& registry = metrics::Registry::Default(),
                         absl::Duration ready_grace = absl::Seconds(10));
  ~ServerMonitor();

  // Watches a projection runner (not owned; must outlive Stop()).
  void WatchProjection(const std::string& name, projection::ProjectionRunner* runner) ABSL_LOCKS_EXCLUDED(mu_);

  struct Readiness {
    bool ready = false;
    std::string detail;  // one line per projection: lag or error
  };
  Readiness CheckReadiness() ABSL_LOCKS_EXCLUDED(mu_);

  // Starts the thread that reads the log's end offsets every second (probes
  // and scrapes use its latest reading and never wait for the log).
  void Start();
  // Serves /metrics, /healthz and /readyz on `address` (port 0: any free
  // port); returns the port.
  absl::StatusOr<int> StartHttp(const std::string& address);
  // From now on, marks `services` on `server` SERVING when ready and
  // NOT_SERVING otherwise (checked every second).
  void FollowReadiness(GrpcServer* server, std::vector<std::string> services)
      ABSL_LOCKS_EXCLUDED(mu_, serving_mu_);
  // Stops the HTTP server and the thread; idempotent.
  void Stop();

 private:
  struct Watched {
    std::string name;
    projection::ProjectionRunner* runner;
    absl::Time last_caught_up = absl::InfinitePast();
  };
  struct Lag {
    std::string name;
    bool healthy = true;
    std::string error;
    uint64_t events_applied = 0;
    std::vector<int64_t> end_offsets, next_offsets;
    int64_t total = 0;
  };
  std::vector<Lag> Measure() ABSL_LOCKS_EXCLUDED(mu_);
  void Collect(metrics::GaugeSink& sink) ABSL_LOCKS_EXCLUDED(mu_);
  void RefreshEndOffsets() ABSL_LOCKS_EXCLUDED(mu_);
  void UpdateServing() ABSL_LOCKS_EXCLUDED(mu_, serving_mu_);
  void Every(absl::Duration period, const std::function<void()>& work);

  eventlog::EventLog* log_;
  metrics::Registry& registry_;
  const absl::Duration ready_grace_;
  int collector_id_ = 0;
  // Guards watched_, end_offsets_, end_offsets_read_, grpc_ and grpc_services_;
  // taken after serving_mu_, and before a watched runner's own lock (Measure).
  absl::Mutex mu_;
  std::vector<Watched> watched_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<httplib::Server> http_;
  std::thread http_thread_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;          // reads the log's end offsets
  std::thread serving_thread_;  // keeps the gRPC health status in line
  // The log's end offsets as last read (-1: unreadable) and when.
  std::vector<int64_t> end_offsets_ ABSL_GUARDED_BY(mu_);
  absl::Time end_offsets_read_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  GrpcServer* grpc_ ABSL_GUARDED_BY(mu_) = nullptr;
  std::vector<std::string> grpc_services_ ABSL_GUARDED_BY(mu_);
  // UpdateServing runs on two threads: guards serving_; taken before mu_.
  absl::Mutex serving_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  int serving_ ABSL_GUARDED_BY(serving_mu_) = -1;
};

}  // namespace strata::hosting
