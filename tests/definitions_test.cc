// Per-object definitions against real PostgreSQL: a live schema cut into
// Strata definitions (import), loaded back in any order, is the same schema;
// drift is described object by object.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "model/object_id.h"
#include "pg/pg.h"
#include "schemadiff/definitions.h"
#include "schemadiff/diff.h"
#include "sql/analyze.h"
#include "support/postgres.h"

namespace strata::schemadiff {
namespace {

using ::testing::HasSubstr;
using testing::ScratchDatabase;
using testing::TestServerUrl;

constexpr char kRichSchema[] = R"sql(
CREATE EXTENSION IF NOT EXISTS citext;
CREATE SCHEMA app;
CREATE SCHEMA audit;
CREATE DOMAIN app.email AS citext CHECK (VALUE ~ '@');
CREATE TYPE app.money_range AS RANGE (subtype = numeric);
CREATE TYPE app.address AS (street text, city text);
CREATE TYPE app.state AS ENUM ('draft', 'live', 'gone');
CREATE SEQUENCE app.invoice_no START 1000 INCREMENT 5;
CREATE TABLE app.accounts (
  id serial PRIMARY KEY,
  email app.email NOT NULL UNIQUE,
  home app.address,
  state app.state NOT NULL DEFAULT 'draft',
  budget app.money_range,
  created timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE app.accounts IS 'customers';
COMMENT ON COLUMN app.accounts.email IS 'login';
CREATE TABLE app.teams (id int PRIMARY KEY, lead_id int);
CREATE TABLE app.members (id int PRIMARY KEY, team_id int REFERENCES app.teams (id));
ALTER TABLE app.teams ADD CONSTRAINT teams_lead FOREIGN KEY (lead_id) REFERENCES app.members (id);
CREATE TABLE app.events (
  id bigint GENERATED ALWAYS AS IDENTITY,
  at date NOT NULL,
  amount numeric(10,2),
  amount_cents bigint GENERATED ALWAYS AS ((amount * 100)::bigint) STORED,
  invoice int DEFAULT nextval('app.invoice_no')
) PARTITION BY RANGE (at);
CREATE TABLE app.events_2026 PARTITION OF app.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX events_at ON app.events (at);
CREATE UNIQUE INDEX accounts_lower_email ON app.accounts (lower(email::text)) WHERE state <> 'gone';
ALTER TABLE app.accounts ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_rows ON app.accounts USING (email::text = current_user);
CREATE VIEW app.live_accounts AS SELECT id, email FROM app.accounts WHERE state = 'live';
CREATE MATERIALIZED VIEW app.account_counts AS SELECT state, count(*) AS n FROM app.accounts GROUP BY state;
CREATE UNIQUE INDEX account_counts_state ON app.account_counts (state);
CREATE TABLE audit.log (at timestamptz DEFAULT now(), what text);
CREATE FUNCTION audit.record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit.log (what) VALUES (TG_OP || ' ' || TG_TABLE_NAME); RETURN NEW; END $$;
CREATE TRIGGER accounts_audit AFTER INSERT OR UPDATE ON app.accounts FOR EACH ROW EXECUTE FUNCTION audit.record();
CREATE PROCEDURE app.close(a int) LANGUAGE sql AS $$ UPDATE app.accounts SET state = 'gone' WHERE id = a $$;
CREATE FUNCTION app.balance(a int, OUT total numeric) LANGUAGE sql STABLE
  BEGIN ATOMIC SELECT coalesce(sum(amount), 0) FROM app.events WHERE invoice = a; END;
)sql";

Catalog Read(const std::string& url) {
  auto s = pg::Session::Connect(url);
  EXPECT_TRUE(s.ok()) << s.status();
  auto c = ReadCatalog(**s);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : Catalog{};
}

class DefinitionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = pg::Session::Connect(db_.url());
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE((*s)->Exec(kRichSchema).ok());
  }
  ScratchDatabase db_{"strata_defs"};
};

TEST_F(DefinitionsTest, ALiveSchemaCutIntoDefinitionsLoadsBackInAnyOrderAsTheSameSchema) {
  const Catalog live = Read(db_.url());
  CatalogDefinitions defs = DefinitionsOf(live);
  EXPECT_THAT(defs.skipped, ::testing::IsEmpty());
  std::vector<std::string> ids;
  for (const auto& d : defs.objects) ids.push_back(d.object);
  EXPECT_THAT(ids, ::testing::IsSupersetOf({"extension:citext", "schema:app", "domain:app.email",
                                            "type:app.money_range", "type:app.address", "type:app.state",
                                            "sequence:app.invoice_no", "table:app.accounts", "table:app.events",
                                            "table:app.events_2026", "index:app.events_at",
                                            "materialized_view:app.account_counts", "view:app.live_accounts",
                                            "function:audit.record()", "trigger:app.accounts.accounts_audit",
                                            "procedure:app.close(integer)", "function:app.balance(integer)"}));
  // Each definition is one a developer can check out and check in again.
  for (const auto& d : defs.objects) {
    auto id = model::ParseObjectId(d.object);
    ASSERT_TRUE(id.ok()) << d.object;
    EXPECT_TRUE(sql::CheckDefines(d.sql, *id, {.search_path = {"public"}}).ok())
        << d.object << ":\n" << d.sql << sql::CheckDefines(d.sql, *id, {.search_path = {"public"}});
  }
  // Loaded in a scrambled order, the definitions make the same catalog.
  std::vector<LabelledSql> scrambled;
  for (const auto& d : defs.objects) scrambled.push_back({d.object, d.sql});
  std::shuffle(scrambled.begin(), scrambled.end(), std::mt19937(42));
  std::reverse(scrambled.begin(), scrambled.end());
  auto loaded = LoadDefinitions(scrambled, {.server = TestServerUrl()});
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(Facts(*loaded), Facts(live));
  EXPECT_THAT(DescribeDrift(*loaded, live), ::testing::IsEmpty());
  // The same in a database of its own, a statement per transaction (the
  // pooled load above ran them in one, each under a savepoint, retrying
  // those that came before what they need).
  auto own = LoadDefinitions(scrambled, {.server = TestServerUrl(), .pool = false});
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(Facts(*own), Facts(live));
}

TEST_F(DefinitionsTest, ASetLoadedOnceIsNotLoadedAgain) {
  const Catalog live = Read(db_.url());
  std::vector<LabelledSql> defs;
  for (const auto& d : DefinitionsOf(live).objects) defs.push_back({d.object, d.sql});
  CatalogCache cache(2);
  const ShadowOptions shadow{.server = TestServerUrl(), .cache = &cache};
  auto first = LoadDefinitions(defs, shadow);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(cache.misses(), 1u);
  // Labels are for errors only: the same text under other labels is a hit.
  for (auto& d : defs) d.label += " (again)";
  auto second = LoadDefinitions(defs, shadow);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(cache.hits(), 1u);
  EXPECT_EQ(Facts(*second), Facts(live));
  // One changed definition is another set: loaded, and its catalog is its own.
  const std::vector<LabelledSql> original = defs;
  for (auto& d : defs)
    if (d.label.rfind("table:app.teams", 0) == 0) d.sql = "CREATE TABLE app.teams (id int PRIMARY KEY, lead_id int, name text);\n";
  auto changed = LoadDefinitions(defs, shadow);
  ASSERT_TRUE(changed.ok()) << changed.status();
  EXPECT_EQ(cache.misses(), 2u);
  EXPECT_EQ(changed->Find("table app.teams")->columns.size(), 3u);
  // A failed load is not kept.
  EXPECT_FALSE(LoadDefinitions({{"table:s.t v1", "CREATE TABLE nowhere.t (a int);"}}, shadow).ok());
  EXPECT_FALSE(LoadDefinitions({{"table:s.t v1", "CREATE TABLE nowhere.t (a int);"}}, shadow).ok());
  EXPECT_EQ(cache.misses(), 4u);
  // At capacity (2) the least recently used goes: the first set.
  ASSERT_TRUE(LoadDefinitions({{"table:public.x v1", "CREATE TABLE public.x (a int);"}}, shadow).ok());
  EXPECT_EQ(cache.misses(), 5u);
  ASSERT_TRUE(LoadDefinitions(defs, shadow).ok());  // the changed set: still there
  EXPECT_EQ(cache.hits(), 2u);
  ASSERT_TRUE(LoadDefinitions(original, shadow).ok());
  EXPECT_EQ(cache.misses(), 6u);
}

TEST_F(DefinitionsTest, DriftIsDescribedObjectByObject) {
  const Catalog expected = Read(db_.url());
  auto s = pg::Session::Connect(db_.url());
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->Exec("ALTER TABLE app.accounts ALTER COLUMN budget TYPE numrange USING NULL;"
                         "ALTER TABLE app.accounts ADD COLUMN phone text;"
                         "DROP INDEX app.events_at; CREATE TABLE app.scratch (x int);"
                         "CREATE OR REPLACE VIEW app.live_accounts AS SELECT id, email FROM app.accounts WHERE state <> 'gone'")
                  .ok());
  auto drift = DescribeDrift(expected, Read(db_.url()));
  std::string all;
  for (const auto& d : drift) all += d + "\n";
  EXPECT_THAT(all, HasSubstr("table app.accounts: column phone text is there but not expected"));
  EXPECT_THAT(all, HasSubstr("column budget is budget numrange, expected budget app.money_range"));
  EXPECT_THAT(all, HasSubstr("index app.events_at: expected but missing"));
  EXPECT_THAT(all, HasSubstr("table app.scratch: is there but not expected (`CREATE TABLE app.scratch ( x integer )`)"));
  EXPECT_THAT(all, HasSubstr("view app.live_accounts: is `"));
}

TEST_F(DefinitionsTest, ACatalogEncodedAndDecodedIsTheSameInEveryField) {
  const Catalog live = Read(db_.url());
  const std::string bytes = EncodeCatalog(live);
  auto decoded = DecodeCatalog(bytes);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(EncodeCatalog(*decoded), bytes);
  EXPECT_EQ(Facts(*decoded), Facts(live));
  EXPECT_EQ(decoded->casts, live.casts);
  // What the differ uses beyond the facts (columns, dependencies, create
  // statements...): the scripts from and to another schema are the same.
  Catalog other = live;
  other.objects.erase("table app.teams");
  auto a = Diff(other, live, {.allow_data_loss = true});
  auto b = Diff(other, *decoded, {.allow_data_loss = true});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(RenderScript(*a, "x"), RenderScript(*b, "x"));
  auto c = Diff(live, other, {.allow_data_loss = true});
  auto d = Diff(*decoded, other, {.allow_data_loss = true});
  ASSERT_TRUE(c.ok() && d.ok());
  EXPECT_EQ(RenderScript(*c, "x"), RenderScript(*d, "x"));
  // Anything else is DATA_LOSS, not a crash or a wrong catalog.
  for (size_t cut : {size_t{0}, size_t{3}, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_EQ(DecodeCatalog(std::string_view(bytes).substr(0, cut)).status().code(), absl::StatusCode::kDataLoss) << cut;
  }
  EXPECT_EQ(DecodeCatalog(bytes + "x").status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(DefinitionsTest, CatalogsKeptOnDiskServeTheNextProcess) {
  const Catalog live = Read(db_.url());
  std::vector<LabelledSql> defs;
  for (const auto& d : DefinitionsOf(live).objects) defs.push_back({d.object, d.sql});
  const std::string dir = ::testing::TempDir() + "/strata-catalogs-" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  {
    CatalogCache first(2, dir);
    ASSERT_TRUE(LoadDefinitions(defs, {.server = TestServerUrl(), .cache = &first}).ok());
    EXPECT_EQ(first.misses(), 1u);
  }
  // A new cache on the same folder (a restarted server): a hit, no load.
  CatalogCache second(2, dir);
  auto again = LoadDefinitions(defs, {.server = TestServerUrl(), .pool = false, .cache = &second});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(second.hits(), 1u);
  EXPECT_EQ(second.misses(), 0u);
  EXPECT_EQ(Facts(*again), Facts(live));
  // A damaged file is a miss, and the load replaces it.
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  std::filesystem::resize_file(files[0], std::filesystem::file_size(files[0]) / 2);
  CatalogCache third(2, dir);
  ASSERT_TRUE(LoadDefinitions(defs, {.server = TestServerUrl(), .cache = &third}).ok());
  EXPECT_EQ(third.misses(), 1u);
  CatalogCache fourth(2, dir);
  ASSERT_TRUE(LoadDefinitions(defs, {.server = TestServerUrl(), .cache = &fourth}).ok());
  EXPECT_EQ(fourth.hits(), 1u);
  // At most `files` catalogs stay on disk.
  CatalogCache small(1, dir, /*files=*/1);
  ASSERT_TRUE(LoadDefinitions({{"table:public.x v1", "CREATE TABLE public.x (a int);"}},
                              {.server = TestServerUrl(), .cache = &small}).ok());
  size_t left = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) left += e.path().extension() == ".catalog";
  EXPECT_EQ(left, 1u);
  std::filesystem::remove_all(dir);
}

TEST_F(DefinitionsTest, ADefinitionThatCannotLoadIsNamedWithItsLineAndColumn) {
  auto missing = LoadDefinitions({{"table:s.t v3", "CREATE TABLE nowhere.t (a int);"}}, {.server = TestServerUrl()});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("table:s.t v3:1:"));
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("no definition creates"));
  auto wrong = LoadDefinitions({{"view:public.v v1", "CREATE VIEW public.v AS\n  SELECT 1/0 AS boom, 'x'::int;"}},
                               {.server = TestServerUrl()});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(wrong.status().message()), HasSubstr("view:public.v v1:"));
}

}  // namespace
}  // namespace strata::schemadiff
