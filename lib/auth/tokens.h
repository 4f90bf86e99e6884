// strata_auth: who is calling. Bearer tokens from a YAML token file:
//
//   tokens:
//     - {token: s3cr3t, user: alice, site: boston, roles: [developer]}
//     - {token: t0p, user: dana, site: hq, roles: [dba], db_role: dana_dba}
//     - {cert_subject: "CN=ci-deployer,O=Acme", user: ci, roles: [release-manager]}
//
// An entry has a token, a cert_subject (mTLS: the client certificate's
// subject as gRPC reports it, RFC 2253 order, e.g. `openssl x509 -noout
// -subject -nameopt RFC2253`), or both.
// Optional keys: site (defaults to the server's --site), roles (default
// [developer]), schemas and environments (scopes; absent = unrestricted),
// db_role, delegate. Tokens are kept only as SHA-256 digests in memory.
//
// Delegation: an entry with `delegate: true` (the web console's own
// identity) may call on behalf of a user who proved a client certificate to
// it, by sending `strata-on-behalf-of: SUBJECT` beside its own credentials;
// the call then runs as that certificate's entry (its roles and scopes, its
// name in the audit trail). Only certificate entries can be acted for: a
// delegate never learns or needs another user's token.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace strata::auth {

struct Principal {
  std::string user;
  std::string site;
  std::vector<std::string> roles;
  std::vector<std::string> schemas;       // empty: all schemas
  std::vector<std::string> environments;  // empty: all environments
  std::string db_role;
  bool delegate = false;  // may act for certificate users (see above)

  bool HasRole(std::string_view role) const;
  bool HasAnyRole(std::initializer_list<std::string_view> roles) const;
  // Whether the schema scope admits an object named `qualified_name`
  // ("billing.invoices"; schemas and extensions: their bare name). Patterns
  // are shell globs ("billing.*", "sales.order_*"); no patterns: any object.
  bool InSchemaScope(std::string_view qualified_name) const;
  // Whether the environment scope admits `environment` (globs too).
  bool InEnvironmentScope(std::string_view environment) const;
};

// The roles Strata knows, from least to most privileged.
const std::vector<std::string>& KnownRoles();

class TokenStore {
 public:
  // Parses a token file's text. INVALID_ARGUMENT names the bad entry.
  static absl::StatusOr<std::shared_ptr<TokenStore>> Parse(std::string_view yaml,
                                                           std::string_view default_site);
  static absl::StatusOr<std::shared_ptr<TokenStore>> LoadFile(const std::string& path,
                                                              std::string_view default_site);

  // Resolves the value of an `authorization` header ("Bearer TOKEN").
  // UNAUTHENTICATED when it is missing, malformed or unknown.
  absl::StatusOr<Principal> Authenticate(std::string_view authorization) const ABSL_LOCKS_EXCLUDED(mu_);
  // Resolves a verified client certificate's subject (mTLS).
  // UNAUTHENTICATED when no entry names it.
  absl::StatusOr<Principal> AuthenticateCertificate(std::string_view subject) const ABSL_LOCKS_EXCLUDED(mu_);

  // Adds a token known only to this process (not in the file; kept across
  // reloads): strata-server's own console uses one as its delegate identity.
  void AddProcessToken(std::string_view token, Principal who) ABSL_LOCKS_EXCLUDED(mu_);

  // Replaces the tokens with those of the file at `path`, atomically: calls
  // in flight see the old set or the new one. On error the old set stays.
  absl::Status ReloadFile(const std::string& path, std::string_view default_site) ABSL_LOCKS_EXCLUDED(mu_);

  // The database role of `user` (the token file's db_role; default: the
  // user name), for the guard in environments' databases.
  std::string DbRoleOf(std::string_view user) const ABSL_LOCKS_EXCLUDED(mu_);

  // How many entries the file had.
  size_t size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;  // guards every member below: writes hold it exclusively, lookups shared
  std::unordered_map<std::string, Principal> by_digest_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, Principal> by_subject_ ABSL_GUARDED_BY(mu_);
  std::unordered_map<std::string, Principal> process_by_digest_ ABSL_GUARDED_BY(mu_);  // AddProcessToken's
  size_t entries_ ABSL_GUARDED_BY(mu_) = 0;
};

// Hex SHA-256 of `data` (OpenSSL).
std::string Sha256Hex(std::string_view data);

}  // namespace strata::auth
