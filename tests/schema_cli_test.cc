// `strata schema diff` and `strata schema apply` as a user runs them: a real
// process, no Strata service, against the test PostgreSQL server.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "pg/pg.h"
#include "support/postgres.h"
#include "support/process.h"
#include "support/stack.h"

namespace strata {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDatabase;
using testing::TempDir;
using testing::TestServerUrl;

struct CliRun {
  int exit_code;
  std::string out, err;
};

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SchemaCli : public ::testing::Test {
 protected:
  std::string Write(const std::string& name, const std::string& text) {
    std::string path = dir_.path() + "/" + name;
    std::ofstream(path) << text;
    return path;
  }
  CliRun Strata(const std::string& args) {
    std::string out = dir_.path() + "/out", err = dir_.path() + "/err";
    // `schema diff` needs a shadow server; `schema apply` has no such option.
    std::string shadow = args.rfind("schema diff", 0) == 0 ? " --shadow-url '" + TestServerUrl() + "'" : "";
    std::string cmd = testing::BinaryPath("strata") + " " + args + shadow + " > " + out + " 2> " + err;
    int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, Read(out), Read(err)};
  }
  // The first value of the first row `sql` returns in the database at `url`.
  static std::string Value(const std::string& url, const std::string& sql) {
    auto session = pg::Session::Connect(url);
    EXPECT_TRUE(session.ok());
    if (!session.ok()) return "";
    auto rows = (*session)->Query(sql);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? rows->text(0, 0) : "";
  }
  // Applies the script `text` to the database at `url` through the CLI.
  void Apply(const std::string& name, const std::string& text, const std::string& url) {
    CliRun applied = Strata("schema apply " + Write(name, text) + " --url '" + url + "'");
    ASSERT_EQ(applied.exit_code, 0) << applied.err;
  }
  TempDir dir_{"strata-schema-cli"};
};

TEST_F(SchemaCli, DiffPrintsTheScriptOnStdoutAndTheSummaryOnStderr) {
  std::string a = Write("a.sql", "CREATE TABLE t (id int);\n");
  std::string b = Write("b.sql", "CREATE TABLE t (id int, name text NOT NULL DEFAULT '');\n");
  CliRun r = Strata("schema diff " + a + " " + b);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ALTER TABLE public.t ADD COLUMN name text DEFAULT ''::text NOT NULL;"));
  EXPECT_THAT(r.err, HasSubstr("1 statement(s): 0 created, 1 altered"));
  CliRun back = Strata("schema diff " + a + " " + b + " --reverse --allow-data-loss");
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_THAT(back.out, HasSubstr("-- rollback: "));
  EXPECT_THAT(back.out, HasSubstr("ALTER TABLE public.t DROP COLUMN name;"));
  // Without --allow-data-loss the rollback (it drops a column) is refused.
  CliRun refused = Strata("schema diff " + a + " " + b + " --reverse");
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("drops column public.t.name"));
  EXPECT_EQ(refused.out, "");
}

TEST_F(SchemaCli, EmptyDiffSucceeds) {
  std::string a = Write("a.sql", "CREATE TABLE t (id int);\n");
  CliRun r = Strata("schema diff " + a + " " + a);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("-- No changes."));
  EXPECT_THAT(r.err, HasSubstr("no differences"));
}

TEST_F(SchemaCli, DiffAgainstALiveDatabaseAndApplyClosesTheGap) {
  ScratchDatabase db("sdcli");
  std::string want = Write("want.sql", "CREATE TABLE t (id bigint PRIMARY KEY); CREATE VIEW v AS SELECT id FROM t;\n");
  CliRun diff = Strata("schema diff '" + db.url() + "' " + want);
  ASSERT_EQ(diff.exit_code, 0) << diff.err;
  std::string script = Write("up.sql", diff.out);
  CliRun apply = Strata("schema apply " + script + " --url '" + db.url() + "'");
  ASSERT_EQ(apply.exit_code, 0) << apply.err;
  EXPECT_THAT(apply.err, HasSubstr("in one transaction"));
  CliRun again = Strata("schema diff '" + db.url() + "' " + want);
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("-- No changes."));
}

// Issue 20: renames as hints. Without them a renamed table is a drop and a
// create (the summary lists the likely rename, never applies it); with them
// the script renames, the rows stay, views PostgreSQL rewrites keep working,
// and the rollback renames back.
TEST_F(SchemaCli, RenameHintsKeepTheRowsAndWithoutThemTheRenameIsOnlySuggested) {
  const std::string a = Write("a.sql",
                              "CREATE SCHEMA sales;\n"
                              "CREATE TABLE sales.orders (id int PRIMARY KEY, total numeric(12,2) NOT NULL);\n"
                              "CREATE VIEW sales.big AS SELECT id, total FROM sales.orders WHERE total > 100;\n");
  const std::string b = Write("b.sql",
                              "CREATE SCHEMA sales;\n"
                              "CREATE TABLE sales.purchases (id int PRIMARY KEY, amount numeric(12,2) NOT NULL);\n"
                              "CREATE VIEW sales.big AS SELECT id, amount AS total FROM sales.purchases WHERE amount > 100;\n");
  const std::string same_shape = Write("c.sql",
                                       "CREATE SCHEMA sales;\n"
                                       "CREATE TABLE sales.purchases (id int PRIMARY KEY, total numeric(12,2) NOT NULL);\n"
                                       "CREATE VIEW sales.big AS SELECT id, total FROM sales.purchases WHERE total > 100;\n");
  CliRun plain = Strata("schema diff " + a + " " + same_shape + " --allow-data-loss");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_THAT(plain.out, HasSubstr("DROP TABLE sales.orders"));
  EXPECT_THAT(plain.err, HasSubstr("possible renames"));
  EXPECT_THAT(plain.err, HasSubstr("--rename table:sales.orders=sales.purchases"));
  CliRun column = Strata("schema diff " + same_shape + " " + b + " --allow-data-loss");
  ASSERT_EQ(column.exit_code, 0) << column.err;
  EXPECT_THAT(column.err, HasSubstr("--rename-column sales.purchases.total=amount"));

  const std::string hints = " --rename table:sales.orders=sales.purchases --rename-column sales.purchases.total=amount";
  CliRun up = Strata("schema diff " + a + " " + b + hints);
  ASSERT_EQ(up.exit_code, 0) << up.err;
  EXPECT_THAT(up.out, HasSubstr("ALTER TABLE sales.orders RENAME TO purchases;"));
  EXPECT_THAT(up.out, HasSubstr("ALTER TABLE sales.purchases RENAME COLUMN total TO amount;"));
  EXPECT_THAT(up.out, ::testing::Not(HasSubstr("DROP TABLE")));
  EXPECT_THAT(up.out, ::testing::Not(HasSubstr("DATA LOSS")));
  CliRun down = Strata("schema diff " + a + " " + b + hints + " --reverse");
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_THAT(down.out, HasSubstr("ALTER TABLE sales.purchases RENAME COLUMN amount TO total;"));
  EXPECT_THAT(down.out, HasSubstr("ALTER TABLE sales.purchases RENAME TO orders;"));

  // The scripts on a database with 10,000 rows: all of them there after
  // each, under the names of each side.
  ScratchDatabase db("sdrename");
  ASSERT_EQ(Strata("schema apply " + a + " --url '" + db.url() + "'").exit_code, 0);
  const std::string fill = Write("fill.sql", "INSERT INTO sales.orders SELECT g, g FROM generate_series(1, 10000) g;\n");
  ASSERT_EQ(Strata("schema apply " + fill + " --url '" + db.url() + "'").exit_code, 0);
  auto sum = [&](const std::string& sql) { return Value(db.url(), sql); };
  const std::string before = sum("SELECT count(*) || ' ' || sum(total) FROM sales.orders");
  EXPECT_EQ(before, "10000 50005000.00");
  ASSERT_EQ(Strata("schema apply " + Write("up.sql", up.out) + " --url '" + db.url() + "'").exit_code, 0);
  EXPECT_EQ(sum("SELECT count(*) || ' ' || sum(amount) FROM sales.purchases"), before);
  EXPECT_EQ(sum("SELECT count(*) FROM sales.big"), "9900");
  CliRun now = Strata("schema diff '" + db.url() + "' " + b);
  EXPECT_THAT(now.out, HasSubstr("-- No changes.")) << now.out;
  ASSERT_EQ(Strata("schema apply " + Write("down.sql", down.out) + " --url '" + db.url() + "'").exit_code, 0);
  EXPECT_EQ(sum("SELECT count(*) || ' ' || sum(total) FROM sales.orders"), before);

  CliRun bad = Strata("schema diff " + a + " " + b + " --rename orders=purchases");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("write KIND:FROM=TO"));
  CliRun missing = Strata("schema diff " + a + " " + b + " --rename table:sales.nope=sales.purchases");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("the rename does not apply to FROM"));
}

// A table moved into a schema the release creates, and an enum label
// renamed: the schema is created before the move (and dropped after the
// move back), the label is renamed in place, and every row keeps its value.
TEST_F(SchemaCli, MovesIntoANewSchemaAndRenamedEnumLabelsKeepTheRows) {
  const std::string a = Write("ma.sql",
                              "CREATE SCHEMA sales;\n"
                              "CREATE TYPE sales.state AS ENUM ('new', 'shipped');\n"
                              "CREATE TABLE sales.orders (id int PRIMARY KEY, state sales.state NOT NULL);\n");
  const std::string b = Write("mb.sql",
                              "CREATE SCHEMA sales;\n"
                              "CREATE SCHEMA archive;\n"
                              "CREATE TYPE sales.state AS ENUM ('new', 'sent');\n"
                              "CREATE TABLE archive.orders (id int PRIMARY KEY, state sales.state NOT NULL);\n");
  const std::string hints = " --rename table:sales.orders=archive.orders --rename-value sales.state.shipped=sent";
  CliRun up = Strata("schema diff " + a + " " + b + hints);
  ASSERT_EQ(up.exit_code, 0) << up.err;
  const size_t create = up.out.find("CREATE SCHEMA archive;"), move = up.out.find("ALTER TABLE sales.orders SET SCHEMA archive;");
  ASSERT_NE(create, std::string::npos) << up.out;
  ASSERT_NE(move, std::string::npos) << up.out;
  EXPECT_LT(create, move) << up.out;
  EXPECT_THAT(up.out, HasSubstr("ALTER TYPE sales.state RENAME VALUE 'shipped' TO 'sent';"));
  EXPECT_THAT(up.out, ::testing::Not(HasSubstr("DROP TABLE")));
  EXPECT_THAT(up.out, ::testing::Not(HasSubstr("DROP TYPE")));
  CliRun down = Strata("schema diff " + a + " " + b + hints + " --reverse");
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_THAT(down.out, HasSubstr("ALTER TYPE sales.state RENAME VALUE 'sent' TO 'shipped';"));
  EXPECT_THAT(down.out, HasSubstr("DROP SCHEMA archive;"));

  ScratchDatabase db("sdmove");
  ASSERT_EQ(Strata("schema apply " + a + " --url '" + db.url() + "'").exit_code, 0);
  const std::string fill = Write("mfill.sql", "INSERT INTO sales.orders SELECT g, (ARRAY['new', 'shipped'])[1 + g % 2]"
                                              "::sales.state FROM generate_series(1, 1000) g;\n");
  ASSERT_EQ(Strata("schema apply " + fill + " --url '" + db.url() + "'").exit_code, 0);
  Apply("mup.sql", up.out, db.url());
  EXPECT_EQ(Value(db.url(), "SELECT count(*) FROM archive.orders WHERE state = 'sent'"), "500");
  EXPECT_THAT(Strata("schema diff '" + db.url() + "' " + b).out, HasSubstr("-- No changes."));
  Apply("mdown.sql", down.out, db.url());
  EXPECT_EQ(Value(db.url(), "SELECT count(*) FROM sales.orders WHERE state = 'shipped'"), "500");
  EXPECT_THAT(Strata("schema diff '" + db.url() + "' " + a).out, HasSubstr("-- No changes."));
}

TEST_F(SchemaCli, BadInputIsAClearErrorWithItsExitCode) {
  std::string bad = Write("bad.sql", "CREATE TABLE t (\n  id integr\n);\n");
  std::string ok = Write("ok.sql", "CREATE TABLE t (id int);\n");
  CliRun r = Strata("schema diff " + ok + " " + bad);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(bad + ":2:6: type \"integr\" does not exist"));
  CliRun down = Strata("schema diff postgres://strata:pw@127.0.0.1:1/x?connect_timeout=2 " + ok);
  EXPECT_EQ(down.exit_code, 6) << down.err;
  EXPECT_THAT(down.err, HasSubstr("cannot connect to PostgreSQL at postgres://strata:***@127.0.0.1:1/x"));
  ScratchDatabase db("sdcli");
  std::string failing = Write("f.sql", "CREATE TABLE x (id int);\nSELECT 1/0;\n");
  CliRun apply = Strata("schema apply " + failing + " --url '" + db.url() + "'");
  EXPECT_EQ(apply.exit_code, 1);
  EXPECT_THAT(apply.err, HasSubstr("f.sql:2:"));
  EXPECT_THAT(apply.err, HasSubstr("division by zero"));
}

}  // namespace
}  // namespace strata
