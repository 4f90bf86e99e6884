// The schema diff engine against a real PostgreSQL, checked the strong way:
// load A into a database, apply the generated A->B script, and the catalog
// model read back equals B's; the same for the B->A (rollback) script.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_join.h"
#include "pg/pg.h"
#include "schemadiff/apply.h"
#include "schemadiff/diff.h"
#include "schemadiff/source.h"
#include "support/postgres.h"
#include "support/process.h"

namespace strata::schemadiff {
namespace {

using ::testing::HasSubstr;
using strata::testing::ScratchDatabase;
using strata::testing::TempDir;
using strata::testing::TestServerUrl;

struct Pair {
  const char* name;
  const char* a;
  const char* b;
};

ShadowOptions Shadow() { return {TestServerUrl()}; }

std::string Write(const TempDir& dir, const std::string& name, const std::string& text) {
  std::string path = dir.path() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

std::string Lines(const std::vector<std::string>& v) { return absl::StrJoin(v, "\n"); }

// Applies the from->to script to a database loaded with `from_sql`; the
// result must read back as `to`.
void ExpectScriptReaches(const std::string& from_sql, const Catalog& from, const Catalog& to,
                         const std::string& label) {
  auto plan = Diff(from, to, {.allow_data_loss = true});
  ASSERT_TRUE(plan.ok()) << plan.status();
  ASSERT_FALSE(plan->empty()) << label << ": the two schemas of a test pair must differ";
  std::string script = RenderScript(*plan, label);
  ScratchDatabase db("sdtest");
  auto session = pg::Session::Connect(db.url());
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE((*session)->Exec("SET check_function_bodies = false; " + from_sql).ok());
  auto applied = ApplyScript(**session, script, label);
  ASSERT_TRUE(applied.ok()) << applied.status() << "\n" << script;
  auto after = ReadCatalog(**session);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(Lines(Facts(*after)), Lines(Facts(to))) << label << " script:\n" << script;
  auto again = Diff(*after, to, {.allow_data_loss = true});
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->empty()) << label << ": still differs after the script:\n" << RenderScript(*again, "rest");
}

class RoundTrip : public ::testing::TestWithParam<Pair> {};

TEST_P(RoundTrip, ForwardAndReverseScriptsReachTheirTargets) {
  const Pair& p = GetParam();
  TempDir dir("strata-schemadiff");
  auto catalogs = LoadCatalogs(Write(dir, "a.sql", p.a), Write(dir, "b.sql", p.b), Shadow());
  ASSERT_TRUE(catalogs.ok()) << catalogs.status();
  const auto& [a, b] = *catalogs;
  ExpectScriptReaches(p.a, a, b, std::string(p.name) + " forward");
  ExpectScriptReaches(p.b, b, a, std::string(p.name) + " reverse");
}

const Pair kPairs[] = {
    {"schema", "CREATE TABLE t (id int);",
     "CREATE SCHEMA sales; CREATE TABLE sales.orders (id int PRIMARY KEY); CREATE TABLE t (id int);"},
    {"extension", "CREATE TABLE t (name text);",
     "CREATE EXTENSION pg_trgm; CREATE TABLE t (name text); "
     "CREATE INDEX t_name_trgm ON t USING gin (name gin_trgm_ops);"},
    {"enum_gains_values",
     "CREATE TYPE mood AS ENUM ('sad', 'happy'); CREATE TABLE p (m mood);",
     "CREATE TYPE mood AS ENUM ('angry', 'sad', 'ok', 'happy', 'ecstatic'); CREATE TABLE p (m mood);"},
    {"enum_new_value_used_in_same_script",
     "CREATE TYPE mood AS ENUM ('sad', 'happy'); CREATE TABLE p (m mood DEFAULT 'sad');",
     "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'); CREATE TABLE p (m mood DEFAULT 'ok');"},
    {"enum_loses_value_with_dependents",
     "CREATE TYPE st AS ENUM ('new', 'paid', 'void'); "
     "CREATE TABLE inv (id int PRIMARY KEY, s st NOT NULL DEFAULT 'new', hist st[]); "
     "INSERT INTO inv VALUES (1, 'paid', '{new,paid}'); "
     "CREATE VIEW paid AS SELECT id FROM inv WHERE s = 'paid'; "
     "CREATE FUNCTION is_open(x st) RETURNS boolean LANGUAGE sql AS $$ SELECT x = 'new' $$;",
     "CREATE TYPE st AS ENUM ('new', 'paid'); "
     "CREATE TABLE inv (id int PRIMARY KEY, s st NOT NULL DEFAULT 'new', hist st[]); "
     "CREATE VIEW paid AS SELECT id FROM inv WHERE s = 'paid'; "
     "CREATE FUNCTION is_open(x st) RETURNS boolean LANGUAGE sql AS $$ SELECT x = 'new' $$;"},
    {"domain_changes",
     "CREATE DOMAIN email AS text CHECK (VALUE LIKE '%@%'); CREATE TABLE u (e email);",
     "CREATE DOMAIN email AS text NOT NULL DEFAULT 'x@y' CONSTRAINT has_dot CHECK (VALUE LIKE '%.%'); "
     "CREATE TABLE u (e email);"},
    {"domain_base_type_change", "CREATE DOMAIN code AS varchar(3);",
     "CREATE DOMAIN code AS integer CHECK (VALUE > 0);"},
    {"composite_type", "CREATE TYPE addr AS (street text, zip int);",
     "CREATE TYPE addr AS (street text, zip text, country text);"},
    {"range_type", "CREATE TABLE t (id int);",
     "CREATE TYPE floatrange AS RANGE (SUBTYPE = float8, SUBTYPE_DIFF = float8mi); "
     "CREATE TABLE t (id int, r floatrange);"},
    {"sequence_options_and_owner",
     "CREATE SEQUENCE s INCREMENT 1 CACHE 1; CREATE TABLE t (id int DEFAULT nextval('s'));",
     "CREATE SEQUENCE s INCREMENT 5 MAXVALUE 100000 CACHE 10 CYCLE; "
     "CREATE TABLE t (id int DEFAULT nextval('s')); ALTER SEQUENCE s OWNED BY t.id; CREATE SEQUENCE s2;"},
    {"serial_table_added_and_dropped", "CREATE TABLE keep (id int);",
     "CREATE TABLE keep (id int); CREATE TABLE items (id serial PRIMARY KEY, big bigserial, name text);"},
    {"serial_column_dropped", "CREATE TABLE t (id serial PRIMARY KEY, other serial, v text);",
     "CREATE TABLE t (id serial PRIMARY KEY, v text);"},
    {"columns_added_dropped_retyped",
     "CREATE TABLE t (id int PRIMARY KEY, name varchar(20), price numeric(8,2), qty smallint NOT NULL, "
     "note text DEFAULT 'x', gone int); INSERT INTO t VALUES (1, 'a', 1.5, 2, 'n', 3);",
     "CREATE TABLE t (id int PRIMARY KEY, name varchar(200), price numeric(12,2), qty bigint, "
     "note text DEFAULT 'y' NOT NULL, created timestamptz DEFAULT now(), code text COLLATE \"C\");"},
    {"type_change_without_cast", "CREATE TABLE s (id bigint, token bigint);",
     "CREATE TABLE s (id bigint, token uuid);"},
    {"generated_column_over_retyped_column",
     "CREATE TABLE t (id int, price int, doubled bigint GENERATED ALWAYS AS (price * 2) STORED); "
     "CREATE INDEX t_doubled ON t (doubled);",
     "CREATE TABLE t (id int, price bigint, doubled bigint GENERATED ALWAYS AS (price * 2) STORED); "
     "CREATE INDEX t_doubled ON t (doubled);"},
    {"identity_and_generated",
     "CREATE TABLE t (id int NOT NULL, a int, b int GENERATED ALWAYS AS (a * 2) STORED);",
     "CREATE TABLE t (id int GENERATED BY DEFAULT AS IDENTITY, a int, b int GENERATED ALWAYS AS (a * 3) STORED, "
     "c int GENERATED ALWAYS AS (a + 1) STORED);"},
    {"table_options_persistence_statistics",
     "CREATE TABLE t (id int, v text); CREATE UNLOGGED TABLE cache (k text);",
     "CREATE UNLOGGED TABLE t (id int, v text) WITH (fillfactor = 70); CREATE TABLE cache (k text); "
     "ALTER TABLE t ALTER COLUMN v SET STATISTICS 500;"},
    {"constraints",
     "CREATE TABLE c (id int PRIMARY KEY, email text); "
     "CREATE TABLE o (id int PRIMARY KEY, c_id int REFERENCES c(id), qty int CHECK (qty > 0));",
     "CREATE TABLE c (id int, email text UNIQUE, CONSTRAINT c_pkey PRIMARY KEY (id, email)); "
     "CREATE TABLE o (id int PRIMARY KEY, c_id int, c_email text, qty int CHECK (qty >= 0), "
     "FOREIGN KEY (c_id, c_email) REFERENCES c(id, email) ON DELETE CASCADE, EXCLUDE USING btree (id WITH =));"},
    {"foreign_key_cycle", "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE b (id int PRIMARY KEY);",
     "CREATE TABLE a (id int PRIMARY KEY, b_id int); CREATE TABLE b (id int PRIMARY KEY, a_id int REFERENCES a); "
     "ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b;"},
    {"primary_key_type_change_with_referencing_keys",
     "CREATE TABLE p (id int PRIMARY KEY); CREATE TABLE ch (p_id int REFERENCES p);",
     "CREATE TABLE p (id bigint PRIMARY KEY); CREATE TABLE ch (p_id bigint REFERENCES p);"},
    {"indexes",
     "CREATE TABLE t (id int, a text, b int); CREATE INDEX t_a ON t (a); CREATE INDEX t_old ON t (b);",
     "CREATE TABLE t (id int, a text, b int); CREATE INDEX t_a ON t (lower(a)) WHERE b > 0; "
     "CREATE UNIQUE INDEX t_id ON t (id) INCLUDE (b); CREATE INDEX t_ab ON t USING hash (a); "
     "ALTER INDEX t_a ALTER COLUMN 1 SET STATISTICS 300;"},
    {"partitioned_tables",
     "CREATE TABLE m (id int, at date NOT NULL, v int) PARTITION BY RANGE (at); "
     "CREATE TABLE m_2024 PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2025-01-01'); "
     "CREATE TABLE m_old (id int, at date NOT NULL, v int);",
     "CREATE TABLE m (id int, at date NOT NULL, v int, note text) PARTITION BY RANGE (at); "
     "CREATE TABLE m_2024 PARTITION OF m FOR VALUES FROM ('2024-01-01') TO ('2024-07-01'); "
     "CREATE TABLE m_2025 PARTITION OF m FOR VALUES FROM ('2025-01-01') TO ('2026-01-01'); "
     "CREATE TABLE m_old PARTITION OF m DEFAULT; CREATE INDEX m_at ON m (at); "
     "ALTER TABLE m ADD PRIMARY KEY (id, at);"},
    {"inheritance", "CREATE TABLE base (id int, v text); CREATE TABLE child (id int, v text, extra int);",
     "CREATE TABLE base (id int, v text, CHECK (id > 0)); CREATE TABLE child (extra int) INHERITS (base);"},
    {"views_compatible_change",
     "CREATE TABLE t (id int, a int, b int); CREATE VIEW v AS SELECT id, a FROM t; "
     "CREATE VIEW vv AS SELECT id FROM v;",
     "CREATE TABLE t (id int, a int, b int); CREATE VIEW v AS SELECT id, a, b FROM t WHERE a > 0; "
     "CREATE VIEW vv AS SELECT id FROM v;"},
    {"views_incompatible_change_recreates_dependents",
     "CREATE TABLE t (id int, a int, b int); CREATE VIEW v AS SELECT id, a, b FROM t; "
     "CREATE VIEW vv AS SELECT id, b FROM v; CREATE VIEW vvv AS SELECT count(*) FROM vv;",
     "CREATE TABLE t (id int, a int, b int); CREATE VIEW v AS SELECT id, b::text AS b FROM t; "
     "CREATE VIEW vv AS SELECT id, b FROM v; CREATE VIEW vvv AS SELECT count(*) FROM vv;"},
    {"column_retype_under_views",
     "CREATE TABLE t (id int, amount int); CREATE VIEW v AS SELECT id, amount FROM t; "
     "CREATE MATERIALIZED VIEW mv AS SELECT sum(amount) AS s FROM t; CREATE INDEX mv_s ON mv (s);",
     "CREATE TABLE t (id int, amount bigint); CREATE VIEW v AS SELECT id, amount FROM t; "
     "CREATE MATERIALIZED VIEW mv AS SELECT sum(amount) AS s FROM t; CREATE INDEX mv_s ON mv (s);"},
    {"column_dropped_under_view",
     "CREATE TABLE t (id int, legacy int); CREATE VIEW v AS SELECT id, legacy FROM t;",
     "CREATE TABLE t (id int); CREATE VIEW v AS SELECT id FROM t;"},
    {"materialized_view", "CREATE TABLE t (id int, v int); CREATE MATERIALIZED VIEW mv AS SELECT id FROM t;",
     "CREATE TABLE t (id int, v int); CREATE MATERIALIZED VIEW mv AS SELECT id, v FROM t WITH NO DATA; "
     "CREATE UNIQUE INDEX mv_id ON mv (id);"},
    {"functions_and_procedures",
     "CREATE FUNCTION add1(a int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT a + 1 $$; "
     "CREATE FUNCTION total(x int) RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN x; END $$; "
     "CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$;",
     "CREATE FUNCTION add1(a int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT a + 100 $$; "
     "CREATE FUNCTION total(x int) RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RETURN x * 2; END $$; "
     "CREATE PROCEDURE p(n int DEFAULT 1) LANGUAGE sql AS $$ SELECT n $$; "
     "CREATE AGGREGATE mysum(int) (SFUNC = int4pl, STYPE = int, INITCOND = '0');"},
    {"function_return_type_change_with_dependents",
     "CREATE FUNCTION price(x int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT x $$; "
     "CREATE TABLE t (id int, p int DEFAULT price(1), q int GENERATED ALWAYS AS (price(id)) STORED); "
     "CREATE VIEW v AS SELECT price(id) AS pr FROM t; CREATE INDEX t_price ON t (price(id));",
     "CREATE FUNCTION price(x int) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ SELECT x * 1.5 $$; "
     "CREATE TABLE t (id int, p numeric DEFAULT price(1), q numeric GENERATED ALWAYS AS (price(id)) STORED); "
     "CREATE VIEW v AS SELECT price(id) AS pr FROM t; CREATE INDEX t_price ON t (price(id));"},
    {"sql_standard_function_body",
     "CREATE TABLE t (id int, v int); "
     "CREATE FUNCTION cnt() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(v) FROM t; END;",
     "CREATE TABLE t (id int, v bigint); "
     "CREATE FUNCTION cnt() RETURNS bigint LANGUAGE sql BEGIN ATOMIC SELECT count(v) FROM t; END;"},
    {"triggers",
     "CREATE TABLE t (id int, at timestamptz); "
     "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.at := now(); RETURN NEW; END $$; "
     "CREATE TRIGGER t_touch BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION touch();",
     "CREATE TABLE t (id int, at timestamptz); "
     "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.at := clock_timestamp(); RETURN NEW; END $$; "
     "CREATE TRIGGER t_touch BEFORE INSERT OR UPDATE OF id ON t FOR EACH ROW WHEN (NEW.id > 0) EXECUTE FUNCTION touch(); "
     "CREATE TRIGGER t_audit AFTER DELETE ON t FOR EACH STATEMENT EXECUTE FUNCTION touch(); "
     "ALTER TABLE t DISABLE TRIGGER t_audit;"},
    {"row_level_security",
     "CREATE TABLE doc (id int, owner name);",
     "CREATE TABLE doc (id int, owner name); ALTER TABLE doc ENABLE ROW LEVEL SECURITY; "
     "CREATE POLICY mine ON doc FOR SELECT USING (owner = current_user);"},
    {"comments",
     "CREATE TABLE t (id int, v text); COMMENT ON TABLE t IS 'old'; COMMENT ON COLUMN t.v IS 'value'; "
     "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$;",
     "CREATE TABLE t (id int, v text); COMMENT ON TABLE t IS 'it''s new'; COMMENT ON COLUMN t.id IS 'key'; "
     "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$; COMMENT ON FUNCTION f() IS 'one'; "
     "CREATE SCHEMA s; COMMENT ON SCHEMA s IS 'a schema';"},
    {"table_replaced_by_view_of_the_same_name",
     "CREATE TABLE report (id int); CREATE TABLE src (id int);",
     "CREATE TABLE src (id int); CREATE VIEW report AS SELECT id FROM src;"},
    {"text_search_and_operators",
     "CREATE TABLE t (id int);",
     "CREATE TABLE t (id int); CREATE TEXT SEARCH DICTIONARY simple2 (TEMPLATE = pg_catalog.simple, STOPWORDS = english); "
     "CREATE TEXT SEARCH CONFIGURATION cfg (PARSER = pg_catalog.\"default\"); "
     "ALTER TEXT SEARCH CONFIGURATION cfg ADD MAPPING FOR word, asciiword WITH simple2, english_stem; "
     "CREATE FUNCTION rev_eq(text, text) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $2 = $1 $$; "
     "CREATE OPERATOR ~== (FUNCTION = rev_eq, LEFTARG = text, RIGHTARG = text);"},
    {"quoted_names",
     "CREATE SCHEMA \"Sales\"; CREATE TABLE \"Sales\".\"Order\" (\"Id\" int, \"select\" text);",
     "CREATE SCHEMA \"Sales\"; CREATE TABLE \"Sales\".\"Order\" (\"Id\" bigint, \"select\" text, \"New Col\" int); "
     "CREATE TYPE \"Sales\".\"Kind\" AS ENUM ('a'); CREATE VIEW \"Sales\".\"V\" AS SELECT \"Id\" FROM \"Sales\".\"Order\";"},
};

INSTANTIATE_TEST_SUITE_P(Pairs, RoundTrip, ::testing::ValuesIn(kPairs),
                         [](const ::testing::TestParamInfo<Pair>& info) { return std::string(info.param.name); });

absl::StatusOr<std::pair<Catalog, Catalog>> LoadPair(const TempDir& dir, const std::string& a, const std::string& b) {
  return LoadCatalogs(Write(dir, "a.sql", a), Write(dir, "b.sql", b), Shadow());
}

TEST(SchemaDiff, IdenticalSchemasGiveAnEmptyPlan) {
  TempDir dir("strata-schemadiff");
  // Layout, case and spelling differ; PostgreSQL canonicalizes both.
  auto c = LoadPair(dir, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10) DEFAULT 'x');",
                    "create table T (\n  ID integer,\n  V character varying(10) default 'x',\n  primary key (id));");
  ASSERT_TRUE(c.ok()) << c.status();
  auto plan = Diff(c->first, c->second);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->empty()) << RenderScript(*plan, "");
  EXPECT_THAT(RenderScript(*plan, "x"), HasSubstr("No changes"));
}

TEST(SchemaDiff, DataLossIsRefusedUnlessAllowedAndMarkedInTheScript) {
  TempDir dir("strata-schemadiff");
  auto c = LoadPair(dir, "CREATE TABLE t (id int, gone text, n numeric(10,2)); CREATE TABLE old (id int);",
                    "CREATE TABLE t (id int, n numeric(10,0));");
  ASSERT_TRUE(c.ok()) << c.status();
  auto refused = Diff(c->first, c->second);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("drops table public.old"));
  EXPECT_THAT(refused.status().message(), HasSubstr("drops column public.t.gone"));
  EXPECT_THAT(refused.status().message(), HasSubstr("from numeric(10,2) to numeric(10,0)"));
  EXPECT_THAT(refused.status().message(), HasSubstr("--allow-data-loss"));
  auto plan = Diff(c->first, c->second, {.allow_data_loss = true});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->data_loss.size(), 3u);
  std::string script = RenderScript(*plan, "x");
  EXPECT_THAT(script, HasSubstr("-- DATA LOSS: drops table public.old and its rows\nDROP TABLE public.old;"));
  EXPECT_THAT(Summary(*plan), HasSubstr("data loss (3)"));
  // Widening is not data loss; the reverse (narrowing) is.
  auto widen = LoadPair(dir, "CREATE TABLE t (a varchar(5), b int);", "CREATE TABLE t (a text, b bigint);");
  ASSERT_TRUE(widen.ok());
  EXPECT_TRUE(Diff(widen->first, widen->second).ok());
  EXPECT_EQ(Diff(widen->second, widen->first).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SchemaDiff, DependentsAreDroppedBeforeAndCreatedAfterWhatTheyNeed) {
  TempDir dir("strata-schemadiff");
  auto c = LoadPair(dir,
                    "CREATE TABLE t (id int, a int); CREATE VIEW v1 AS SELECT id, a FROM t; "
                    "CREATE VIEW v2 AS SELECT a FROM v1;",
                    "CREATE TABLE t (id int, a bigint); CREATE VIEW v1 AS SELECT id, a FROM t; "
                    "CREATE VIEW v2 AS SELECT a FROM v1;");
  ASSERT_TRUE(c.ok()) << c.status();
  auto plan = Diff(c->first, c->second);
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::vector<std::string> sql;
  for (const auto& s : plan->steps) sql.push_back(s.sql.substr(0, s.sql.find(" AS")));
  EXPECT_THAT(sql, ::testing::ElementsAre("DROP VIEW public.v2", "DROP VIEW public.v1",
                                          "ALTER TABLE public.t ALTER COLUMN a TYPE bigint USING a::bigint",
                                          "CREATE VIEW public.v1", "CREATE VIEW public.v2"));
}

TEST(SchemaDiff, InvalidSqlNamesFileLineAndColumnAndLeavesNoShadowBehind) {
  TempDir dir("strata-schemadiff");
  std::string prefix = "strata_shadow_" + std::to_string(getpid()) + "_";
  std::string bad = Write(dir, "bad.sql", "CREATE TABLE ok (id int);\n\nCREATE TABLE t (id int,\n  v txet);\n");
  auto c = LoadCatalog(bad, Shadow());
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr(bad + ":4:5: type \"txet\" does not exist"));
  auto syntax = LoadCatalog(Write(dir, "syntax.sql", "CREATE TABLE t (id int);\nCREAT TABLE u (id int);"), Shadow());
  ASSERT_EQ(syntax.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(syntax.status().message(), HasSubstr("syntax.sql:2:1: syntax error at or near \"CREAT\""));
  EXPECT_EQ(strata::testing::CountDatabases(prefix), 0);
}

TEST(SchemaDiff, ShadowsAKilledProcessLeftBehindAreDroppedByTheNextRun) {
  auto admin = strata::pg::Session::Connect(TestServerUrl());
  ASSERT_TRUE(admin.ok()) << admin.status();
  auto clock = (*admin)->Query("SELECT extract(epoch FROM now())::bigint");
  ASSERT_TRUE(clock.ok()) << clock.status();
  const long long now = clock->number(0, 0);
  // A killed process's shadow (two minutes old, nobody connected), one just
  // created, an old one still in use, and one named before shadows carried
  // the server's clock (its age is unknown: left alone).
  const std::string stale = "strata_shadow_999999_0_1_" + std::to_string(now - 120);
  const std::string fresh = "strata_shadow_999999_0_2_" + std::to_string(now);
  const std::string busy = "strata_shadow_999999_0_3_" + std::to_string(now - 120);
  const std::string legacy = "strata_shadow_999999_0_4";
  for (const auto& name : {stale, fresh, busy, legacy})
    ASSERT_TRUE((*admin)->Exec("CREATE DATABASE " + name + " TEMPLATE template0").ok()) << name;
  auto in_use = strata::pg::Session::Connect(TestServerUrl(busy));
  ASSERT_TRUE(in_use.ok()) << in_use.status();

  TempDir dir("strata-schemadiff");
  auto c = LoadCatalog(Write(dir, "a.sql", "CREATE TABLE t (id int);"), Shadow());
  ASSERT_TRUE(c.ok()) << c.status();

  EXPECT_EQ(strata::testing::CountDatabases(stale), 0);
  EXPECT_EQ(strata::testing::CountDatabases(fresh), 1);
  EXPECT_EQ(strata::testing::CountDatabases(busy), 1);
  EXPECT_EQ(strata::testing::CountDatabases(legacy), 1);
  in_use->reset();
  for (const auto& name : {fresh, busy, legacy})
    EXPECT_TRUE((*admin)->Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)").ok()) << name;
}

// A file that says where it was loaded: the comment on table t names the
// database it ran in.
std::string WhereLoaded(const std::string& extra = "") {
  return "CREATE TABLE t (id int);\n" + extra +
         "DO $$ BEGIN EXECUTE format('COMMENT ON TABLE public.t IS %L', current_database()); END $$;\n";
}

std::string LoadedIn(const Catalog& c) {
  const Object* comment = c.Find("comment on table public.t");
  if (!comment) return "(no comment)";
  const std::string& text = comment->comment_text;  // a SQL literal: 'name'
  return text.size() >= 2 && text.front() == '\'' ? text.substr(1, text.size() - 2) : text;
}

// Whether each pooled shadow on the server holds no table (loads never
// commit; one running now is invisible from here).
void ExpectPoolEmpty() {
  auto admin = strata::pg::Session::Connect(TestServerUrl());
  ASSERT_TRUE(admin.ok()) << admin.status();
  auto pool = (*admin)->Query("SELECT datname FROM pg_database WHERE datname LIKE 'strata_shadow_pool_%'");
  ASSERT_TRUE(pool.ok()) << pool.status();
  EXPECT_GE(pool->size(), 1);
  EXPECT_LE(pool->size(), PooledShadow::kMaxDatabases);
  for (int i = 0; i < pool->size(); ++i) {
    auto db = strata::pg::Session::Connect(TestServerUrl(pool->text(i, 0)));
    if (!db.ok()) continue;  // dropped meanwhile
    // (Not the table APooledShadowSomebodyCommittedIntoIsDroppedNotUsed
    // commits into one, perhaps at this moment in another process.)
    auto tables = (*db)->Query(
        "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname <> 'intruder'");
    ASSERT_TRUE(tables.ok()) << tables.status();
    EXPECT_EQ(tables->number(0, 0), 0) << pool->text(i, 0);
  }
}

TEST(SchemaDiff, FilesLoadIntoPooledShadowsThatStayEmptyForTheNextLoad) {
  TempDir dir("strata-schemadiff");
  const std::string prefix = "strata_shadow_" + std::to_string(getpid()) + "_";
  for (int run = 0; run < 2; ++run) {
    auto c = LoadCatalogs(Write(dir, "a.sql", WhereLoaded()), Write(dir, "b.sql", WhereLoaded("ALTER TABLE t ADD b text;\n")),
                          Shadow());
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_THAT(LoadedIn(c->first), ::testing::StartsWith("strata_shadow_pool_"));
    EXPECT_THAT(LoadedIn(c->second), ::testing::StartsWith("strata_shadow_pool_"));
    EXPECT_NE(LoadedIn(c->first), LoadedIn(c->second));  // the two sides load at once
    EXPECT_EQ(c->second.Find("table public.t")->columns.size(), 2u);
    EXPECT_EQ(strata::testing::CountDatabases(prefix), 0);  // no database of its own was made
  }
  ExpectPoolEmpty();
}

TEST(SchemaDiff, WhatCannotLoadInOneTransactionLoadsIntoADatabaseOfItsOwn) {
  TempDir dir("strata-schemadiff");
  const std::string prefix = "strata_shadow_" + std::to_string(getpid()) + "_";
  // More new relations than half the server's lock table: one transaction
  // would hold a lock on each until it ends.
  auto admin = strata::pg::Session::Connect(TestServerUrl());
  ASSERT_TRUE(admin.ok()) << admin.status();
  auto locks = (*admin)->Query(
      "SELECT current_setting('max_locks_per_transaction')::bigint * (current_setting('max_connections')::bigint + "
      "current_setting('max_prepared_transactions')::bigint)");
  ASSERT_TRUE(locks.ok()) << locks.status();
  std::string many;
  const long long tables = locks->number(0, 0) / 2 / 3 + 10;  // a table counts as three (its TOAST table and index)
  for (long long i = 0; i < tables; ++i) many += "CREATE TABLE t" + std::to_string(i) + " (id int);\n";
  auto c = LoadCatalog(Write(dir, "a.sql", WhereLoaded(many)), Shadow());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(LoadedIn(*c), ::testing::StartsWith(prefix));
  EXPECT_NE(c->Find("table public.t" + std::to_string(tables - 1)), nullptr);
  // So does a load the caller keeps out of the pool.
  auto own = LoadCatalog(Write(dir, "b.sql", WhereLoaded()), {.server = TestServerUrl(), .pool = false});
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_THAT(LoadedIn(*own), ::testing::StartsWith(prefix));
  // An error is the one a database of its own gives, line and column.
  auto bad = LoadCatalog(Write(dir, "bad.sql", "CREATE TABLE ok (id int);\nCREATE TABLE t (v txet);\n"), Shadow());
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();
  EXPECT_THAT(bad.status().message(), HasSubstr("bad.sql:2:19: type \"txet\" does not exist"));
  EXPECT_EQ(strata::testing::CountDatabases(prefix), 0);
  ExpectPoolEmpty();
}

TEST(SchemaDiff, APooledShadowOfAProcessKilledMidLoadIsEmptyForTheNext) {
  ASSERT_TRUE(PooledShadow::Claim(Shadow()) != nullptr);  // the pool exists
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  if (child == 0) {
    auto claimed = PooledShadow::Claim(Shadow());
    long long backend = 0;
    if (claimed && claimed->session().Exec("CREATE TABLE left_behind (id int)").ok()) {
      auto pid = claimed->session().Query("SELECT pg_backend_pid()");
      if (pid.ok()) backend = pid->number(0, 0);
    }
    (void)!write(ready[1], &backend, sizeof backend);
    pause();  // killed here, in the middle of its load
    _exit(0);
  }
  long long backend = 0;
  ASSERT_EQ(read(ready[0], &backend, sizeof backend), static_cast<ssize_t>(sizeof backend));
  ASSERT_GT(backend, 0);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  // PostgreSQL notices the closed connection and rolls the load back; the
  // claim goes with the backend.
  auto admin = strata::pg::Session::Connect(TestServerUrl());
  ASSERT_TRUE(admin.ok());
  for (int i = 0; i < 200; ++i) {
    auto alive = (*admin)->Query("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", {std::to_string(backend)});
    ASSERT_TRUE(alive.ok());
    if (alive->number(0, 0) == 0) break;
    usleep(25'000);
  }
  ExpectPoolEmpty();
  TempDir dir("strata-schemadiff");
  auto loaded = LoadCatalog(Write(dir, "a.sql", "CREATE TABLE left_behind (id int, more int);"), Shadow());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->Find("table public.left_behind")->columns.size(), 2u);
}

// A long-lived shadow (the lock service's prover) has no age to go by: it
// is left behind when nobody is connected to it and the session that made it
// has ended, however its process ended. The next shadow made drops it; one
// whose owner lives stays, connected to or not.
TEST(SchemaDiff, ALongLivedShadowGoesWithTheProcessThatKeptIt) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  if (child == 0) {
    auto kept = ShadowDatabase::Create({.server = TestServerUrl(), .long_lived = true});
    const char made = kept.ok() ? '1' : '0';
    (void)!write(ready[1], &made, 1);
    pause();  // killed here: its destructor never drops it
    _exit(0);
  }
  char made = 0;
  ASSERT_EQ(read(ready[0], &made, 1), 1);
  ASSERT_EQ(made, '1');
  auto admin = strata::pg::Session::Connect(TestServerUrl());
  ASSERT_TRUE(admin.ok()) << admin.status();
  auto theirs = (*admin)->Query("SELECT datname FROM pg_database WHERE starts_with(datname, $1) AND datname LIKE '%_kept'",
                                {"strata_shadow_" + std::to_string(child) + "_"});
  ASSERT_TRUE(theirs.ok()) << theirs.status();
  ASSERT_EQ(theirs->size(), 1);
  const std::string left = theirs->text(0, 0);
  auto mine = ShadowDatabase::Create({.server = TestServerUrl(), .long_lived = true});
  ASSERT_TRUE(mine.ok()) << mine.status();
  const std::string kept = (*mine)->url().substr((*mine)->url().rfind("dbname=") + 7);  // a URL: ?dbname=
  ASSERT_THAT(kept, ::testing::EndsWith("_kept"));

  // A sweep while its owner lives (nobody is connected to either).
  TempDir dir("strata-schemadiff");
  ASSERT_TRUE(LoadCatalog(Write(dir, "a.sql", "CREATE TABLE t (id int);"), {.server = TestServerUrl(), .pool = false}).ok());
  EXPECT_EQ(strata::testing::CountDatabases(left), 1) << "dropped while its owner lived";

  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  // PostgreSQL ends the killed process's session once it sees the
  // connection closed, and its lock goes with it.
  for (int i = 0; i < 200; ++i) {
    auto held = (*admin)->Query("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext($1)::oid",
                                {left});
    ASSERT_TRUE(held.ok()) << held.status();
    if (held->number(0, 0) == 0) break;
    usleep(25'000);
  }
  ASSERT_TRUE(LoadCatalog(Write(dir, "b.sql", "CREATE TABLE t (id int);"), {.server = TestServerUrl(), .pool = false}).ok());
  EXPECT_EQ(strata::testing::CountDatabases(left), 0) << "left behind by a killed process";
  EXPECT_EQ(strata::testing::CountDatabases(kept), 1) << "dropped while its owner lives";
  mine->reset();
  EXPECT_EQ(strata::testing::CountDatabases(kept), 0);
}

TEST(SchemaDiff, APooledShadowSomebodyCommittedIntoIsDroppedNotUsed) {
  ASSERT_TRUE(PooledShadow::Claim(Shadow()) != nullptr);  // strata_shadow_pool_0 exists
  {
    auto intruder = strata::pg::Session::Connect(TestServerUrl("strata_shadow_pool_0"));
    ASSERT_TRUE(intruder.ok()) << intruder.status();
    ASSERT_TRUE((*intruder)->Exec("CREATE TABLE public.intruder (id int)").ok());
  }
  TempDir dir("strata-schemadiff");
  // The first claim tries pool_0 first; another test's load may hold it for
  // a moment, so a few loads until it has gone.
  for (int i = 0; i < 20 && strata::testing::CountDatabases("strata_shadow_pool_0") > 0; ++i) {
    auto c = LoadCatalog(Write(dir, "a.sql", "CREATE TABLE t (id int);"), Shadow());
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->Find("table public.intruder"), nullptr);
    EXPECT_NE(c->Find("table public.t"), nullptr);
    usleep(20'000);
  }
  auto admin = strata::pg::Session::Connect(TestServerUrl());
  ASSERT_TRUE(admin.ok());
  auto dirty = (*admin)->Query("SELECT count(*) FROM pg_database WHERE datname = 'strata_shadow_pool_0'");
  ASSERT_TRUE(dirty.ok());
  if (dirty->number(0, 0) > 0) {  // made again by a later claim: then empty
    ExpectPoolEmpty();
  }
}

TEST(SchemaDiff, MissingExtensionOnTheShadowServerIsAClearFailure) {
  TempDir dir("strata-schemadiff");
  std::string prefix = "strata_shadow_" + std::to_string(getpid()) + "_";
  auto c = LoadCatalog(Write(dir, "ext.sql", "CREATE EXTENSION strata_no_such_extension;\n"), Shadow());
  ASSERT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr("ext.sql:1:1: extension \"strata_no_such_extension\" is not available"));
  EXPECT_THAT(c.status().message(), HasSubstr("shadow server"));
  EXPECT_EQ(strata::testing::CountDatabases(prefix), 0);
}

TEST(SchemaDiff, UnreachableServersAreUnavailable) {
  auto url = LoadCatalog("postgres://strata:secret@127.0.0.1:1/x?connect_timeout=2", Shadow());
  ASSERT_EQ(url.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(url.status().message(), HasSubstr("127.0.0.1:1"));
  EXPECT_THAT(url.status().message(), ::testing::Not(HasSubstr("secret")));
  TempDir dir("strata-schemadiff");
  auto shadow = LoadCatalog(Write(dir, "a.sql", "CREATE TABLE t (id int);"),
                            {"postgres://strata:secret@127.0.0.1:1/postgres?connect_timeout=2"});
  ASSERT_EQ(shadow.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(shadow.status().message(), HasSubstr("shadow server"));
  EXPECT_THAT(shadow.status().message(), HasSubstr("--shadow-url"));
}

TEST(SchemaDiff, PgDumpOfADatabaseDiffsEmptyAgainstTheDatabase) {
  // pg_dump's own output (with its \restrict lines from 15.14 on) is a source.
  ScratchDatabase db("sddump");
  auto session = pg::Session::Connect(db.url());
  ASSERT_TRUE(session.ok());
  ASSERT_TRUE((*session)->Exec(kPairs[4].a).ok());  // enum, table with defaults and arrays, view, function
  ASSERT_TRUE((*session)->Exec("CREATE TABLE items (id serial PRIMARY KEY, inv int REFERENCES inv(id)); "
                               "COMMENT ON TABLE items IS 'line items'; CREATE INDEX items_inv ON items (inv);").ok());
  TempDir dir("strata-schemadiff");
  std::string dump = dir.path() + "/dump.sql";
  std::string cmd = "pg_dump --schema-only --no-owner --no-privileges -f " + dump + " '" + db.url() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto c = LoadCatalogs(dump, db.url(), Shadow());
  ASSERT_TRUE(c.ok()) << c.status();
  auto plan = Diff(c->first, c->second);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_TRUE(plan->empty()) << RenderScript(*plan, "dump vs database");
  EXPECT_NE(c->first.Find("table public.items"), nullptr);
  // The psql lines themselves.
  auto restricted = LoadCatalog(
      Write(dir, "r.sql", "\\restrict AbC123\nCREATE TABLE r (id int);\n\\unrestrict AbC123\n"), Shadow());
  ASSERT_TRUE(restricted.ok()) << restricted.status();
  EXPECT_NE(restricted->Find("table public.r"), nullptr);
}

TEST(SchemaDiff, OwnershipAndPrivilegesOfRolesTheShadowServerLacksAreNotLoaded) {
  TempDir dir("strata-schemadiff");
  auto c = LoadCatalog(Write(dir, "owned.sql",
                             "CREATE TABLE t (id int);\n"
                             "ALTER TABLE public.t OWNER TO strata_no_such_role;\n"
                             "GRANT SELECT ON public.t TO strata_no_such_role;\n"
                             "REVOKE ALL ON SCHEMA public FROM strata_no_such_role;\n"
                             "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO strata_no_such_role;\n"
                             "CREATE VIEW v AS SELECT id FROM t;\n"
                             "ALTER VIEW v OWNER TO strata_no_such_role;\n"),
                       Shadow());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_NE(c->Find("view public.v"), nullptr);
}

TEST(SchemaDiff, MissingFileIsNotFound) {
  EXPECT_EQ(LoadCatalog("/nonexistent/schema.sql", Shadow()).status().code(), absl::StatusCode::kNotFound);
}

TEST(SchemaDiff, FolderSourcesLoadEveryFileInPathOrder) {
  TempDir dir("strata-schemadiff");
  std::string folder = dir.path() + "/schema";
  std::filesystem::create_directories(folder + "/2_views");
  Write(dir, "schema/1_tables.sql", "CREATE TABLE t (id int);");
  Write(dir, "schema/2_views/v.sql", "CREATE VIEW v AS SELECT id FROM t;");
  Write(dir, "schema/README.md", "not sql");
  auto c = LoadCatalog(folder, Shadow());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_NE(c->Find("table public.t"), nullptr);
  EXPECT_NE(c->Find("view public.v"), nullptr);
}

TEST(ApplyScript, AFailingStatementRollsEverythingBackAndIsNamed) {
  ScratchDatabase db("sdtest");
  auto session = pg::Session::Connect(db.url());
  ASSERT_TRUE(session.ok());
  std::string script =
      "CREATE TABLE a (id int);\n"
      "INSERT INTO a VALUES (1);\n"
      "-- the next one fails\n"
      "ALTER TABLE a ADD COLUMN\n"
      "  b int REFERENCES missing(id);\n";
  auto r = ApplyScript(**session, script, "m.sql");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("m.sql:4:1: statement 3 of 3"));
  EXPECT_THAT(r.status().message(), HasSubstr("statement 3 of 3"));
  EXPECT_THAT(r.status().message(), HasSubstr("relation \"missing\" does not exist"));
  auto rows = (*session)->Query("SELECT count(*) FROM pg_class WHERE relname = 'a'");
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->text(0, 0), "0") << "the first statement must have been rolled back";
  // A statement that fails without a position is named by where it starts.
  auto dup = ApplyScript(**session, "CREATE TABLE u (id int PRIMARY KEY);\nINSERT INTO u VALUES (1), (1);\n", "d.sql");
  ASSERT_FALSE(dup.ok());
  EXPECT_THAT(dup.status().message(), HasSubstr("d.sql:2:1: statement 2 of 2 failed: INSERT INTO u"));
  EXPECT_THAT(dup.status().message(), HasSubstr("duplicate key"));
}

TEST(ApplyScript, TransactionControlIsRefused) {
  ScratchDatabase db("sdtest");
  auto session = pg::Session::Connect(db.url());
  ASSERT_TRUE(session.ok());
  auto r = ApplyScript(**session, "CREATE TABLE a (id int);\nCOMMIT;\nCREATE TABLE b (id int);\n", "t.sql");
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("t.sql:2:1: transaction control"));
  auto ok = ApplyScript(**session, "CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n", "ok.sql");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->statements, 2);
}

}  // namespace
}  // namespace strata::schemadiff
