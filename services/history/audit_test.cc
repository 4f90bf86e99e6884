#include "history/audit.h"

#include <gtest/gtest.h>

#include "fmt/format.h"

#include "absl/time/time.h"

namespace strata::history {
namespace {

v1::AuditRecord Sample() {
  v1::AuditRecord r;
  r.set_action("checkin");
  r.set_detail("version 2: add \"status\"\n\tcol \xc3\xa9\x01");
  r.set_event_id("e1");
  r.set_object("table:sales.orders");
  r.set_offset(7);
  r.set_origin_site("boston");
  r.set_outcome("accepted");
  r.set_partition(3);
  r.set_seq(4);
  r.set_site("boston");
  r.set_time("2026-11-24T09:30:00.000000001Z");
  r.set_user("alice");
  return r;
}

// The expected values were produced by Python 3 (the outside auditor's tool):
//   c = json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
//   hashlib.sha256(bytes.fromhex(prev) + c.encode("utf-8")).hexdigest()
TEST(AuditTest, CanonicalFormIsWhatPythonsJsonDumpsWrites) {
  EXPECT_EQ(CanonicalJson(Sample()),
            "{\"action\":\"checkin\",\"detail\":\"version 2: add \\\"status\\\"\\n\\tcol "
            "\xc3\xa9\\u0001\",\"event_id\":\"e1\",\"object\":\"table:sales.orders\",\"offset\":7,"
            "\"origin_site\":\"boston\",\"outcome\":\"accepted\",\"partition\":3,\"seq\":4,"
            "\"site\":\"boston\",\"time\":\"2026-11-24T09:30:00.000000001Z\",\"user\":\"alice\"}");
}

TEST(AuditTest, ChainHashesMatchAnIndependentImplementation) {
  v1::AuditEntry first = ChainEntry(Sample(), GenesisHash());
  EXPECT_EQ(first.prev_hash(), std::string(64, '0'));
  EXPECT_EQ(first.hash(), "a1af403eab9dbe3111c27ef04437442c5cb964ad1e42cbf7a2f20f2ef53bb15d");
  v1::AuditEntry second = ChainEntry(Sample(), first.hash());
  EXPECT_EQ(second.hash(), "5324858f7ff64fa8988f537b4162a69a675b88db615a7dd92962b1f5229047af");
}

TEST(AuditTest, TimesAreFormattedAsRfc3339InUtc) {
  // Against absl's general formatter, over four centuries and leap days.
  for (int64_t s = -2'208'988'800; s < 11'000'000'000; s += 86'399 * 37 + 12'345) {
    google::protobuf::Timestamp t;
    t.set_seconds(s);
    t.set_nanos(static_cast<int32_t>(s % 1'000'000'000 + 1'000'000'000) % 1'000'000'000);
    const std::string expected =
        absl::FormatTime("%Y-%m-%dT%H:%M:%S", absl::FromUnixSeconds(s), absl::UTCTimeZone()) +
        fmt::format(".{:09d}Z", t.nanos());
    ASSERT_EQ(FormatTime(t), expected) << s;
  }
  google::protobuf::Timestamp leap;
  leap.set_seconds(951'782'400);  // 2000-02-29
  EXPECT_EQ(FormatTime(leap), "2000-02-29T00:00:00.000000000Z");
}

TEST(AuditTest, TheStoredFormGivesBackTheWholeEntry) {
  v1::AuditEntry first = ChainEntry(Sample(), GenesisHash());
  v1::AuditEntry second = ChainEntry(Sample(), first.hash());
  const std::string stored = EncodeStoredAudit(second);
  EXPECT_LT(stored.size(), second.SerializeAsString().size() / 2) << "no canonical copy, raw digests";
  std::optional<v1::AuditEntry> decoded = DecodeStoredAudit(stored);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(decoded->SerializeAsString(), second.SerializeAsString());
  EXPECT_FALSE(DecodeStoredAudit("\xff\xff not an entry").has_value());
}

TEST(AuditTest, RecordsSayWhoDidWhatAndWhatTheLogDecided) {
  v1::Event e;
  e.set_event_id("x");
  e.set_aggregate("object:table:sales.orders");
  e.set_seq(2);
  e.mutable_time()->set_seconds(1'795'000'000);
  e.mutable_time()->set_nanos(5);
  e.mutable_actor()->set_user("bob");
  e.mutable_actor()->set_site("london");
  e.mutable_checked_out()->set_reason("fix index");
  auto lost = AuditRecordOf(e, {1, 9}, {decide::Verdict::kRuleViolated, "already checked out by alice"});
  EXPECT_EQ(lost.action(), "checkout");
  EXPECT_EQ(lost.object(), "table:sales.orders");
  EXPECT_EQ(lost.outcome(), "lost");
  EXPECT_EQ(lost.detail(), "fix index [already checked out by alice]");
  EXPECT_EQ(lost.time(), "2026-11-18T11:06:40.000000005Z");
  EXPECT_EQ(lost.partition(), 1);
  EXPECT_EQ(lost.offset(), 9);

  v1::Event refused = e;
  refused.set_seq(0);
  auto* r = refused.mutable_command_refused();
  r->set_command("force_release");
  r->set_code("PERMISSION_DENIED");
  r->set_reason("needs role dba");
  auto rec = AuditRecordOf(refused, {1, 10}, {decide::Verdict::kInformational, ""});
  EXPECT_EQ(rec.action(), "force_release");
  EXPECT_EQ(rec.outcome(), "refused");
  EXPECT_EQ(rec.detail(), "PERMISSION_DENIED: needs role dba");
}

}  // namespace
}  // namespace strata::history
