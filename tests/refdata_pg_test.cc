// Issue 22 (first part): the reference-data row engine against real
// PostgreSQL. A 10,000-row lookup table goes from version 1 to version 2
// (200 rows inserted, 50 deleted, 300 updated) by the generated statements in
// one transaction, and back by the reverse ones; the rows read back equal
// each version exactly. A delete that a foreign key forbids fails the
// transaction and changes nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pg/pg.h"
#include "refdata/live.h"
#include "refdata/rows.h"
#include "support/postgres.h"

namespace strata::testing {
namespace {

using refdata::Column;
using refdata::RowSet;

const std::vector<Column> kColumns = {{"code", "integer"}, {"label", "text"}, {"rate", "numeric(6,3)"}};

std::string Csv(int first, int last, int skip_mod, int changed_mod) {
  std::string csv = "code,label,rate\n";
  for (int i = first; i <= last; ++i) {
    if (skip_mod && i <= 10000 && i % skip_mod == 0) continue;  // deleted from version 1
    const bool changed = changed_mod && i % changed_mod == 1;
    absl::StrAppend(&csv, i, ",\"label ", i, changed ? " (v2), \"\"quoted\"\"" : "", "\",", i % 1000, ".", changed ? 5 : 0,
                    "\n");
  }
  return csv;
}

// The table's rows as a RowSet, read back in PostgreSQL's text forms.
RowSet Read(pg::Session& s) {
  auto rows = s.Query("SELECT code::text, label, rate::text FROM ref.rates ORDER BY code");
  EXPECT_TRUE(rows.ok()) << rows.status();
  std::string csv = "code,label,rate\n";
  for (int r = 0; rows.ok() && r < rows->size(); ++r) {
    std::string label = rows->text(r, 1);
    std::string quoted;
    for (char c : label) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
    absl::StrAppend(&csv, rows->text(r, 0), ",\"", quoted, "\",", rows->text(r, 2), "\n");
  }
  auto set = refdata::ParseCsv(csv, kColumns, {"code"});
  EXPECT_TRUE(set.ok()) << set.status();
  return set.ok() ? *set : RowSet{};
}

absl::Status Apply(pg::Session& s, const std::vector<std::string>& statements) {
  std::string script = "BEGIN;\n" + absl::StrJoin(statements, ";\n") + ";\nCOMMIT;";
  absl::Status st = s.Exec(script);
  if (!st.ok()) (void)s.Exec("ROLLBACK");
  return st;
}

TEST(RefdataPg, TenThousandRowsToVersionTwoAndBackExactly) {
  ScratchDatabase db("refdata");
  auto s = pg::Session::Connect(db.url());
  ASSERT_TRUE(s.ok()) << s.status();
  // v1: codes 1..10,000; v2: 50 deleted (every 200th), 300 updated, 200 inserted.
  auto v1 = refdata::ParseCsv(Csv(1, 10000, 0, 0), kColumns, {"code"});
  ASSERT_TRUE(v1.ok()) << v1.status();
  std::string v2_csv = Csv(1, 10200, 200, 0);
  auto v2 = refdata::ParseCsv(v2_csv, kColumns, {"code"});
  ASSERT_TRUE(v2.ok()) << v2.status();
  // 300 updates: rows 33, 66, ... get a new label and rate.
  int updated = 0;
  for (auto& [key, row] : v2->rows) {
    const int code = std::stoi(key[0]);
    if (code <= 10000 && code % 33 == 0 && updated < 300) {
      row[1] = absl::StrCat("label ", code, " (v2), \"quoted\", it's");
      row[2] = absl::StrCat(code % 1000, ".500");
      ++updated;
    }
  }
  auto forward = refdata::Diff(*v1, *v2);
  ASSERT_TRUE(forward.ok()) << forward.status();
  EXPECT_EQ(forward->inserted.size(), 200u);
  EXPECT_EQ(forward->deleted.size(), 50u);
  EXPECT_EQ(forward->updated.size(), 300u);

  ASSERT_TRUE((*s)->Exec("CREATE SCHEMA ref; CREATE TABLE ref.rates (code integer PRIMARY KEY, label text NOT NULL, "
                         "rate numeric(6,3)); CREATE TABLE ref.uses (id int PRIMARY KEY, code integer REFERENCES "
                         "ref.rates)")
                  .ok());
  refdata::RowSet empty = *v1;
  empty.rows.clear();
  ASSERT_TRUE(Apply(**s, refdata::Statements(*refdata::Diff(empty, *v1), *v1, "ref.rates")).ok());
  // Version 1 as PostgreSQL stores it (rates normalized to three decimals).
  const std::string stored_v1 = refdata::Canonical(Read(**s));
  ASSERT_EQ(Read(**s).rows.size(), 10000u);

  absl::Status st = Apply(**s, refdata::Statements(*forward, *v2, "ref.rates"));
  ASSERT_TRUE(st.ok()) << st;
  RowSet now = Read(**s);
  ASSERT_EQ(now.rows.size(), 10150u);
  auto left = refdata::Diff(now, *v2);
  ASSERT_TRUE(left.ok());
  // Numerics come back with PostgreSQL's scale: compare them as numbers.
  for (const auto& c : left->updated)
    for (size_t col : c.changed) {
      ASSERT_EQ(col, 2u) << "only rates may differ, in form: " << c.key[0];
      EXPECT_DOUBLE_EQ(std::stod(*c.before[col]), std::stod(*c.after[col])) << c.key[0];
    }
  EXPECT_TRUE(left->inserted.empty() && left->deleted.empty());

  // The rollback: the reverse statements give version 1 back exactly.
  auto back = refdata::Diff(*v2, *v1);
  ASSERT_TRUE(back.ok());
  st = Apply(**s, refdata::Statements(*back, *v1, "ref.rates"));
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ(refdata::Canonical(Read(**s)), stored_v1);

  // A delete a foreign key forbids: the whole transaction fails, nothing changes.
  ASSERT_TRUE((*s)->Exec("INSERT INTO ref.uses VALUES (1, 200)").ok());
  st = Apply(**s, refdata::Statements(*forward, *v2, "ref.rates"));
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), ::testing::HasSubstr("violates foreign key constraint"));
  EXPECT_EQ(refdata::Canonical(Read(**s)), stored_v1);
}

// The database side (refdata/live.h): rows read as PostgreSQL prints them,
// compared by type (no false drift for "1.5" against numeric 1.500), drift
// named by key and column, and the rows a delete would leave dangling.
TEST(RefdataPg, LiveRowsAreComparedByTypeAndReferencesAreCounted) {
  ScratchDatabase db("refdata_live");
  auto s = pg::Session::Connect(db.url());
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Exec("CREATE SCHEMA ref; CREATE TABLE ref.rates (code integer PRIMARY KEY, label text NOT NULL, "
                         "rate numeric(6,3)); CREATE TABLE ref.uses (id int PRIMARY KEY, code integer REFERENCES "
                         "ref.rates); CREATE TABLE ref.soft (id int PRIMARY KEY, code integer REFERENCES ref.rates "
                         "ON DELETE SET NULL)")
                  .ok());
  auto v = refdata::ParseCsv("code,label,rate\n1,one,1.5\n2,\"two, \"\"2\"\"\",2\n3,three,\n", kColumns, {"code"});
  ASSERT_TRUE(v.ok()) << v.status();
  refdata::RowSet empty = *v;
  empty.rows.clear();
  ASSERT_TRUE(Apply(**s, refdata::Statements(*refdata::Diff(empty, *v), *v, "ref.rates")).ok());

  auto columns = refdata::LiveColumns(**s, "ref.rates");
  ASSERT_TRUE(columns.ok()) << columns.status();
  EXPECT_EQ((*columns)[2].type, "numeric(6,3)");
  EXPECT_EQ(refdata::LiveColumns(**s, "ref.nothing").status().code(), absl::StatusCode::kNotFound);
  auto read = refdata::ReadRows(**s, "ref.rates", kColumns, {"code"});
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->rows.at({"1"})[2], "1.500");
  EXPECT_EQ(read->rows.at({"2"})[1], "two, \"2\"");
  EXPECT_EQ(read->rows.at({"3"})[2], std::nullopt);

  auto same = refdata::CompareRows(**s, "ref.rates", *v, 10);
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->rows, 0u) << ::testing::PrintToString(same->lines);

  ASSERT_TRUE((*s)->Exec("DELETE FROM ref.rates WHERE code = 2; UPDATE ref.rates SET label = 'uno', rate = 7 WHERE "
                         "code = 1; INSERT INTO ref.rates VALUES (9, 'nine', NULL)")
                  .ok());
  auto drift = refdata::CompareRows(**s, "ref.rates", *v, 10);
  ASSERT_TRUE(drift.ok()) << drift.status();
  EXPECT_EQ(drift->rows, 3u);
  EXPECT_THAT(drift->lines, ::testing::ElementsAre("row (1): column label is 'uno', expected 'one'; column rate is "
                                                   "'7.000', expected '1.500'",
                                                   "row (2): missing", "row (9): not expected"));
  auto capped = refdata::CompareRows(**s, "ref.rates", *v, 1);
  ASSERT_TRUE(capped.ok());
  EXPECT_THAT(capped->lines, ::testing::ElementsAre(::testing::HasSubstr("row (1)"), "... and 2 more rows"));

  ASSERT_TRUE((*s)->Exec("INSERT INTO ref.uses VALUES (1, 1), (2, 1), (3, 3); INSERT INTO ref.soft VALUES (1, 3)").ok());
  std::vector<refdata::RowChange> deleted = {{{"1"}, v->rows.at({"1"}), {}, {}}, {{"3"}, v->rows.at({"3"}), {}, {}}};
  auto refs = refdata::RowsReferencing(**s, "ref.rates", *v, deleted);
  ASSERT_TRUE(refs.ok()) << refs.status();
  ASSERT_EQ(refs->size(), 2u);
  EXPECT_EQ((*refs)[0].table, "ref.soft");
  EXPECT_EQ((*refs)[0].on_delete, "set null");
  EXPECT_EQ((*refs)[0].rows, 1);
  EXPECT_EQ((*refs)[1].table, "ref.uses");
  EXPECT_EQ((*refs)[1].on_delete, "no action");
  EXPECT_EQ((*refs)[1].rows, 3);
}

// Enum and domain columns: their values are untyped literals that PostgreSQL
// coerces to the column, so the statements run under the empty search_path
// of a deployment script, whatever the definition called the type.
TEST(RefdataPg, EnumAndDomainColumnsUnderAnEmptySearchPath) {
  ScratchDatabase db("refdata_enum");
  auto s = pg::Session::Connect(db.url());
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_TRUE((*s)->Exec("CREATE SCHEMA ref; CREATE TYPE ref.mood AS ENUM ('ok', 'sad'); CREATE DOMAIN ref.pct AS "
                         "numeric CHECK (VALUE BETWEEN 0 AND 100); CREATE TABLE ref.moods (id integer PRIMARY KEY, "
                         "m ref.mood NOT NULL, p ref.pct)")
                  .ok());
  const std::vector<Column> columns = {{"id", "integer"}, {"m", "mood"}, {"p", "pct"}};
  auto v1 = refdata::ParseCsv("id,m,p\n1,ok,10\n2,sad,\n", columns, {"id"});
  auto v2 = refdata::ParseCsv("id,m,p\n1,sad,20\n3,ok,30\n", columns, {"id"});
  ASSERT_TRUE(v1.ok() && v2.ok());
  refdata::RowSet empty = *v1;
  empty.rows.clear();
  auto run = [&](const refdata::RowSet& from, const refdata::RowSet& to) {
    auto d = refdata::Diff(from, to);
    EXPECT_TRUE(d.ok());
    std::vector<std::string> statements = {"SELECT pg_catalog.set_config('search_path', '', true)"};
    for (auto& st : refdata::Statements(*d, to, "ref.moods")) statements.push_back(std::move(st));
    return Apply(**s, statements);
  };
  ASSERT_TRUE(run(empty, *v1).ok());
  absl::Status st = run(*v1, *v2);
  ASSERT_TRUE(st.ok()) << st;
  auto rows = (*s)->Query("SELECT string_agg(id || ':' || m || ':' || coalesce(p::text, '-'), ',' ORDER BY id) FROM ref.moods");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->text(0, 0), "1:sad:20,3:ok:30");
}

}  // namespace
}  // namespace strata::testing
