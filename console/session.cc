#include "console/session.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>

#include "auth/tokens.h"

namespace strata::console {

bool Identity::HasAnyRole(std::initializer_list<std::string_view> wanted) const {
  return std::any_of(roles.begin(), roles.end(),
                     [&](const std::string& r) { return std::find(wanted.begin(), wanted.end(), r) != wanted.end(); });
}

std::string RandomHex32() {
  unsigned char bytes[32];
  // RAND_bytes fails only when the system's entropy source is gone: nothing
  // safe can be handed out then.
  if (RAND_bytes(bytes, sizeof bytes) != 1) std::abort();
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

bool SecretsEqual(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string SessionStore::Create(Credential credential, Identity who, absl::Time now) {
  std::string id = RandomHex32();
  Session s{std::move(credential), RandomHex32(), std::move(who), now + ttl_};
  absl::MutexLock lock(&mu_);
  // Expired sessions go when new ones come: the store stays as large as the
  // sessions of the last `ttl`.
  for (auto it = by_digest_.begin(); it != by_digest_.end();)
    it = it->second.expires <= now ? by_digest_.erase(it) : std::next(it);
  by_digest_[auth::Sha256Hex(id)] = std::move(s);
  return id;
}

std::optional<Session> SessionStore::Find(const std::string& id, absl::Time now) {
  if (id.size() != 64) return std::nullopt;
  absl::MutexLock lock(&mu_);
  auto it = by_digest_.find(auth::Sha256Hex(id));
  if (it == by_digest_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    by_digest_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

void SessionStore::Remove(const std::string& id) {
  absl::MutexLock lock(&mu_);
  by_digest_.erase(auth::Sha256Hex(id));
}

size_t SessionStore::size() {
  absl::MutexLock lock(&mu_);
  return by_digest_.size();
}

}  // namespace strata::console
