#include "policy/policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

namespace strata::policy {
namespace {

using ::testing::HasSubstr;

// Every rule on at error, with its default options.
Policy AllOn() {
  Policy p = DefaultPolicy();
  for (auto& [code, c] : p.rules) c.severity = Severity::kError;
  return p;
}

std::vector<std::string> Codes(const std::string& sql, const Policy& p = AllOn()) {
  auto f = Lint(p, sql);
  EXPECT_TRUE(f.ok()) << f.status();
  std::vector<std::string> out;
  if (f.ok())
    for (const auto& x : *f) out.push_back(x.code);
  return out;
}

bool Flags(const std::string& code, const std::string& sql) {
  auto codes = Codes(sql);
  return std::find(codes.begin(), codes.end(), code) != codes.end();
}

// A table that every structure and naming rule accepts.
constexpr char kGood[] = R"sql(
CREATE TABLE sales.orders (
  id bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_orders PRIMARY KEY,
  customer_id bigint NOT NULL CONSTRAINT fk_orders_customers REFERENCES sales.customers (id),
  placed timestamptz NOT NULL,
  note text
);
COMMENT ON TABLE sales.orders IS 'one row per order';
COMMENT ON COLUMN sales.orders.id IS 'order number';
COMMENT ON COLUMN sales.orders.customer_id IS 'who ordered';
COMMENT ON COLUMN sales.orders.placed IS 'when';
COMMENT ON COLUMN sales.orders.note IS 'free text';
CREATE INDEX ix_orders_customer_id ON sales.orders (customer_id);
)sql";

TEST(Lint, AGoodSchemaHasNoFinding) {
  auto f = Lint(AllOn(), kGood);
  ASSERT_TRUE(f.ok()) << f.status();
  for (const auto& x : *f)
    if (x.code != "require-concurrent-index-creation") ADD_FAILURE() << Format(x);
}

struct Case {
  std::string code, bad, good;
};

// Rules about a change rather than a definition (CheckChange), or a
// check-out (CheckTask).
const std::vector<std::string> kChangeRules = {"require-task", "drop-column-in-use",
    "add-not-null-without-default", "change-column-type", "narrow-column-type", "set-not-null",
    "volatile-default-rewrite", "drop-column", "enum-value-removed", "function-return-type-change"};

// Each rule: a definition that violates it and one that does not.
TEST(Lint, EachRuleFlagsItsViolationAndOnlyThat) {
  const std::vector<Case> cases = {
      {"naming-table", "CREATE TABLE s.\"Orders\" (id int PRIMARY KEY);", "CREATE TABLE s.orders (id int PRIMARY KEY);"},
      {"naming-column", "CREATE TABLE s.t (\"Id\" int PRIMARY KEY);", "CREATE TABLE s.t (id int PRIMARY KEY);"},
      {"naming-view", "CREATE VIEW s.\"V1\" AS SELECT 1 AS a;", "CREATE VIEW s.v1 AS SELECT 1 AS a;"},
      {"naming-materialized-view", "CREATE MATERIALIZED VIEW s.\"M\" AS SELECT 1 AS a;",
       "CREATE MATERIALIZED VIEW s.m AS SELECT 1 AS a;"},
      {"naming-function", "CREATE FUNCTION s.\"F\"() RETURNS int LANGUAGE sql AS 'SELECT 1';",
       "CREATE FUNCTION s.f() RETURNS int LANGUAGE sql AS 'SELECT 1';"},
      {"naming-index", "CREATE INDEX orders_idx ON s.orders (customer_id);",
       "CREATE INDEX ix_orders_customer_id ON s.orders (customer_id);"},
      {"naming-sequence", "CREATE SEQUENCE s.\"Seq\";", "CREATE SEQUENCE s.seq;"},
      {"naming-trigger",
       "CREATE TRIGGER \"T\" BEFORE INSERT ON s.orders FOR EACH ROW EXECUTE FUNCTION s.f();",
       "CREATE TRIGGER t BEFORE INSERT ON s.orders FOR EACH ROW EXECUTE FUNCTION s.f();"},
      {"naming-type", "CREATE TYPE s.\"Mood\" AS ENUM ('ok');", "CREATE TYPE s.mood AS ENUM ('ok');"},
      {"naming-primary-key", "CREATE TABLE s.orders (id int CONSTRAINT orders_key PRIMARY KEY);",
       "CREATE TABLE s.orders (id int CONSTRAINT pk_orders PRIMARY KEY);"},
      {"naming-unique", "CREATE TABLE s.orders (id int PRIMARY KEY, code text CONSTRAINT code_u UNIQUE);",
       "CREATE TABLE s.orders (id int PRIMARY KEY, code text CONSTRAINT uq_orders_code UNIQUE);"},
      {"naming-foreign-key",
       "CREATE TABLE s.orders (id int PRIMARY KEY, c int CONSTRAINT c_fk REFERENCES s.customers);",
       "CREATE TABLE s.orders (id int PRIMARY KEY, c int CONSTRAINT fk_orders_customers REFERENCES s.customers);"},
      {"naming-max-length", "CREATE TABLE s." + std::string(64, 'a') + " (id int PRIMARY KEY);",
       "CREATE TABLE s." + std::string(63, 'a') + " (id int PRIMARY KEY);"},
      {"naming-reserved-word", "CREATE TABLE s.t (id int PRIMARY KEY, \"order\" int);",
       "CREATE TABLE s.t (id int PRIMARY KEY, position int);"},
      {"require-primary-key", "CREATE TABLE s.t (id int);", "CREATE TABLE s.t (id int PRIMARY KEY);"},
      {"require-fk-index", "CREATE TABLE s.t (id int PRIMARY KEY, c int REFERENCES s.c);",
       "CREATE TABLE s.t (id int PRIMARY KEY, c int REFERENCES s.c); CREATE INDEX ix_t_c ON s.t (c);"},
      {"prefer-timestamptz", "CREATE TABLE s.t (id int PRIMARY KEY, at timestamp);",
       "CREATE TABLE s.t (id int PRIMARY KEY, at timestamptz);"},
      {"prefer-identity", "CREATE TABLE s.t (id serial PRIMARY KEY);",
       "CREATE TABLE s.t (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY);"},
      {"ban-money-type", "CREATE TABLE s.t (id int PRIMARY KEY, price money);",
       "CREATE TABLE s.t (id int PRIMARY KEY, price numeric(12,2));"},
      {"ban-char-field", "CREATE TABLE s.t (id int PRIMARY KEY, code char(3));",
       "CREATE TABLE s.t (id int PRIMARY KEY, code text);"},
      {"prefer-text-field", "CREATE TABLE s.t (id int PRIMARY KEY, name varchar(40));",
       "CREATE TABLE s.t (id int PRIMARY KEY, name text);"},
      {"prefer-bigint-over-int", "CREATE TABLE s.t (id int PRIMARY KEY);", "CREATE TABLE s.t (id bigint PRIMARY KEY);"},
      {"prefer-bigint-over-smallint", "CREATE TABLE s.t (id smallint PRIMARY KEY);",
       "CREATE TABLE s.t (id bigint PRIMARY KEY);"},
      {"ban-select-star", "CREATE VIEW s.v AS SELECT * FROM s.t;", "CREATE VIEW s.v AS SELECT id FROM s.t;"},
      {"security-definer-search-path",
       "CREATE FUNCTION s.f() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';",
       "CREATE FUNCTION s.f() RETURNS int LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog AS 'SELECT 1';"},
      {"require-table-comment", "CREATE TABLE s.t (id int PRIMARY KEY);",
       "CREATE TABLE s.t (id int PRIMARY KEY); COMMENT ON TABLE s.t IS 'things';"},
      {"require-column-comment", "CREATE TABLE s.t (id int PRIMARY KEY);",
       "CREATE TABLE s.t (id int PRIMARY KEY); COMMENT ON COLUMN s.t.id IS 'number';"},
      {"ban-create-domain-with-constraint", "CREATE DOMAIN s.pct AS int CHECK (VALUE >= 0);",
       "CREATE DOMAIN s.pct AS int;"},
      {"require-concurrent-index-creation", "CREATE INDEX ix_t_c ON s.t (c);",
       "CREATE INDEX CONCURRENTLY ix_t_c ON s.t (c);"},
      {"prefer-jsonb", "CREATE TABLE s.t (id int PRIMARY KEY, doc json);",
       "CREATE TABLE s.t (id int PRIMARY KEY, doc jsonb);"},
      {"ban-inherits", "CREATE TABLE s.t (id int PRIMARY KEY) INHERITS (s.base);",
       "CREATE TABLE s.t PARTITION OF s.base FOR VALUES IN (1);"},
      {"require-constraint-name", "CREATE TABLE s.t (id int PRIMARY KEY);",
       "CREATE TABLE s.t (id int CONSTRAINT pk_t PRIMARY KEY);"},
  };
  std::set<std::string> covered;
  for (const auto& c : cases) {
    EXPECT_TRUE(Flags(c.code, c.bad)) << c.code << " misses: " << c.bad;
    EXPECT_FALSE(Flags(c.code, c.good)) << c.code << " flags: " << c.good;
    covered.insert(c.code);
  }
  for (const auto& code : kChangeRules) covered.insert(code);  // ChangeRules below
  for (const auto& r : Rules()) EXPECT_TRUE(covered.count(r.code)) << r.code << " has no case";
}

// The safety of a change (a check-in: the previous version to the new one).
TEST(CheckChange, EachChangeRuleFlagsItsChangeAndOnlyThat) {
  const std::string before =
      "CREATE TABLE s.t (id int PRIMARY KEY, name varchar(40), note text, age int, CONSTRAINT c CHECK (age > 0));";
  struct ChangeCase {
    std::string code, bad, good;
  };
  const std::vector<ChangeCase> cases = {
      {"add-not-null-without-default",
       "CREATE TABLE s.t (id int PRIMARY KEY, name varchar(40), note text, age int, flag bool NOT NULL, CONSTRAINT c "
       "CHECK (age > 0));",
       "CREATE TABLE s.t (id int PRIMARY KEY, name varchar(40), note text, age int, flag bool NOT NULL DEFAULT false, "
       "CONSTRAINT c CHECK (age > 0));"},
      {"change-column-type",
       "CREATE TABLE s.t (id int PRIMARY KEY, name varchar(40), note text, age bigint, CONSTRAINT c CHECK (age > 0));",
       "CREATE TABLE s.t (id int PRIMARY KEY, name varchar(80), note text, age int, CONSTRAINT c CHECK (age > 0));"},
      {"narrow-column-type",
       "CREATE TABLE s.t (id int PRIMARY KEY, name varchar(10), note text, age int, CONSTRAINT c CHECK (age > 0));",
       "CREATE TABLE s.t (id int PRIMARY KEY, name varchar(80), note text, age int, CONSTRAINT c CHECK (age > 0));"},
      {"set-not-null",
       "CREATE TABLE s.t (id int PRIMARY KEY, name varchar(40), note text NOT NULL, age int, CONSTRAINT c CHECK (age > "
       "0));",
       before},
      {"volatile-default-rewrite",
       "CREATE TABLE s.t (id int PRIMARY KEY, name varchar(40), note text, age int, r float8 DEFAULT random(), "
       "CONSTRAINT c CHECK (age > 0));",
       "CREATE TABLE s.t (id int PRIMARY KEY, name varchar(40), note text, age int, r float8 DEFAULT 1, CONSTRAINT c "
       "CHECK (age > 0));"},
      {"drop-column", "CREATE TABLE s.t (id int PRIMARY KEY, name varchar(40), age int, CONSTRAINT c CHECK (age > 0));",
       before},
  };
  Policy p = AllOn();
  for (const auto& c : cases) {
    auto bad = CheckChange(p, before, c.bad);
    ASSERT_TRUE(bad.ok()) << c.code << ": " << bad.status();
    auto has = [&](const std::vector<Finding>& f) {
      return std::any_of(f.begin(), f.end(), [&](const Finding& x) { return x.code == c.code; });
    };
    EXPECT_TRUE(has(*bad)) << c.code << " misses: " << c.bad;
    auto good = CheckChange(p, before, c.good);
    ASSERT_TRUE(good.ok());
    EXPECT_FALSE(has(*good)) << c.code << " flags: " << c.good;
  }
  const std::string type_before = "CREATE TYPE s.mood AS ENUM ('ok', 'sad');";
  auto removed = CheckChange(p, type_before, "CREATE TYPE s.mood AS ENUM ('ok');");
  ASSERT_TRUE(removed.ok());
  EXPECT_TRUE(std::any_of(removed->begin(), removed->end(), [](const Finding& f) { return f.code == "enum-value-removed"; }));
  const std::string fn_before = "CREATE FUNCTION s.f() RETURNS int LANGUAGE sql AS 'SELECT 1';";
  auto ret = CheckChange(p, fn_before, "CREATE FUNCTION s.f() RETURNS bigint LANGUAGE sql AS 'SELECT 1';");
  ASSERT_TRUE(ret.ok());
  EXPECT_TRUE(
      std::any_of(ret->begin(), ret->end(), [](const Finding& f) { return f.code == "function-return-type-change"; }));
  // Off: nothing.
  auto quiet = CheckChange(DefaultPolicy(), before, cases[3].bad);
  ASSERT_TRUE(quiet.ok());
  EXPECT_TRUE(quiet->empty()) << "set-not-null is off by default";
}

TEST(Lint, FindingsSayTheRuleTheNameThePatternAndTheHint) {
  auto p = ParsePolicy("rules:\n  naming-table: {severity: error, pattern: \"^[a-z][a-z0-9_]*$\", hint: snake_case}\n");
  ASSERT_TRUE(p.ok()) << p.status();
  auto f = Lint(*p, "\n\nCREATE TABLE sales.\"OrderLines\" (id bigint PRIMARY KEY);");
  ASSERT_TRUE(f.ok());
  std::vector<Finding> naming;
  for (const auto& x : *f)
    if (x.code == "naming-table") naming.push_back(x);
  ASSERT_EQ(naming.size(), 1u);
  EXPECT_EQ(naming[0].severity, Severity::kError);
  EXPECT_EQ(naming[0].object, "table:sales.\"OrderLines\"");
  EXPECT_EQ(naming[0].message, "table name \"OrderLines\" does not match ^[a-z][a-z0-9_]*$ (hint: snake_case)");
  EXPECT_EQ(naming[0].line, 3);
  EXPECT_EQ(Format(naming[0]),
            "error naming-table: table:sales.\"OrderLines\": table name \"OrderLines\" does not match "
            "^[a-z][a-z0-9_]*$ (hint: snake_case)");
}

TEST(Lint, PlaceholdersSchemasAndConstraintsAddedByAlterTable) {
  auto p = ParsePolicy(
      "rules:\n"
      "  naming-index: {severity: error, pattern: \"^ix_{table}_{columns}$\"}\n"
      "  require-primary-key: {severity: error, schemas: [\"sales*\"]}\n");
  ASSERT_TRUE(p.ok()) << p.status();
  // pg_dump's form: the key added by ALTER TABLE.
  auto codes = Codes(
      "CREATE TABLE sales.a (id int); ALTER TABLE ONLY sales.a ADD CONSTRAINT a_pkey PRIMARY KEY (id);\n"
      "CREATE TABLE sales_eu.b (id int);\nCREATE TABLE audit.c (id int);\n"
      "CREATE INDEX ix_a_id ON sales.a (id); CREATE INDEX ix_a_wrong ON sales.a (id);",
      *p);
  EXPECT_THAT(codes, ::testing::UnorderedElementsAre("require-primary-key", "naming-index"))
      << "sales_eu.b has no key; audit is out of scope; ix_a_wrong misnames its column";
}

TEST(ParsePolicy, BadFilesAreRefusedNamingTheLine) {
  auto err = [](const std::string& yaml) {
    auto p = ParsePolicy(yaml);
    return p.ok() ? std::string("accepted") : std::string(p.status().message());
  };
  EXPECT_THAT(err("rules:\n  naming-tabel: {severity: error}\n"),
              HasSubstr("line 2, column 3: unknown rule `naming-tabel`; did you mean `naming-table`?"));
  EXPECT_THAT(err("rules:\n  naming-table:\n    severity: error\n    pattern: \"^[a-z(\"\n"),
              HasSubstr("line 4, column 14: rule naming-table: pattern `^[a-z(` does not compile"));
  EXPECT_THAT(err("rules:\n  require-primary-key: {severity: fatal}\n"),
              HasSubstr("line 2, column 35: rule require-primary-key: severity `fatal` does not exist (error, warning, off)"));
  EXPECT_THAT(err("rules:\n  require-primary-key: {severity: error, pattern: x}\n"),
              HasSubstr("rule require-primary-key has no option `pattern`"));
  EXPECT_THAT(err("rule:\n  x: y\n"), HasSubstr("line 1, column 1: unknown key `rule`"));
  EXPECT_THAT(err("rules: [\n"), HasSubstr("line 2"));
  EXPECT_THAT(err("rules:\n  naming-max-length: {severity: error, max: -3}\n"), HasSubstr("max must be a positive number"));
  EXPECT_EQ(err("rules:\n  require-primary-key: off\n  naming-table: error\n"), "accepted");
}

TEST(Lint, FortyRulesOverAThousandTablesIsStable) {
  std::string sql;
  for (int i = 0; i < 1000; ++i)
    sql += "CREATE TABLE s.t" + std::to_string(i) + " (id serial PRIMARY KEY, at timestamp, c int REFERENCES s.t0);\n";
  auto a = Lint(AllOn(), sql);
  auto b = Lint(AllOn(), sql);
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->size(), b->size());
  for (size_t i = 0; i < a->size(); ++i) EXPECT_EQ(Format((*a)[i]), Format((*b)[i]));
}

TEST(CheckTask, TheWorkItemAPolicyRequires) {
  EXPECT_EQ(CheckTask(DefaultPolicy(), "sales", ""), "") << "off by default";
  auto p = ParsePolicy("rules:\n  require-task: {severity: error, pattern: \"^[A-Z]+-[0-9]+$\", schemas: [sales]}\n");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_THAT(CheckTask(*p, "sales", ""), HasSubstr("name the work item"));
  EXPECT_THAT(CheckTask(*p, "sales", "abc-1"), HasSubstr("work item \"abc-1\" does not match ^[A-Z]+-[0-9]+$"));
  EXPECT_EQ(CheckTask(*p, "sales", "ABC-123"), "");
  EXPECT_EQ(CheckTask(*p, "audit", ""), "") << "outside the rule's schemas";
}

}  // namespace
}  // namespace strata::policy
