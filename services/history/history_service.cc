#include "history/history_service.h"

#include <dtl/dtl.hpp>

#include <map>
#include <set>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "events/events.h"
#include "fmt/format.h"
#include "history/audit.h"
#include "history/audit_verify.h"
#include "history/blame.h"
#include "hosting/hosting.h"
#include "model/object_id.h"
#include "policy/policy.h"
#include "rocksdb/db.h"
#include "spdlog/spdlog.h"

namespace strata::history {
namespace {

using hosting::ToGrpcStatus;

constexpr uint32_t kDefaultPage = 100, kMaxPage = 1000;
// An audit query looks at no more index entries than this per page, so a
// selective filter over a long trail still answers promptly (with a token).
constexpr int kMaxScanPerPage = 200'000;

std::vector<std::string> SplitLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(std::move(line));
  return lines;
}

bool ValidBaselineName(const std::string& name) {
  if (name.empty() || name.size() > 100) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'))
      return false;
  return true;
}

}  // namespace

class HistoryServiceImpl final : public v1::HistoryService::Service {
 public:
  HistoryServiceImpl(const HistoryModuleOptions& options, eventlog::EventLog* log,
                     projection::ProjectionRunner* runner, std::shared_ptr<auth::TokenStore> tokens,
                     AuditFeed* feed, const std::atomic<bool>* stopping)
      : options_(options), log_(log), runner_(runner), tokens_(std::move(tokens)), feed_(feed), stopping_(stopping) {}

  grpc::Status ListVersions(grpc::ServerContext* ctx, const v1::ListVersionsRequest* req,
                            v1::ListVersionsResponse* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      auto id = Resolve(req->object());
      if (!id.ok()) return id.status();
      if (absl::Status s = hosting::RequireObjectInScope(who, *id, ReadAudit()); !s.ok()) return s;
      resp->set_object(*id);
      auto versions = Lineage(*id);
      if (!versions.ok()) return versions.status();
      for (auto& v : *versions) {
        v.clear_definition();
        *resp->add_versions() = std::move(v);
      }
      return absl::OkStatus();
    });
  }

  grpc::Status GetVersion(grpc::ServerContext* ctx, const v1::GetVersionRequest* req,
                          v1::Version* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      auto v = ReadVersion(req->object(), req->version());
      if (!v.ok()) return v.status();
      if (absl::Status s = hosting::RequireObjectInScope(who, v->object(), ReadAudit()); !s.ok()) return s;
      *resp = std::move(*v);
      return absl::OkStatus();
    });
  }

  grpc::Status GetTask(grpc::ServerContext* ctx, const v1::GetTaskRequest* req, v1::Task* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      if (req->task().empty()) return absl::InvalidArgumentError("name the work item, e.g. ABC-123");
      resp->set_task(req->task());
      std::set<std::string> objects, users;
      const std::string prefix = keys::TaskPrefix(req->task());
      std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(rocksdb::ReadOptions()));
      for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
        const std::string rest = it->key().ToString().substr(prefix.size());
        const size_t nul = rest.find('\0');
        if (nul == std::string::npos) continue;
        const std::string object = rest.substr(0, nul);
        if (!hosting::ObjectInScope(who, object)) continue;
        std::string value;
        v1::Version v;
        if (!db()->Get(rocksdb::ReadOptions(), keys::Version(object, std::stoull(rest.substr(nul + 1))), &value).ok() ||
            !v.ParseFromString(value))
          continue;
        auto* tv = resp->add_versions();
        tv->set_object(object);
        tv->set_version(v.version());
        tv->set_user(v.user());
        tv->set_site(v.site());
        *tv->mutable_time() = v.time();
        tv->set_message(v.message());
        objects.insert(object);
        users.insert(v.user());
      }
      if (resp->versions().empty())
        return absl::NotFoundError(fmt::format("no version was checked in under work item {}", req->task()));
      for (const auto& o : objects) resp->add_objects(o);
      for (const auto& u : users) resp->add_users(u);
      return absl::OkStatus();
    });
  }

  grpc::Status DiffVersions(grpc::ServerContext* ctx, const v1::DiffVersionsRequest* req,
                            v1::DiffVersionsResponse* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      auto from = ReadVersion(req->object(), req->from_version());
      if (!from.ok()) return from.status();
      if (absl::Status s = hosting::RequireObjectInScope(who, from->object(), ReadAudit()); !s.ok()) return s;
      auto to = ReadVersion(req->object(), req->to_version());
      if (!to.ok()) return to.status();
      resp->set_object(from->object());
      resp->set_from_version(from->version());
      resp->set_to_version(to->version());
      if (from->definition() == to->definition()) return absl::OkStatus();
      dtl::Diff<std::string> diff(SplitLines(from->definition()), SplitLines(to->definition()));
      diff.onHuge();
      diff.compose();
      for (const auto& [line, info] : diff.getSes().getSequence()) {
        if (info.type == dtl::SES_ADD) resp->set_lines_added(resp->lines_added() + 1);
        if (info.type == dtl::SES_DELETE) resp->set_lines_removed(resp->lines_removed() + 1);
      }
      (void)req->context_lines();  // dtl's unified hunks use 3 lines of context
      diff.composeUnifiedHunks();
      std::ostringstream out;
      out << "--- " << from->object() << "@" << from->version() << "\n";
      out << "+++ " << to->object() << "@" << to->version() << "\n";
      diff.printUnifiedFormat(out);
      resp->set_unified_diff(out.str());
      return absl::OkStatus();
    });
  }

  grpc::Status Blame(grpc::ServerContext* ctx, const v1::BlameRequest* req, v1::BlameResponse* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      auto last = ReadVersion(req->object(), req->version());
      if (!last.ok()) return last.status();
      if (absl::Status s = hosting::RequireObjectInScope(who, last->object(), ReadAudit()); !s.ok()) return s;
      if (last->dropped())
        return absl::FailedPreconditionError(fmt::format(
            "{} version {} {}; blame a version with a definition", last->object(), last->version(),
            last->renamed_to().empty() ? "dropped the object" : "renamed it to " + last->renamed_to()));
      auto versions = Lineage(last->object());
      if (!versions.ok()) return versions.status();
      std::vector<std::string> definitions;
      for (const auto& v : *versions) {
        if (v.version() > last->version()) break;
        definitions.push_back(v.definition());
      }
      resp->set_object(last->object());
      resp->set_version(last->version());
      for (auto& line : history::Blame(definitions)) {
        const v1::Version& v = (*versions)[line.source];
        v1::BlameLine* out = resp->add_lines();
        out->set_text(std::move(line.text));
        out->set_version(v.version());
        out->set_object(v.object());
        out->set_user(v.user());
        out->set_site(v.site());
        *out->mutable_time() = v.time();
        out->set_message(v.message());
      }
      return absl::OkStatus();
    });
  }

  grpc::Status QueryAudit(grpc::ServerContext* ctx, const v1::QueryAuditRequest* req,
                          v1::QueryAuditResponse* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      if (!req->object().empty()) {
        auto id = Resolve(req->object());  // "sales.orders" names table:sales.orders
        if (absl::Status s = hosting::RequireObjectInScope(who, id.ok() ? *id : req->object(), ReadAudit()); !s.ok())
          return s;
      }
      if (absl::Status s = Query(*req, resp); !s.ok()) return s;
      // A scoped user sees the trail of the objects in scope (and of
      // environments, releases and baselines), not the others'.
      hosting::KeepInScope(who, resp->mutable_entries(),
                           [](const v1::AuditEntry& e) -> const std::string& { return e.record().object(); });
      return absl::OkStatus();
    });
  }

  grpc::Status ExportAudit(grpc::ServerContext* ctx, const v1::ExportAuditRequest* req,
                           grpc::ServerWriter<v1::AuditChunk>* writer) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      // Chunks: one message per entry would spend most of the time in gRPC.
      const int chunk_size = static_cast<int>(req->chunk_size() ? std::min(req->chunk_size(), 5000u) : 500u);
      std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(rocksdb::ReadOptions()));
      v1::AuditChunk chunk;
      for (it->Seek("a/"); it->Valid() && it->key().starts_with("a/"); it->Next()) {
        std::optional<v1::AuditEntry> entry =
            DecodeStoredAudit(std::string_view(it->value().data(), it->value().size()));
        if (!entry) return absl::DataLossError(fmt::format("unreadable audit record {}", it->key().ToString()));
        if (!hosting::ObjectInScope(who, entry->record().object())) continue;
        *chunk.add_entries() = std::move(*entry);
        if (chunk.entries_size() == chunk_size) {
          if (ctx->IsCancelled() || !writer->Write(chunk))
            return absl::CancelledError("the export was cancelled or the client went away");
          chunk.clear_entries();
        }
      }
      if (chunk.entries_size() > 0 && !writer->Write(chunk))
        return absl::CancelledError("the client went away");
      return absl::OkStatus();
    });
  }

  grpc::Status VerifyAudit(grpc::ServerContext* ctx, const v1::VerifyAuditRequest*,
                           v1::VerifyAuditResponse* resp) override {
    return Handle(ctx, [&](const auth::Principal&) -> absl::Status {
      auto result = VerifyAuditTrail(db(), log_, runner_->stats().next_offsets, absl::Minutes(30));
      if (!result.ok()) return result.status();
      *resp = std::move(*result);
      return absl::OkStatus();
    });
  }

  // Best effort, like the lock service's: the audit trail records refusals.
  void RecordRefusal(const auth::Principal& who, const char* command, const std::string& aggregate,
                     const absl::Status& status) {
    events::AppendRefusal(*log_, events::NewEvent(who.user, who.site, options_.site, aggregate, 0), command, status);
  }

  grpc::Status CreateBaseline(grpc::ServerContext* ctx, const v1::CreateBaselineRequest* req,
                              v1::Baseline* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      if (!who.HasAnyRole({"developer", "dba", "release-manager", "admin"})) {
        absl::Status denied = absl::PermissionDeniedError(
            fmt::format("creating a baseline needs role developer, dba, release-manager or admin; {} has {}", who.user,
                        fmt::join(who.roles, ", ")));
        RecordRefusal(who, "baseline_create", "baseline:" + req->name(), denied);
        return denied;
      }
      if (!ValidBaselineName(req->name()))
        return absl::InvalidArgumentError(fmt::format(
            "baseline name '{}' must be 1-100 letters, digits, '.', '-' or '_'", req->name()));
      if (auto existing = ReadBaseline(req->name()); existing.ok()) return Taken(*existing);
      v1::Event e = events::NewEvent(who.user, who.site, options_.site, "baseline:" + req->name(), 1);
      auto* bc = e.mutable_baseline_created();
      bc->set_name(req->name());
      bc->set_description(req->description());
      std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(rocksdb::ReadOptions()));
      internal::HistoryObject o;
      for (it->Seek("o/"); it->Valid() && it->key().starts_with("o/"); it->Next()) {
        if (!o.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())))
          return absl::DataLossError(fmt::format("corrupt object state {}", it->key().ToString()));
        if (o.latest_version() == 0 || o.latest_dropped()) continue;  // a baseline holds what exists
        auto* entry = bc->add_entries();
        entry->set_object(it->key().ToString().substr(2));
        entry->set_version(o.latest_version());
        entry->set_definition_sha256(o.latest_sha256());
      }
      eventlog::Record written;
      auto pos = events::Append(*log_, e, &written);
      if (!pos.ok())
        return absl::UnavailableError(fmt::format(
            "could not write to the event log, no baseline was created: {}", std::string(pos.status().message())));
      runner_->Appended(std::move(written));
      if (absl::Status s = runner_->WaitForApplied(*pos, options_.apply_timeout); !s.ok())
        return absl::DeadlineExceededError(fmt::format(
            "the baseline was written to the log but not seen in time ({}); check with `strata "
            "baseline show {}`", std::string(s.message()), req->name()));
      auto created = ReadBaseline(req->name());
      if (!created.ok()) return created.status();
      std::string winner;
      db()->Get(rocksdb::ReadOptions(), keys::Baseline(req->name()) + std::string(1, '\0') + "event",
                &winner);
      if (winner != e.event_id()) return Taken(*created);
      HideOutOfScope(who, &*created);
      *resp = std::move(*created);
      return absl::OkStatus();
    });
  }

  grpc::Status ListBaselines(grpc::ServerContext* ctx, const v1::ListBaselinesRequest*,
                             v1::ListBaselinesResponse* resp) override {
    return Handle(ctx, [&](const auth::Principal&) -> absl::Status {
      std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(rocksdb::ReadOptions()));
      for (it->Seek("B/"); it->Valid() && it->key().starts_with("B/"); it->Next()) {
        if (it->key().ToString().find('\0') != std::string::npos) continue;  // winner marker
        v1::Baseline* b = resp->add_baselines();
        if (!b->ParseFromArray(it->value().data(), static_cast<int>(it->value().size())))
          return absl::DataLossError("corrupt baseline record");
        b->clear_entries();
      }
      return absl::OkStatus();
    });
  }

  grpc::Status GetBaseline(grpc::ServerContext* ctx, const v1::GetBaselineRequest* req,
                           v1::Baseline* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      auto b = ReadBaseline(req->name());
      if (!b.ok()) return b.status();
      HideOutOfScope(who, &*b);
      *resp = std::move(*b);
      return absl::OkStatus();
    });
  }

  grpc::Status CompareBaselines(grpc::ServerContext* ctx, const v1::CompareBaselinesRequest* req,
                                v1::CompareBaselinesResponse* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      auto from = VersionsOf(req->from());
      if (!from.ok()) return from.status();
      auto to = req->to().empty() ? Heads() : VersionsOf(req->to());
      if (!to.ok()) return to.status();
      std::map<std::string, std::pair<uint64_t, uint64_t>> both;
      for (const auto& [object, v] : *from) both[object].first = v;
      for (const auto& [object, v] : *to) both[object].second = v;
      for (const auto& [object, versions] : both) {
        if (versions.first == versions.second || !hosting::ObjectInScope(who, object)) continue;
        v1::BaselineDifference* d = resp->add_differences();
        d->set_object(object);
        d->set_from_version(versions.first);
        d->set_to_version(versions.second);
        d->set_change(versions.first == 0 ? "added" : versions.second == 0 ? "removed" : "changed");
      }
      return absl::OkStatus();
    });
  }

  grpc::Status Status(grpc::ServerContext* ctx, const v1::StatusRequest* req,
                      v1::StatusResponse* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      std::map<std::pair<std::string, std::string>, v1::UserStatus> users;
      std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(rocksdb::ReadOptions()));
      for (it->Seek("l/"); !req->without_holders() && it->Valid() && it->key().starts_with("l/"); it->Next()) {
        v1::Lock l;
        if (!l.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) continue;
        if (!hosting::ObjectInScope(who, l.object())) continue;
        v1::UserStatus& u = users[{l.user(), l.site()}];
        u.set_user(l.user());
        u.set_site(l.site());
        *u.add_held() = std::move(l);
      }
      for (auto& [key, u] : users) *resp->add_users() = std::move(u);
      const uint32_t recent = req->recent() ? std::min(req->recent(), kMaxPage) : 20;
      it->SeekForPrev("k0");  // just after every "k/" key
      std::string value;
      // A scoped user's check-ins may be rare among everyone's: the walk back
      // is bounded like an audit query's page, not by the whole history.
      int scanned = 0;
      for (; it->Valid() && it->key().starts_with("k/") && resp->recent_check_ins_size() < static_cast<int>(recent) &&
             ++scanned <= kMaxScanPerPage;
           it->Prev()) {
        if (!db()->Get(rocksdb::ReadOptions(), it->value(), &value).ok()) continue;
        v1::Version v;
        if (!v.ParseFromString(value) || !hosting::ObjectInScope(who, v.object())) continue;
        v.clear_definition();
        *resp->add_recent_check_ins() = std::move(v);
      }
      // The team's policy: its version and the waivers (supervisors look here).
      // The version in force is the policy aggregate's facts: "seq\0tracked\0version".
      std::string facts;
      if (db()->Get(rocksdb::ReadOptions(), keys::Facts("policy:team"), &facts).ok())
        resp->set_policy_version(std::stoull(facts.substr(facts.rfind('\0') + 1)));
      std::unique_ptr<rocksdb::Iterator> w(db()->NewIterator(rocksdb::ReadOptions()));
      std::set<std::string> waived;  // "object\0rule"
      for (w->Seek("W/"); w->Valid() && w->key().starts_with("W/"); w->Next()) {
        v1::Waiver waiver;
        if (waiver.ParseFromArray(w->value().data(), static_cast<int>(w->value().size())) &&
            hosting::ObjectInScope(who, waiver.object())) {
          waived.insert(waiver.object() + '\0' + waiver.rule());
          *resp->add_waivers() = std::move(waiver);
        }
      }
      // The policy's findings on the latest check-ins listed.
      std::string yaml;
      if (resp->policy_version() > 0 && db()->Get(rocksdb::ReadOptions(), "P/yaml", &yaml).ok())
        if (auto pol = policy::ParsePolicy(yaml); pol.ok())
          for (const auto& v : resp->recent_check_ins()) {
            if (v.dropped()) continue;
            std::string value;
            v1::Version full;
            if (!db()->Get(rocksdb::ReadOptions(), keys::Version(v.object(), v.version()), &value).ok() ||
                !full.ParseFromString(value))
              continue;
            auto findings = policy::Lint(*pol, full.definition(), {.one_object = true});
            if (!findings.ok()) continue;
            v1::ObjectFindings of;
            of.set_object(v.object());
            of.set_version(v.version());
            for (const auto& f : *findings) {
              if (f.object != v.object()) continue;
              const bool w = f.severity == policy::Severity::kError && waived.count(f.object + '\0' + f.code);
              of.add_findings(fmt::format("{} {}: {}{}", policy::SeverityName(f.severity), f.code, f.message,
                                          w ? " (waived)" : ""));
            }
            if (!of.findings().empty()) *resp->add_findings() = std::move(of);
          }
      if (req->days() > 0) return CheckInsPerDay(who, std::min(req->days(), 90u), resp);
      return absl::OkStatus();
    });
  }

  grpc::Status WatchAudit(grpc::ServerContext* ctx, const v1::WatchAuditRequest*,
                          grpc::ServerWriter<v1::AuditFeed>* writer) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      AuditFeed::Watch watch(*feed_);
      // The first message says the watch is in place: what the log records
      // from now on reaches the caller.
      if (!writer->Write(v1::AuditFeed())) return absl::OkStatus();
      absl::Time last_write = absl::Now();
      while (!ctx->IsCancelled() && !stopping_->load()) {
        bool missed = false;
        std::vector<v1::AuditRecord> records = watch.Next(absl::Milliseconds(500), &missed);
        v1::AuditFeed out;
        out.set_missed(missed);
        for (auto& r : records)
          if (hosting::ObjectInScope(who, r.object())) *out.add_records() = std::move(r);
        if (out.records().empty() && !missed && absl::Now() - last_write < absl::Seconds(5)) continue;
        if (!writer->Write(out)) break;  // the caller went away
        last_write = absl::Now();
      }
      return absl::OkStatus();
    });
  }

 private:
  // Accepted check-ins per UTC day, the last `days` days up to today.
  // Everyone's: the day counters; a scoped caller's: the check-in index of
  // the period, object by object (bounded like an audit page).
  absl::Status CheckInsPerDay(const auth::Principal& who, uint32_t days, v1::StatusResponse* resp) {
    const absl::Time today = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) / 86400 * 86400);
    const absl::Time first = today - absl::Hours(24) * static_cast<int>(days - 1);
    std::map<std::string, uint64_t> counts;
    for (uint32_t i = 0; i < days; ++i)
      counts[absl::FormatTime("%Y-%m-%d", first + absl::Hours(24) * static_cast<int>(i), absl::UTCTimeZone())] = 0;
    if (who.schemas.empty()) {
      std::string value;
      for (auto& [day, count] : counts)
        if (db()->Get(rocksdb::ReadOptions(), keys::Day(day), &value).ok()) count = std::stoull(value);
    } else {
      std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(rocksdb::ReadOptions()));
      int scanned = 0;
      for (it->Seek("k/" + keys::TimeKey(absl::ToUnixNanos(first))); it->Valid() && it->key().starts_with("k/");
           it->Next()) {
        if (++scanned > kMaxScanPerPage) {
          resp->set_check_ins_partial(true);
          break;
        }
        // The value is the version's key: "v/<object>\0<version>".
        const std::string_view v(it->value().data(), it->value().size());
        const std::string_view object = v.substr(2, v.find('\0') - 2);
        if (!hosting::ObjectInScope(who, object)) continue;
        const std::string_view k(it->key().data(), it->key().size());
        int64_t ns = 0;
        for (size_t i = 2; i < 10; ++i) ns = (ns << 8) | static_cast<uint8_t>(k[i]);
        auto day = counts.find(absl::FormatTime("%Y-%m-%d", absl::FromUnixNanos(ns), absl::UTCTimeZone()));
        if (day != counts.end()) ++day->second;
      }
    }
    for (const auto& [day, count] : counts) {
      v1::DayCount* c = resp->add_check_ins_per_day();
      c->set_day(day);
      c->set_check_ins(count);
    }
    return absl::OkStatus();
  }

  rocksdb::DB* db() const { return runner_->db(); }
  hosting::RefusalAudit ReadAudit() const { return {log_, options_.site, "read"}; }

  // A scoped user sees the entries of a baseline that are in scope.
  static void HideOutOfScope(const auth::Principal& who, v1::Baseline* b) {
    hosting::KeepInScope(who, b->mutable_entries(),
                         [](const v1::BaselineEntry& e) -> const std::string& { return e.object(); });
  }

  // Authenticates, then answers from a projection that has applied at least
  // everything the log held when the call arrived: a check-in acknowledged
  // by the lock service (another process, maybe) is visible here at once.
  template <typename Fn>
  grpc::Status Handle(grpc::ServerContext* ctx, Fn&& fn) {
    auto who = hosting::AuthenticateCall(*ctx, *tokens_);
    if (!who.ok()) return ToGrpcStatus(who.status());
    if (absl::Status s = runner_->CatchUp(options_.apply_timeout); !s.ok())
      return ToGrpcStatus(absl::UnavailableError(
          fmt::format("the history is behind the event log: {}", std::string(s.message()))));
    return ToGrpcStatus(fn(*who));
  }

  // What the user typed ("sales.orders", "table:sales.orders") as a known object id.
  absl::StatusOr<std::string> Resolve(const std::string& text) {
    auto ref = model::ParseObjectRef(text);
    if (!ref.ok()) return ref.status();
    std::vector<std::string> found;
    std::string value;
    for (const std::string& kind : ref->kind.empty() ? model::ObjectKinds()
                                                     : std::vector<std::string>{ref->kind}) {
      model::ObjectId id = *ref;
      id.kind = kind;
      if (db()->Get(rocksdb::ReadOptions(), keys::Object(id.ToString()), &value).ok())
        found.push_back(id.ToString());
    }
    if (found.empty()) return absl::NotFoundError(fmt::format("unknown object {}", text));
    if (found.size() > 1)
      return absl::InvalidArgumentError(
          fmt::format("{} is ambiguous: {}", text, fmt::join(found, ", ")));
    return found[0];
  }

  // An object's versions, oldest first, across its renames: its own since
  // the latest rename that gave it its name, preceded by the versions of the
  // name it had before (up to the rename), and so on (32 names at most).
  absl::StatusOr<std::vector<v1::Version>> Lineage(const std::string& id) {
    std::vector<v1::Version> out;
    std::string object = id;
    uint64_t below = UINT64_MAX;
    std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(rocksdb::ReadOptions()));
    for (int names = 0; names < 32 && !object.empty(); ++names) {
      std::vector<v1::Version> segment;
      const std::string prefix = keys::VersionPrefix(object);
      for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
        v1::Version v;
        if (!v.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())))
          return absl::DataLossError(fmt::format("corrupt version record of {}", object));
        if (v.version() >= below) break;
        segment.push_back(std::move(v));
      }
      // Versions before the rename into this name belong to another object
      // that had the name before (dropped or renamed away).
      size_t start = 0;
      std::string earlier;
      for (size_t i = segment.size(); i-- > 0;)
        if (!segment[i].renamed_from().empty()) {
          start = i;
          earlier = segment[i].renamed_from();
          break;
        }
      below = earlier.empty() ? 0 : segment[start].version();
      out.insert(out.begin(), std::make_move_iterator(segment.begin() + static_cast<long>(start)),
                 std::make_move_iterator(segment.end()));
      object = earlier;
    }
    return out;
  }

  // Version `version` of an object; 0 means the latest.
  absl::StatusOr<v1::Version> ReadVersion(const std::string& object, uint64_t version) {
    auto id = Resolve(object);
    if (!id.ok()) return id.status();
    std::string value;
    internal::HistoryObject o;
    if (!db()->Get(rocksdb::ReadOptions(), keys::Object(*id), &value).ok() || !o.ParseFromString(value))
      return absl::NotFoundError(fmt::format("unknown object {}", *id));
    if (o.latest_version() == 0)
      return absl::NotFoundError(fmt::format("{} has no checked-in version yet", *id));
    if (version == 0) version = o.latest_version();
    if (version > o.latest_version())
      return absl::OutOfRangeError(fmt::format("{} has versions 1 to {}; there is no version {}",
                                               *id, o.latest_version(), version));
    if (version < o.renamed_from_version()) {  // a version under an earlier name
      auto versions = Lineage(*id);
      if (!versions.ok()) return versions.status();
      for (auto& v : *versions)
        if (v.version() == version) return std::move(v);
      return absl::NotFoundError(fmt::format("{} version {} is not in the history", *id, version));
    }
    if (!db()->Get(rocksdb::ReadOptions(), keys::Version(*id, version), &value).ok())
      return absl::NotFoundError(fmt::format("{} version {} is not in the history", *id, version));
    v1::Version v;
    if (!v.ParseFromString(value))
      return absl::DataLossError(fmt::format("corrupt version record {}@{}", *id, version));
    return v;
  }

  absl::StatusOr<v1::Baseline> ReadBaseline(const std::string& name) {
    std::string value;
    rocksdb::Status s = db()->Get(rocksdb::ReadOptions(), keys::Baseline(name), &value);
    if (s.IsNotFound()) return absl::NotFoundError(fmt::format("no baseline named {}", name));
    v1::Baseline b;
    if (!s.ok() || !b.ParseFromString(value))
      return absl::DataLossError(fmt::format("unreadable baseline {}", name));
    return b;
  }

  static absl::Status Taken(const v1::Baseline& b) {
    return absl::AlreadyExistsError(fmt::format("baseline {} already exists (created by {} ({}) at {})",
                                                b.name(), b.user(), b.site(), FormatTime(b.time())));
  }

  absl::StatusOr<std::map<std::string, uint64_t>> VersionsOf(const std::string& baseline) {
    auto b = ReadBaseline(baseline);
    if (!b.ok()) return b.status();
    std::map<std::string, uint64_t> out;
    for (const auto& e : b->entries()) out[e.object()] = e.version();
    return out;
  }

  absl::StatusOr<std::map<std::string, uint64_t>> Heads() {
    std::map<std::string, uint64_t> out;
    std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(rocksdb::ReadOptions()));
    internal::HistoryObject o;
    for (it->Seek("o/"); it->Valid() && it->key().starts_with("o/"); it->Next())
      if (o.ParseFromArray(it->value().data(), static_cast<int>(it->value().size())) &&
          o.latest_version() > 0 && !o.latest_dropped())
        out[it->key().ToString().substr(2)] = o.latest_version();
    return out;
  }

  absl::Status Query(const v1::QueryAuditRequest& req, v1::QueryAuditResponse* resp) {
    const uint32_t page = req.page_size() ? std::min(req.page_size(), kMaxPage) : kDefaultPage;
    std::string object;
    if (!req.object().empty()) {
      auto id = Resolve(req.object());
      object = id.ok() ? *id : req.object();  // refused commands may name unknown objects
    }
    // The most selective index the filter allows.
    std::string prefix = "t/";
    if (!object.empty()) {
      prefix = "j/" + object + std::string(1, '\0');
    } else if (!req.user().empty()) {
      prefix = "u/" + req.user() + std::string(1, '\0');
    } else if (!req.action().empty()) {
      prefix = "x/" + req.action() + std::string(1, '\0');
    }
    const int64_t from = req.has_from() ? TimeNanos(req.from()) : 0;
    const int64_t to = req.has_to() ? TimeNanos(req.to()) : std::numeric_limits<int64_t>::max();
    const std::string lower = prefix + keys::TimeKey(from);
    const std::string upper = prefix + keys::TimeKey(to);
    std::string token;
    if (!req.page_token().empty() && !absl::WebSafeBase64Unescape(req.page_token(), &token))
      return absl::InvalidArgumentError("page_token is not one this server issued");

    std::unique_ptr<rocksdb::Iterator> it(db()->NewIterator(rocksdb::ReadOptions()));
    if (req.newest_first()) {
      it->SeekForPrev(token.empty() ? upper : token);
      if (it->Valid() && it->key() == rocksdb::Slice(upper)) it->Prev();
      if (!token.empty() && it->Valid() && it->key() == rocksdb::Slice(token)) it->Prev();
    } else {
      it->Seek(token.empty() ? lower : token);
      if (!token.empty() && it->Valid() && it->key() == rocksdb::Slice(token)) it->Next();
    }
    std::string value, last;
    int scanned = 0;
    for (; it->Valid(); req.newest_first() ? it->Prev() : it->Next()) {
      const rocksdb::Slice key = it->key();
      if (!key.starts_with(prefix) || key.compare(lower) < 0 || key.compare(upper) >= 0) break;
      last = key.ToString();
      if (++scanned > kMaxScanPerPage) break;
      if (!db()->Get(rocksdb::ReadOptions(), keys::AuditOfIndex(last), &value).ok()) continue;
      std::optional<v1::AuditEntry> decoded = DecodeStoredAudit(value);
      if (!decoded) continue;
      v1::AuditEntry& entry = *decoded;
      const v1::AuditRecord& r = entry.record();
      if (!req.user().empty() && r.user() != req.user()) continue;
      if (!object.empty() && r.object() != object) continue;
      if (!req.action().empty() && r.action() != req.action()) continue;
      if (!req.outcome().empty() && r.outcome() != req.outcome()) continue;
      *resp->add_entries() = std::move(entry);
      if (resp->entries_size() == static_cast<int>(page)) {
        // More may follow: hand out where to continue.
        req.newest_first() ? it->Prev() : it->Next();
        if (it->Valid() && it->key().starts_with(prefix)) resp->set_next_page_token(absl::WebSafeBase64Escape(last));
        return absl::OkStatus();
      }
    }
    if (scanned > kMaxScanPerPage) resp->set_next_page_token(absl::WebSafeBase64Escape(last));
    return absl::OkStatus();
  }

  const HistoryModuleOptions& options_;
  eventlog::EventLog* log_;
  projection::ProjectionRunner* runner_;
  std::shared_ptr<auth::TokenStore> tokens_;
  AuditFeed* feed_;
  const std::atomic<bool>* stopping_;
};

absl::StatusOr<std::unique_ptr<HistoryModule>> HistoryModule::Open(
    HistoryModuleOptions options, eventlog::EventLog* log, std::shared_ptr<auth::TokenStore> tokens) {
  std::unique_ptr<HistoryModule> m(new HistoryModule());
  m->options_ = std::move(options);
  m->projection_ = std::make_unique<HistoryProjection>();
  m->projection_->set_feed(&m->feed_);
  projection::RunnerOptions ro;
  ro.db_path = m->options_.data_dir + "/history";
  ro.rebuild = m->options_.rebuild;
  ro.format_version = HistoryProjection::kFormatVersion;
  // The projection's BatchDone only drops caches: a rebuild may write one
  // commit while it applies the next.
  ro.pipeline_commits = true;
  // Not on the path of any command: events gather for a few milliseconds
  // between commits unless a query waits for them.
  ro.idle_batching = absl::Milliseconds(5);
  ro.read_wait = absl::Milliseconds(10);
  ro.shared_memory = m->options_.shared_memory;
  auto runner = projection::ProjectionRunner::Open(ro, log, m->projection_.get());
  if (!runner.ok()) return runner.status();
  m->runner_ = std::move(*runner);
  m->service_ = std::make_unique<HistoryServiceImpl>(m->options_, log, m->runner_.get(),
                                                     std::move(tokens), &m->feed_, &m->stopping_);
  return m;
}

HistoryModule::~HistoryModule() { Stop(); }

absl::Status HistoryModule::StartReplay() { return runner_->Start(); }

absl::Status HistoryModule::Start(absl::Duration catch_up_timeout) {
  if (absl::Status s = runner_->Start(); !s.ok()) return s;
  return runner_->CatchUp(catch_up_timeout);
}

void HistoryModule::Stop() {
  stopping_ = true;
  feed_.WakeAll();
  if (runner_) runner_->Stop();
}

grpc::Service* HistoryModule::service() { return service_.get(); }

}  // namespace strata::history
