// The impact service (design.md): a read side that projects check-ins into
// a dependency graph and answers what depends on what, what a proposed
// change breaks, how risky it is, and in which order a set of objects is
// created.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "auth/tokens.h"
#include "eventlog/event_log.h"
#include "impact/impact_projection.h"
#include "projection/projection.h"

namespace grpc {
class Service;
}

namespace strata::impact {

struct ImpactModuleOptions {
  std::string data_dir;  // the projection's RocksDB lives in <data_dir>/impact
  std::string site;
  bool rebuild = false;
  // How unqualified names in definitions resolve (PostgreSQL's search_path).
  std::vector<std::string> search_path = {"public"};
  absl::Duration apply_timeout = absl::Seconds(10);
  // RocksDB memory shared with the other projections of the process (see
  // projection/shared_memory.h); nullptr: the store's own cache and memtables.
  std::shared_ptr<projection::SharedMemory> shared_memory = nullptr;
};

class ImpactServiceImpl;

class ImpactModule {
 public:
  static absl::StatusOr<std::unique_ptr<ImpactModule>> Open(
      ImpactModuleOptions options, eventlog::EventLog* log, std::shared_ptr<auth::TokenStore> tokens);
  ~ImpactModule();

  // Starts the projection's replay of the log and returns at once; Start
  // then waits for it. A server hosting several services starts every
  // replay first, so that they share the cores instead of taking turns.
  absl::Status StartReplay();
  // Starts the projection (if StartReplay did not) and waits until it has
  // caught up with the log.
  absl::Status Start(absl::Duration catch_up_timeout);
  void Stop();

  grpc::Service* service();
  projection::ProjectionRunner* runner() { return runner_.get(); }

 private:
  ImpactModule() = default;
  ImpactModuleOptions options_;
  std::unique_ptr<ImpactProjection> projection_;
  std::unique_ptr<projection::ProjectionRunner> runner_;
  std::unique_ptr<ImpactServiceImpl> service_;
};

}  // namespace strata::impact
