#include "deploy/deploy_scripts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace strata::deploy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Entries State(std::vector<std::pair<std::string, uint64_t>> objects) {
  Entries out;
  for (const auto& [id, v] : objects) {
    auto* e = out.Add();
    e->set_object(id);
    e->set_version(v);
  }
  return out;
}

TEST(DeployScriptsTest, DataScriptsRunAfterTheSchemaAndAreUndoneInReverseBeforeIt) {
  schemadiff::Plan forward, backward;
  forward.steps.push_back({.sql = "ALTER TABLE s.t ADD COLUMN c text", .object = "table s.t", .data_loss = ""});
  backward.steps.push_back({.sql = "ALTER TABLE s.t DROP COLUMN c", .object = "table s.t", .data_loss = ""});
  v1::Release r;
  auto* a = r.add_data_scripts();
  a->set_name("a.sql");
  a->set_sql("INSERT INTO s.t VALUES (1)");
  a->set_rollback_sql("DELETE FROM s.t WHERE id = 1;");
  auto* b = r.add_data_scripts();
  b->set_name("b.sql");
  b->set_sql("UPDATE s.t SET c = 'x'; -- backfill");
  b->set_rollback_sql("UPDATE s.t SET c = NULL");
  Scripts s = ComposeScripts(forward, backward, &r, "release r to qa");
  const size_t schema = s.script.find("ADD COLUMN c"), first = s.script.find("INSERT"), second = s.script.find("UPDATE");
  ASSERT_NE(schema, std::string::npos);
  EXPECT_LT(schema, first);
  EXPECT_LT(first, second);
  EXPECT_THAT(s.script, HasSubstr("INSERT INTO s.t VALUES (1)\n;"));
  const size_t undo_b = s.rollback.find("SET c = NULL"), undo_a = s.rollback.find("DELETE"),
               drop = s.rollback.find("DROP COLUMN c");
  EXPECT_LT(undo_b, undo_a);
  EXPECT_LT(undo_a, drop);
}

TEST(DeployScriptsTest, TerminatedStatementsSurviveTrailingComments) {
  EXPECT_EQ(Terminated("SELECT 1;"), "SELECT 1;");
  EXPECT_EQ(Terminated("SELECT 1  \n\n"), "SELECT 1\n;");
  EXPECT_EQ(Terminated("SELECT 1 -- why"), "SELECT 1 -- why\n;");
  EXPECT_EQ(Terminated(""), "");
}

TEST(DeployScriptsTest, ChangedObjectsAndEqualStates) {
  auto before = State({{"table:s.a", 1}, {"table:s.b", 2}, {"view:s.v", 1}});
  auto after = State({{"table:s.b", 3}, {"table:s.a", 1}, {"index:s.i", 1}});
  EXPECT_THAT(ChangedObjects(before, after), ElementsAre("index:s.i", "table:s.b", "view:s.v"));
  EXPECT_TRUE(SameEntries(before, State({{"view:s.v", 1}, {"table:s.b", 2}, {"table:s.a", 1}})));
  EXPECT_FALSE(SameEntries(before, after));
}

TEST(DeployScriptsTest, TitlesSayWhereTheEnvironmentComesFrom) {
  v1::Environment env;
  env.set_name("qa");
  EXPECT_EQ(DeploymentTitle("r2", env), "release r2 to qa (from an empty schema)");
  env.add_state()->set_object("table:s.a");
  EXPECT_EQ(DeploymentTitle("r2", env), "release r2 to qa (from its imported state)");
  env.set_current_release("r1");
  EXPECT_EQ(DeploymentTitle("r2", env), "release r2 to qa (from r1)");
}

TEST(DeployScriptsTest, ReferenceDataRunsBetweenTheSchemaAndTheDataScriptsAndUndoesBeforeTheSchema) {
  schemadiff::Plan forward, backward, after;
  after.steps.push_back({.sql = "ALTER TABLE s.o ADD CONSTRAINT fk FOREIGN KEY (c) REFERENCES s.codes", .object = "table s.o",
                         .data_loss = ""});
  v1::Release r;
  auto* a = r.add_data_scripts();
  a->set_name("a.sql");
  a->set_sql("UPDATE s.o SET c = 1");
  a->set_rollback_sql("UPDATE s.o SET c = NULL");
  Scripts s = ComposeScripts(forward, backward, &r, "release r to qa", "INSERT INTO s.codes VALUES (1);\n",
                             "DELETE FROM s.codes WHERE code = 1;\n", &after);
  EXPECT_THAT(s.script, HasSubstr("-- No schema changes.\n"));
  EXPECT_THAT(s.script, ::testing::Not(HasSubstr("-- No changes.")));
  const size_t rows = s.script.find("INSERT INTO s.codes"), fk = s.script.find("ADD CONSTRAINT fk"),
               script = s.script.find("UPDATE s.o SET c = 1");
  ASSERT_NE(rows, std::string::npos);
  EXPECT_LT(rows, fk);
  EXPECT_LT(fk, script);
  const size_t undo = s.rollback.find("UPDATE s.o SET c = NULL"), back = s.rollback.find("DELETE FROM s.codes"),
               schema = s.rollback.find("-- No schema changes.");
  EXPECT_LT(undo, back);
  EXPECT_LT(back, schema);
}

}  // namespace
}  // namespace strata::deploy
