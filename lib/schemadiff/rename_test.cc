// Rename hints without a database: parsing and the statements both ways.
// (tests/schema_cli_test.cc applies them to a real PostgreSQL.)
#include "schemadiff/rename.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace strata::schemadiff {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(RenameHints, ParseTheirFormsAndRefuseOthersSayingWhy) {
  auto t = ParseObjectRename("table:sales.orders=sales.purchases");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->kind, "table");
  EXPECT_EQ(t->from, "sales.orders");
  EXPECT_EQ(t->to, "sales.purchases");
  EXPECT_THAT(std::string(ParseObjectRename("index:s.i=s.j").status().message()), HasSubstr("cannot rename a index"));
  EXPECT_THAT(std::string(ParseObjectRename("table:orders=s.p").status().message()), HasSubstr("qualify FROM"));
  EXPECT_THAT(std::string(ParseObjectRename("function:s.f=s.g").status().message()), HasSubstr("argument types"));
  EXPECT_FALSE(ParseObjectRename("table:s.a=").ok());
  auto c = ParseColumnRename("sales.purchases.total=amount");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->from, "sales.purchases.total");
  EXPECT_FALSE(ParseColumnRename("purchases.total=amount").ok());
  auto v = ParseValueRename("sales.status.v1.0=v1.1");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->kind, "value");
  EXPECT_EQ(v->from, "sales.status.v1.0") << "the label keeps its dots";
  EXPECT_EQ(v->to, "v1.1");
  EXPECT_FALSE(ParseValueRename("status.shipped=sent").ok()) << "the type needs its schema";
  EXPECT_FALSE(ParseValueRename("sales.status.=sent").ok());
}

TEST(RenameHints, StatementsMoveSchemasRenameAndUndoInReverseOrder) {
  const std::vector<Rename> renames = {
      {"table", "sales.orders", "archive.old_orders"},
      {"column", "archive.old_orders.total", "amount"},
      {"function", "sales.total(integer)", "sales.sum_of"},
      {"schema", "billing", "invoicing"},
      {"value", "invoicing.state.o'k", "done"},
  };
  EXPECT_THAT(RenameStatements(renames),
              ElementsAre("ALTER TABLE sales.orders SET SCHEMA archive",
                          "ALTER TABLE archive.orders RENAME TO old_orders",
                          "ALTER TABLE archive.old_orders RENAME COLUMN total TO amount",
                          "ALTER FUNCTION sales.total(integer) RENAME TO sum_of",
                          "ALTER SCHEMA billing RENAME TO invoicing",
                          "ALTER TYPE invoicing.state RENAME VALUE 'o''k' TO 'done'"));
  EXPECT_THAT(UndoRenameStatements(renames),
              ElementsAre("ALTER TYPE invoicing.state RENAME VALUE 'done' TO 'o''k'",
                          "ALTER SCHEMA invoicing RENAME TO billing",
                          "ALTER FUNCTION sales.sum_of(integer) RENAME TO total",
                          "ALTER TABLE archive.old_orders RENAME COLUMN amount TO total",
                          "ALTER TABLE archive.old_orders SET SCHEMA sales",
                          "ALTER TABLE sales.old_orders RENAME TO orders"));
}

TEST(RenameHints, ASchemaRenameRunsFirstAndMovesItsObjects) {
  const std::vector<Rename> renames = {
      {"table", "sales.orders", "shop.orders"},  // moved by the schema rename alone
      {"schema", "sales", "shop"},
      {"table", "sales.items", "shop.goods"},
      {"column", "shop.goods.total", "amount"},
  };
  EXPECT_THAT(RenameStatements(InSchemaOrder(renames)),
              ElementsAre("ALTER SCHEMA sales RENAME TO shop", "ALTER TABLE shop.items RENAME TO goods",
                          "ALTER TABLE shop.goods RENAME COLUMN total TO amount"));
  EXPECT_THAT(UndoRenameStatements(InSchemaOrder(renames)),
              ElementsAre("ALTER TABLE shop.goods RENAME COLUMN amount TO total",
                          "ALTER TABLE shop.goods RENAME TO items", "ALTER SCHEMA shop RENAME TO sales"));
}

}  // namespace
}  // namespace strata::schemadiff
