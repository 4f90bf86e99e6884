// Where a schema comes from, and its catalog model.
//
// A source is a postgres:// (or postgresql://) URL, read directly; or a .sql
// file or a folder of .sql files (all of them below it, in path order), loaded
// into a shadow database that is created for the purpose on the shadow server
// and dropped afterwards, whatever happens, so both sides of a diff are
// canonicalized by PostgreSQL itself.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "schemadiff/catalog.h"

namespace pg_query {
class Node;
}

namespace strata::schemadiff {

struct ShadowOptions {
  // Connection string of a database on the shadow server (the engine creates
  // and drops its own databases there; the role needs CREATEDB, and whatever
  // the SQL needs, e.g. the right to create its extensions).
  // "" = libpq's defaults (PGHOST, PGUSER, ... or the local socket), database postgres.
  std::string server;
  // A shadow kept for the life of a service (the lock service's prover). It
  // may have no connection for a while (after the server restarts), so other
  // processes never drop it as left behind; one of a killed service stays.
  bool long_lived = false;
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

// Ownership and privilege statements (GRANT, REVOKE, ALTER ... OWNER TO):
// environment-specific, not part of the model, and naming roles a shadow
// server may not have, so shadows do not run them.
bool IsOwnershipOrPrivilegeStatement(const pg_query::Node& stmt);

// The catalog model of a source. Errors: NOT_FOUND (no such file/folder),
// INVALID_ARGUMENT (SQL that PostgreSQL refuses: "file:line:column: message"),
// FAILED_PRECONDITION (e.g. an extension the shadow server does not have),
// UNAVAILABLE (a server that cannot be reached).
absl::StatusOr<Catalog> LoadCatalog(const std::string& spec, const ShadowOptions& shadow);

// Both sources at once (two shadow databases load in parallel).
absl::StatusOr<std::pair<Catalog, Catalog>> LoadCatalogs(const std::string& from, const std::string& to,
                                                         const ShadowOptions& shadow);

}  // namespace strata::schemadiff
