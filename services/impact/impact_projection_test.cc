#include "impact/impact_projection.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "eventlog/embedded_log.h"
#include "rocksdb/db.h"
#include "sql/testdata_loader.h"

namespace strata::impact {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAreArray;

// One log and one projection of it.
struct Replica {
  std::unique_ptr<eventlog::EventLog> log;
  ImpactProjection projection{{"public"}};
  std::unique_ptr<projection::ProjectionRunner> runner;
  int next_id = 0;

  explicit Replica(const fs::path& dir, int partitions = 4, bool start = true) {
    log = std::move(*eventlog::OpenEmbeddedLog({.dir = (dir / "log").string(), .partitions = partitions}));
    projection::RunnerOptions options;
    options.db_path = (dir / "state").string();
    runner = std::move(*projection::ProjectionRunner::Open(options, log.get(), &projection));
    if (start) {
      EXPECT_TRUE(runner->Start().ok());
    }
  }
  void Append(const std::string& object, uint64_t seq, std::function<void(v1::Event&)> payload) {
    v1::Event e;
    e.set_event_id("e" + std::to_string(next_id++));
    e.set_aggregate("object:" + object);
    e.set_seq(seq);
    e.mutable_actor()->set_user("alice");
    payload(e);
    ASSERT_TRUE(log->Append(e.aggregate(), e.SerializeAsString(), {}).ok());
  }
  // `keys`: the names the definition uses, as the lock service records them.
  void CheckIn(const std::string& object, uint64_t first_seq, uint64_t version, const std::string& ddl,
               const std::vector<std::string>& keys = {}) {
    Append(object, first_seq, [](v1::Event& e) { e.mutable_checked_out(); });
    Append(object, first_seq + 1, [&](v1::Event& e) {
      e.mutable_checked_in()->set_version(version);
      e.mutable_checked_in()->set_definition(ddl);
      for (const auto& k : keys) e.mutable_checked_in()->mutable_references()->add_keys(k);
    });
  }
  GraphStore Store() {
    EXPECT_TRUE(runner->CatchUp(absl::Seconds(20)).ok());
    return GraphStore([db = runner->db()](const std::string& key) -> absl::StatusOr<std::optional<std::string>> {
      std::string v;
      if (!db->Get(rocksdb::ReadOptions(), key, &v).ok()) return std::nullopt;
      return v;
    });
  }
  std::string Dump() {
    EXPECT_TRUE(runner->CatchUp(absl::Seconds(20)).ok());
    std::string all;
    std::unique_ptr<rocksdb::Iterator> it(runner->db()->NewIterator(rocksdb::ReadOptions()));
    for (it->SeekToFirst(); it->Valid(); it->Next())
      if (it->key()[0] != '\x01') all += it->key().ToString() + "=" + it->value().ToString() + "\n";
    return all;
  }
};

class ImpactProjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("impactproj-" + std::to_string(getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
  }
  void TearDown() override { fs::remove_all(root_); }
  fs::path root_;
};

std::vector<std::string> Nodes(const v1::DependencyTree& tree) {
  std::vector<std::string> out;
  for (const auto& n : tree.nodes()) {
    std::string s = std::to_string(n.depth()) + " " + n.object();
    if (n.columns_size()) {
      s += "(";
      for (int i = 0; i < n.columns_size(); ++i) s += (i ? "," : "") + n.columns(i);
      s += ")";
    }
    if (n.unknown()) s += "?";
    out.push_back(s);
  }
  return out;
}

TEST_F(ImpactProjectionTest, ShopSchemaGraph) {
  Replica r(root_ / "a");
  for (const auto& [id, ddl] : sql::testing::LoadObjects(STRATA_SQL_TESTDATA "/shop.sql")) r.CheckIn(id, 1, 1, ddl);
  GraphStore store = r.Store();
  auto deps = store.Dependents("table:shop.orders", 1);
  ASSERT_TRUE(deps.ok()) << deps.status();
  EXPECT_THAT(Nodes(*deps), UnorderedElementsAreArray({
                                "1 function:shop.customer_summary(bigint)(customer_id,placed_at)",
                                "1 function:shop.ship_order(bigint,integer)(id,status)",
                                "1 index:shop.orders_customer_idx(customer_id)",
                                "1 materialized_view:shop.daily_sales(id,placed_at)",
                                "1 table:shop.invoices(id)",
                                "1 table:shop.order_items(id)",
                                "1 table:shop.shipments(id)",
                                "1 trigger:shop.orders.orders_audit",
                                "1 view:shop.open_orders(customer_id,id,placed_at,status)",
                                "1 view:shop.order_totals(customer_id,id)",
                            }));
  // Transitively: through order_totals to customer_revenue, top_customers,
  // the function that reads it and the view that calls that function.
  auto all = store.Dependents("view:shop.order_totals", 0);
  ASSERT_TRUE(all.ok());
  EXPECT_THAT(Nodes(*all), UnorderedElementsAreArray({
                               "1 view:shop.customer_revenue(customer_id,total)",
                               "1 materialized_view:shop.daily_sales(order_id,total)",
                               "2 view:shop.top_customers(id,name,total)",
                               "2 function:shop.customer_level(bigint)(id,total)",
                               "2 procedure:shop.refresh_sales()",
                               "3 view:shop.customer_levels",
                           }));
  // Dependencies, with the unknown reference reported as such.
  auto uses = store.Dependencies("function:shop.ship_order(bigint,integer)", 0);
  ASSERT_TRUE(uses.ok());
  EXPECT_THAT(Nodes(*uses), UnorderedElementsAreArray({
                                "1 table:shop.orders(id,status)",
                                "1 table:shop.shipments(order_id,shipped_at,warehouse_id)",
                                "1 function:shop.notify_carrier?",
                                "2 table:shop.customers(id)",
                                "2 type:shop.address",
                                "2 type:shop.order_status",
                                "2 table:shop.warehouses(id)",
                                "3 domain:shop.email",
                                "3 table:shop.employees(id)",
                            }));
  // The warehouses' key to employees was checked in before employees existed.
  auto wh = store.Dependents("table:shop.employees", 1);
  ASSERT_TRUE(wh.ok());
  EXPECT_THAT(Nodes(*wh), ElementsAre("1 table:shop.warehouses(id)"));
}

// Partitions are read in no fixed order relative to each other: the graph
// must come out the same whatever the order of check-ins of different objects.
TEST_F(ImpactProjectionTest, GraphDoesNotDependOnTheOrderOfCheckIns) {
  auto objects = sql::testing::LoadObjects(STRATA_SQL_TESTDATA "/shop.sql");
  Replica forward(root_ / "f");
  for (const auto& [id, ddl] : objects) forward.CheckIn(id, 1, 1, ddl);
  Replica backward(root_ / "b");
  for (auto it = objects.rbegin(); it != objects.rend(); ++it) backward.CheckIn(it->first, 1, 1, it->second);
  EXPECT_EQ(forward.Dump(), backward.Dump());
}

// Definitions are analyzed when a commit closes: a replay that puts many
// versions into one commit ends in the state of one commit per check-in.
TEST_F(ImpactProjectionTest, GraphDoesNotDependOnHowCheckInsAreGroupedIntoCommits) {
  auto objects = sql::testing::LoadObjects(STRATA_SQL_TESTDATA "/shop.sql");
  auto check_in_all = [&](Replica& r, bool wait_each) {
    for (const auto& [id, ddl] : objects) {
      r.CheckIn(id, 1, 1, ddl);
      if (wait_each) ASSERT_TRUE(r.runner->CatchUp(absl::Seconds(20)).ok());
    }
    // A second version of a table the views use, dropping a column.
    r.CheckIn("table:shop.customers", 3, 2,
              "CREATE TABLE shop.customers (id bigserial PRIMARY KEY, email shop.email NOT NULL, region text);");
  };
  Replica one_by_one(root_ / "a");
  check_in_all(one_by_one, true);
  Replica batched(root_ / "b");
  batched.runner->Stop();  // everything lands in the log first: one replay, few commits
  check_in_all(batched, false);
  ASSERT_TRUE(batched.runner->Start().ok());
  EXPECT_EQ(one_by_one.Dump(), batched.Dump());
}

TEST_F(ImpactProjectionTest, NewVersionsMoveEdgesAndLostRacesChangeNothing) {
  Replica r(root_ / "a");
  r.CheckIn("table:s.t", 1, 1, "CREATE TABLE s.t (a int, b int)");
  r.CheckIn("view:s.v", 1, 1, "CREATE VIEW s.v AS SELECT a FROM s.t");
  r.CheckIn("view:s.v", 3, 2, "CREATE VIEW s.v AS SELECT b FROM s.t");
  // A check-in that lost its race (wrong seq) is ignored.
  r.Append("view:s.v", 3, [](v1::Event& e) {
    e.mutable_checked_in()->set_version(2);
    e.mutable_checked_in()->set_definition("CREATE VIEW s.v AS SELECT a, b FROM s.t");
  });
  // A definition that does not analyze stands alone.
  r.CheckIn("view:s.w", 1, 1, "CREATE VIEW s.other AS SELECT a FROM s.t");
  GraphStore store = r.Store();
  auto deps = store.Dependents("table:s.t", 0);
  ASSERT_TRUE(deps.ok());
  EXPECT_THAT(Nodes(*deps), ElementsAre("1 view:s.v(b)"));
  auto w = store.Object("view:s.w");
  ASSERT_TRUE(w.ok() && *w);
  EXPECT_EQ((*w)->analysis_error(), "the definition defines view:s.other, not view:s.w");
}

// A dropped version (strata drop) leaves the graph: no edges of its own, no
// analysis error, and what used it now uses an unknown name.
TEST_F(ImpactProjectionTest, ADroppedObjectLeavesTheGraph) {
  Replica r(root_ / "a");
  r.CheckIn("table:s.t", 1, 1, "CREATE TABLE s.t (a int)");
  r.CheckIn("view:s.v", 1, 1, "CREATE VIEW s.v AS SELECT a FROM s.t");
  r.CheckIn("view:s.w", 1, 1, "CREATE VIEW s.w AS SELECT a FROM s.v");
  r.Append("view:s.v", 3, [](v1::Event& e) { e.mutable_checked_out(); });
  r.Append("view:s.v", 4, [](v1::Event& e) {
    e.mutable_checked_in()->set_version(2);
    e.mutable_checked_in()->set_dropped(true);
  });
  GraphStore store = r.Store();
  auto deps = store.Dependents("table:s.t", 0);
  ASSERT_TRUE(deps.ok());
  EXPECT_TRUE(deps->nodes().empty()) << deps->DebugString();
  auto v = store.Object("view:s.v");
  ASSERT_TRUE(v.ok() && *v);
  EXPECT_TRUE((*v)->dropped());
  EXPECT_TRUE((*v)->analysis_error().empty());
  EXPECT_TRUE((*v)->references().empty());
  auto w = store.Dependencies("view:s.w", 0);
  ASSERT_TRUE(w.ok());
  EXPECT_THAT(Nodes(*w), ElementsAre("1 relation:s.v(a)?"));  // a name nothing defines
}

// A column change of a table with many dependents re-analyzes each of them;
// the table's dependents record is read and written once for all of them,
// not twice per dependent (which cost O(N^2) in the size of the record).
TEST_F(ImpactProjectionTest, ACascadeOverManyDependentsWritesTheirRecordOnce) {
  Replica r(root_ / "a");
  r.CheckIn("table:s.t", 1, 1, "CREATE TABLE s.t (a int, b int)");
  constexpr int kViews = 150;
  for (int i = 0; i < kViews; ++i)
    r.CheckIn("view:s.v" + std::to_string(i), 1, 1, "CREATE VIEW s.v" + std::to_string(i) + " AS SELECT * FROM s.t");
  ASSERT_TRUE(r.runner->CatchUp(absl::Seconds(20)).ok());
  const uint64_t before = r.projection.dependents_written();
  r.CheckIn("table:s.t", 3, 2, "CREATE TABLE s.t (a int, b int, c int)");  // every view's columns change
  GraphStore store = r.Store();
  // The table's record, and nothing else: the views reference only it.
  EXPECT_LE(r.projection.dependents_written() - before, 2u);
  auto deps = store.DirectDependents("table:s.t");
  ASSERT_TRUE(deps.ok());
  ASSERT_EQ(deps->size(), static_cast<size_t>(kViews));
  for (const auto& e : *deps) {
    EXPECT_EQ(e.version(), 1u);
    EXPECT_THAT(std::vector<std::string>(e.columns().begin(), e.columns().end()), ElementsAre("a", "b", "c"))
        << e.source();
  }
  // The same graph as a replay in one go.
  Replica fresh(root_ / "b");
  fresh.CheckIn("table:s.t", 1, 1, "CREATE TABLE s.t (a int, b int)");
  for (int i = 0; i < kViews; ++i)
    fresh.CheckIn("view:s.v" + std::to_string(i), 1, 1, "CREATE VIEW s.v" + std::to_string(i) + " AS SELECT * FROM s.t");
  fresh.CheckIn("table:s.t", 3, 2, "CREATE TABLE s.t (a int, b int, c int)");
  EXPECT_EQ(fresh.Dump(), r.Dump());
}

// A replay's commit holds views checked in before the views and table they
// read (the order of the log is not the order of dependency): each object is
// analyzed once, what others use first, and the graph is the one that
// check-ins committed one by one give.
TEST_F(ImpactProjectionTest, AReplayAnalyzesWhatOthersUseFirstAndEachObjectOnce) {
  constexpr int kChain = 8, kOthers = 70;  // > 64 check-ins: parsed on the other cores too
  auto check_in_all = [&](Replica& r, bool commit_each) {
    auto done = [&] {
      if (commit_each) {
        ASSERT_TRUE(r.runner->CatchUp(absl::Seconds(20)).ok());
      }
    };
    for (int i = kChain; i >= 1; --i) {  // v8 reads v7 ... v1 reads the table
      const std::string from = i == 1 ? "s.t" : "s.v" + std::to_string(i - 1);
      r.CheckIn("view:s.v" + std::to_string(i), 1, 1,
                "CREATE VIEW s.v" + std::to_string(i) + " AS SELECT * FROM " + from, {"relation:" + from, "schema:s"});
      done();
    }
    for (int i = 0; i < kOthers; ++i) {
      r.CheckIn("view:s.w" + std::to_string(i), 1, 1, "CREATE VIEW s.w" + std::to_string(i) + " AS SELECT a FROM s.v3",
                {"relation:s.v3", "schema:s"});
      done();
    }
    r.CheckIn("table:s.t", 1, 1, "CREATE TABLE s.t (a int, b int)", {"schema:s"});
    done();
  };
  Replica replay(root_ / "replay", 4, /*start=*/false);
  check_in_all(replay, false);
  ASSERT_TRUE(replay.runner->Start().ok());
  ASSERT_TRUE(replay.runner->CatchUp(absl::Seconds(20)).ok());
  EXPECT_EQ(replay.runner->stats().batches, 1u);
  EXPECT_EQ(replay.projection.analyses(), static_cast<uint64_t>(kChain + kOthers + 1));

  Replica live(root_ / "live");
  check_in_all(live, true);
  EXPECT_EQ(live.Dump(), replay.Dump());
  auto deps = replay.Store().Dependents("table:s.t", 0);
  ASSERT_TRUE(deps.ok());
  EXPECT_EQ(deps->nodes_size(), kChain + kOthers);  // everything but the table reads it
}

}  // namespace
}  // namespace strata::impact
