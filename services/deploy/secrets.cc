#include "deploy/secrets.h"

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "fmt/format.h"
#include "pg/pg.h"

namespace strata::deploy {
namespace {

bool IsUrl(const std::string& s) { return s.rfind("postgres://", 0) == 0 || s.rfind("postgresql://", 0) == 0; }

std::string PercentEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string EnvVarName(const std::string& env) {
  std::string v = "STRATA_ENV_";
  for (char c : env) v.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  return v + "_PASSWORD";
}

}  // namespace

bool UrlHasPassword(const std::string& url) { return pg::HasPassword(url); }

std::string WithPassword(const std::string& url, const std::string& password) {
  if (password.empty() || UrlHasPassword(url)) return url;
  if (IsUrl(url)) {
    const size_t start = url.find("://") + 3;
    const size_t at = url.find('@', start);
    const size_t slash = url.find('/', start);
    if (at == std::string::npos || (slash != std::string::npos && slash < at)) return url;  // no user: libpq's
    return url.substr(0, at) + ":" + PercentEncode(password) + url.substr(at);
  }
  std::string quoted;
  for (char c : password) {
    if (c == '\\' || c == '\'') quoted.push_back('\\');
    quoted.push_back(c);
  }
  return url + " password='" + quoted + "'";
}

absl::StatusOr<std::shared_ptr<const Secrets>> Secrets::Parse(const std::string& yaml) {
  auto secrets = std::make_shared<Secrets>();
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(fmt::format("secrets file: {}", e.what()));
  }
  if (!root || root.IsNull()) return secrets;
  if (!root.IsMap()) return absl::InvalidArgumentError("secrets file: expected a map with 'environments'");
  if (const YAML::Node envs = root["environments"]; envs) {
    if (!envs.IsMap()) return absl::InvalidArgumentError("secrets file: 'environments' must be a map");
    for (const auto& kv : envs) {
      const std::string name = kv.first.as<std::string>();
      if (!kv.second.IsMap() || !kv.second["password"])
        return absl::InvalidArgumentError(
            fmt::format("secrets file: environment '{}' needs {{password: ...}}", name));
      secrets->passwords_[name] = kv.second["password"].as<std::string>();
    }
  }
  if (const YAML::Node s = root["shadow_url"]; s) secrets->shadow_url_ = s.as<std::string>();
  return secrets;
}

absl::StatusOr<std::shared_ptr<const Secrets>> Secrets::Load(const std::string& path) {
  if (path.empty()) return std::make_shared<const Secrets>();
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(fmt::format("cannot read the secrets file {}", path));
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = Parse(ss.str());
  if (!parsed.ok()) return absl::InvalidArgumentError(fmt::format("{}: {}", path, std::string(parsed.status().message())));
  return parsed;
}

std::string Secrets::ConnectionUrl(const std::string& env, const std::string& url) const {
  if (auto it = passwords_.find(env); it != passwords_.end()) return WithPassword(url, it->second);
  if (const char* p = std::getenv(EnvVarName(env).c_str()); p && *p) return WithPassword(url, p);
  return url;
}

}  // namespace strata::deploy
