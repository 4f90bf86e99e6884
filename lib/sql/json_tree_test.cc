#include "sql/json_tree.h"

extern "C" {
#include <pg_query.h>
}

#include <gtest/gtest.h>

#include "sql/parse.h"
#include "sql/testdata_loader.h"

namespace strata::sql {
namespace {

// The JSON form read into the messages must be exactly the protobuf form.
void ExpectSameTree(const std::string& sql) {
  PgQueryParseResult json = pg_query_parse(sql.c_str());
  ASSERT_EQ(json.error, nullptr) << sql;
  pg_query::ParseResult from_json;
  EXPECT_TRUE(DecodeJsonParseTree(json.parse_tree, &from_json)) << sql;
  pg_query_free_parse_result(json);
  PgQueryProtobufParseResult pb = pg_query_parse_protobuf(sql.c_str());
  pg_query::ParseResult from_protobuf;
  ASSERT_TRUE(from_protobuf.ParseFromArray(pb.parse_tree.data, static_cast<int>(pb.parse_tree.len)));
  pg_query_free_protobuf_parse_result(pb);
  EXPECT_EQ(from_json.SerializeAsString(), from_protobuf.SerializeAsString()) << sql;
}

TEST(JsonParseTree, EqualsTheProtobufFormForEveryTestStatement) {
  for (const auto& [id, ddl] : testing::LoadObjects(STRATA_SQL_TESTDATA "/shop.sql")) ExpectSameTree(ddl);
  ExpectSameTree("SELECT 'é \\\" \\n', E'tab\\t', 1.5e3, 0, true, NULL::int[], B'101', x'1F', $1");
  ExpectSameTree("CREATE TABLE \"Odd \"\"Name\"\"\" (\"ü\" int[] DEFAULT 0, b numeric(10,2) CHECK (b > 0.5))");
  ExpectSameTree("WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n+1 FROM t WHERE n < 9) SELECT * FROM t");
  ExpectSameTree("CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT a + 1; END");
}

// libpg_query's JSON loses negative integers: texts that may hold one are
// parsed in the protobuf form by ParsedSql.
TEST(JsonParseTree, NegativeNumbersComeOutRight) {
  for (const std::string sql : {"SELECT -42, 3 - 1", "CREATE SEQUENCE s INCREMENT BY -1 MINVALUE -100",
                                "CREATE TABLE t (a int DEFAULT -1, b int[] CHECK (a > - 5))"}) {
    auto parsed = ParsedSql::Parse(sql);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    PgQueryProtobufParseResult pb = pg_query_parse_protobuf(sql.c_str());
    pg_query::ParseResult expected;
    ASSERT_TRUE(expected.ParseFromArray(pb.parse_tree.data, static_cast<int>(pb.parse_tree.len)));
    pg_query_free_protobuf_parse_result(pb);
    ASSERT_EQ(parsed->size(), expected.stmts_size());
    for (int i = 0; i < parsed->size(); ++i)
      EXPECT_EQ(parsed->statement(i).SerializeAsString(), expected.stmts(i).stmt().SerializeAsString()) << sql;
  }
}

TEST(JsonParseTree, RefusesWhatIsNotItsJson) {
  pg_query::ParseResult out;
  EXPECT_FALSE(DecodeJsonParseTree("", &out));
  EXPECT_FALSE(DecodeJsonParseTree("{\"stmts\": [", &out));
  EXPECT_FALSE(DecodeJsonParseTree("{\"version\": \"x\"}", &out));
}

}  // namespace
}  // namespace strata::sql
