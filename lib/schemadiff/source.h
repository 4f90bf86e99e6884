// Where a schema comes from, and its catalog model.
//
// A source is a postgres:// (or postgresql://) URL, read directly; or a .sql
// file or a folder of .sql files (all of them below it, in path order), loaded
// into a shadow database on the shadow server, so both sides of a diff are
// canonicalized by PostgreSQL itself. A shadow is one of the server's pooled
// databases (strata_shadow_pool_<n>, kept empty for reuse), loaded in a
// transaction that is never committed; or, where a load cannot run in one
// transaction (statements such as CREATE INDEX CONCURRENTLY, more new
// relations than the server's lock table should give one transaction) or the
// pool is busy, a database created for the purpose and dropped afterwards,
// whatever happens.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "pg/pg.h"
#include "schemadiff/catalog.h"

namespace pg_query {
class Node;
}

namespace strata::schemadiff {

class CatalogCache;  // definitions.h

struct ShadowOptions {
  // Connection string of a database on the shadow server (the engine creates
  // and drops its own databases there; the role needs CREATEDB, and whatever
  // the SQL needs, e.g. the right to create its extensions).
  // "" = libpq's defaults (PGHOST, PGUSER, ... or the local socket), database postgres.
  std::string server;
  // A shadow kept for the life of a service (the lock service's prover). It
  // may have no connection for a while, so age does not make it left
  // behind: the session that created it holds an advisory lock naming it
  // until it is dropped, and one nobody is connected to whose lock is free
  // (its service was killed, or lost its connection when the server
  // restarted) is dropped by the next shadow's creation or claim.
  bool long_lived = false;
  // Loads may use the pool (see above); false: always a database of their own.
  bool pool = true;
  // Catalogs of definition sets loaded before (LoadDefinitions), by content;
  // not owned, may be null.
  CatalogCache* cache = nullptr;
};

bool IsDatabaseUrl(const std::string& spec);

// A database on the shadow server (from template0) that exists while this
// object does: the destructor drops it, with any sessions still on it.
class ShadowDatabase {
 public:
  // UNAVAILABLE when the server cannot be reached, FAILED_PRECONDITION when
  // it refuses CREATE DATABASE.
  static absl::StatusOr<std::unique_ptr<ShadowDatabase>> Create(const ShadowOptions& options);
  ~ShadowDatabase();
  ShadowDatabase(const ShadowDatabase&) = delete;
  ShadowDatabase& operator=(const ShadowDatabase&) = delete;
  // Connection string of the shadow database.
  std::string url() const;

 private:
  ShadowDatabase(std::unique_ptr<pg::Session> admin, std::string admin_url, std::string name)
      : admin_(std::move(admin)), admin_url_(std::move(admin_url)), name_(std::move(name)) {}
  std::unique_ptr<pg::Session> admin_;
  std::string admin_url_, name_;
};

// A database of the shadow pool, claimed for one load. Its session holds an
// advisory lock in it (the claim) and is inside a transaction that is never
// committed: whatever the load creates goes when the session ends (the
// destructor, or PostgreSQL when a killed process's connection drops), and
// the database is empty for the next claim. Not thread-safe (one session).
class PooledShadow {
 public:
  // At most this many pooled databases on a server (claims beyond use a
  // database of their own).
  static constexpr int kMaxDatabases = 8;
  // The first pooled database nobody holds (created when missing), its
  // session in a transaction with check_function_bodies off; nullptr when
  // none can be had (all busy, the server unreachable, or a role that may
  // not create databases): the caller uses a ShadowDatabase and reports
  // what that says.
  static std::unique_ptr<PooledShadow> Claim(const ShadowOptions& options);
  ~PooledShadow();
  PooledShadow(const PooledShadow&) = delete;
  PooledShadow& operator=(const PooledShadow&) = delete;
  pg::Session& session() { return *session_; }
  // Whether a load estimated to lock `relations` new relations stays within
  // half of the server's shared lock table (max_locks_per_transaction *
  // (max_connections + max_prepared_transactions)): one transaction holds
  // each lock until it ends, and other sessions need the rest.
  bool Fits(long long relations) const { return relations <= lock_budget_; }
  std::string name() const { return name_; }

 private:
  PooledShadow(std::unique_ptr<pg::Session> session, std::string name, long long lock_budget)
      : session_(std::move(session)), name_(std::move(name)), lock_budget_(lock_budget) {}
  std::unique_ptr<pg::Session> session_;
  std::string name_;
  long long lock_budget_;
};

// Ownership and privilege statements (GRANT, REVOKE, ALTER ... OWNER TO):
// environment-specific, not part of the model, and naming roles a shadow
// server may not have, so shadows do not run them.
bool IsOwnershipOrPrivilegeStatement(const pg_query::Node& stmt);

// An estimate of the relations `stmt` creates, each a lock one transaction
// holds until it ends (PooledShadow::Fits): a table counts as three (itself,
// its TOAST table and that one's index), anything else as at most one (an
// index, a sequence, a view, a key's index).
long long RelationsCreated(const pg_query::Node& stmt);

// The catalog model of a source. Errors: NOT_FOUND (no such file/folder),
// INVALID_ARGUMENT (SQL that PostgreSQL refuses: "file:line:column: message"),
// FAILED_PRECONDITION (e.g. an extension the shadow server does not have),
// UNAVAILABLE (a server that cannot be reached).
absl::StatusOr<Catalog> LoadCatalog(const std::string& spec, const ShadowOptions& shadow);

// Both sources at once (two shadow databases load in parallel).
absl::StatusOr<std::pair<Catalog, Catalog>> LoadCatalogs(const std::string& from, const std::string& to,
                                                         const ShadowOptions& shadow);

}  // namespace strata::schemadiff
