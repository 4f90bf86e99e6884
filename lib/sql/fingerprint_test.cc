#include "sql/fingerprint.h"

#include <gtest/gtest.h>

namespace strata::sql {
namespace {

std::string Fp(const std::string& sql) {
  auto f = Fingerprint(sql);
  EXPECT_TRUE(f.ok()) << f.status();
  return f.ok() ? *f : "";
}

TEST(Fingerprint, LayoutCommentsAndKeywordCaseAreNotChanges) {
  const std::string a = "CREATE TABLE sales.orders (id bigint PRIMARY KEY, note text);";
  EXPECT_EQ(Fp(a), Fp("create table Sales.Orders (\n  id   BIGINT primary key, -- the key\n  note text /* free */\n)"));
  EXPECT_EQ(*NormalizeSql("CREATE  TABLE t(a int) ;"), "create table t ( a int )");
}

TEST(Fingerprint, LiteralsAndQuotedNamesAreChanges) {
  EXPECT_NE(Fp("CREATE TABLE t (s text DEFAULT 'A')"), Fp("CREATE TABLE t (s text DEFAULT 'a')"));
  EXPECT_NE(Fp("CREATE TABLE \"T\" (a int)"), Fp("CREATE TABLE t (a int)"));
  EXPECT_NE(Fp("CREATE TABLE t (a int DEFAULT 1)"), Fp("CREATE TABLE t (a int DEFAULT 2)"));
}

TEST(Fingerprint, FunctionBodiesAreNormalizedToo) {
  const std::string a =
      "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETURN 1;\nEND\n$$;";
  const std::string b =
      "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $body$ begin\n-- one\n    return 1; end $body$";
  EXPECT_EQ(Fp(a), Fp(b));
  EXPECT_NE(Fp(a), Fp("CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 2; END $$"));
  // A dollar-quoted literal elsewhere keeps its spaces.
  EXPECT_NE(Fp("CREATE TABLE t (s text DEFAULT $$a  b$$)"), Fp("CREATE TABLE t (s text DEFAULT $$a b$$)"));
}

TEST(Fingerprint, UnterminatedQuoteIsAnError) {
  auto f = Fingerprint("CREATE TABLE t (s text DEFAULT 'oops)");
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(f.status().message()).find("line 1"), std::string::npos) << f.status();
}

}  // namespace
}  // namespace strata::sql
