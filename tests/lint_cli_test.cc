// `strata lint` as a team's CI runs it: a folder of definition files and a
// policy file, findings with file, line and rule, exit 1 on errors, GitHub
// annotations and JSON; a policy file that is wrong is refused naming its line.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "nlohmann/json.hpp"
#include "support/stack.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;

class LintCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("strata-lint-" + std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_ / "schema");
    Write("schema/10_tables.sql",
          "-- tables\n"
          "CREATE TABLE sales.orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES sales.customers (id),\n"
          "  placed timestamp);\n"
          "CREATE TABLE sales.\"OrderLines\" (id bigint PRIMARY KEY);\n");
    Write("schema/20_indexes.sql", "CREATE INDEX ix_orders_customer_id ON sales.orders (customer_id);\n");
    Write("policy.yaml",
          "rules:\n"
          "  naming-table: {severity: error, pattern: \"^[a-z][a-z0-9_]*$\", hint: lower case and _}\n"
          "  prefer-timestamptz: warning\n");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const std::string& name, const std::string& text) { std::ofstream(dir_ / name) << text; }
  std::string Path(const std::string& name) { return (dir_ / name).string(); }
  int Lint(const std::string& args, std::string* out) { return RunCli("127.0.0.1:1", "", "lint " + args, out); }

  std::filesystem::path dir_;
};

TEST_F(LintCliTest, AFolderAgainstAPolicy) {
  std::string out;
  EXPECT_EQ(Lint("--policy " + Path("policy.yaml") + " " + Path("schema"), &out), 1) << out;
  EXPECT_THAT(out, HasSubstr(Path("schema/10_tables.sql") +
                             ":4:1: error naming-table: table:sales.\"OrderLines\": table name \"OrderLines\" does not "
                             "match ^[a-z][a-z0-9_]*$ (hint: lower case and _)"));
  EXPECT_THAT(out, HasSubstr(Path("schema/10_tables.sql") + ":3:3: warning prefer-timestamptz"));
  // The index in the other file covers the foreign key.
  EXPECT_THAT(out, ::testing::Not(HasSubstr("require-fk-index")));
  EXPECT_THAT(out, HasSubstr("2 finding(s): 1 error(s), 1 warning(s)"));

  EXPECT_EQ(Lint("--policy " + Path("policy.yaml") + " --format github " + Path("schema"), &out), 1);
  EXPECT_THAT(out, HasSubstr("::error file=" + Path("schema/10_tables.sql") + ",line=4,col=1,title=naming-table::"));

  EXPECT_EQ(Lint("--json --policy " + Path("policy.yaml") + " " + Path("schema"), &out), 1);
  auto j = nlohmann::json::parse(out, nullptr, false);
  ASSERT_TRUE(j.is_array()) << out;
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["code"], "naming-table");
  EXPECT_EQ(j[1]["line"], 4);

  // Only the index file: the foreign key's index is elsewhere, nothing to say about tables.
  EXPECT_EQ(Lint(Path("schema/20_indexes.sql"), &out), 0) << out;
}

TEST_F(LintCliTest, BadPoliciesAndSqlAreRefusedNamingTheLine) {
  std::string out;
  Write("bad.yaml", "rules:\n  naming-table: {severity: error}\n  naming-colum: {severity: error}\n");
  EXPECT_EQ(Lint("--policy " + Path("bad.yaml") + " " + Path("schema"), &out), 2);
  EXPECT_THAT(out, HasSubstr("line 3, column 3: unknown rule `naming-colum`; did you mean `naming-column`?"));
  Write("badpattern.yaml", "rules:\n  naming-table: {severity: error, pattern: \"([a-z\"}\n");
  EXPECT_EQ(Lint("--policy " + Path("badpattern.yaml") + " " + Path("schema"), &out), 2);
  EXPECT_THAT(out, HasSubstr("line 2"));
  EXPECT_THAT(out, HasSubstr("does not compile"));
  Write("badseverity.yaml", "rules:\n  naming-table: {severity: blocker}\n");
  EXPECT_EQ(Lint("--policy " + Path("badseverity.yaml") + " " + Path("schema"), &out), 2);
  EXPECT_THAT(out, HasSubstr("severity `blocker` does not exist"));
  Write("broken.sql", "CREATE TABLE a (id int);\nCREATE TABLE b (id int,;\n");
  EXPECT_EQ(Lint(Path("broken.sql"), &out), 2);
  EXPECT_THAT(out, HasSubstr(Path("broken.sql") + ":2:"));
  EXPECT_EQ(Lint("--rules", &out), 0);
  EXPECT_THAT(out, HasSubstr("security-definer-search-path"));
}

}  // namespace
}  // namespace strata::testing
