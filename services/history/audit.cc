#include "history/audit.h"

#include <openssl/sha.h>

#include "absl/time/time.h"
#include "fmt/format.h"

namespace strata::history {
namespace {

// A JSON string as Python's json.dumps(..., ensure_ascii=False) writes it.
void AppendJsonString(std::string* out, const std::string& s) {
  out->push_back('"');
  // Most strings need no escaping: copy runs of plain bytes at once.
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s, run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        out->append(fmt::format("\\u{:04x}", c));
    }
  }
  out->append(s, run, s.size() - run);
  out->push_back('"');
}

std::string ActionOf(const v1::Event& e) {
  switch (e.payload_case()) {
    case v1::Event::kCheckedOut: return "checkout";
    case v1::Event::kCheckedIn:
      if (!e.checked_in().renamed_from().empty() || !e.checked_in().renamed_to().empty()) return "rename";
      return e.checked_in().dropped() ? "drop" : "checkin";
    case v1::Event::kCheckOutUndone: return "undo";
    case v1::Event::kLockForceReleased: return "force_release";
    case v1::Event::kCommandRefused: return e.command_refused().command();
    case v1::Event::kBaselineCreated: return "baseline_create";
    case v1::Event::kEnvironmentRegistered: return "env_register";
    case v1::Event::kEnvironmentImported: return "env_import";
    case v1::Event::kReleaseCreated: return "release_create";
    case v1::Event::kReleaseApproved: return "release_approve";
    case v1::Event::kDeploymentStarted:
      return e.deployment_started().kind() == v1::ROLLBACK ? "rollback_start" : "deploy_start";
    case v1::Event::kDeploymentFinished:
      return e.deployment_finished().succeeded() ? "deploy_succeeded" : "deploy_failed";
    case v1::Event::kDataTracked: return "data_track";
    case v1::Event::kDataUntracked: return "data_untrack";
    case v1::Event::kDataVersionStored: return "data_checkin";
    case v1::Event::kPolicySet: return "policy_set";
    case v1::Event::kPolicyWaived: return "policy_waive";
    default: return "unknown";
  }
}

std::string DetailOf(const v1::Event& e) {
  switch (e.payload_case()) {
    case v1::Event::kCheckedOut: return e.checked_out().reason();
    case v1::Event::kCheckedIn:
    {
      const auto& ci = e.checked_in();
      std::string what;
      if (!ci.renamed_to().empty()) what = " renamed to " + ci.renamed_to();
      else if (!ci.renamed_from().empty()) what = " renamed from " + ci.renamed_from();
      else if (ci.dropped()) what = " dropped";
      return fmt::format("version {}{}: {}", ci.version(), what, ci.message());
    }
    case v1::Event::kLockForceReleased:
      return fmt::format("from {} ({}): {}", e.lock_force_released().previous_holder(),
                         e.lock_force_released().previous_holder_site(),
                         e.lock_force_released().reason());
    case v1::Event::kCommandRefused:
      return fmt::format("{}: {}", e.command_refused().code(), e.command_refused().reason());
    case v1::Event::kBaselineCreated:
      return fmt::format("{} objects: {}", e.baseline_created().entries_size(),
                         e.baseline_created().description());
    case v1::Event::kEnvironmentRegistered:
      return fmt::format("order {}{}: {}", e.environment_registered().order(),
                         e.environment_registered().protected_() ? ", protected" : "",
                         e.environment_registered().url());
    case v1::Event::kEnvironmentImported:
      return fmt::format("{} objects", e.environment_imported().entries_size());
    case v1::Event::kReleaseCreated:
      return fmt::format("{} objects, {} changed, {} data scripts: {}", e.release_created().entries_size(),
                         e.release_created().changed_size(), e.release_created().data_scripts_size(),
                         e.release_created().description());
    case v1::Event::kReleaseApproved:
      return fmt::format("for {}: {}", e.release_approved().environment(), e.release_approved().comment());
    case v1::Event::kDeploymentStarted: {
      const auto& d = e.deployment_started();
      std::string s = fmt::format("{} {} script sha256 {}", d.deployment_id(),
                                  d.kind() == v1::ROLLBACK ? "rollback of " + d.rolls_back() : "release " + d.release(),
                                  d.script_sha256());
      if (!d.drift_override().empty()) s += fmt::format("; drift overridden: {}", d.drift_override());
      return s;
    }
    case v1::Event::kDeploymentFinished: {
      const auto& d = e.deployment_finished();
      return fmt::format("{} {} in {} ms{}{}", d.deployment_id(), d.succeeded() ? "succeeded" : "failed",
                         d.duration_ms(), d.error().empty() ? "" : ": ", d.error());
    }
    case v1::Event::kDataTracked:
      return fmt::format("{} key ({})", e.data_tracked().table(), fmt::join(e.data_tracked().key(), ", "));
    case v1::Event::kDataUntracked: return e.data_untracked().reason();
    case v1::Event::kPolicySet:
      return fmt::format("policy version {} (sha256 {}): {}", e.policy_set().version(),
                         e.policy_set().sha256().substr(0, 16), e.policy_set().message());
    case v1::Event::kPolicyWaived:
      return fmt::format("{} waived for {}: {}", e.policy_waived().rule(), e.policy_waived().object(),
                         e.policy_waived().reason());
    case v1::Event::kDataVersionStored: {
      const auto& v = e.data_version_stored();
      return fmt::format("data version {}: {} rows from {}, sha256 {}: {}", v.version(), v.row_count(), v.source(),
                         v.rows_sha256().substr(0, 16), v.message());
    }
    default: return "";
  }
}

std::string OutcomeOf(const decide::Decision& d) {
  switch (d.verdict) {
    case decide::Verdict::kAccepted: return "accepted";
    case decide::Verdict::kInformational: return "refused";
    case decide::Verdict::kStaleSeq:
    case decide::Verdict::kRuleViolated: return "lost";
    case decide::Verdict::kMalformed: return "malformed";
  }
  return "malformed";
}

}  // namespace

std::string FormatTime(const google::protobuf::Timestamp& t) {
  // Every audit record formats its time: a civil-date conversion (days since
  // 1970 to year, month, day in the proleptic Gregorian calendar) is much
  // cheaper than a general time-zone aware formatter.
  const int64_t seconds = t.seconds();
  const int64_t days = seconds >= 0 ? seconds / 86400 : -((-seconds + 86399) / 86400);
  const int64_t second_of_day = seconds - days * 86400;
  const int64_t z = days + 719468;  // days since 0000-03-01
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t day_of_era = z - era * 146097;
  const int64_t year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t mp = (5 * day_of_year + 2) / 153;  // month from March = 0
  const int64_t day = day_of_year - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = year_of_era + era * 400 + (month <= 2 ? 1 : 0);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:09d}Z", year, month, day,
                     second_of_day / 3600, second_of_day / 60 % 60, second_of_day % 60, t.nanos());
}

v1::AuditRecord AuditRecordOf(const v1::Event& e, const eventlog::Position& position,
                              const decide::Decision& decision) {
  v1::AuditRecord r;
  r.set_partition(position.partition);
  r.set_offset(position.offset);
  r.set_event_id(e.event_id());
  r.set_time(FormatTime(e.time()));
  r.set_user(e.actor().user());
  r.set_site(e.actor().site());
  r.set_origin_site(e.origin_site());
  r.set_action(ActionOf(e));
  const std::string& aggregate = e.aggregate();
  r.set_object(aggregate.rfind("object:", 0) == 0 ? aggregate.substr(7) : aggregate);
  // A waiver is about its object: `strata audit --object OBJ` lists it.
  if (e.has_policy_waived()) r.set_object(e.policy_waived().object());
  r.set_seq(e.seq());
  r.set_outcome(OutcomeOf(decision));
  std::string detail = DetailOf(e);
  if (!decision.reason.empty() && decision.verdict != decide::Verdict::kInformational)
    detail = detail.empty() ? decision.reason : detail + " [" + decision.reason + "]";
  r.set_detail(std::move(detail));
  return r;
}

std::string CanonicalJson(const v1::AuditRecord& r) {
  // Keys in sorted order; integers in decimal.
  std::string out;
  out.reserve(384);
  out.push_back('{');
  auto key = [&](const char* k) {
    if (out.size() > 1) out.push_back(',');
    AppendJsonString(&out, k);
    out.push_back(':');
  };
  key("action"), AppendJsonString(&out, r.action());
  key("detail"), AppendJsonString(&out, r.detail());
  key("event_id"), AppendJsonString(&out, r.event_id());
  key("object"), AppendJsonString(&out, r.object());
  key("offset"), out.append(std::to_string(r.offset()));
  key("origin_site"), AppendJsonString(&out, r.origin_site());
  key("outcome"), AppendJsonString(&out, r.outcome());
  key("partition"), out.append(std::to_string(r.partition()));
  key("seq"), out.append(std::to_string(r.seq()));
  key("site"), AppendJsonString(&out, r.site());
  key("time"), AppendJsonString(&out, r.time());
  key("user"), AppendJsonString(&out, r.user());
  out.push_back('}');
  return out;
}

const std::string& GenesisHash() {
  static const std::string zeros(64, '0');
  return zeros;
}

std::string DigestOfHex(std::string_view hex) {
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 0;  // only our own hex reaches here
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  return out;
}

std::string HexOfDigest(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex(2 * bytes.size(), '0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const auto b = static_cast<unsigned char>(bytes[i]);
    hex[2 * i] = kHex[b >> 4];
    hex[2 * i + 1] = kHex[b & 0xf];
  }
  return hex;
}

namespace {

std::string ChainDigest(std::string_view prev_digest, std::string_view canonical) {
  std::string input;
  input.reserve(prev_digest.size() + canonical.size());
  input.append(prev_digest).append(canonical);
  std::string digest(SHA256_DIGEST_LENGTH, '\0');
  SHA256(reinterpret_cast<const unsigned char*>(input.data()), input.size(),
         reinterpret_cast<unsigned char*>(digest.data()));
  return digest;
}
}  // namespace

std::string ChainHash(const std::string& prev_hash_hex, const std::string& canonical) {
  return HexOfDigest(ChainDigest(DigestOfHex(prev_hash_hex), canonical));
}

internal::StoredAudit ChainLink(v1::AuditRecord record, std::string prev_digest) {
  internal::StoredAudit link;
  link.set_hash(ChainDigest(prev_digest, CanonicalJson(record)));
  link.set_prev_hash(std::move(prev_digest));
  *link.mutable_record() = std::move(record);
  return link;
}

std::string EncodeStoredAudit(const internal::StoredAudit& stored) { return stored.SerializeAsString(); }

std::string EncodeStoredAudit(const v1::AuditEntry& entry) {
  internal::StoredAudit stored;
  *stored.mutable_record() = entry.record();
  stored.set_prev_hash(DigestOfHex(entry.prev_hash()));
  stored.set_hash(DigestOfHex(entry.hash()));
  return EncodeStoredAudit(stored);
}

std::optional<v1::AuditEntry> DecodeStoredAudit(std::string_view bytes) {
  internal::StoredAudit stored;
  if (!stored.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return std::nullopt;
  v1::AuditEntry entry;
  entry.set_canonical(CanonicalJson(stored.record()));
  entry.set_prev_hash(HexOfDigest(stored.prev_hash()));
  entry.set_hash(HexOfDigest(stored.hash()));
  *entry.mutable_record() = std::move(*stored.mutable_record());
  return entry;
}

v1::AuditEntry ChainEntry(v1::AuditRecord record, const std::string& prev_hash_hex) {
  v1::AuditEntry entry;
  entry.set_canonical(CanonicalJson(record));
  entry.set_prev_hash(prev_hash_hex);
  entry.set_hash(ChainHash(prev_hash_hex, entry.canonical()));
  *entry.mutable_record() = std::move(record);
  return entry;
}

}  // namespace strata::history
