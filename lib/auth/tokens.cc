#include "auth/tokens.h"

#include <fnmatch.h>
#include <openssl/sha.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace strata::auth {

const std::vector<std::string>& KnownRoles() {
  static const std::vector<std::string> kRoles = {"viewer", "developer", "dba", "release-manager",
                                                  "admin"};
  return kRoles;
}

bool Principal::HasRole(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}
bool Principal::HasAnyRole(std::initializer_list<std::string_view> wanted) const {
  return std::any_of(wanted.begin(), wanted.end(), [&](std::string_view r) { return HasRole(r); });
}

namespace {
bool AnyGlobMatches(const std::vector<std::string>& patterns, std::string_view text) {
  if (patterns.empty()) return true;
  const std::string t(text);
  return std::any_of(patterns.begin(), patterns.end(),
                     [&](const std::string& p) { return fnmatch(p.c_str(), t.c_str(), 0) == 0; });
}
}  // namespace

bool Principal::InSchemaScope(std::string_view qualified_name) const {
  return AnyGlobMatches(schemas, qualified_name);
}

bool Principal::InEnvironmentScope(std::string_view environment) const {
  return AnyGlobMatches(environments, environment);
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  // Every request hashes its token: no formatting library per byte.
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(2 * SHA256_DIGEST_LENGTH, '0');
  for (int i = 0; i < SHA256_DIGEST_LENGTH; ++i) {
    hex[2 * i] = kDigits[digest[i] >> 4];
    hex[2 * i + 1] = kDigits[digest[i] & 0xf];
  }
  return hex;
}

namespace {

absl::StatusOr<std::vector<std::string>> StringList(const YAML::Node& node, const char* key,
                                                    size_t index) {
  std::vector<std::string> out;
  const YAML::Node list = node[key];
  if (!list) return out;
  if (!list.IsSequence())
    return absl::InvalidArgumentError(fmt::format("token entry {}: '{}' must be a list", index + 1, key));
  for (const auto& item : list) out.push_back(item.as<std::string>());
  return out;
}

absl::Status ParseYaml(const YAML::Node& root, std::string_view default_site,
                       std::unordered_map<std::string, Principal>* by_digest,
                       std::unordered_map<std::string, Principal>* by_subject) {
  const YAML::Node tokens = root["tokens"];
  if (!tokens || !tokens.IsSequence())
    return absl::InvalidArgumentError("token file needs a 'tokens:' list");
  for (size_t i = 0; i < tokens.size(); ++i) {
    const YAML::Node t = tokens[i];
    if (!t.IsMap())
      return absl::InvalidArgumentError(fmt::format("token entry {} must be a map of keys", i + 1));
    if ((!t["token"] && !t["cert_subject"]) || !t["user"])
      return absl::InvalidArgumentError(
          fmt::format("token entry {} needs 'user' and 'token' or 'cert_subject'", i + 1));
    const std::string token = t["token"] ? t["token"].as<std::string>() : "";
    const std::string subject = t["cert_subject"] ? t["cert_subject"].as<std::string>() : "";
    Principal p;
    p.user = t["user"].as<std::string>();
    if ((t["token"] && token.empty()) || (t["cert_subject"] && subject.empty()) || p.user.empty())
      return absl::InvalidArgumentError(fmt::format("token entry {}: empty token, cert_subject or user", i + 1));
    p.site = t["site"] ? t["site"].as<std::string>() : std::string(default_site);
    p.db_role = t["db_role"] ? t["db_role"].as<std::string>() : p.user;
    auto roles = StringList(t, "roles", i);
    auto schemas = StringList(t, "schemas", i);
    auto envs = StringList(t, "environments", i);
    for (const auto* r : {&roles, &schemas, &envs})
      if (!r->ok()) return r->status();
    p.roles = roles->empty() ? std::vector<std::string>{"developer"} : *roles;
    for (const auto& r : p.roles) {
      const auto& known = KnownRoles();
      if (std::find(known.begin(), known.end(), r) == known.end())
        return absl::InvalidArgumentError(fmt::format(
            "token entry {} ({}): unknown role '{}'; roles are viewer, developer, dba, "
            "release-manager, admin", i + 1, p.user, r));
    }
    p.schemas = *schemas;
    p.environments = *envs;
    p.delegate = t["delegate"] && t["delegate"].as<bool>();
    if (!subject.empty() && !by_subject->emplace(subject, p).second)
      return absl::InvalidArgumentError(fmt::format("token entry {}: duplicate cert_subject", i + 1));
    if (!token.empty() && !by_digest->emplace(Sha256Hex(token), std::move(p)).second)
      return absl::InvalidArgumentError(fmt::format("token entry {}: duplicate token", i + 1));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<TokenStore>> TokenStore::Parse(std::string_view yaml,
                                                              std::string_view default_site) {
  auto store = std::make_shared<TokenStore>();
  TokenStore& fresh = *store;
  try {
    YAML::Node root = YAML::Load(std::string(yaml));
    absl::MutexLock lock(&fresh.mu_);  // nobody else has `store` yet: uncontended, for the analysis
    if (absl::Status s = ParseYaml(root, default_site, &fresh.by_digest_, &fresh.by_subject_); !s.ok())
      return s;
    fresh.entries_ = root["tokens"].size();
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(fmt::format("token file: {}", e.what()));
  }
  return store;
}

absl::StatusOr<std::shared_ptr<TokenStore>> TokenStore::LoadFile(const std::string& path,
                                                                 std::string_view default_site) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(fmt::format("cannot read token file {}", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto store = Parse(ss.str(), default_site);
  if (!store.ok())
    return absl::InvalidArgumentError(fmt::format("{}: {}", path, std::string(store.status().message())));
  return store;
}

absl::Status TokenStore::ReloadFile(const std::string& path, std::string_view default_site) {
  auto fresh = LoadFile(path, default_site);
  if (!fresh.ok()) return fresh.status();
  TokenStore& from = **fresh;
  // Nobody else has `from`: its lock is uncontended (and always taken
  // before mu_); the old maps are freed with it, after both are released.
  absl::MutexLock from_lock(&from.mu_);
  absl::MutexLock lock(&mu_);
  by_digest_.swap(from.by_digest_);
  by_subject_.swap(from.by_subject_);
  entries_ = from.entries_;
  return absl::OkStatus();
}

void TokenStore::AddProcessToken(std::string_view token, Principal who) {
  absl::MutexLock lock(&mu_);
  process_by_digest_[Sha256Hex(token)] = std::move(who);
}

size_t TokenStore::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return entries_;
}

absl::StatusOr<Principal> TokenStore::Authenticate(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.empty())
    return absl::UnauthenticatedError(
        "no credentials: send 'authorization: Bearer TOKEN' (strata --token or STRATA_TOKEN)");
  if (!authorization.starts_with(kBearer) || authorization.size() == kBearer.size())
    return absl::UnauthenticatedError("the authorization header must be 'Bearer TOKEN'");
  const std::string digest = Sha256Hex(authorization.substr(kBearer.size()));
  absl::ReaderMutexLock lock(&mu_);
  auto it = by_digest_.find(digest);
  if (it == by_digest_.end()) {
    it = process_by_digest_.find(digest);
    if (it == process_by_digest_.end()) return absl::UnauthenticatedError("unknown token");
  }
  return it->second;
}

std::string TokenStore::DbRoleOf(std::string_view user) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto* map : {&by_digest_, &by_subject_})
    for (const auto& [key, p] : *map)
      if (p.user == user) return p.db_role;
  return std::string(user);
}

absl::StatusOr<Principal> TokenStore::AuthenticateCertificate(std::string_view subject) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = by_subject_.find(std::string(subject));
  if (it == by_subject_.end())
    return absl::UnauthenticatedError(fmt::format(
        "client certificate '{}' is not mapped to a user (cert_subject in the token file); send a token instead",
        subject));
  return it->second;
}

}  // namespace strata::auth
