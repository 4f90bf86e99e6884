#include "sql/order.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "sql/analyze.h"
#include "sql/testdata_loader.h"

namespace strata::sql {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> Ids(const std::vector<OrderStep>& steps) {
  std::vector<std::string> out;
  for (const auto& s : steps)
    out.push_back(s.split_constraint() ? "fk " + s.object + " " + s.constraint + " -> " + s.references : s.object);
  return out;
}

TEST(Order, DependenciesFirstThenByKindAndName) {
  std::vector<OrderInput> in = {
      {.id = "view:s.v2", .kind = "view", .depends_on = {"view:s.v1"}},
      {.id = "view:s.v1", .kind = "view", .depends_on = {"table:s.b"}},
      {.id = "table:s.b", .kind = "table", .foreign_keys = {{"b_a_fk", "table:s.a"}}},
      {.id = "table:s.a", .kind = "table", .depends_on = {"type:s.e", "sequence:s.outside"}},
      {.id = "type:s.e", .kind = "type"},
  };
  auto steps = OrderByDependency(in);
  ASSERT_TRUE(steps.ok()) << steps.status();
  EXPECT_THAT(Ids(*steps), ElementsAre("type:s.e", "table:s.a", "table:s.b", "view:s.v1", "view:s.v2"));
}

TEST(Order, ForeignKeyCyclesAreSplitIntoSeparateSteps) {
  std::vector<OrderInput> in = {
      {.id = "table:s.warehouses", .kind = "table", .foreign_keys = {{"wh_manager_fk", "table:s.employees"}}},
      {.id = "table:s.employees", .kind = "table", .foreign_keys = {{"emp_wh_fk", "table:s.warehouses"}}},
      {.id = "table:s.stock", .kind = "table", .foreign_keys = {{"stock_wh_fk", "table:s.warehouses"}}},
      {.id = "table:s.self", .kind = "table", .foreign_keys = {{"self_parent_fk", "table:s.self"}}},
  };
  auto steps = OrderByDependency(in);
  ASSERT_TRUE(steps.ok()) << steps.status();
  // stock's key is outside the cycle: it stays inline, after warehouses.
  EXPECT_THAT(Ids(*steps), ElementsAre("table:s.employees", "table:s.self", "table:s.warehouses", "table:s.stock",
                                       "fk table:s.employees emp_wh_fk -> table:s.warehouses",
                                       "fk table:s.warehouses wh_manager_fk -> table:s.employees"));
}

TEST(Order, SoftEdgesGiveWayInACycleHardOnesDoNot) {
  std::vector<OrderInput> soft = {
      {.id = "function:s.a()", .kind = "function", .soft_depends_on = {"function:s.b()"}},
      {.id = "function:s.b()", .kind = "function", .soft_depends_on = {"function:s.a()"}},
      {.id = "view:s.v", .kind = "view", .depends_on = {"function:s.b()"}},
  };
  auto steps = OrderByDependency(soft);
  ASSERT_TRUE(steps.ok()) << steps.status();
  EXPECT_THAT(Ids(*steps), ElementsAre("function:s.a()", "function:s.b()", "view:s.v"));
  std::vector<OrderInput> hard = {
      {.id = "view:s.x", .kind = "view", .depends_on = {"view:s.y"}},
      {.id = "view:s.y", .kind = "view", .depends_on = {"view:s.x"}},
  };
  auto bad = OrderByDependency(hard);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("view:s.x, view:s.y"));
}

// The whole test schema in dependency order: every object after what it uses.
TEST(Order, ShopSchemaOrdersEveryObjectAfterItsDependencies) {
  testing::TestCatalog catalog;
  const auto objects = testing::AnalyzeObjects(STRATA_SQL_TESTDATA "/shop.sql", &catalog);
  ASSERT_EQ(objects.size(), 46u);
  // name -> id, to turn references into object ids.
  std::map<std::pair<int, std::string>, std::string> by_name;
  for (const auto& [id, info] : objects) {
    auto cls = RefClassOfKind(info.id.kind);
    std::string name = info.id.QualifiedName();
    if (auto p = name.find('('); p != std::string::npos) name = name.substr(0, p);
    if (cls) by_name[{static_cast<int>(*cls), name}] = id;
  }
  std::vector<OrderInput> in;
  for (const auto& [id, info] : objects) {
    OrderInput o{.id = id, .kind = info.id.kind};
    o.depends_on.push_back("schema:" + info.id.schema);
    for (const auto& r : info.references) {
      auto it = by_name.find({static_cast<int>(r.cls), r.QualifiedName()});
      if (it == by_name.end()) continue;
      const bool fk = std::find(r.via.begin(), r.via.end(), "foreign key") != r.via.end() && r.via.size() == 1;
      if (fk) o.foreign_keys.push_back({"", it->second});
      else o.depends_on.push_back(it->second);
    }
    in.push_back(o);
  }
  auto steps = OrderByDependency(in);
  ASSERT_TRUE(steps.ok()) << steps.status();
  ASSERT_EQ(steps->size(), 48u);  // 46 objects and the two keys of the warehouses/employees cycle
  std::map<std::string, size_t> pos;
  for (size_t i = 0; i < steps->size(); ++i)
    if (!(*steps)[i].split_constraint()) pos[(*steps)[i].object] = i;
  for (const auto& o : in) {
    for (const auto& d : o.depends_on)
      if (pos.count(d)) EXPECT_LT(pos[d], pos[o.id]) << o.id << " needs " << d;
  }
  EXPECT_EQ((*steps)[0].object, "schema:shop");
  EXPECT_TRUE((*steps)[46].split_constraint());
  EXPECT_EQ((*steps)[46].object, "table:shop.employees");
  EXPECT_EQ((*steps)[47].object, "table:shop.warehouses");
}

}  // namespace
}  // namespace strata::sql
