// The console's side of the four services: stubs, a call context carrying
// the user's token, and when each service last answered (for the page that
// says which service is down and since when).
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <array>
#include <atomic>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "console/console.h"
#include "console/session.h"
#include "strata/v1/deploy.grpc.pb.h"
#include "strata/v1/history.grpc.pb.h"
#include "strata/v1/impact.grpc.pb.h"
#include "strata/v1/lock.grpc.pb.h"

namespace strata::console {

enum class Service { kLock = 0, kHistory = 1, kImpact = 2, kDeploy = 3 };
const char* ServiceName(Service s);  // "lock", ...

// A failed call: which service, and what it said.
struct CallError {
  Service service;
  grpc::Status status;
};

class Backend {
 public:
  explicit Backend(ServiceChannels channels);

  v1::LockService::Stub& lock() { return *lock_; }
  v1::HistoryService::Stub& history() { return *history_; }
  v1::ImpactService::Stub& impact() { return *impact_; }
  v1::DeployService::Stub& deploy() { return *deploy_; }

  // A context for one call on behalf of `who`.
  static std::unique_ptr<grpc::ClientContext> Context(const Credential& who,
                                                      absl::Duration deadline = absl::Seconds(10));
  // Notes the outcome of a call to `service` (UNAVAILABLE: not reached;
  // anything else: reached) and returns `status`.
  grpc::Status Track(Service service, grpc::Status status);
  // When `service` last answered (InfinitePast: never since the start).
  absl::Time LastReached(Service service) const;
  const std::string& Endpoint(Service service) const { return names_[static_cast<int>(service)]; }

 private:
  std::unique_ptr<v1::LockService::Stub> lock_;
  std::unique_ptr<v1::HistoryService::Stub> history_;
  std::unique_ptr<v1::ImpactService::Stub> impact_;
  std::unique_ptr<v1::DeployService::Stub> deploy_;
  std::array<std::string, 4> names_;
  std::array<std::atomic<int64_t>, 4> last_reached_ns_;  // 0: never
};

}  // namespace strata::console
