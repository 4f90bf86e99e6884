// The history service: every version of every object, the audit trail with
// its hash chain, and baselines (design.md). It projects the whole log and
// decides one thing itself: baseline creation (aggregate "baseline:<name>",
// seq 1, so a name is taken exactly once across all sites).
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "auth/tokens.h"
#include "eventlog/event_log.h"
#include "history/audit_feed.h"
#include "history/history_projection.h"
#include "projection/projection.h"
#include "strata/v1/history.grpc.pb.h"

namespace strata::history {

struct HistoryModuleOptions {
  std::string data_dir;  // the projection's RocksDB lives in <data_dir>/history
  std::string site;
  bool rebuild = false;
  absl::Duration apply_timeout = absl::Seconds(10);
  // RocksDB memory shared with the other projections of the process (see
  // projection/shared_memory.h); nullptr: the store's own cache and memtables.
  std::shared_ptr<projection::SharedMemory> shared_memory = nullptr;
};

class HistoryServiceImpl;

class HistoryModule {
 public:
  static absl::StatusOr<std::unique_ptr<HistoryModule>> Open(
      HistoryModuleOptions options, eventlog::EventLog* log, std::shared_ptr<auth::TokenStore> tokens);
  ~HistoryModule();

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
  HistoryModule() = default;
  HistoryModuleOptions options_;
  // Before the projection that publishes to it and the service whose
  // watchers read it, so it outlives both.
  AuditFeed feed_;
  std::atomic<bool> stopping_{false};  // ends WatchAudit calls
  std::unique_ptr<HistoryProjection> projection_;
  std::unique_ptr<projection::ProjectionRunner> runner_;
  std::unique_ptr<HistoryServiceImpl> service_;
};

}  // namespace strata::history
