#include "support/postgres.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

#include "pg/pg.h"

namespace strata::testing {
namespace {

std::unique_ptr<pg::Session> Admin() {
  auto s = pg::Session::Connect(TestServerUrl());
  if (!s.ok()) throw std::runtime_error("test PostgreSQL: " + std::string(s.status().message()));
  return std::move(*s);
}

}  // namespace

std::string TestServerUrl(const std::string& dbname) {
  const char* env = std::getenv("STRATA_TEST_PG_URL");
  std::string base = env && *env ? env : "postgres://strata:strata@127.0.0.1:5432/postgres";
  return pg::WithDatabase(base, dbname);
}

ScratchDatabase::ScratchDatabase(const std::string& prefix) {
  static std::atomic<int> counter{0};
  name_ = prefix + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
  auto admin = Admin();
  (void)admin->Exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  if (auto s = admin->Exec("CREATE DATABASE " + name_ + " TEMPLATE template0"); !s.ok()) {
    throw std::runtime_error("CREATE DATABASE " + name_ + ": " + std::string(s.message()));
  }
}

ScratchDatabase::~ScratchDatabase() {
  try {
    (void)Admin()->Exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (...) {
  }
}

int CountDatabases(const std::string& prefix) {
  auto rows = Admin()->Query("SELECT count(*) FROM pg_database WHERE starts_with(datname, $1)", {prefix});
  return rows.ok() ? static_cast<int>(rows->number(0, 0)) : -1;
}

std::pair<std::string, std::string> SplitPassword(const std::string& url) {
  const size_t start = url.find("://") + 3;
  const size_t at = url.find('@', start);
  const size_t colon = url.find(':', start);
  if (at == std::string::npos || colon == std::string::npos || colon > at) return {url, ""};
  return {url.substr(0, colon) + url.substr(at), url.substr(colon + 1, at - colon - 1)};
}

}  // namespace strata::testing
