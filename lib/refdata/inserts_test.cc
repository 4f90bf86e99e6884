#include "refdata/inserts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace strata::refdata {
namespace {

using ::testing::HasSubstr;

const std::vector<Column> kStatus = {{"code", "text"}, {"label", "text"}, {"rank", "integer"}, {"active", "boolean"}};

TEST(ParseInserts, ReadsValuesWithCastsNullsAndNegativeNumbers) {
  EXPECT_TRUE(LooksLikeInserts("  -- rows\n/* v2 */ insert into s.status VALUES (1)"));
  EXPECT_FALSE(LooksLikeInserts("code,label\n"));
  EXPECT_FALSE(LooksLikeInserts("inserted,label\n"));
  auto rows = ParseInserts(
      "INSERT INTO s.status (code, label, rank, active) VALUES\n"
      "  ('new', 'It''s new', 1, true),\n"
      "  ('old', NULL, -2, 'f'::boolean);\n"
      "INSERT INTO status (code, label, rank, active) VALUES ('x', '', 3, NULL);\n",
      "s.status", kStatus, {"code"});
  ASSERT_TRUE(rows.ok()) << rows.status();
  ASSERT_EQ(rows->rows.size(), 3u);
  EXPECT_EQ(rows->rows.at({"new"})[1], "It's new");
  EXPECT_EQ(rows->rows.at({"old"})[1], std::nullopt);
  EXPECT_EQ(rows->rows.at({"old"})[2], "-2");
  EXPECT_EQ(rows->rows.at({"old"})[3], "f");
  EXPECT_EQ(rows->rows.at({"x"})[1], "");
  EXPECT_EQ(rows->rows.at({"x"})[3], std::nullopt);
  // Without a column list: the table's columns in order.
  auto all = ParseInserts("INSERT INTO s.status VALUES ('a', 'A', 1, true)", "s.status", kStatus, {"code"});
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(all->rows.at({"a"})[2], "1");
}

std::string Error(const std::string& sql) {
  auto r = ParseInserts(sql, "s.status", kStatus, {"code"});
  return r.ok() ? "accepted" : std::string(r.status().message());
}

TEST(ParseInserts, BadInputIsNamedByTheLineOfTheSql) {
  EXPECT_THAT(Error("INSERT INTO s.status (code, rank) VALUES\n ('a', 1),\n ('b', 'two');"),
              HasSubstr("line 3, value 2 (rank): \"two\" is not an integer"));
  EXPECT_THAT(Error("INSERT INTO s.status (code) VALUES ('a');\nINSERT INTO s.status (code) VALUES\n('a');"),
              HasSubstr("line 3: key (a) repeats"));
  EXPECT_THAT(Error("INSERT INTO s.status (label) VALUES ('a');"), HasSubstr("lacks key column code"));
  EXPECT_THAT(Error("\nINSERT INTO s.other (code) VALUES ('a');"), HasSubstr("line 2: the statement inserts into s.other"));
  EXPECT_THAT(Error("UPDATE s.status SET rank = 1;"), HasSubstr("only INSERT INTO s.status ... VALUES"));
  EXPECT_THAT(Error("INSERT INTO s.status (code, rank) VALUES\n ('a', now());"),
              HasSubstr("line 2, column 8: only constants are read as rows (value 2 of the row)"));
  EXPECT_THAT(Error("INSERT INTO s.status (code, nope) VALUES ('a', 1);"), HasSubstr("has no column \"nope\""));
}

}  // namespace
}  // namespace strata::refdata
