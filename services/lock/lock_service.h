// The lock service: decides check-out, check-in, undo and force-release of
// database objects through the event log (design.md, "Deciding on a log"),
// proving each check-in on PostgreSQL first when it has a shadow database.
//
// A command handler reads the object from its projection, validates, appends
// an event with seq = last seq + 1, waits until its own projection has applied
// that event, and answers from the recorded outcome. Any number of instances,
// in any region, may serve the same log: the accept rule makes exactly one of
// two racing commands win, identically on every instance.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "auth/tokens.h"
#include "eventlog/event_log.h"
#include "lock/lock_projection.h"
#include "projection/projection.h"
#include "strata/v1/lock.grpc.pb.h"

namespace strata::lock {

struct LockModuleOptions {
  std::string data_dir;  // the projection's RocksDB lives in <data_dir>/lock
  std::string site;      // this instance's site, recorded as origin_site
  bool rebuild = false;
  // How unqualified names in definitions resolve: a check-in must define the
  // object checked out, as PostgreSQL would name it with this search_path.
  std::vector<std::string> search_path = {"public"};
  // How long a handler waits for its event to be applied before answering
  // DEADLINE_EXCEEDED.
  absl::Duration apply_timeout = absl::Seconds(10);
  // PostgreSQL server for the proof at check-in (proof.h): Open creates a
  // database there (when it cannot, the service still runs, and every
  // check-in's answer says why it is parsed only). "": check-ins are parsed
  // only, and each answer says so.
  std::string shadow_url;
  // Larger definitions are refused, saying so (hosting/tls.h).
  int64_t max_definition_bytes = int64_t{8} << 20;
  // RocksDB memory shared with the other projections of the process (see
  // projection/shared_memory.h); nullptr: the store's own cache and memtables.
  std::shared_ptr<projection::SharedMemory> shared_memory = nullptr;
};

class LockServiceImpl;
class Prover;

// The lock projection, its runner and the gRPC service, as one unit that a
// server binary hosts.
class LockModule {
 public:
  static absl::StatusOr<std::unique_ptr<LockModule>> Open(LockModuleOptions options,
                                                          eventlog::EventLog* log,
                                                          std::shared_ptr<auth::TokenStore> tokens);
  ~LockModule();

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
  LockModule() = default;
  LockModuleOptions options_;
  OutcomeBoard board_;
  std::unique_ptr<LockProjection> projection_;
  std::unique_ptr<projection::ProjectionRunner> runner_;
  std::unique_ptr<Prover> prover_;  // null without a shadow_url, or when it failed
  std::string proof_unavailable_;   // why, when it failed
  std::unique_ptr<LockServiceImpl> service_;
};

}  // namespace strata::lock
