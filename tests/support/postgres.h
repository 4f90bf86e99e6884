// Test support: the PostgreSQL server tests run against (`make test` starts
// the local cluster with scripts/pg-up.sh), and scratch databases on it.
#pragma once

#include <string>
#include <utility>

namespace strata::testing {

// A connection string for database `dbname` on the test server:
// $STRATA_TEST_PG_URL (a postgres:// URL of any database there) or the
// local cluster as role strata.
std::string TestServerUrl(const std::string& dbname = "postgres");

// A database created for one test and dropped (WITH FORCE) by the destructor.
class ScratchDatabase {
 public:
  explicit ScratchDatabase(const std::string& prefix);
  ~ScratchDatabase();
  const std::string& name() const { return name_; }
  std::string url() const { return TestServerUrl(name_); }

 private:
  std::string name_;
};

// postgres://user:pw@host/db -> (postgres://user@host/db, pw): environments
// are registered without their password, which goes to the secrets file.
std::pair<std::string, std::string> SplitPassword(const std::string& url);

// How many databases on the test server have names starting with `prefix`.
int CountDatabases(const std::string& prefix);

}  // namespace strata::testing
