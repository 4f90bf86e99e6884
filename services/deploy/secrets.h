// Environment credentials, which never enter the event log: an
// environment's URL there carries no password; the deploying server adds
// it from its secrets file or its process environment.
//
// Secrets file (YAML, readable by the server only):
//   environments:
//     qa:   {password: s3cr3t}
//     prod: {password: ...}
//   shadow_url: postgres://strata:pw@127.0.0.1:5432/postgres   # optional
// Environment variables STRATA_ENV_<NAME>_PASSWORD (name upper-cased, '-'
// as '_') are used for environments the file does not name; libpq's own
// sources (~/.pgpass, PGPASSWORD) apply after that.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace strata::deploy {

class Secrets {
 public:
  // "" : no file (environment variables only).
  static absl::StatusOr<std::shared_ptr<const Secrets>> Load(const std::string& path);
  static absl::StatusOr<std::shared_ptr<const Secrets>> Parse(const std::string& yaml);

  // The URL to connect to `env` with: `url` plus its password, if one is known.
  std::string ConnectionUrl(const std::string& env, const std::string& url) const;
  const std::string& shadow_url() const { return shadow_url_; }

 private:
  std::map<std::string, std::string> passwords_;
  std::string shadow_url_;
};

// Whether a connection URL carries a password (postgres://u:pw@h, password=).
bool UrlHasPassword(const std::string& url);

// `url` with `password` added (percent-encoded in URLs, quoted in key=value form).
std::string WithPassword(const std::string& url, const std::string& password);

}  // namespace strata::deploy
