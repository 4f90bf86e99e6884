// Proof at check-in (issue 21): before the lock service accepts a version,
// PostgreSQL itself creates it, after the latest versions of the objects it
// depends on, in a transaction that is rolled back. What PostgreSQL refuses
// (3,000 columns, an unknown type, a foreign key to a column that is not
// unique, a view of a column the table lacks, a function body that does not
// compile) is the check-in's error, at its line and column in the submitted
// text.
//
// The database is created once, on the shadow server, when the lock service
// starts, and dropped when it stops; sessions to it are kept open between
// proofs. One a killed service left is dropped by the next shadow made on
// that server (ShadowOptions::long_lived); when this service's own is found
// gone, it makes a new one. It holds nothing between proofs: each proof creates what it needs
// from the projection's latest versions and rolls back, so the shadow can
// never lag behind the log, and a proof costs what the object's dependencies
// cost to create (milliseconds), not a load of the repository.
//
// Contract of Prove:
//  * `schemas` are created first (IF NOT EXISTS: schemas Strata does not
//    manage), then `dependencies` in the order given, then `definition`;
//    ownership and privilege statements are skipped (they name roles a
//    shadow server need not have). Function bodies are checked as
//    PostgreSQL checks them at creation (check_function_bodies on).
//  * INVALID_ARGUMENT: PostgreSQL refused `definition`; the message is
//    PostgreSQL's, with the 1-based line and column in `definition`.
//  * OK with proven = false and a note: a dependency did not load (not the
//    definition's fault), or the shadow server could not be reached; the
//    caller accepts the definition as parsed only and says why.
//
// Thread-safety: Prove may be called from many threads at once; each call
// uses its own session (a pool guarded by mu_). Concurrent proofs creating
// the same names wait on each other inside PostgreSQL until one rolls back.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "pg/pg.h"
#include "schemadiff/source.h"

namespace strata::lock {

class Prover {
 public:
  // Creates the proof database on the shadow server at `shadow_url`.
  // UNAVAILABLE when the server cannot be reached; FAILED_PRECONDITION when
  // it refuses CREATE DATABASE.
  static absl::StatusOr<std::unique_ptr<Prover>> Open(const std::string& shadow_url,
                                                       std::vector<std::string> search_path);

  struct Dependency {
    std::string label;  // the object id, for notes
    std::string sql;    // its latest definition
  };
  struct Result {
    bool proven = false;
    std::string note;  // why not, when not
  };
  absl::StatusOr<Result> Prove(const std::vector<std::string>& schemas, const std::vector<Dependency>& dependencies,
                               std::string_view definition);

  // "PostgreSQL 15.8" (of the shadow server), for answers.
  const std::string& server() const { return server_; }

 private:
  Prover() = default;
  absl::StatusOr<std::unique_ptr<pg::Session>> Acquire();
  void Release(std::unique_ptr<pg::Session> session);

  std::string shadow_url_;
  std::vector<std::string> search_path_;
  std::string server_;
  // Held only to take or put back a session, and to replace db_ (Acquire,
  // when the database is gone: the one blocking call under it).
  absl::Mutex mu_;
  std::unique_ptr<schemadiff::ShadowDatabase> db_ ABSL_GUARDED_BY(mu_);
  // Open sessions to db_ not in use; at most kIdle are kept.
  std::vector<std::unique_ptr<pg::Session>> idle_ ABSL_GUARDED_BY(mu_);
};

}  // namespace strata::lock
