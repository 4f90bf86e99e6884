#include "model/object_id.h"

#include <gtest/gtest.h>

namespace strata::model {
namespace {

TEST(ObjectIdTest, ParsesCanonicalIds) {
  auto id = ParseObjectId("table:sales.orders");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->kind, "table");
  EXPECT_EQ(id->schema, "sales");
  EXPECT_EQ(id->name, "orders");
  EXPECT_EQ(id->Aggregate(), "object:table:sales.orders");
}

TEST(ObjectIdTest, FoldsCaseAndNormalizesSignatures) {
  EXPECT_EQ(ParseObjectId("TABLE:Sales.Orders")->ToString(), "table:sales.orders");
  EXPECT_EQ(ParseObjectId("function:sales.total( INT4 , varchar )")->ToString(),
            "function:sales.total(integer,character varying)");
  EXPECT_EQ(ParseObjectId("function:sales.now()")->ToString(), "function:sales.now()");
  EXPECT_EQ(ParseObjectId("matview:sales.mv")->ToString(), "materialized_view:sales.mv");
}

TEST(ObjectIdTest, KeepsQuotedIdentifiers) {
  EXPECT_EQ(ParseObjectId("table:\"Sales\".\"Order Items\"")->ToString(),
            "table:\"Sales\".\"Order Items\"");
  EXPECT_EQ(ParseObjectId("table:\"sales\".orders")->ToString(), "table:sales.orders");
}

TEST(ObjectIdTest, DefaultsSchemaAndHandlesSchemalessKinds) {
  EXPECT_EQ(ParseObjectId("view:v_orders")->ToString(), "view:public.v_orders");
  EXPECT_EQ(ParseObjectId("schema:sales")->ToString(), "schema:sales");
  EXPECT_EQ(ParseObjectId("trigger:sales.orders.audit")->ToString(), "trigger:sales.orders.audit");
  EXPECT_EQ(ParseObjectId("trigger:orders.audit")->ToString(), "trigger:public.orders.audit");
}

TEST(ObjectIdTest, ReferencesWithoutKindAreLeftForResolution) {
  auto ref = ParseObjectRef("sales.orders");
  ASSERT_TRUE(ref.ok());
  EXPECT_EQ(ref->kind, "");
  EXPECT_EQ(ref->QualifiedName(), "sales.orders");
  EXPECT_EQ(ParseObjectRef("orders")->QualifiedName(), "public.orders");
}

TEST(ObjectIdTest, RejectsMalformedIdsWithAReason) {
  for (const char* bad : {"", "widget:sales.x", "table:a.b.c", "table:sales.", "function:sales.f",
                          "table:sales.f(int)", "schema:a.b", "table:\"open", "sales.orders"}) {
    auto id = ParseObjectId(bad);
    EXPECT_FALSE(id.ok()) << bad;
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_FALSE(id.status().message().empty());
  }
}

TEST(ObjectIdTest, AggregateRoundTrips) {
  auto id = ObjectIdFromAggregate("object:function:sales.total(integer)");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->name, "total(integer)");
  EXPECT_FALSE(ObjectIdFromAggregate("release:r1").ok());
}

}  // namespace
}  // namespace strata::model
