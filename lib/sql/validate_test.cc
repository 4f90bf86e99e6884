#include "sql/validate.h"

#include <gtest/gtest.h>

namespace strata::sql {
namespace {

TEST(ValidateSqlTest, AcceptsValidDdl) {
  EXPECT_TRUE(ValidateSql("CREATE TABLE sales.orders (id bigint PRIMARY KEY, total numeric(12,2));").ok());
  EXPECT_TRUE(ValidateSql("CREATE VIEW v AS SELECT 1; COMMENT ON VIEW v IS 'x';").ok());
  EXPECT_TRUE(ValidateSql(
      "CREATE FUNCTION f(a int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN a; END $$;").ok());
}

TEST(ValidateSqlTest, ReportsLineAndColumnOfSyntaxErrors) {
  auto s = ValidateSql("CREATE TABLE t (\n  id int,\n  name text,,\n);");
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(s.message()), "syntax error at or near \",\" (line 3, column 13)");
}

TEST(ValidateSqlTest, CountsCharactersNotBytes) {
  auto s = ValidateSql("-- é\nCREATE TABLE t (id int) junk;");
  ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("(line 2, column 25)"), std::string::npos) << s;
}

TEST(ValidateSqlTest, RefusesEmptyDefinitions) {
  EXPECT_EQ(ValidateSql("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateSql("  -- only a comment\n").code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace strata::sql
