// End to end, on both log backends: the impact service (in strata-server,
// or strata-impact beside strata-lock on Kafka) fed by real check-ins of the
// 46-object test schema, through gRPC and the strata CLI.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_split.h"

#include <fstream>

#include "sql/testdata_loader.h"
#include "support/stack.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAreArray;

std::vector<std::string> Objects(const google::protobuf::RepeatedPtrField<v1::Dependency>& nodes) {
  std::vector<std::string> out;
  for (const auto& n : nodes) out.push_back(n.object() + (n.unknown() ? "?" : ""));
  return out;
}

class ImpactE2ETest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(GetParam(), nullptr, /*with_history=*/false, /*with_impact=*/true);
    stack_->Start();
    lock_ = stack_->Stub();
    impact_ = stack_->ImpactStub();
  }

  grpc::Status CheckIn(const std::string& object, const std::string& ddl, const std::string& token = "alice-token") {
    v1::CheckOutRequest co;
    co.add_objects(object);
    v1::CheckOutResponse co_resp;
    grpc::Status s = lock_->CheckOut(Ctx(token).get(), co, &co_resp);
    if (!s.ok()) return s;
    v1::CheckInRequest ci;
    ci.set_object(object);
    ci.set_definition(ddl);
    ci.set_message("shop schema");
    v1::CheckInResponse ci_resp;
    return lock_->CheckIn(Ctx(token).get(), ci, &ci_resp);
  }

  void CheckInShop() {
    for (const auto& [id, ddl] : sql::testing::LoadObjects(STRATA_SQL_TESTDATA "/shop.sql")) {
      grpc::Status s = CheckIn(id, ddl);
      ASSERT_TRUE(s.ok()) << id << ": " << s.error_message();
    }
  }

  v1::DependencyTree Dependents(const std::string& object, uint32_t depth) {
    v1::DependencyRequest req;
    req.set_object(object);
    req.set_depth(depth);
    v1::DependencyTree tree;
    grpc::Status s = impact_->GetDependents(Ctx("vera-token").get(), req, &tree);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return tree;
  }

  grpc::Status Analyze(const std::string& object, const std::string& proposed, v1::ChangeImpact* out) {
    v1::AnalyzeChangeRequest req;
    req.set_object(object);
    req.set_proposed_definition(proposed);
    return impact_->AnalyzeChange(Ctx("vera-token").get(), req, out);
  }

  // The latest definition of `object` (from the lock service).
  std::string Definition(const std::string& object) {
    v1::GetObjectRequest req;
    req.set_object(object);
    v1::ObjectHead head;
    EXPECT_TRUE(lock_->GetObject(Ctx("vera-token").get(), req, &head).ok());
    return head.definition();
  }

  int Cli(const std::string& args) { return RunCli(stack_->impact_endpoint(), "vera-token", args, &out_); }

  std::unique_ptr<Stack> stack_;
  std::unique_ptr<v1::LockService::Stub> lock_;
  std::unique_ptr<v1::ImpactService::Stub> impact_;
  std::string out_;
};

TEST_P(ImpactE2ETest, DependencyGraphOfTheShopSchema) {
  CheckInShop();
  EXPECT_THAT(Objects(Dependents("table:shop.orders", 1).nodes()),
              UnorderedElementsAreArray({"function:shop.customer_summary(bigint)",
                                         "function:shop.ship_order(bigint,integer)", "index:shop.orders_customer_idx",
                                         "materialized_view:shop.daily_sales", "table:shop.invoices",
                                         "table:shop.order_items", "table:shop.shipments",
                                         "trigger:shop.orders.orders_audit", "view:shop.open_orders",
                                         "view:shop.order_totals"}));
  // Functions called by triggers and views.
  EXPECT_THAT(Objects(Dependents("function:shop.log_change()", 0).nodes()),
              UnorderedElementsAreArray({"trigger:shop.orders.orders_audit", "trigger:shop.payments.payments_audit"}));
  v1::DependencyRequest req;
  req.set_object("shop.ship_order(bigint,int)");
  req.set_depth(1);
  v1::DependencyTree uses;
  ASSERT_TRUE(impact_->GetDependencies(Ctx("vera-token").get(), req, &uses).ok());
  EXPECT_THAT(Objects(uses.nodes()),
              UnorderedElementsAreArray({"table:shop.orders", "table:shop.shipments", "function:shop.notify_carrier?"}));
}

TEST_P(ImpactE2ETest, DroppingAColumnBreaksExactlyTheViewsAndFunctionsThatUseIt) {
  CheckInShop();
  v1::ChangeImpact impact;
  ASSERT_TRUE(Analyze("table:shop.orders", "ALTER TABLE shop.orders DROP COLUMN placed_at;", &impact).ok());
  std::vector<std::string> broken;
  for (const auto& b : impact.breaking()) broken.push_back(b.object());
  EXPECT_THAT(broken, UnorderedElementsAreArray({"function:shop.customer_summary(bigint)",
                                                 "materialized_view:shop.daily_sales", "view:shop.open_orders"}));
  // The procedure refreshing the materialized view must be recreated with it.
  EXPECT_THAT(Objects(impact.affected()), UnorderedElementsAreArray({"procedure:shop.refresh_sales()"}));
  std::vector<std::string> codes;
  for (const auto& f : impact.findings()) codes.push_back(f.code() + "/" + f.severity());
  EXPECT_THAT(codes, UnorderedElementsAreArray({"drop-column/high", "column-change-breaks-dependents/high"}));

  // The same as a full new definition, through the CLI.
  const std::string file = stack_->data_dir() + "/../orders.sql";
  std::ofstream(file) << "CREATE TABLE shop.orders (\n  id bigserial PRIMARY KEY,\n"
                         "  customer_id bigint NOT NULL REFERENCES shop.customers (id),\n"
                         "  status shop.order_status NOT NULL DEFAULT 'new',\n  ship_to shop.address,\n"
                         "  note varchar(100)\n);\n";
  ASSERT_EQ(Cli("impact shop.orders --proposed " + file), 0) << out_;
  EXPECT_THAT(out_, HasSubstr("drops column placed_at"));
  EXPECT_THAT(out_, HasSubstr("column note: character varying(200) -> character varying(100) (narrowing)"));
  EXPECT_THAT(out_, HasSubstr("breaks 3 of its 10 direct dependents:"));
  EXPECT_THAT(out_, HasSubstr("✗ view:shop.open_orders: uses column placed_at, which would be dropped"));
  EXPECT_THAT(out_, HasSubstr("narrow-column-type"));
  EXPECT_THAT(out_, Not(HasSubstr("order_totals:")));
  ASSERT_EQ(Cli("--json impact shop.orders --proposed " + file), 0) << out_;
  EXPECT_THAT(out_, HasSubstr("\"breaking\""));
}

// Issue 20: renaming a table breaks the function bodies that name it (with
// the lines), not the views, foreign keys, indexes and triggers PostgreSQL
// keeps by OID.
TEST_P(ImpactE2ETest, ARenameBreaksTheBodiesThatNameTheObjectWithTheirLines) {
  CheckInShop();
  ASSERT_EQ(Cli("impact table:shop.orders --rename purchases"), 0) << out_;
  EXPECT_THAT(out_, HasSubstr("✗ function:shop.customer_summary(bigint): its body names shop.orders, which would be "
                              "renamed to purchases (line"));
  EXPECT_THAT(out_, HasSubstr("✗ function:shop.ship_order(bigint,integer)"));
  EXPECT_THAT(out_, Not(HasSubstr("✗ view:shop.open_orders")));
  EXPECT_THAT(out_, Not(HasSubstr("✗ table:shop.order_items")));
  EXPECT_THAT(out_, Not(HasSubstr("✗ trigger:")));
  v1::AnalyzeChangeRequest req;
  req.set_object("table:shop.orders");
  req.set_rename_to("purchases");
  v1::ChangeImpact impact;
  ASSERT_TRUE(impact_->AnalyzeChange(Ctx("vera-token").get(), req, &impact).ok());
  for (const auto& b : impact.breaking()) {
    EXPECT_FALSE(b.lines().empty()) << b.object();
    // Each line named really names the table.
    const auto lines = absl::StrSplit(Definition(b.object()), '\n');
    std::vector<std::string> text(lines.begin(), lines.end());
    for (int line : b.lines()) {
      ASSERT_LE(line, static_cast<int>(text.size())) << b.object();
      EXPECT_THAT(text[line - 1], HasSubstr("orders")) << b.object() << " line " << line;
    }
  }
  EXPECT_EQ(Cli("impact index:shop.orders_customer_idx --rename by_customer"), 2) << out_;
  EXPECT_THAT(out_, HasSubstr("an index is not renamed on its own"));
}

TEST_P(ImpactE2ETest, TreesOrderAndSets) {
  CheckInShop();
  ASSERT_EQ(Cli("deps view:shop.top_customers"), 0) << out_;
  EXPECT_THAT(out_, HasSubstr("view:shop.top_customers (version 1) uses:\n"
                              "└── view:shop.customer_revenue  columns: *  [from]\n"
                              "    ├── table:shop.customers  columns: id, name  [from]\n"));
  ASSERT_EQ(Cli("impact shop.order_totals"), 0) << out_;
  EXPECT_EQ(out_,
            "view:shop.order_totals (version 1) is used by:\n"
            "├── materialized_view:shop.daily_sales  columns: order_id, total  [from]\n"
            "│   └── procedure:shop.refresh_sales()  [body]\n"
            "└── view:shop.customer_revenue  columns: customer_id, total  [from]\n"
            "    ├── function:shop.customer_level(bigint)  columns: id, total  [body, from]\n"
            "    │   └── view:shop.customer_levels  [call]\n"
            "    └── view:shop.top_customers  columns: *  [from]\n");
  ASSERT_EQ(Cli("order table:shop.warehouses table:shop.stock table:shop.employees schema:shop"), 0) << out_;
  EXPECT_EQ(out_,
            "  1. schema:shop\n  2. table:shop.employees\n  3. table:shop.warehouses\n  4. table:shop.stock\n"
            "  5. table:shop.employees: add foreign key employees_warehouse_fk -> table:shop.warehouses\n"
            "  6. table:shop.warehouses: add foreign key warehouses_manager_fk -> table:shop.employees\n");
  v1::AnalyzeSetRequest set;
  set.add_objects("view:shop.order_totals");
  set.add_objects("view:shop.customer_revenue");
  v1::SetImpact resp;
  ASSERT_TRUE(impact_->AnalyzeSet(Ctx("vera-token").get(), set, &resp).ok());
  ASSERT_EQ(resp.order_size(), 2);
  EXPECT_EQ(resp.order(0).object(), "view:shop.order_totals");
  EXPECT_THAT(Objects(resp.dependents_outside()),
              UnorderedElementsAreArray({"materialized_view:shop.daily_sales", "view:shop.top_customers",
                                         "function:shop.customer_level(bigint)", "procedure:shop.refresh_sales()",
                                         "view:shop.customer_levels"}));
}

TEST_P(ImpactE2ETest, BadInput) {
  ASSERT_TRUE(CheckIn("table:shop.coupons", "CREATE TABLE shop.coupons (code text PRIMARY KEY);").ok());
  // A check-in that defines another object than the one checked out.
  grpc::Status s = CheckIn("table:shop.coupons", "CREATE TABLE shop.vouchers (code text PRIMARY KEY);");
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(),
            "table:shop.coupons: the definition defines table:shop.vouchers, not table:shop.coupons");
  s = CheckIn("table:shop.coupons", "CREATE TABLE coupons (code text);");
  EXPECT_THAT(s.error_message(), HasSubstr("qualify the name: shop.coupons"));
  s = CheckIn("table:shop.coupons", "CREATE TABLE shop.coupons (code text);\nCREATE INDEX i ON shop.coupons (code);");
  EXPECT_THAT(s.error_message(), HasSubstr("(line 2, column 1): the definition of table:shop.coupons also defines "
                                           "index:shop.i; check in each object separately"));
  // Unparsable proposals: line and column.
  v1::ChangeImpact impact;
  s = Analyze("table:shop.coupons", "ALTER TABLE shop.coupons\n  ADD COLUMN percent int NOT NULL,\n  DROP;", &impact);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("(line 3, column 7)"));
  // References to unknown objects are reported, not dropped.
  s = Analyze("table:shop.coupons",
              "CREATE TABLE shop.coupons (code text PRIMARY KEY, campaign_id int REFERENCES shop.campaigns (id));",
              &impact);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(impact.unknown_references(), UnorderedElementsAreArray({"relation:shop.campaigns"}));
  EXPECT_EQ(Cli("deps shop.nothing"), 4) << out_;
  EXPECT_THAT(out_, HasSubstr("unknown object shop.nothing"));
}

// The graph is a projection: wiped, it is rebuilt from the log, the same.
TEST_P(ImpactE2ETest, RebuiltFromTheLogAfterAWipe) {
  CheckInShop();
  const std::string before = Dependents("table:shop.customers", 0).DebugString();
  stack_->Stop();
  stack_->WipeProjection();
  stack_->Start();
  impact_ = stack_->ImpactStub();
  EXPECT_EQ(Dependents("table:shop.customers", 0).DebugString(), before);
}

INSTANTIATE_TEST_SUITE_P(Backends, ImpactE2ETest, ::testing::Values("embedded", "kafka"));

}  // namespace
}  // namespace strata::testing
