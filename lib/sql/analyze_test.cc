#include "sql/analyze.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "absl/strings/str_join.h"
#include "sql/parse.h"
#include "sql/testdata_loader.h"

namespace strata::sql {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAreArray;

// "class:schema.name(col,...)" with "*" for SELECT * and "?" when unknown.
std::string EdgeString(const Reference& r) {
  std::string s = std::string(RefClassName(r.cls)) + ":" + r.QualifiedName();
  if (!r.columns.empty()) s += "(" + absl::StrJoin(r.columns, ",") + ")";
  if (r.all_columns) s += "*";
  if (!r.known) s += "?";
  return s;
}

std::map<std::string, ObjectInfo> AnalyzeShop() {
  testing::TestCatalog catalog;
  std::map<std::string, ObjectInfo> out;
  for (const auto& [id, ddl] : testing::LoadObjects(STRATA_SQL_TESTDATA "/shop.sql")) {
    auto info = AnalyzeDefinition(ddl, {.search_path = {"public"}, .catalog = catalog.catalog()});
    EXPECT_TRUE(info.ok()) << id << ": " << info.status();
    if (!info.ok()) continue;
    EXPECT_EQ(info->id.ToString(), id);
    catalog.Add(*info);
    out[id] = *info;
  }
  return out;
}

// Every edge of the test schema, exactly: class:target(columns used), "*" for
// SELECT *, "?" for a reference unknown when the object was analyzed.
TEST(AnalyzeShopSchema, ReferencesAreExact) {
  const std::map<std::string, std::vector<std::string>> expected = {
      {"domain:shop.email", {}},
      {"function:shop.apply_coupon(text,numeric)", {"relation:shop.coupons(code,percent)"}},
      {"function:shop.customer_level(bigint)", {"relation:shop.customer_revenue(id,total)"}},
      {"function:shop.customer_summary(bigint)", {"relation:shop.orders(customer_id,placed_at)"}},
      {"function:shop.log_change()", {"relation:shop.audit_log(action,row_id,table_name)"}},
      {"function:shop.order_total(bigint)", {"relation:shop.order_items(order_id,qty,unit_price)"}},
      {"function:shop.set_invoice_amount()", {"function:shop.order_total"}},
      {"function:shop.ship_order(bigint,integer)",
       {"relation:shop.orders(id,status)", "relation:shop.shipments(order_id,shipped_at,warehouse_id)",
        "function:shop.notify_carrier?"}},
      {"index:shop.orders_customer_idx", {"relation:shop.orders(customer_id)"}},
      {"index:shop.payments_open_idx", {"relation:shop.payments(invoice_id,paid_at)"}},
      {"index:shop.products_lower_name_idx", {"relation:shop.products(name)"}},
      {"materialized_view:shop.daily_sales",
       {"relation:shop.order_totals(order_id,total)", "relation:shop.orders(id,placed_at)"}},
      {"procedure:shop.refresh_sales()", {"relation:shop.daily_sales"}},
      {"schema:shop", {}},
      {"sequence:shop.invoice_no_seq", {}},
      {"sequence:shop.ticket_seq", {"relation:shop.support_tickets(id)"}},
      {"table:shop.audit_log", {}},
      {"table:shop.categories", {}},  // its foreign key to itself is no edge
      {"table:shop.coupons", {}},
      {"table:shop.customer_notes", {"relation:shop.customers(id)"}},
      {"table:shop.customers", {"type:shop.email"}},
      {"table:shop.employees", {"relation:shop.warehouses(id)"}},
      {"table:shop.invoices", {"relation:shop.invoice_no_seq", "relation:shop.orders(id)"}},
      {"table:shop.order_items", {"relation:shop.orders(id)", "relation:shop.products(id)"}},
      {"table:shop.orders", {"relation:shop.customers(id)", "type:shop.address", "type:shop.order_status"}},
      {"table:shop.payments", {"relation:shop.invoices(id)"}},
      {"table:shop.price_history", {"relation:shop.products(id)"}},
      {"table:shop.products", {"relation:shop.categories(id)"}},
      {"table:shop.shipments", {"relation:shop.orders(id)", "relation:shop.warehouses(id)"}},
      {"table:shop.stock", {"relation:shop.products(id)", "relation:shop.warehouses(id)"}},
      {"table:shop.support_tickets", {"relation:shop.customers(id)"}},
      {"table:shop.warehouses", {"relation:shop.employees(id)?"}},
      {"trigger:shop.invoices.invoices_amount", {"relation:shop.invoices", "function:shop.set_invoice_amount"}},
      {"trigger:shop.orders.orders_audit", {"relation:shop.orders", "function:shop.log_change"}},
      {"trigger:shop.payments.payments_audit", {"relation:shop.payments(amount)", "function:shop.log_change"}},
      {"type:shop.address", {}},
      {"type:shop.order_status", {}},
      {"view:shop.customer_emails", {"relation:shop.customers(email,id)"}},
      {"view:shop.customer_levels", {"relation:shop.customers(id)", "function:shop.customer_level"}},
      {"view:shop.customer_revenue",
       {"relation:shop.customers(id,name)", "relation:shop.order_totals(customer_id,total)"}},
      {"view:shop.open_orders", {"relation:shop.orders(customer_id,id,placed_at,status)"}},
      {"view:shop.order_totals",
       {"relation:shop.order_items(order_id,qty,unit_price)", "relation:shop.orders(customer_id,id)"}},
      {"view:shop.product_stock", {"relation:shop.products(id,name,sku)", "relation:shop.stock(product_id,qty)"}},
      {"view:shop.recent_shipments",
       {"relation:shop.shipments(id,shipped_at,tracking,warehouse_id)", "relation:shop.warehouses(id,name)"}},
      {"view:shop.top_customers", {"relation:shop.customer_revenue(id,name,total)*"}},
      {"view:shop.unpaid_invoices", {"relation:shop.invoices(amount,id)", "relation:shop.payments(invoice_id)"}},
  };
  auto objects = AnalyzeShop();
  ASSERT_EQ(objects.size(), 46u);
  for (const auto& [id, info] : objects) {
    std::vector<std::string> edges;
    for (const auto& r : info.references) edges.push_back(EdgeString(r));
    ASSERT_TRUE(expected.count(id)) << id;
    EXPECT_THAT(edges, UnorderedElementsAreArray(expected.at(id))) << id;
  }
}

TEST(AnalyzeShopSchema, ShapesOfObjects) {
  auto objects = AnalyzeShop();
  const auto& orders = objects.at("table:shop.orders");
  std::vector<std::string> cols;
  for (const auto& c : orders.columns) cols.push_back(c.name + " " + c.type + (c.not_null ? " not null" : ""));
  EXPECT_THAT(cols, ElementsAre("id bigint not null", "customer_id bigint not null",
                                "status shop.order_status not null", "placed_at timestamp with time zone not null",
                                "ship_to shop.address", "note character varying(200)"));
  EXPECT_THAT(objects.at("type:shop.order_status").enum_labels, ElementsAre("new", "paid", "shipped", "cancelled"));
  const auto& summary = objects.at("function:shop.customer_summary(bigint)");
  EXPECT_EQ(summary.return_type, "TABLE(order_count bigint, last_order timestamp with time zone)");
  EXPECT_EQ(summary.language, "sql");
  std::vector<std::string> view_cols;
  for (const auto& c : objects.at("view:shop.top_customers").columns) view_cols.push_back(c.name);
  EXPECT_THAT(view_cols, ElementsAre("id", "name", "total"));  // * expanded
  ASSERT_EQ(objects.at("table:shop.warehouses").foreign_keys.size(), 1u);
  EXPECT_EQ(objects.at("table:shop.warehouses").foreign_keys[0].name, "warehouses_manager_fk");
  EXPECT_EQ(objects.at("index:shop.payments_open_idx").index_table, "shop.payments");
}

ObjectInfo Analyze(const std::string& sql, const AnalyzeOptions& options = {}) {
  auto info = AnalyzeDefinition(sql, options);
  EXPECT_TRUE(info.ok()) << info.status();
  return info.ok() ? *info : ObjectInfo{};
}

TEST(Identity, OfEachKind) {
  EXPECT_EQ(Analyze("create table Sales.Orders (id int)").id.ToString(), "table:sales.orders");
  EXPECT_EQ(Analyze("CREATE TABLE \"Sales\".\"Big Orders\" (id int)").id.ToString(),
            "table:\"Sales\".\"Big Orders\"");
  EXPECT_EQ(Analyze("CREATE TABLE orders (id int)").id.ToString(), "table:public.orders");
  EXPECT_EQ(Analyze("CREATE OR REPLACE VIEW s.v AS SELECT 1").id.ToString(), "view:s.v");
  EXPECT_EQ(Analyze("CREATE MATERIALIZED VIEW s.m AS SELECT 1").id.ToString(), "materialized_view:s.m");
  EXPECT_EQ(Analyze("CREATE FUNCTION s.f(a int, b varchar(10), OUT c int, VARIADIC d int4[]) "
                    "LANGUAGE sql AS 'SELECT 1'")
                .id.ToString(),
            "function:s.f(integer,character varying,variadic integer[])");
  EXPECT_EQ(Analyze("CREATE PROCEDURE s.p(timestamptz, bool) LANGUAGE sql AS 'SELECT 1'").id.ToString(),
            "procedure:s.p(timestamp with time zone,boolean)");
  EXPECT_EQ(Analyze("CREATE SEQUENCE s.q").id.ToString(), "sequence:s.q");
  EXPECT_EQ(Analyze("CREATE UNIQUE INDEX i ON s.t (a)").id.ToString(), "index:s.i");
  EXPECT_EQ(Analyze("CREATE TRIGGER tr BEFORE INSERT ON s.t FOR EACH ROW EXECUTE FUNCTION s.f()").id.ToString(),
            "trigger:s.t.tr");
  EXPECT_EQ(Analyze("CREATE TYPE s.e AS ENUM ('a')").id.ToString(), "type:s.e");
  EXPECT_EQ(Analyze("CREATE TYPE s.r AS RANGE (subtype = int4)").id.ToString(), "type:s.r");
  EXPECT_EQ(Analyze("CREATE DOMAIN s.d AS int").id.ToString(), "domain:s.d");
  EXPECT_EQ(Analyze("CREATE SCHEMA s").id.ToString(), "schema:s");
  EXPECT_EQ(Analyze("CREATE EXTENSION pgcrypto").id.ToString(), "extension:pgcrypto");
  EXPECT_EQ(Analyze("CREATE TABLE t (id int)", {.search_path = {"sales", "public"}}).id.ToString(),
            "table:sales.t");
}

TEST(Identity, CheckDefinesRefusesAnotherObject) {
  auto id = model::ParseObjectId("table:sales.orders");
  ASSERT_TRUE(id.ok());
  EXPECT_TRUE(CheckDefines("CREATE TABLE sales.orders (id int);", *id).ok());
  auto s = CheckDefines("CREATE TABLE sales.customers (id int);", *id);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "the definition defines table:sales.customers, not table:sales.orders");
  s = CheckDefines("CREATE TABLE orders (id int);", *id);
  EXPECT_EQ(s.message(),
            "the definition defines table:public.orders, not table:sales.orders; qualify the name: sales.orders");
  s = CheckDefines("CREATE VIEW sales.orders AS SELECT 1;", *id);
  EXPECT_THAT(std::string(s.message()), HasSubstr("defines view:sales.orders, not table:sales.orders"));
}

TEST(Identity, ADefinitionHoldsOneObject) {
  auto s = AnalyzeDefinition("CREATE TABLE s.a (id int);\n\nCREATE TABLE s.b (id int);").status();
  EXPECT_EQ(s.message(),
            "(line 3, column 1): the definition of table:s.a also defines table:s.b; check in each object "
            "separately");
  s = AnalyzeDefinition("CREATE TABLE s.a (id int);\n  COMMENT ON TABLE s.b IS 'x';").status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("(line 2, column 3): this statement is about s.b, not table:s.a"));
  s = AnalyzeDefinition("CREATE TABLE s.a (id int);\nINSERT INTO s.a VALUES (1);").status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("(line 2, column 1): this statement is not part of"));
  s = AnalyzeDefinition("SELECT 1").status();
  EXPECT_THAT(std::string(s.message()), HasSubstr("has no CREATE statement"));
  // Statements about the object itself are part of its definition.
  EXPECT_TRUE(AnalyzeDefinition("CREATE TABLE s.a (id int, b int);\nCOMMENT ON COLUMN s.a.b IS 'x';\n"
                                "GRANT SELECT ON s.a TO public;\nALTER TABLE s.a OWNER TO postgres;\n"
                                "ALTER TABLE s.a ADD CONSTRAINT a_b_fk FOREIGN KEY (b) REFERENCES s.other (id);")
                  .ok());
}

TEST(Identity, SyntaxErrorsHaveLineAndColumn) {
  auto s = AnalyzeDefinition("CREATE TABLE s.a (\n  id int,\n  name text,,\n);").status();
  EXPECT_EQ(s.message(), "syntax error at or near \",\" (line 3, column 13)");
  // PL/pgSQL bodies are checked as PostgreSQL checks them at CREATE time.
  s = AnalyzeDefinition("CREATE FUNCTION s.f() RETURNS int LANGUAGE plpgsql AS $$\nBEGIN\n  RETRUN 1;\nEND\n$$;")
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("(line 3, column 3)"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("RETRUN"));
}

TEST(References, SearchPathResolvesThroughTheCatalog) {
  testing::TestCatalog catalog;
  catalog.Add(Analyze("CREATE TABLE public.t (a int, b int)"));
  catalog.Add(Analyze("CREATE FUNCTION app.f(int) RETURNS int LANGUAGE sql AS 'SELECT 1'"));
  const AnalyzeOptions options{.search_path = {"app", "public"}, .catalog = catalog.catalog()};
  auto info = Analyze("CREATE VIEW app.v AS SELECT a, f(b), now(), lower('X') FROM t, missing m", options);
  std::vector<std::string> edges;
  for (const auto& r : info.references) edges.push_back(EdgeString(r));
  // pg_catalog's now() and lower() are no references; "missing" is unknown,
  // resolved to the first schema of the path, and still reported.
  EXPECT_THAT(edges, UnorderedElementsAreArray({"relation:public.t(a,b)", "function:app.f", "relation:app.missing?"}));
}

TEST(References, AliasesJoinsSubqueriesAndCtes) {
  testing::TestCatalog catalog;
  catalog.Add(Analyze("CREATE TABLE s.a (id int, x int, y int)"));
  catalog.Add(Analyze("CREATE TABLE s.b (id int, a_id int, z int)"));
  catalog.Add(Analyze("CREATE TABLE s.c (id int, w int)"));
  const AnalyzeOptions options{.catalog = catalog.catalog()};
  auto info = Analyze(R"(
    CREATE VIEW s.v AS
    WITH recent AS (SELECT a_id, max(z) AS mz FROM s.b GROUP BY a_id)
    SELECT q.x, r.mz, (SELECT max(w) FROM s.c WHERE c.id = q.id) AS top
    FROM (SELECT id, x FROM s.a WHERE y > 0) q
    JOIN recent r ON r.a_id = q.id
    LEFT JOIN s.b USING (id)
  )",
                      options);
  std::vector<std::string> edges;
  for (const auto& r : info.references) edges.push_back(EdgeString(r));
  EXPECT_THAT(edges, UnorderedElementsAreArray({"relation:s.a(id,x,y)", "relation:s.b(a_id,id,z)",
                                                "relation:s.c(id,w)"}));
  std::vector<std::string> out;
  for (const auto& c : info.columns) out.push_back(c.name);
  EXPECT_THAT(out, ElementsAre("x", "mz", "top"));
}

TEST(References, StarWithoutCatalogIsAllColumns) {
  auto info = Analyze("CREATE VIEW s.v AS SELECT * FROM s.t");
  ASSERT_EQ(info.references.size(), 1u);
  EXPECT_EQ(EdgeString(info.references[0]), "relation:s.t*?");
}

TEST(References, PlpgsqlRowtypesTypesAndDynamicSql) {
  testing::TestCatalog catalog;
  catalog.Add(Analyze("CREATE TABLE s.t (a int, b int)"));
  catalog.Add(Analyze("CREATE TABLE s.u (k int)"));
  auto info = Analyze(R"(CREATE FUNCTION s.f() RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  r s.t%ROWTYPE;
  k s.u.k%TYPE;
BEGIN
  FOR r IN SELECT * FROM s.t LOOP
    k := r.a;
  END LOOP;
  EXECUTE 'DELETE FROM s.t';
END $$)",
                      {.catalog = catalog.catalog()});
  std::vector<std::string> edges;
  for (const auto& r : info.references) edges.push_back(EdgeString(r));
  EXPECT_THAT(edges, UnorderedElementsAreArray({"relation:s.t(a,b)*", "relation:s.u(k)"}));
  ASSERT_EQ(info.notes.size(), 1u);
  EXPECT_THAT(info.notes[0], HasSubstr("dynamic SQL"));
}

TEST(References, SqlStandardBodiesAndDefaults) {
  auto info = Analyze(
      "CREATE TABLE s.t (id int DEFAULT nextval('s.t_seq'::regclass), code text DEFAULT s.new_code(), "
      "CHECK (s.valid(code)), LIKE s.template)");
  std::vector<std::string> edges;
  for (const auto& r : info.references) edges.push_back(EdgeString(r));
  EXPECT_THAT(edges, UnorderedElementsAreArray({"relation:s.t_seq?", "function:s.new_code?", "function:s.valid?",
                                                "relation:s.template*?"}));
  info = Analyze("CREATE FUNCTION s.g(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT x + s.h(x) FROM s.k; END");
  edges.clear();
  for (const auto& r : info.references) edges.push_back(EdgeString(r));
  EXPECT_THAT(edges, UnorderedElementsAreArray({"function:s.h?", "relation:s.k?"}));
}

}  // namespace
}  // namespace strata::sql

namespace strata::sql {
namespace {

TEST(AnalyzeDump, ShopSchemaAsOneFile) {
  std::ifstream in(STRATA_SQL_TESTDATA "/shop.sql");
  std::stringstream ss;
  ss << in.rdbuf();
  auto dump = AnalyzeDump(ss.str());
  ASSERT_TRUE(dump.ok()) << dump.status();
  EXPECT_EQ(dump->objects.size(), 46u);
  EXPECT_EQ(dump->skipped_statements, 0);
  for (const auto& o : dump->objects)
    if (o.id.ToString() == "table:shop.warehouses") {
      ASSERT_EQ(o.references.size(), 1u);
      EXPECT_EQ(EdgeString(o.references[0]), "relation:shop.employees(id)");  // later in the file, still known
    }
}

TEST(AnalyzeDump, PgDumpStyleStatementsFindTheirObjects) {
  auto dump = AnalyzeDump(R"(
SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);
CREATE TABLE public.a (id integer NOT NULL, b_id integer);
CREATE TABLE public.b (id integer NOT NULL);
CREATE VIEW public.v AS SELECT a.id FROM public.a;
COMMENT ON VIEW public.v IS 'x';
ALTER TABLE ONLY public.a ADD CONSTRAINT a_pkey PRIMARY KEY (id);
ALTER TABLE ONLY public.a ADD CONSTRAINT a_b_fk FOREIGN KEY (b_id) REFERENCES public.b(id);
)");
  ASSERT_TRUE(dump.ok()) << dump.status();
  ASSERT_EQ(dump->objects.size(), 3u);
  EXPECT_EQ(dump->skipped_statements, 2);
  ASSERT_EQ(dump->objects[0].references.size(), 1u);
  EXPECT_EQ(EdgeString(dump->objects[0].references[0]), "relation:public.b(id)");
  EXPECT_EQ(dump->objects[0].foreign_keys[0].name, "a_b_fk");
}

}  // namespace
}  // namespace strata::sql

namespace strata::sql {
namespace {

std::string ShopCopies(int copies) {
  std::ifstream in(STRATA_SQL_TESTDATA "/shop.sql");
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string one = ss.str();
  std::string all;
  for (int c = 0; c < copies; ++c) {
    std::string copy = one;
    const std::string schema = "shop" + std::to_string(c);
    for (size_t at = 0; (at = copy.find("shop", at)) != std::string::npos; at += schema.size())
      copy.replace(at, 4, schema);
    all += copy;
  }
  return all;
}

// Long texts are parsed statement by statement on several threads and
// analyzed in a pipeline: the result must be the one of the plain path.
TEST(AnalyzeDump, LongDumpsGiveTheSameResultAsShortOnes) {
  const std::string big = ShopCopies(12);
  ASSERT_GT(big.size(), 64u << 10);
  auto whole = AnalyzeDump(big);
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_EQ(whole->objects.size(), 12u * 46);
  for (int c : {0, 7, 11}) {
    // Copy c alone: the text of copies 0..c without copies 0..c-1.
    auto alone = AnalyzeDump(ShopCopies(c + 1).substr(ShopCopies(c).size()));
    ASSERT_TRUE(alone.ok()) << alone.status();
    ASSERT_EQ(alone->objects.size(), 46u);
    for (size_t k = 0; k < 46; ++k) {
      const auto& a = alone->objects[k];
      const auto& b = whole->objects[c * 46 + k];
      EXPECT_EQ(a.id, b.id);
      std::vector<std::string> ea, eb;
      for (const auto& r : a.references) ea.push_back(EdgeString(r));
      for (const auto& r : b.references) eb.push_back(EdgeString(r));
      EXPECT_EQ(ea, eb) << a.id.ToString();
    }
  }
}

TEST(LineIndex, AgreesWithLineColumnAtByteEverywhere) {
  const std::string text = "CREATE TABLE é (\n  a int, -- ü\n\n  b text);\nSELECT 'ß';";
  const LineIndex index(text);
  for (int offset = 0; offset <= static_cast<int>(text.size()) + 1; ++offset) {
    const LineColumn a = LineColumnAtByte(text, offset), b = index.At(offset);
    EXPECT_EQ(a.line, b.line) << offset;
    EXPECT_EQ(a.column, b.column) << offset;
  }
}

TEST(ParsedSql, LongTextsKeepStatementTextsAndErrorPositions) {
  const std::string big = ShopCopies(4);
  auto parsed = ParsedSql::Parse(big);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_GT(parsed->size(), 4 * 46);
  for (int i = 0; i < parsed->size(); ++i) {
    std::string_view text = parsed->StatementText(i);
    EXPECT_EQ(big.substr(parsed->StatementOffset(i), text.size()), text);
    auto again = ParsedSql::Parse(std::string(text));
    ASSERT_TRUE(again.ok()) << text;
    EXPECT_EQ(again->size(), 1);
  }
  // An error far into a long text: the line and column of the whole text.
  const int lines = static_cast<int>(std::count(big.begin(), big.end(), '\n'));
  auto bad = ParsedSql::Parse(big + "CREATE TABLE x (\n  a int,,\n);\n");
  EXPECT_EQ(bad.status().message(),
            "syntax error at or near \",\" (line " + std::to_string(lines + 2) + ", column 9)");
  // BEGIN ATOMIC bodies hold ';' that the scanner splits at: parsed whole.
  auto atomic = ParsedSql::Parse(big + "CREATE FUNCTION x() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\n");
  ASSERT_TRUE(atomic.ok()) << atomic.status();
  EXPECT_EQ(atomic->size(), parsed->size() + 1);
}

TEST(DependencyKeys, NameWhatADefinitionUsesAndWhereOthersFindIt) {
  auto info = AnalyzeDefinition(
      "CREATE VIEW s.v AS SELECT s.total(id), status::s.st FROM s.t", {.search_path = {"s"}});
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(DependencyKeys(*info),
            (std::vector<std::string>{"function:s.total", "relation:s.t", "schema:s", "type:s.st"}));
  auto index = AnalyzeDefinition("CREATE INDEX i ON s.t (id)");
  ASSERT_TRUE(index.ok());
  EXPECT_EQ(DependencyKeys(*index), (std::vector<std::string>{"relation:s.t", "schema:s"}));
  EXPECT_EQ(DependencyKeyOf(*model::ParseObjectId("function:s.total(integer)")), "function:s.total");
  EXPECT_EQ(DependencyKeyOf(*model::ParseObjectId("materialized_view:s.m")), "relation:s.m");
  EXPECT_EQ(DependencyKeyOf(*model::ParseObjectId("schema:s")), "schema:s");
  EXPECT_EQ(DependencyKeyOf(*model::ParseObjectId("trigger:s.t.audit")), std::nullopt);
}

}  // namespace
}  // namespace strata::sql

namespace strata::sql {
namespace {

TEST(Keys, PrimaryAndUniqueKeysOfTablesAndUniqueIndexes) {
  auto t = AnalyzeDefinition(
      "CREATE TABLE s.codes (id integer PRIMARY KEY, code text NOT NULL UNIQUE, a int, b int, note text, "
      "UNIQUE (a, b))");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->primary_key, (std::vector<std::string>{"id"}));
  ASSERT_EQ(t->unique_keys.size(), 2u);
  EXPECT_EQ(t->unique_keys[0], (std::vector<std::string>{"code"}));
  EXPECT_EQ(t->unique_keys[1], (std::vector<std::string>{"a", "b"}));
  auto composite = AnalyzeDefinition("CREATE TABLE s.rates (region text, day date, rate numeric, PRIMARY KEY (region, day))");
  ASSERT_TRUE(composite.ok());
  EXPECT_EQ(composite->primary_key, (std::vector<std::string>{"region", "day"}));
  auto none = AnalyzeDefinition("CREATE TABLE s.log (at timestamptz, line text)");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->primary_key.empty());
  EXPECT_TRUE(none->unique_keys.empty());
  auto ix = AnalyzeDefinition("CREATE UNIQUE INDEX ix_log ON s.log (line, at)");
  ASSERT_TRUE(ix.ok());
  EXPECT_TRUE(ix->index_unique);
  EXPECT_EQ(ix->index_key, (std::vector<std::string>{"line", "at"}));
  auto partial = AnalyzeDefinition("CREATE UNIQUE INDEX ix_p ON s.log (line) WHERE at IS NOT NULL");
  ASSERT_TRUE(partial.ok());
  EXPECT_TRUE(partial->index_key.empty());
  auto expr = AnalyzeDefinition("CREATE UNIQUE INDEX ix_e ON s.log (lower(line))");
  ASSERT_TRUE(expr.ok());
  EXPECT_TRUE(expr->index_key.empty());
}

}  // namespace
}  // namespace strata::sql
