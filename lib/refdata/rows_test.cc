#include "refdata/rows.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace strata::refdata {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<Column> kStatus = {{"code", "text"}, {"label", "text"}, {"rank", "integer"}, {"active", "boolean"}};

RowSet Parse(const std::string& csv) {
  auto r = ParseCsv(csv, kStatus, {"code"});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : RowSet{};
}

std::string Error(const std::string& csv, const std::vector<std::string>& key = {"code"}) {
  auto r = ParseCsv(csv, kStatus, key);
  return r.ok() ? "accepted" : std::string(r.status().message());
}

TEST(ParseCsv, QuotedFieldsNullsAndEmptyStrings) {
  RowSet s = Parse("code,label,rank\nnew,\"New, unpaid\",1\npaid,\"say \"\"paid\"\"\",\nx,\"\",3\nml,\"two\nlines\",4\n");
  ASSERT_EQ(s.rows.size(), 4u);
  const Row& paid = s.rows.at({"paid"});
  EXPECT_EQ(paid[1], "say \"paid\"");
  EXPECT_EQ(paid[2], std::nullopt) << "an unquoted empty field is NULL";
  EXPECT_EQ(paid[3], std::nullopt) << "a column the header does not name is NULL";
  EXPECT_EQ(s.rows.at({"x"})[1], "") << "a quoted empty field is the empty string";
  EXPECT_EQ(s.rows.at({"ml"})[1], "two\nlines");
  EXPECT_EQ(s.rows.at({"new"})[1], "New, unpaid");
}

TEST(ParseCsv, BadInputNamesLineAndColumn) {
  EXPECT_EQ(Error("label,rank\nNew,1\n"), "line 1: the header lacks key column code");
  EXPECT_EQ(Error("code,colour\nnew,red\n"), "line 1, column 2: the table has no column \"colour\"");
  EXPECT_EQ(Error("code,rank\nnew,1\npaid\n"), "line 3: 1 fields, the header has 2");
  EXPECT_EQ(Error("code,rank\nnew,1\npaid,2\nnew,3\n"), "line 4: key (new) repeats line 2");
  EXPECT_EQ(Error("code,label,rank\nnew,New,1\npaid,Paid,two\n"),
            "line 3, column 3 (rank): \"two\" is not an integer");
  EXPECT_EQ(Error("code,active\nnew,maybe\n"), "line 2, column 2 (active): \"maybe\" is not a boolean (true/false, "
                                               "t/f, yes/no, on/off, 1/0)");
  EXPECT_EQ(Error("code,rank\n,1\n"), "line 2, column 1 (code): a key column cannot be empty");
  EXPECT_EQ(Error("code,rank\n\"new,1\n"), "line 2: a quoted field is not closed");
  EXPECT_EQ(Error("code\nnew\n", {}), "the table has no key: reference data needs one");
  std::string many = "code\n";
  for (size_t i = 0; i <= kMaxRows; ++i) many += "c" + std::to_string(i) + "\n";
  auto r = ParseCsv(many, kStatus, {"code"});
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r.status().message(), HasSubstr("bounded to 100000 rows per table"));
}

TEST(Canonical, EqualSetsGiveEqualTextsAndItParsesBack) {
  RowSet a = Parse("code,label,rank\npaid,Paid,2\nnew,\"New, \"\"unpaid\"\"\",1\n");
  RowSet b = Parse("rank,code,label\n1,new,\"New, \"\"unpaid\"\"\"\n2,paid,Paid\n");
  EXPECT_EQ(Canonical(a), Canonical(b));
  EXPECT_EQ(Canonical(a), "\"code\",\"label\",\"rank\",\"active\"\n\"new\",\"New, \"\"unpaid\"\"\",\"1\",\n"
                          "\"paid\",\"Paid\",\"2\",\n");
  EXPECT_EQ(Canonical(Parse(Canonical(a))), Canonical(a));
}

TEST(Diff, InsertedUpdatedDeletedAndTheirStatements) {
  RowSet v1 = Parse("code,label,rank\nnew,New,1\npaid,Paid,2\nold,Old,9\n");
  RowSet v2 = Parse("code,label,rank\nnew,New,1\npaid,Paid in full,3\nsent,It's sent,4\n");
  auto d = Diff(v1, v2);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->inserted.size(), 1u);
  ASSERT_EQ(d->deleted.size(), 1u);
  ASSERT_EQ(d->updated.size(), 1u);
  EXPECT_THAT(d->updated[0].changed, ElementsAre(1, 2));
  EXPECT_THAT(Statements(*d, v2, "sales.status"),
              ElementsAre("DELETE FROM sales.status WHERE code = 'old'::text",
                          "UPDATE sales.status SET label = 'Paid in full'::text, rank = '3'::integer WHERE code = "
                          "'paid'::text",
                          "INSERT INTO sales.status (code, label, rank, active) OVERRIDING SYSTEM VALUE VALUES\n"
                          "  ('sent'::text, 'It''s sent'::text, '4'::integer, NULL)"));
  auto back = Diff(v2, v1);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->inserted.size(), 1u);
  EXPECT_EQ(back->deleted.size(), 1u);
  EXPECT_TRUE(Diff(v1, v1)->empty());
  RowSet other = v1;
  other.key = {1};
  EXPECT_FALSE(Diff(v1, other).ok());
}

TEST(Diff, AVersionOfAnotherShapeIsComparedInTheTargetsColumns) {
  const std::vector<Column> narrow = {{"code", "text"}, {"label", "text"}};
  auto v1 = ParseCsv("code,label\nnew,New\nold,Old\n", narrow, {"code"});
  ASSERT_TRUE(v1.ok());
  RowSet v2 = Parse("code,label,rank\nnew,New,1\nsent,Sent,4\n");
  auto d = Diff(*v1, v2);
  ASSERT_TRUE(d.ok()) << d.status();
  ASSERT_EQ(d->deleted.size(), 1u);
  ASSERT_EQ(d->inserted.size(), 1u);
  // rank and active are unknown in v1: written for the row both hold, though label is equal.
  ASSERT_EQ(d->updated.size(), 1u);
  EXPECT_THAT(d->updated[0].changed, ElementsAre(2, 3));
  EXPECT_THAT(Statements(*d, v2, "s.t")[0], "DELETE FROM s.t WHERE code = 'old'::text");
  // The way back, in the columns both have.
  auto kept = Project(v2, {"code", "label"});
  ASSERT_TRUE(kept.ok());
  auto back = Diff(*kept, *v1);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->updated.size(), 0u);
  EXPECT_EQ(back->inserted.size(), 1u);
  EXPECT_FALSE(Project(v2, {"label"}).ok());  // the key must stay
}

}  // namespace
}  // namespace strata::refdata
