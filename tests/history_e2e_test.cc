// End to end, on both log backends: the history service (in strata-server, or
// strata-history beside strata-lock on Kafka) through the strata CLI.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "history/audit.h"
#include "history/history_projection.h"
#include "rocksdb/db.h"
#include "support/stack.h"

namespace strata::testing {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class HistoryE2ETest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    stack_ = std::make_unique<Stack>(GetParam(), nullptr, /*with_history=*/true);
    stack_->Start();
  }
  // Lock commands go to the lock endpoint, the rest to the history endpoint
  // (the same process for strata-server).
  int Lock(const std::string& token, const std::string& args) {
    return RunCli(stack_->endpoint(), token, args, &out_);
  }
  int History(const std::string& token, const std::string& args) {
    return RunCli(stack_->history_endpoint(), token, args, &out_);
  }
  std::string File(const std::string& name, const std::string& text) {
    const std::string path = stack_->data_dir() + "/../" + name;
    std::ofstream(path) << text;
    return path;
  }
  void CheckIn(const std::string& token, const std::string& object, const std::string& ddl,
               const std::string& message) {
    ASSERT_EQ(Lock(token, "checkout " + object), 0) << out_;
    ASSERT_EQ(Lock(token, "checkin " + object + " --file " + File("in.sql", ddl) + " -m '" + message + "'"), 0)
        << out_;
  }
  int Verifier(const std::string& export_path) {
    std::string cmd = "python3 " STRATA_TESTS_DIR "/tools/verify_audit_export.py " + export_path + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    char buf[512];
    verifier_out_.clear();
    while (fgets(buf, sizeof buf, p)) verifier_out_ += buf;
    return WEXITSTATUS(pclose(p));
  }

  std::unique_ptr<Stack> stack_;
  std::string out_, verifier_out_;
};

TEST_P(HistoryE2ETest, VersionsAndDiffsByTwoUsersAndAnExportIdenticalAfterRebuild) {
  CheckIn("alice-token", "table:sales.orders", "CREATE TABLE sales.orders (\n  id int\n);\n", "create");
  CheckIn("bob-token", "sales.orders", "CREATE TABLE sales.orders (\n  id bigint,\n  note text\n);\n",
          "widen id");
  CheckIn("alice-token", "sales.orders",
          "CREATE TABLE sales.orders (\n  id bigint,\n  note text,\n  status text\n);\n", "status");

  ASSERT_EQ(History("vera-token", "log sales.orders"), 0) << out_;
  EXPECT_NE(out_.find("3        "), std::string::npos) << out_;
  EXPECT_NE(out_.find("bob    london  widen id"), std::string::npos) << out_;
  ASSERT_EQ(History("vera-token", "show sales.orders@2 --definition"), 0) << out_;
  EXPECT_EQ(out_, "CREATE TABLE sales.orders (\n  id bigint,\n  note text\n);\n");
  ASSERT_EQ(History("vera-token", "diff sales.orders 1 3"), 0) << out_;
  EXPECT_NE(out_.find("--- table:sales.orders@1\n+++ table:sales.orders@3\n"), std::string::npos) << out_;
  EXPECT_NE(out_.find("\n-  id int\n"), std::string::npos) << out_;
  EXPECT_NE(out_.find("\n+  status text\n"), std::string::npos) << out_;
  ASSERT_EQ(History("vera-token", "--json diff sales.orders 2 2"), 0);
  EXPECT_EQ(out_.find("unified_diff"), std::string::npos) << "equal versions: no diff " << out_;

  const std::string before = stack_->data_dir() + "/../before.jsonl";
  const std::string after = stack_->data_dir() + "/../after.jsonl";
  ASSERT_EQ(History("vera-token", "audit --export " + before), 0) << out_;
  stack_->Stop();
  stack_->WipeProjection();
  stack_->Start();
  ASSERT_EQ(History("vera-token", "audit --export " + after), 0) << out_;
  const std::string rebuilt = ReadFile(after);
  EXPECT_EQ(ReadFile(before), rebuilt) << "rebuilt from the log, byte for byte";
  EXPECT_EQ(std::count(rebuilt.begin(), rebuilt.end(), '\n'), 6);
  ASSERT_EQ(History("vera-token", "log sales.orders"), 0) << out_;
  EXPECT_NE(out_.find("alice  boston  status"), std::string::npos) << out_;
}

TEST_P(HistoryE2ETest, RefusedCheckOutsAndForceReleasesAreAuditedWithActorAndReason) {
  ASSERT_EQ(Lock("alice-token", "checkout table:sales.items -r 'split table'"), 0) << out_;
  EXPECT_EQ(Lock("bob-token", "checkout sales.items"), 5);
  EXPECT_EQ(Lock("bob-token", "release-lock sales.items --force -r 'i need it'"), 3);
  ASSERT_EQ(Lock("dana-token", "release-lock sales.items --force -r 'alice is on leave'"), 0) << out_;

  ASSERT_EQ(History("vera-token", "--json audit --user bob --oldest-first"), 0) << out_;
  EXPECT_NE(out_.find("\"action\": \"checkout\""), std::string::npos) << out_;
  EXPECT_NE(out_.find("\"outcome\": \"refused\""), std::string::npos) << out_;
  EXPECT_NE(out_.find("checked out by alice (boston)"), std::string::npos) << out_;
  EXPECT_NE(out_.find("\"action\": \"force_release\""), std::string::npos) << out_;
  EXPECT_NE(out_.find("needs role dba"), std::string::npos) << out_;

  ASSERT_EQ(History("vera-token", "audit --action force_release --outcome accepted"), 0) << out_;
  EXPECT_NE(out_.find("dana"), std::string::npos) << out_;
  EXPECT_NE(out_.find("from alice (boston): alice is on leave"), std::string::npos) << out_;
  EXPECT_EQ(out_.find("bob"), std::string::npos) << "filtered to accepted ones: " << out_;

  ASSERT_EQ(History("vera-token", "status"), 0) << out_;
  EXPECT_NE(out_.find("nobody has anything checked out"), std::string::npos) << out_;
}

TEST_P(HistoryE2ETest, TamperingWithTheStoredTrailOrAnExportIsDetected) {
  CheckIn("alice-token", "table:sales.a", "CREATE TABLE sales.a (x int);", "a");
  CheckIn("bob-token", "table:sales.b", "CREATE TABLE sales.b (x int);", "b");
  ASSERT_EQ(History("vera-token", "audit --verify"), 0) << out_;
  EXPECT_NE(out_.find("4 records match the log"), std::string::npos) << out_;

  // An outside auditor checks the export with a few lines of Python.
  const std::string exported = stack_->data_dir() + "/../audit.jsonl";
  ASSERT_EQ(History("vera-token", "audit --export " + exported), 0) << out_;
  ASSERT_EQ(Verifier(exported), 0) << verifier_out_;
  std::string text = ReadFile(exported);
  const size_t at = text.find("\"user\":\"bob\"");
  ASSERT_NE(at, std::string::npos);
  text.replace(at, 12, "\"user\":\"eve\"");
  std::ofstream(exported, std::ios::trunc) << text;
  EXPECT_EQ(Verifier(exported), 1);
  EXPECT_NE(verifier_out_.find("hash does not match"), std::string::npos) << verifier_out_;

  // Someone with disk access rewrites a stored record: verify names it.
  stack_->Stop();
  {
    rocksdb::DB* raw = nullptr;
    ASSERT_TRUE(rocksdb::DB::Open(rocksdb::Options(), stack_->data_dir() + "/history", &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    v1::AuditEntry entry;
    std::string key;
    for (it->Seek("a/"); it->Valid() && it->key().starts_with("a/"); it->Next()) {
      std::optional<v1::AuditEntry> stored =
          history::DecodeStoredAudit(std::string_view(it->value().data(), it->value().size()));
      ASSERT_TRUE(stored.has_value());
      entry = *stored;
      if (entry.record().user() == "bob" && entry.record().action() == "checkin") {
        key = it->key().ToString();
        break;
      }
    }
    ASSERT_FALSE(key.empty());
    entry.mutable_record()->set_detail("version 1: harmless");
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions(), key, history::EncodeStoredAudit(entry)).ok());
    ASSERT_TRUE(db->Flush(rocksdb::FlushOptions()).ok());
  }
  stack_->Start();
  EXPECT_EQ(History("vera-token", "audit --verify"), 7) << out_;
  EXPECT_NE(out_.find("first bad record at partition"), std::string::npos) << out_;
  EXPECT_NE(out_.find("harmless"), std::string::npos) << out_;
}

TEST_P(HistoryE2ETest, BaselinesFreezeVersionsAndRevertGoesBackThroughCheckIn) {
  CheckIn("alice-token", "table:sales.c", "CREATE TABLE sales.c (x int);", "one");
  CheckIn("alice-token", "table:sales.d", "CREATE TABLE sales.d (x int);", "one");
  ASSERT_EQ(History("alice-token", "baseline create rel-1 -d 'first cut'"), 0) << out_;
  EXPECT_NE(out_.find("baseline rel-1: 2 objects"), std::string::npos) << out_;
  EXPECT_EQ(History("bob-token", "baseline create rel-1"), 5) << out_;
  EXPECT_NE(out_.find("already exists"), std::string::npos) << out_;
  EXPECT_EQ(History("alice-token", "baseline create 'bad name'"), 2) << out_;

  CheckIn("bob-token", "sales.c", "CREATE TABLE sales.c (x bigint);", "two");
  CheckIn("bob-token", "table:sales.e", "CREATE TABLE sales.e (x int);", "new");
  ASSERT_EQ(History("alice-token", "--json baseline show rel-1"), 0) << out_;
  EXPECT_NE(out_.find("\"object\": \"table:sales.c\",\n   \"version\": \"1\""), std::string::npos) << out_;
  ASSERT_EQ(History("alice-token", "baseline diff rel-1"), 0) << out_;
  EXPECT_NE(out_.find("table:sales.c  1      2              changed"), std::string::npos) << out_;
  EXPECT_NE(out_.find("table:sales.e  -      1              added"), std::string::npos) << out_;
  ASSERT_EQ(History("alice-token", "baseline create rel-2"), 0) << out_;
  ASSERT_EQ(History("alice-token", "baseline diff rel-1 rel-2"), 0) << out_;
  EXPECT_NE(out_.find("changed"), std::string::npos) << out_;

  // Revert: only the holder, through the normal check-in.
  const std::string revert =
      "--history-endpoint " + stack_->history_endpoint() + " revert sales.c --to 1 -m 'undo widen'";
  EXPECT_EQ(Lock("bob-token", revert), 5) << out_;
  EXPECT_NE(out_.find("not checked out"), std::string::npos) << out_;
  ASSERT_EQ(Lock("bob-token", "checkout sales.c"), 0) << out_;
  ASSERT_EQ(Lock("bob-token", revert), 0) << out_;
  EXPECT_NE(out_.find("version 3 with the definition of version 1"), std::string::npos) << out_;
  ASSERT_EQ(History("vera-token", "show sales.c@3 --definition"), 0) << out_;
  EXPECT_EQ(out_, "CREATE TABLE sales.c (x int);\n");
  ASSERT_EQ(History("vera-token", "log sales.c"), 0) << out_;
  EXPECT_NE(out_.find("undo widen (revert to version 1)"), std::string::npos) << out_;

  EXPECT_EQ(History("vera-token", "log sales.nothing"), 4) << out_;
  EXPECT_EQ(History("vera-token", "show sales.c@9"), 4) << out_;
  EXPECT_NE(out_.find("has versions 1 to"), std::string::npos) << out_;
  EXPECT_EQ(History("vera-token", "baseline show nope"), 4) << out_;
}

TEST_P(HistoryE2ETest, AuditQueriesPageThroughTimeRangesAndFilters) {
  for (int i = 0; i < 3; ++i)
    CheckIn(i % 2 ? "bob-token" : "alice-token", "table:sales.p" + std::to_string(i),
            "CREATE TABLE sales.p" + std::to_string(i) + " (x int);", "p" + std::to_string(i));
  auto stub = stack_->HistoryStub();
  auto query = [&](v1::QueryAuditRequest req, uint32_t page_size) {
    std::vector<std::string> seen;
    req.set_page_size(page_size);
    for (int pages = 0; pages < 100; ++pages) {
      v1::QueryAuditResponse resp;
      EXPECT_TRUE(stub->QueryAudit(Ctx("vera-token").get(), req, &resp).ok());
      for (const auto& e : resp.entries()) seen.push_back(e.hash());
      if (resp.next_page_token().empty()) break;
      req.set_page_token(resp.next_page_token());
    }
    return seen;
  };
  v1::QueryAuditRequest all;
  const auto whole = query(all, 1000);
  ASSERT_EQ(whole.size(), 6u);
  EXPECT_EQ(query(all, 2), whole) << "pages of 2 give the same records in the same order";
  all.set_newest_first(true);
  auto newest = query(all, 4);
  std::reverse(newest.begin(), newest.end());
  EXPECT_EQ(newest, whole);

  v1::QueryAuditRequest bob;
  bob.set_user("bob");
  bob.set_action("checkin");
  EXPECT_EQ(query(bob, 1).size(), 1u);

  v1::QueryAuditRequest range;
  range.mutable_from()->set_seconds(946684800);  // 2000-01-01
  range.mutable_to()->set_seconds(978307200);    // 2001-01-01
  EXPECT_TRUE(query(range, 10).empty());
  range.clear_to();
  EXPECT_EQ(query(range, 10).size(), 6u);
  ASSERT_EQ(History("vera-token", "audit --since 2099-01-01"), 0) << out_;
  EXPECT_NE(out_.find("no audit records match"), std::string::npos) << out_;
  ASSERT_EQ(History("vera-token", "audit --since 2000-01-01 --limit 2"), 0) << out_;
  EXPECT_EQ(std::count(out_.begin(), out_.end(), '\n'), 3) << "header and two rows: " << out_;
  EXPECT_EQ(History("vera-token", "audit --since yesterday"), 2) << out_;

  v1::QueryAuditRequest forged;
  forged.set_page_token("not-a-token!");
  v1::QueryAuditResponse resp;
  EXPECT_EQ(stub->QueryAudit(Ctx("vera-token").get(), forged, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(stub->QueryAudit(Ctx("").get(), v1::QueryAuditRequest(), &resp).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

// A renamed table: refused while a view names it and is not held, then
// renamed with the view in hand (its index follows). Its history, blame and
// audit trail show both names; the old name resolves with a notice,
// checks out the renamed object, and with --new starts a new object.
TEST_P(HistoryE2ETest, RenamesAreInTheLogBlameAndAuditAndTheOldNameBehavesAsUsersExpect) {
  CheckIn("alice-token", "table:sales.orders", "CREATE TABLE sales.orders (\n  id int PRIMARY KEY,\n  total numeric\n);\n",
          "create");
  CheckIn("bob-token", "sales.orders",
          "CREATE TABLE sales.orders (\n  id int PRIMARY KEY,\n  total numeric,\n  note text\n);\n", "note");
  CheckIn("bob-token", "view:sales.big_orders",
          "CREATE VIEW sales.big_orders AS\nSELECT id, total FROM sales.orders WHERE total > 100;\n", "big ones");
  CheckIn("alice-token", "index:sales.orders_total_idx", "CREATE INDEX orders_total_idx ON sales.orders (total);\n",
          "by total");

  ASSERT_EQ(Lock("alice-token", "checkout sales.orders sales.orders_total_idx"), 0) << out_;
  EXPECT_EQ(Lock("alice-token", "rename sales.orders order_book -m 'clearer name'"), 5) << out_;
  EXPECT_NE(out_.find("view:sales.big_orders names it"), std::string::npos) << out_;
  ASSERT_EQ(Lock("alice-token", "checkout sales.big_orders"), 0) << out_;
  ASSERT_EQ(Lock("alice-token", "rename sales.orders order_book -m 'clearer name'"), 0) << out_;
  EXPECT_NE(out_.find("renamed table:sales.orders to table:sales.order_book (version 3)"), std::string::npos) << out_;
  ASSERT_EQ(Lock("alice-token", "checkin sales.big_orders --file " +
                                    File("v.sql", "CREATE VIEW sales.big_orders AS\nSELECT id, total FROM "
                                                  "sales.order_book WHERE total > 100;\n") +
                                    " -m 'follows the rename'"),
            0)
      << out_;

  ASSERT_EQ(History("vera-token", "log sales.order_book"), 0) << out_;
  EXPECT_NE(out_.find("3 renamed from table:sales.orders"), std::string::npos) << out_;
  EXPECT_NE(out_.find("2 (as table:sales.orders)"), std::string::npos) << out_;
  EXPECT_NE(out_.find("1 (as table:sales.orders)"), std::string::npos) << out_;
  ASSERT_EQ(History("vera-token", "log sales.orders"), 0) << out_;
  EXPECT_NE(out_.find("note: table:sales.orders was renamed to table:sales.order_book in version 3"),
            std::string::npos)
      << out_;
  ASSERT_EQ(History("vera-token", "show sales.orders_total_idx@2 --definition"), 0) << out_;
  EXPECT_EQ(out_, "CREATE INDEX orders_total_idx ON sales.order_book (total);\n") << "the index followed";

  ASSERT_EQ(History("vera-token", "blame sales.order_book"), 0) << out_;
  std::vector<std::string> lines;
  for (std::istringstream in(out_); std::getline(in, lines.emplace_back());) {
  }
  lines.pop_back();
  ASSERT_EQ(lines.size(), 5u) << out_;
  EXPECT_TRUE(lines[0].starts_with("3 alice ")) << lines[0];
  EXPECT_TRUE(lines[0].ends_with("| CREATE TABLE sales.order_book (")) << lines[0];
  EXPECT_TRUE(lines[1].starts_with("1 alice ")) << lines[1];
  EXPECT_TRUE(lines[1].ends_with("(as table:sales.orders) |   id int PRIMARY KEY,")) << lines[1];
  EXPECT_TRUE(lines[3].starts_with("2 bob ")) << lines[3];
  EXPECT_TRUE(lines[3].ends_with("|   note text")) << lines[3];
  ASSERT_EQ(History("vera-token", "blame sales.order_book@2"), 0) << out_;
  EXPECT_NE(out_.find("| CREATE TABLE sales.orders ("), std::string::npos) << "version 2 under the old name " << out_;
  EXPECT_EQ(History("vera-token", "blame sales.orders@3"), 5) << "the version that renamed it away " << out_;

  ASSERT_EQ(History("vera-token", "--json audit --action rename --oldest-first"), 0) << out_;
  EXPECT_NE(out_.find("version 3 renamed from table:sales.orders: clearer name"), std::string::npos) << out_;
  EXPECT_NE(out_.find("version 3 renamed to table:sales.order_book: clearer name"), std::string::npos) << out_;
  EXPECT_NE(out_.find("\"user\": \"alice\""), std::string::npos) << out_;

  // The old name: a check-out takes the renamed object; --new the name itself.
  ASSERT_EQ(Lock("bob-token", "checkout sales.orders"), 0) << out_;
  EXPECT_NE(out_.find("note: table:sales.orders was renamed to table:sales.order_book"), std::string::npos) << out_;
  ASSERT_EQ(Lock("bob-token", "show sales.order_book"), 0) << out_;
  EXPECT_NE(out_.find("bob"), std::string::npos) << out_;
  ASSERT_EQ(Lock("bob-token", "undo sales.order_book"), 0) << out_;
  ASSERT_EQ(Lock("bob-token", "checkout --new table:sales.orders"), 0) << out_;
  ASSERT_EQ(Lock("bob-token", "checkin sales.orders --file " +
                                  File("o.sql", "CREATE TABLE sales.orders (\n  order_id bigint\n);\n") +
                                  " -m 'a new table under the old name'"),
            0)
      << out_;
  ASSERT_EQ(History("vera-token", "show sales.orders@0 --definition"), 0) << out_;
  EXPECT_EQ(out_, "CREATE TABLE sales.orders (\n  order_id bigint\n);\n");
  ASSERT_EQ(History("vera-token", "log sales.order_book"), 0) << out_;
  EXPECT_EQ(out_.find("a new table under the old name"), std::string::npos) << "two objects, two histories " << out_;
}

INSTANTIATE_TEST_SUITE_P(Backends, HistoryE2ETest, ::testing::Values("embedded", "kafka"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace strata::testing
