#include "sql/risk.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "sql/testdata_loader.h"

namespace strata::sql {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

std::vector<std::string> Codes(const ProposedChange& c) {
  std::vector<std::string> out;
  for (const auto& f : c.findings) out.push_back(f.code + "/" + SeverityName(f.severity));
  return out;
}

ObjectInfo Info(const std::string& sql) {
  auto info = AnalyzeDefinition(sql);
  EXPECT_TRUE(info.ok()) << info.status();
  return *info;
}

model::ObjectId Id(const std::string& s) { return *model::ParseObjectId(s); }

const char kOrders[] =
    "CREATE TABLE s.orders (id bigint PRIMARY KEY, code varchar(20), total numeric(12,2), qty int, note text)";

TEST(Risk, DefinitionChangesAreClassified) {
  const ObjectInfo before = Info(kOrders);
  auto c = DescribeChange(Id("table:s.orders"), &before,
                          "CREATE TABLE s.orders (id int PRIMARY KEY, code varchar(40), total numeric(10,2), "
                          "qty bigint NOT NULL, extra int NOT NULL, token uuid DEFAULT gen_random_uuid())");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->dropped_columns, ElementsAre("note"));
  EXPECT_THAT(Codes(*c), UnorderedElementsAre("narrow-column-type/high",       // id bigint -> integer
                                              "change-column-type/low",        // varchar(20) -> varchar(40)
                                              "narrow-column-type/high",       // numeric(12,2) -> (10,2)
                                              "change-column-type/high",       // int -> bigint rewrites
                                              "set-not-null/medium",           // qty
                                              "drop-column/high",              // note
                                              "add-not-null-without-default/high",  // extra
                                              "volatile-default-rewrite/high"));    // token
}

TEST(Risk, MigrationStatements) {
  const ObjectInfo before = Info(kOrders);
  auto c = DescribeChange(Id("table:s.orders"), &before,
                          "ALTER TABLE s.orders DROP COLUMN note, ALTER COLUMN code TYPE varchar(10);\n"
                          "ALTER TABLE s.orders ADD COLUMN flag boolean NOT NULL;\n"
                          "ALTER TABLE s.orders ADD CONSTRAINT q CHECK (qty > 0);\n"
                          "ALTER TABLE s.orders ADD CONSTRAINT q2 CHECK (qty < 9) NOT VALID;\n"
                          "ALTER TABLE s.orders RENAME COLUMN total TO amount;");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(Codes(*c), ElementsAre("drop-column/high", "narrow-column-type/high",
                                     "add-not-null-without-default/high", "constraint-without-not-valid/medium",
                                     "rename-column/medium"));
  ASSERT_TRUE(c->after.has_value());
  std::vector<std::string> cols;
  for (const auto& col : c->after->columns) cols.push_back(col.name + ":" + col.type);
  EXPECT_THAT(cols, ElementsAre("id:bigint", "code:character varying(10)", "amount:numeric(12,2)", "qty:integer",
                                "flag:"));
  c = DescribeChange(Id("table:s.orders"), &before, "DROP TABLE s.orders;");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->drops_object);
  EXPECT_THAT(Codes(*c), ElementsAre("drop-table/high"));
}

TEST(Risk, ProposalsAboutAnotherObjectOrUnparsableAreRefused) {
  const ObjectInfo before = Info(kOrders);
  auto c = DescribeChange(Id("table:s.orders"), &before, "ALTER TABLE s.other DROP COLUMN x;");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("about s.other, not table:s.orders"));
  c = DescribeChange(Id("table:s.orders"), &before, "ALTER TABLE s.orders\n DROP COLUMN ;");
  EXPECT_THAT(std::string(c.status().message()), HasSubstr("(line 2, column 14)"));
}

TEST(Risk, IndexWithoutConcurrentlyOnAnExistingTable) {
  testing::TestCatalog catalog;
  catalog.Add(Info(kOrders));
  const AnalyzeOptions options{.catalog = catalog.catalog()};
  auto c = DescribeChange(Id("index:s.orders_code_idx"), nullptr, "CREATE INDEX orders_code_idx ON s.orders (code)",
                          options);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(Codes(*c), ElementsAre("index-without-concurrently/medium"));
  c = DescribeChange(Id("index:s.orders_code_idx"), nullptr,
                     "CREATE INDEX CONCURRENTLY orders_code_idx ON s.orders (code)", options);
  EXPECT_TRUE(c->findings.empty());
}

// Dropping a column of the shop schema's orders table breaks exactly the
// views and functions that use that column.
TEST(Risk, DroppingAColumnBreaksExactlyItsUsers) {
  testing::TestCatalog catalog;
  const auto objects = testing::AnalyzeObjects(STRATA_SQL_TESTDATA "/shop.sql", &catalog);
  ASSERT_EQ(objects.size(), 46u);
  std::vector<DependentUse> dependents;
  for (const auto& [id, info] : objects)
    for (const auto& r : info.references)
      if (r.cls == RefClass::kRelation && r.QualifiedName() == "shop.orders")
        dependents.push_back({id, info.id.kind, r.columns, r.all_columns, r.via});
  ASSERT_EQ(dependents.size(), 10u);
  auto change = DescribeChange(Id("table:shop.orders"), &objects.at("table:shop.orders"),
                               "ALTER TABLE shop.orders DROP COLUMN placed_at");
  ASSERT_TRUE(change.ok()) << change.status();
  std::vector<std::string> broken;
  for (const auto& b : BreakingDependents(&*change, dependents)) broken.push_back(b.object);
  EXPECT_THAT(broken, UnorderedElementsAre("function:shop.customer_summary(bigint)",
                                           "materialized_view:shop.daily_sales", "view:shop.open_orders"));
  EXPECT_THAT(Codes(*change), ElementsAre("drop-column/high", "column-change-breaks-dependents/high"));

  // Changing the type of a column a view uses: PostgreSQL refuses.
  change = DescribeChange(Id("table:shop.orders"), &objects.at("table:shop.orders"),
                          "ALTER TABLE shop.orders ALTER COLUMN customer_id TYPE integer");
  ASSERT_TRUE(change.ok());
  broken.clear();
  for (const auto& b : BreakingDependents(&*change, dependents)) broken.push_back(b.object);
  EXPECT_THAT(broken, UnorderedElementsAre("view:shop.order_totals", "view:shop.open_orders",
                                           "function:shop.customer_summary(bigint)"));
}

TEST(Risk, DroppingAFunctionViewsOrTriggersCallAndRenamingWhatBodiesUse) {
  ProposedChange drop;
  drop.object = Id("function:s.log()");
  drop.drops_object = true;
  auto broken = BreakingDependents(&drop, {{"trigger:s.t.audit", "trigger", {}, false, {"trigger function"}},
                                           {"function:s.other()", "function", {}, false, {"body"}}});
  EXPECT_EQ(broken.size(), 2u);
  EXPECT_THAT(Codes(drop), ElementsAre("drop-function-in-use/high", "drop-in-use/high"));

  const ObjectInfo before = Info("CREATE TABLE s.t (a int, b int)");
  auto rename = DescribeChange(Id("table:s.t"), &before, "ALTER TABLE s.t RENAME TO t2");
  ASSERT_TRUE(rename.ok());
  broken = BreakingDependents(&*rename, {{"view:s.v", "view", {"a"}, false, {"from"}},
                                         {"function:s.f()", "function", {"a"}, false, {"body"}}});
  ASSERT_EQ(broken.size(), 1u);  // views follow a rename; function bodies do not
  EXPECT_EQ(broken[0].object, "function:s.f()");
  EXPECT_THAT(Codes(*rename), ElementsAre("rename-object/medium", "rename-breaks-dependents/high"));
}

}  // namespace
}  // namespace strata::sql
