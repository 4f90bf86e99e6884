#include "sql/prepare_ahead.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "sql/fingerprint.h"
#include "sql/testdata_loader.h"

namespace strata::sql {
namespace {

// Everything the impact graph keeps of an analysis, as one text.
std::string Summary(const absl::StatusOr<ObjectInfo>& info) {
  if (!info.ok()) return "error: " + info.status().ToString();
  std::vector<std::string> parts = {info->id.ToString(), info->language, info->return_type};
  for (const auto& c : info->columns) parts.push_back("col " + c.name + " " + c.type);
  for (const auto& r : info->references)
    parts.push_back(absl::StrCat("ref ", RefClassName(r.cls), ":", r.QualifiedName(), "(",
                                 absl::StrJoin(r.columns, ","), ")", r.all_columns ? "*" : "",
                                 r.known ? "" : "?", " via ", absl::StrJoin(r.via, ",")));
  for (const auto& n : info->notes) parts.push_back("note " + n);
  return absl::StrJoin(parts, "\n");
}

std::vector<std::string> ShopAndBrokenDefinitions() {
  std::vector<std::string> texts;
  for (const auto& [id, ddl] : testing::LoadObjects(STRATA_SQL_TESTDATA "/shop.sql")) texts.push_back(ddl);
  texts.push_back("CREATE TABLE broken (id int,, name text);");                  // does not parse
  texts.push_back("CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETRUN 1; END $$;");  // body
  texts.push_back("CREATE VIEW v AS SELECT 'unterminated;");                       // does not scan
  return texts;
}

TEST(PrepareAhead, GivesWhatAnalyzeDefinitionGivesWithTheSameCatalogInOrder) {
  const std::vector<std::string> texts = ShopAndBrokenDefinitions();
  ASSERT_GT(texts.size(), 40u);
  std::vector<std::string_view> views(texts.begin(), texts.end());
  for (size_t threads : {0, 1, 3}) {
    SCOPED_TRACE(threads);
    testing::TestCatalog direct_catalog, prepared_catalog;
    PrepareAhead ahead(views, threads, /*window=*/4);
    for (size_t i = 0; i < texts.size(); ++i) {
      auto direct = AnalyzeDefinition(texts[i], {.catalog = direct_catalog.catalog()});
      Prepared p = ahead.Take(i);
      absl::StatusOr<ObjectInfo> prepared =
          p.definition.ok() ? AnalyzePrepared(*p.definition, {.catalog = prepared_catalog.catalog()})
                            : absl::StatusOr<ObjectInfo>(p.definition.status());
      EXPECT_EQ(Summary(prepared), Summary(direct)) << texts[i];
      auto fingerprint = Fingerprint(texts[i]);
      EXPECT_EQ(p.fingerprint.ok(), fingerprint.ok());
      if (fingerprint.ok() && p.fingerprint.ok()) {
        EXPECT_EQ(*p.fingerprint, *fingerprint);
      }
      if (direct.ok()) direct_catalog.Add(*direct);
      if (prepared.ok()) prepared_catalog.Add(*prepared);
    }
    if (threads == 0) {
      EXPECT_EQ(ahead.prepared_by_workers(), 0u);
    }
  }
  // The broken ones fail as AnalyzeDefinition fails (checked above), and do fail.
  EXPECT_FALSE(AnalyzeDefinition(texts[texts.size() - 3]).ok());
  EXPECT_FALSE(AnalyzeDefinition(texts[texts.size() - 2]).ok());
}

TEST(PrepareAhead, PreparesAtMostTheWindowAheadOfTheCaller) {
  const std::vector<std::string> texts = ShopAndBrokenDefinitions();
  std::vector<std::string_view> views(texts.begin(), texts.end());
  PrepareAhead ahead(views, /*threads=*/2, /*window=*/3);
  // Waits until the workers have prepared `expected` texts (they may be slow
  // on a loaded machine), then a little longer: more would be a bug.
  auto settle = [&](size_t expected) {
    for (int i = 0; i < 500 && ahead.prepared_by_workers() < expected; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return ahead.prepared_by_workers();
  };
  EXPECT_EQ(settle(3), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(ahead.Take(i).definition.ok());
  EXPECT_EQ(settle(6), 6u);
  // Skipping ahead drops what was prepared for the skipped texts (3 to 5),
  // gives the one asked for (prepared here: no worker had started it), and
  // the workers go on after it: 21 to 23.
  Prepared p = ahead.Take(20);
  EXPECT_TRUE(p.definition.ok());
  EXPECT_EQ(settle(9), 9u);
}

TEST(PrepareAhead, StopsWithTextsNotTaken) {
  const std::vector<std::string> texts(500, "CREATE VIEW v AS SELECT 1 AS one;");
  std::vector<std::string_view> views(texts.begin(), texts.end());
  for (int round = 0; round < 20; ++round) {
    PrepareAhead ahead(views, 2, 16);
    if (round % 2) {
      EXPECT_TRUE(ahead.Take(round).definition.ok());
    }
  }  // the destructor joins the workers whatever they were doing
}

}  // namespace
}  // namespace strata::sql
