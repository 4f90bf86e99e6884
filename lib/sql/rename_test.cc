#include "sql/rename.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace strata::sql {
namespace {

using ::testing::HasSubstr;

model::ObjectId Id(const std::string& s) { return *model::ParseObjectId(s); }

TEST(RenameInDefinition, RenamesTheSubjectOfEveryStatementAndKeepsTheRest) {
  const std::string before =
      "-- orders placed online\n"
      "CREATE TABLE sales.orders (\n"
      "  id bigint PRIMARY KEY,\n"
      "  orders int,            -- a column named like the table\n"
      "  parent bigint REFERENCES sales.orders (id),\n"
      "  customer_id bigint REFERENCES sales.customers (id)\n"
      ");\n"
      "COMMENT ON TABLE sales.orders IS 'sales.orders of the shop';\n"
      "COMMENT ON COLUMN sales.orders.orders IS 'count';\n"
      "ALTER TABLE sales.orders ADD CONSTRAINT orders_positive CHECK (orders >= 0);\n"
      "GRANT SELECT ON sales.orders TO reporting;\n";
  auto after = RenameInDefinition(before, Id("table:sales.orders"), Id("table:sales.purchases"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->sql,
            "-- orders placed online\n"
            "CREATE TABLE sales.purchases (\n"
            "  id bigint PRIMARY KEY,\n"
            "  orders int,            -- a column named like the table\n"
            "  parent bigint REFERENCES sales.purchases (id),\n"
            "  customer_id bigint REFERENCES sales.customers (id)\n"
            ");\n"
            "COMMENT ON TABLE sales.purchases IS 'sales.orders of the shop';\n"
            "COMMENT ON COLUMN sales.purchases.orders IS 'count';\n"
            "ALTER TABLE sales.purchases ADD CONSTRAINT orders_positive CHECK (orders >= 0);\n"
            "GRANT SELECT ON sales.purchases TO reporting;\n");
}

TEST(RenameInDefinition, UnqualifiedNamesStayUnqualifiedUnlessTheSchemaChanges) {
  const std::string before = "create view \"Open\" as select 1 as one; comment on view \"Open\" is 'x'";
  auto same = RenameInDefinition(before, Id("view:public.\"Open\""), Id("view:public.open_now"));
  ASSERT_TRUE(same.ok()) << same.status();
  EXPECT_EQ(same->sql, "create view open_now as select 1 as one; comment on view open_now is 'x'");
  auto moved = RenameInDefinition(before, Id("view:public.\"Open\""), Id("view:archive.\"Open\""));
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(moved->sql, "create view archive.\"Open\" as select 1 as one; comment on view archive.\"Open\" is 'x'");
}

TEST(RenameInDefinition, FunctionsKeepTheirSignatureAndBody) {
  const std::string before =
      "CREATE FUNCTION sales.total(o bigint) RETURNS numeric LANGUAGE sql AS $$ SELECT sales.total(o - 1) $$;\n"
      "COMMENT ON FUNCTION sales.total(bigint) IS 'sum'";
  auto after = RenameInDefinition(before, Id("function:sales.total(bigint)"), Id("function:sales.order_total(bigint)"));
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->sql,
            "CREATE FUNCTION sales.order_total(o bigint) RETURNS numeric LANGUAGE sql AS $$ SELECT sales.total(o - 1) "
            "$$;\nCOMMENT ON FUNCTION sales.order_total(bigint) IS 'sum'");
}

TEST(RenameInDefinition, TypesAndSequences) {
  auto type = RenameInDefinition("CREATE TYPE sales.state AS ENUM ('open', 'closed')", Id("type:sales.state"),
                                 Id("type:sales.order_state"));
  ASSERT_TRUE(type.ok()) << type.status();
  EXPECT_EQ(type->sql, "CREATE TYPE sales.order_state AS ENUM ('open', 'closed')");
  auto seq = RenameInDefinition("CREATE SEQUENCE sales.ids START 10", Id("sequence:sales.ids"),
                                Id("sequence:sales.order_ids"));
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(seq->sql, "CREATE SEQUENCE sales.order_ids START 10");
}

TEST(RenameInDefinition, RefusesWhatItCannotRename) {
  auto other = RenameInDefinition("CREATE TABLE sales.lines (id int)", Id("table:sales.orders"),
                                  Id("table:sales.purchases"));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(other.status().message(), HasSubstr("never names table:sales.orders"));
  auto kind = RenameInDefinition("CREATE TABLE sales.orders (id int)", Id("table:sales.orders"),
                                 Id("view:sales.orders"));
  EXPECT_EQ(kind.status().code(), absl::StatusCode::kInvalidArgument);
  auto broken = RenameInDefinition("CREATE TABLE sales.orders (id int", Id("table:sales.orders"),
                                   Id("table:sales.purchases"));
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RenameSchemaReferences, RenamesTheSchemaOfEveryQualifiedNameButNotInsideStrings) {
  const std::string view =
      "CREATE VIEW sales.big AS\n"
      "SELECT o.id, sales.total(o.id) AS total, 'sales.orders' AS label\n"
      "  FROM sales.orders o JOIN \"Sales\".x ON true JOIN salesx.y ON true;\n"
      "COMMENT ON COLUMN sales.big.total IS 'sales.big';\n";
  auto renamed = RenameSchemaReferences(view, "sales", "shop");
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(*renamed,
            "CREATE VIEW shop.big AS\n"
            "SELECT o.id, shop.total(o.id) AS total, 'sales.orders' AS label\n"
            "  FROM shop.orders o JOIN \"Sales\".x ON true JOIN salesx.y ON true;\n"
            "COMMENT ON COLUMN shop.big.total IS 'sales.big';\n");
  const std::string function =
      "CREATE FUNCTION sales.f(a sales.money_t) RETURNS int LANGUAGE sql AS $$ SELECT 1 FROM sales.t $$;";
  EXPECT_EQ(*RenameSchemaReferences(function, "sales", "\"Shop\""),
            "CREATE FUNCTION \"Shop\".f(a \"Shop\".money_t) RETURNS int LANGUAGE sql AS $$ SELECT 1 FROM sales.t $$;")
      << "bodies are kept";
  EXPECT_EQ(*RenameSchemaReferences("CREATE TABLE sales.c (id integer DEFAULT nextval('sales.c_id_seq'::regclass), "
                                    "note text DEFAULT 'sales.c');",
                                    "sales", "shop"),
            "CREATE TABLE shop.c (id integer DEFAULT nextval('shop.c_id_seq'::regclass), note text DEFAULT 'sales.c');")
      << "names cast to regclass are names; other strings are kept";
  EXPECT_FALSE(RenameSchemaReferences("CREATE VIEW v AS SELECT 'x", "sales", "shop").ok());
}

}  // namespace
}  // namespace strata::sql
