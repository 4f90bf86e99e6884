// Console sessions: what a signed-in browser's cookie stands for.
//
// A session id and its CSRF token are 32 random bytes each (hex); the store
// keys sessions by the SHA-256 of the id, so a memory dump does not hand out
// usable cookies for free. A session ends `ttl` after sign-in, at sign-out,
// or when the services stop accepting its token.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace strata::console {

struct Identity {
  std::string user, site, server_site;
  std::vector<std::string> roles, schemas, environments;
  bool HasAnyRole(std::initializer_list<std::string_view> roles) const;
};

// What the console sends the services for a user: the token the user
// signed in with, or (a user who proved a client certificate) the console's
// own delegate credentials and that certificate's subject.
struct Credential {
  std::string token;         // empty: the console's gRPC client certificate speaks for it
  std::string on_behalf_of;  // a client certificate's subject (RFC 2253); empty for token users
};

struct Session {
  Credential credential;
  std::string csrf;
  Identity who;
  absl::Time expires;
};

class SessionStore {
 public:
  explicit SessionStore(absl::Duration ttl) : ttl_(ttl) {}
  // Starts a session; returns its id (the cookie's value).
  std::string Create(Credential credential, Identity who, absl::Time now = absl::Now())
      ABSL_LOCKS_EXCLUDED(mu_);
  // The live session `id` names; nullopt when unknown or expired.
  std::optional<Session> Find(const std::string& id, absl::Time now = absl::Now()) ABSL_LOCKS_EXCLUDED(mu_);
  void Remove(const std::string& id) ABSL_LOCKS_EXCLUDED(mu_);
  size_t size() ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const absl::Duration ttl_;
  absl::Mutex mu_;  // guards by_digest_ (ttl_ is const: no lock)
  std::unordered_map<std::string, Session> by_digest_ ABSL_GUARDED_BY(mu_);
};

// 32 random bytes as 64 hex digits (OpenSSL's RAND_bytes).
std::string RandomHex32();
// Compares secrets in time that does not depend on where they differ.
bool SecretsEqual(std::string_view a, std::string_view b);

}  // namespace strata::console
