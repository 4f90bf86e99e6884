#include "history_commands.h"

#include <fstream>

#include "absl/time/time.h"
#include "model/object_id.h"
#include "sql/rename.h"

namespace strata::cli {
namespace {

// Exit code of `audit --verify` when the trail does not match the log.
constexpr int kVerificationFailed = 7;

int Usage(const std::string& message) {
  std::cerr << "error: " << message << std::endl;
  return 2;
}

bool ParseWhen(const std::string& text, google::protobuf::Timestamp* ts) {
  absl::Time t;
  std::string err;
  for (const char* format : {absl::RFC3339_full, "%Y-%m-%d %H:%M", "%Y-%m-%d"}) {
    if (absl::ParseTime(format, text, absl::UTCTimeZone(), &t, &err)) {
      ts->set_seconds(absl::ToUnixSeconds(t));
      return true;
    }
  }
  return false;
}

std::string Short(const std::string& s, size_t n = 60) {
  std::string one = s.substr(0, s.find('\n'));
  return one.size() > n ? one.substr(0, n - 3) + "..." : one;
}

int Log(const HistoryCommands& c, Client& client, const Globals& g) {
  v1::ListVersionsRequest req;
  req.set_object(c.object);
  v1::ListVersionsResponse resp;
  grpc::Status s = client.history().ListVersions(client.Context().get(), req, &resp);
  if (!s.ok()) return Report(s, g);
  if (g.json) return std::cout << ToJson(resp) << "\n", 0;
  if (resp.versions().empty()) return std::cout << resp.object() << " has no versions yet\n", 0;
  std::vector<std::vector<std::string>> rows;
  for (auto it = resp.versions().rbegin(); it != resp.versions().rend(); ++it) {
    std::string version = std::to_string(it->version());
    if (!it->renamed_to().empty()) version += " renamed to " + it->renamed_to();
    else if (!it->renamed_from().empty()) version += " renamed from " + it->renamed_from();
    else if (it->dropped()) version += " dropped";
    if (it->object() != resp.object() && it->renamed_to().empty()) version += " (as " + it->object() + ")";
    rows.push_back({version, When(it->time()) + " UTC", it->user(), it->site(), Short(it->message())});
  }
  const auto& latest = *resp.versions().rbegin();
  if (latest.object() == resp.object() && !latest.renamed_to().empty())
    std::cerr << fmt::format("note: {} was renamed to {} in version {}; strata log {} shows its history since\n",
                             resp.object(), latest.renamed_to(), latest.version(), latest.renamed_to());
  std::cout << resp.object() << "\n";
  PrintTable({"VERSION", "TIME", "USER", "SITE", "MESSAGE"}, rows);
  return 0;
}

int Diff(const HistoryCommands& c, Client& client, const Globals& g) {
  v1::DiffVersionsRequest req;
  req.set_object(c.object);
  req.set_from_version(c.from);
  req.set_to_version(c.to);
  v1::DiffVersionsResponse resp;
  grpc::Status s = client.history().DiffVersions(client.Context().get(), req, &resp);
  if (!s.ok()) return Report(s, g);
  if (g.json) return std::cout << ToJson(resp) << "\n", 0;
  if (resp.unified_diff().empty())
    return std::cout << fmt::format("{}: versions {} and {} are identical\n", resp.object(),
                                    resp.from_version(), resp.to_version()),
           0;
  std::cout << resp.unified_diff();
  return 0;
}

// `strata blame OBJ[@N]`: each line with the version that wrote it, its
// author and day, and the name the object had then when it was another.
int Blame(const HistoryCommands& c, Client& client, const Globals& g) {
  v1::BlameRequest req;
  const size_t at = c.object.rfind('@');
  req.set_object(c.object.substr(0, at));
  if (at != std::string::npos) {
    try {
      req.set_version(std::stoull(c.object.substr(at + 1)));
    } catch (...) {
      return Usage(fmt::format("'{}': expected OBJECT or OBJECT@VERSION, e.g. sales.orders@3", c.object));
    }
  }
  v1::BlameResponse resp;
  grpc::Status s = client.history().Blame(client.Context().get(), req, &resp);
  if (!s.ok()) return Report(s, g);
  if (g.json) return std::cout << ToJson(resp) << "\n", 0;
  size_t user_width = 4, version_width = 1, as_width = 0;
  for (const auto& l : resp.lines()) {
    user_width = std::max(user_width, l.user().size());
    version_width = std::max(version_width, std::to_string(l.version()).size());
    if (l.object() != resp.object()) as_width = std::max(as_width, l.object().size() + 5);
  }
  for (const auto& l : resp.lines()) {
    const std::string as = l.object() != resp.object() ? "(as " + l.object() + ")" : "";
    std::cout << fmt::format("{:>{}} {:<{}} {} {:<{}}| {}\n", l.version(), version_width, l.user(), user_width,
                             When(l.time()).substr(0, 10), as, as_width ? as_width + 1 : 0, l.text());
  }
  return 0;
}

// One line of an audit export: what an outside verifier reads.
std::string ExportLine(const v1::AuditEntry& e) {
  return fmt::format("{{\"hash\":\"{}\",\"prev_hash\":\"{}\",\"record\":{}}}\n", e.hash(),
                     e.prev_hash(), e.canonical());
}

int Audit(const HistoryCommands& c, Client& client, const Globals& g) {
  if (c.verify) {
    v1::VerifyAuditResponse resp;
    auto ctx = client.Context();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::hours(1));
    grpc::Status s = client.history().VerifyAudit(ctx.get(), v1::VerifyAuditRequest(), &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) {
      std::cout << ToJson(resp) << "\n";
    } else if (resp.ok()) {
      std::cout << fmt::format("audit trail verified: {} records match the log, hash chain intact\n",
                               resp.records_checked());
    } else {
      std::cout << fmt::format(
          "audit trail does NOT match the log: first bad record at partition {} offset {}: {}\n",
          resp.bad_partition(), resp.bad_offset(), resp.problem());
    }
    return resp.ok() ? 0 : kVerificationFailed;
  }
  if (!c.export_file.empty()) {
    std::ofstream file;
    if (c.export_file != "-") {
      file.open(c.export_file, std::ios::trunc);
      if (!file) return std::cerr << "error: cannot write " << c.export_file << std::endl, 1;
    }
    std::ostream& out = c.export_file == "-" ? std::cout : file;
    auto ctx = client.Context();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::hours(1));
    auto reader = client.history().ExportAudit(ctx.get(), v1::ExportAuditRequest());
    v1::AuditChunk chunk;
    uint64_t n = 0;
    while (reader->Read(&chunk)) {
      for (const v1::AuditEntry& e : chunk.entries()) out << ExportLine(e);
      n += chunk.entries_size();
    }
    grpc::Status s = reader->Finish();
    if (!s.ok()) return Report(s, g);
    out.flush();
    if (!out) return std::cerr << "error: writing " << c.export_file << " failed" << std::endl, 1;
    if (c.export_file != "-") std::cerr << fmt::format("exported {} audit records to {}\n", n, c.export_file);
    return 0;
  }
  v1::QueryAuditRequest req;
  req.set_user(c.user);
  req.set_object(c.object);
  req.set_action(c.action);
  req.set_outcome(c.outcome);
  req.set_newest_first(!c.oldest_first);
  if (!c.since.empty() && !ParseWhen(c.since, req.mutable_from()))
    return Usage("--since: use 2026-11-24, '2026-11-24 09:30' or 2026-11-24T09:30:00Z");
  if (!c.until.empty() && !ParseWhen(c.until, req.mutable_to()))
    return Usage("--until: use 2026-11-24, '2026-11-24 09:30' or 2026-11-24T09:30:00Z");
  v1::QueryAuditResponse all;
  while (all.entries_size() < c.limit) {
    req.set_page_size(static_cast<uint32_t>(std::min(c.limit - all.entries_size(), 1000)));
    v1::QueryAuditResponse page;
    grpc::Status s = client.history().QueryAudit(client.Context().get(), req, &page);
    if (!s.ok()) return Report(s, g);
    for (auto& e : *page.mutable_entries()) *all.add_entries() = std::move(e);
    if (page.next_page_token().empty()) break;
    req.set_page_token(page.next_page_token());
    all.set_next_page_token(page.next_page_token());
  }
  if (g.json) return std::cout << ToJson(all) << "\n", 0;
  if (all.entries().empty()) return std::cout << "no audit records match\n", 0;
  std::vector<std::vector<std::string>> rows;
  for (const auto& e : all.entries()) {
    const auto& r = e.record();
    rows.push_back({r.time().substr(0, 19) + "Z", r.user(), r.site(), r.action(), r.object(),
                    r.outcome(), Short(r.detail(), 70)});
  }
  PrintTable({"TIME (UTC)", "USER", "SITE", "ACTION", "OBJECT", "OUTCOME", "DETAIL"}, rows);
  return 0;
}

void PrintBaseline(const v1::Baseline& b) {
  std::cout << fmt::format("baseline {}: {} objects, created by {} ({}) at {} UTC{}\n", b.name(),
                           b.object_count(), b.user(), b.site(), When(b.time()),
                           b.description().empty() ? "" : ": " + b.description());
}

int Baseline(const HistoryCommands& c, Client& client, const Globals& g) {
  grpc::Status s;
  if (*c.baseline_create) {
    v1::CreateBaselineRequest req;
    req.set_name(c.name);
    req.set_description(c.description);
    v1::Baseline b;
    s = client.history().CreateBaseline(client.Context().get(), req, &b);
    if (!s.ok()) return Report(s, g);
    if (g.json) return std::cout << ToJson(b) << "\n", 0;
    PrintBaseline(b);
  } else if (*c.baseline_list) {
    v1::ListBaselinesResponse resp;
    s = client.history().ListBaselines(client.Context().get(), v1::ListBaselinesRequest(), &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) return std::cout << ToJson(resp) << "\n", 0;
    if (resp.baselines().empty()) return std::cout << "no baselines yet\n", 0;
    std::vector<std::vector<std::string>> rows;
    for (const auto& b : resp.baselines())
      rows.push_back({b.name(), std::to_string(b.object_count()), When(b.time()) + " UTC", b.user(),
                      Short(b.description())});
    PrintTable({"NAME", "OBJECTS", "CREATED", "BY", "DESCRIPTION"}, rows);
  } else if (*c.baseline_show) {
    v1::GetBaselineRequest req;
    req.set_name(c.name);
    v1::Baseline b;
    s = client.history().GetBaseline(client.Context().get(), req, &b);
    if (!s.ok()) return Report(s, g);
    if (g.json) return std::cout << ToJson(b) << "\n", 0;
    PrintBaseline(b);
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : b.entries()) rows.push_back({e.object(), std::to_string(e.version())});
    if (!rows.empty()) PrintTable({"OBJECT", "VERSION"}, rows);
  } else if (*c.baseline_diff) {
    v1::CompareBaselinesRequest req;
    req.set_from(c.name);
    req.set_to(c.other);
    v1::CompareBaselinesResponse resp;
    s = client.history().CompareBaselines(client.Context().get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) return std::cout << ToJson(resp) << "\n", 0;
    const std::string to = c.other.empty() ? "current heads" : c.other;
    if (resp.differences().empty())
      return std::cout << fmt::format("no differences between {} and {}\n", c.name, to), 0;
    std::vector<std::vector<std::string>> rows;
    auto v = [](uint64_t n) { return n ? std::to_string(n) : std::string("-"); };
    for (const auto& d : resp.differences())
      rows.push_back({d.object(), v(d.from_version()), v(d.to_version()), d.change()});
    PrintTable({"OBJECT", c.name, to, "CHANGE"}, rows);
  }
  return 0;
}

int Revert(const HistoryCommands& c, Client& client, const Globals& g) {
  v1::GetVersionRequest get;
  get.set_object(c.object);
  get.set_version(c.to);
  v1::Version old;
  grpc::Status s = client.history().GetVersion(client.Context().get(), get, &old);
  if (!s.ok()) return Report(s, g);
  if (old.dropped()) {
    std::cerr << fmt::format("error: version {} of {} is a drop; to drop the object again, use strata drop\n",
                             old.version(), old.object());
    return 2;
  }
  // A version from before a rename is brought back under the current name.
  v1::GetVersionRequest latest_req;
  latest_req.set_object(c.object);
  v1::Version latest;
  s = client.history().GetVersion(client.Context().get(), latest_req, &latest);
  if (!s.ok()) return Report(s, g);
  std::string definition = old.definition();
  if (latest.object() != old.object()) {
    auto from = model::ParseObjectId(old.object());
    auto to = model::ParseObjectId(latest.object());
    if (!from.ok() || !to.ok()) return Report(grpc::Status(grpc::StatusCode::INTERNAL, "unreadable object id"), g);
    auto renamed = sql::RenameInDefinition(definition, *from, *to);
    if (!renamed.ok()) {
      std::cerr << fmt::format("error: version {} is of {}: {}\n", old.version(), old.object(),
                               std::string(renamed.status().message()));
      return 2;
    }
    definition = std::move(renamed->sql);
  }
  // The normal check-in path: only the holder can do it, and it is validated.
  v1::CheckInRequest req;
  req.set_object(latest.object());
  req.set_definition(definition);
  req.set_message(fmt::format("{} (revert to version {})", c.message, old.version()));
  v1::CheckInResponse resp;
  s = client.stub().CheckIn(client.Context().get(), req, &resp);
  if (!s.ok()) return Report(s, g);
  if (g.json) return std::cout << ToJson(resp) << "\n", 0;
  std::cout << fmt::format("checked in {} version {} with the definition of version {}\n",
                           resp.object().object(), resp.object().latest_version(), old.version());
  PrintValidation(resp);
  return 0;
}

int Status(const HistoryCommands& c, Client& client, const Globals& g) {
  v1::StatusRequest req;
  req.set_recent(c.recent);
  v1::StatusResponse resp;
  grpc::Status s = client.history().Status(client.Context().get(), req, &resp);
  if (!s.ok()) return Report(s, g);
  if (g.json) return std::cout << ToJson(resp) << "\n", 0;
  if (resp.users().empty()) {
    std::cout << "nobody has anything checked out\n";
  } else {
    std::vector<std::vector<std::string>> rows;
    for (const auto& u : resp.users())
      for (const auto& l : u.held())
        rows.push_back({u.user(), u.site(), l.object(), Age(l.since()), Short(l.reason(), 40)});
    std::cout << "checked out:\n";
    PrintTable({"USER", "SITE", "OBJECT", "FOR", "REASON"}, rows);
  }
  if (!resp.recent_check_ins().empty()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& v : resp.recent_check_ins())
      rows.push_back({When(v.time()) + " UTC", v.user(), v.site(),
                      fmt::format("{}@{}", v.object(), v.version()), Short(v.message(), 50)});
    std::cout << "\nlatest check-ins:\n";
    PrintTable({"TIME", "USER", "SITE", "VERSION", "MESSAGE"}, rows);
  }
  if (resp.policy_version() > 0) {
    std::cout << fmt::format("\npolicy version {} in force", resp.policy_version());
    if (resp.waivers().empty()) std::cout << "; no waivers\n";
    else std::cout << fmt::format("; {} waiver(s):\n", resp.waivers_size());
    std::vector<std::vector<std::string>> rows;
    for (const auto& w : resp.waivers())
      rows.push_back({w.object(), w.rule(), w.user(), When(w.time()) + " UTC", Short(w.reason(), 50)});
    if (!rows.empty()) PrintTable({"OBJECT", "RULE", "BY", "SINCE", "REASON"}, rows);
    if (!resp.findings().empty()) std::cout << "what the policy says of the latest check-ins:\n";
    for (const auto& of : resp.findings())
      for (const auto& f : of.findings()) std::cout << fmt::format("  {}@{}: {}\n", of.object(), of.version(), f);
  }
  return 0;
}

}  // namespace

void AddHistoryCommands(CLI::App& app, HistoryCommands* c) {
  c->log = app.add_subcommand("log", "an object's versions, newest first");
  c->log->add_option("object", c->object, "object")->required();

  c->diff = app.add_subcommand("diff", "unified diff between two versions of an object");
  c->diff->add_option("object", c->object, "object")->required();
  c->diff->add_option("from", c->from, "older version")->required();
  c->diff->add_option("to", c->to, "newer version")->required();

  c->blame = app.add_subcommand("blame", "each line of a definition with the version, user and day that wrote it");
  c->blame->add_option("object", c->object, "OBJECT or OBJECT@VERSION (default: the latest)")->required();

  c->audit = app.add_subcommand("audit", "the audit trail: query, --verify or --export");
  c->audit->add_option("--user", c->user, "only this user's actions");
  c->audit->add_option("--object", c->object, "only this object");
  c->audit->add_option("--action", c->action, "checkout, checkin, undo, force_release, baseline_create");
  c->audit->add_option("--outcome", c->outcome, "accepted, lost, refused, malformed");
  c->audit->add_option("--since", c->since, "from this time (UTC), e.g. 2026-11-24 or '2026-11-24 09:30'");
  c->audit->add_option("--until", c->until, "before this time (UTC)");
  c->audit->add_option("--limit", c->limit, "at most this many records (default 50)");
  c->audit->add_flag("--oldest-first", c->oldest_first, "oldest first (default newest first)");
  c->audit->add_flag("--verify", c->verify, "recompute the trail and its hash chain from the log");
  c->audit->add_option("--export", c->export_file, "write the whole trail as JSON Lines (- for stdout)");

  c->baseline = app.add_subcommand("baseline", "named, frozen sets of object versions");
  c->baseline->require_subcommand(1);
  c->baseline_create = c->baseline->add_subcommand("create", "freeze the current version of every object");
  c->baseline_create->add_option("name", c->name, "unique name, e.g. 2026.11-1")->required();
  c->baseline_create->add_option("-d,--description", c->description, "what it is for");
  c->baseline_list = c->baseline->add_subcommand("list", "all baselines");
  c->baseline_show = c->baseline->add_subcommand("show", "the versions a baseline froze");
  c->baseline_show->add_option("name", c->name, "baseline")->required();
  c->baseline_diff = c->baseline->add_subcommand("diff", "compare two baselines, or one with the current heads");
  c->baseline_diff->add_option("from", c->name, "baseline")->required();
  c->baseline_diff->add_option("to", c->other, "baseline (default: current heads)");

  c->revert = app.add_subcommand("revert", "check in an earlier version's definition as a new version");
  c->revert->add_option("object", c->object, "object (you must hold it)")->required();
  c->revert->add_option("--to", c->to, "the version to return to")->required();
  c->revert->add_option("-m,--message", c->message, "why")->required();

  c->status = app.add_subcommand("status", "who holds what, per user and site, and the latest check-ins");
  c->status->add_option("--recent", c->recent, "how many latest check-ins (default 10)");
  auto* task = app.add_subcommand("task", "work items: the objects and versions of a piece of work");
  task->require_subcommand(1);
  c->task_show = task->add_subcommand("show", "the versions checked in under a work item, and who made them");
  c->task_show->add_option("task", c->task, "work item, e.g. ABC-123")->required();
}

std::optional<int> RunHistoryCommand(const HistoryCommands& c, Client& client, const Globals& g) {
  if (*c.log) return Log(c, client, g);
  if (*c.diff) return Diff(c, client, g);
  if (*c.blame) return Blame(c, client, g);
  if (*c.audit) return Audit(c, client, g);
  if (*c.baseline) return Baseline(c, client, g);
  if (*c.revert) return Revert(c, client, g);
  if (*c.status) return Status(c, client, g);
  if (*c.task_show) {
    v1::GetTaskRequest req;
    req.set_task(c.task);
    v1::Task resp;
    grpc::Status s = client.history().GetTask(client.Context().get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) return std::cout << ToJson(resp) << "\n", 0;
    std::cout << fmt::format("{}: {} objects, {} versions, by {}\n", resp.task(), resp.objects_size(),
                             resp.versions_size(), fmt::join(resp.users(), ", "));
    for (const auto& v : resp.versions())
      std::cout << fmt::format("  {} v{}  {} ({})  {}  {}\n", v.object(), v.version(), v.user(), v.site(), When(v.time()),
                               v.message());
    return 0;
  }
  return std::nullopt;
}

int ShowVersion(Client& client, const Globals& g, const std::string& object_at_version,
                bool definition_only) {
  const size_t at = object_at_version.rfind('@');
  v1::GetVersionRequest req;
  req.set_object(object_at_version.substr(0, at));
  try {
    req.set_version(std::stoull(object_at_version.substr(at + 1)));
  } catch (...) {
    return Usage(fmt::format("'{}': expected OBJECT@VERSION, e.g. sales.orders@3", object_at_version));
  }
  v1::Version v;
  grpc::Status s = client.history().GetVersion(client.Context().get(), req, &v);
  if (!s.ok()) return Report(s, g);
  if (g.json) return std::cout << ToJson(v) << "\n", 0;
  if (!definition_only) {
    std::cout << fmt::format("object:   {}\nversion:  {}\nby:       {} ({}) at {} UTC\nmessage:  {}\nsha256:   {}\n\n",
                             v.object(), v.version(), v.user(), v.site(), When(v.time()), v.message(),
                             v.definition_sha256());
  }
  std::cout << v.definition();
  if (!v.definition().empty() && v.definition().back() != '\n') std::cout << "\n";
  return 0;
}

}  // namespace strata::cli
