// DeployServiceImpl (deploy_service_impl.h): creating and approving
// releases, and the pipeline (which release is where).
#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "auth/tokens.h"
#include "deploy/deploy_projection.h"
#include "deploy/deploy_service_impl.h"
#include "fmt/format.h"
#include "model/object_id.h"
#include "sql/parse.h"

namespace strata::deploy {

using detail::kMaxAttempts;
using detail::ValidName;

absl::StatusOr<std::pair<std::map<std::string, v1::BaselineEntry>, std::string>> DeployServiceImpl::BaseState(
    const std::string& since) {
  std::map<std::string, v1::BaselineEntry> base;
  std::string name = since;
  if (name.empty()) {
    auto all = DeployProjection::ReadReleases(db());
    if (!all.ok()) return all.status();
    if (all->empty()) return std::make_pair(base, std::string());
    name = "release:" + all->front().release().name();
  }
  if (name.rfind("baseline:", 0) == 0) {
    auto b = DeployProjection::ReadBaseline(db(), name.substr(9));
    if (!b.ok()) return b.status();
    if (!*b) return absl::NotFoundError(fmt::format("no baseline {}", name.substr(9)));
    for (const auto& e : (*b)->entries()) base[e.object()] = e;
    return std::make_pair(base, name);
  }
  if (name.rfind("release:", 0) != 0) name = "release:" + name;
  auto r = DeployProjection::ReadRelease(db(), name.substr(8));
  if (!r.ok()) return r.status();
  if (!*r) return absl::NotFoundError(fmt::format("no release {} (to start from a baseline, say baseline:NAME)",
                                                  name.substr(8)));
  for (const auto& e : (*r)->release().entries()) base[e.object()] = e;
  return std::make_pair(base, name);
}

absl::Status DeployServiceImpl::DoCreateRelease(const auth::Principal& who, const v1::CreateReleaseRequest& req,
                                                v1::Release* resp) {
  if (absl::Status s = NeedRole(who, {"release-manager", "dba", "admin"}, "creating a release"); !s.ok()) return s;
  if (!ValidName(req.name()))
    return absl::InvalidArgumentError(
        fmt::format("release name '{}' must be 1-100 letters, digits, '.', '-' or '_'", req.name()));
  if (!req.objects().empty() && !req.since().empty())
    return absl::InvalidArgumentError("name objects or --since, not both");
  if (!req.objects().empty() && !req.tasks().empty())
    return absl::InvalidArgumentError("name objects or work items (--tasks), not both");
  if (absl::Status s = runner_->CatchUp(options_.apply_timeout); !s.ok()) return s;
  if (auto r = DeployProjection::ReadRelease(db(), req.name()); r.ok() && *r)
    return absl::AlreadyExistsError(fmt::format("release {} exists already; releases are immutable", req.name()));
  std::set<std::string> script_names;
  size_t script_bytes = 0;
  for (const auto& ds : req.data_scripts()) {
    if (ds.name().empty() || !script_names.insert(ds.name()).second)
      return absl::InvalidArgumentError(fmt::format("data script names must be unique and non-empty ('{}')", ds.name()));
    for (const std::string* text : {&ds.sql(), &ds.rollback_sql()}) {
      if (absl::Status s = hosting::CheckSize(fmt::format("data script {}", ds.name()), text->size(),
                                              options_.max_definition_bytes);
          !s.ok())
        return s;
      script_bytes += text->size();
      if (text->empty()) continue;
      auto parsed = sql::ParsedSql::Parse(*text);
      if (!parsed.ok())
        return absl::InvalidArgumentError(
            fmt::format("data script {}: {}", ds.name(), std::string(parsed.status().message())));
      // The deployment is one transaction: a script may not end it.
      for (int i = 0; i < parsed->size(); ++i)
        if (parsed->statement(i).has_transaction_stmt())
          return absl::InvalidArgumentError(fmt::format(
              "data script {}: statement {} is transaction control ({}); the whole deployment is one "
              "transaction, leave BEGIN/COMMIT out",
              ds.name(), i + 1, std::string(parsed->StatementText(i))));
    }
    if (ds.sql().empty()) return absl::InvalidArgumentError(fmt::format("data script {} is empty", ds.name()));
  }
  if (absl::Status s = hosting::CheckSize(fmt::format("release {}'s data scripts together", req.name()), script_bytes,
                                          options_.max_definition_bytes);
      !s.ok())
    return s;
  // Named objects are read one by one; "everything since" reads every head.
  std::map<std::string, DeployProjection::Head> named_heads;
  absl::StatusOr<std::map<std::string, DeployProjection::Head>> heads = named_heads;
  std::vector<std::string> task_objects;  // --tasks: the objects, in id order
  if (!req.tasks().empty()) {
    // Each object of the work items at the latest version checked in under
    // one of them, not a later version made for other work.
    for (const auto& task : req.tasks()) {
      auto versions = DeployProjection::ReadTask(db(), task);
      if (!versions.ok()) return versions.status();
      if (versions->empty())
        return absl::NotFoundError(fmt::format("no version was checked in under work item {}", task));
      for (const auto& [id, version] : *versions) {
        auto& head = (*heads)[id];
        if (version <= head.version) continue;
        auto def = DeployProjection::ReadDefinition(db(), id, version);
        if (!def.ok()) return def.status();
        head = {version, auth::Sha256Hex(*def), def->empty()};
      }
    }
    for (const auto& [id, head] : *heads) task_objects.push_back(id);
  } else if (req.objects().empty()) {
    heads = DeployProjection::ReadHeads(db());
    // Every tracked table's rows at their latest data version.
    if (heads.ok())
      if (absl::Status s = AddDataHeads(&*heads); !s.ok()) return s;
  } else {
    for (const auto& text : req.objects()) {
      // "data:sales.codes": the table's rows only; a tracked table brings its rows.
      if (text.rfind("data:", 0) == 0 || text.rfind("table:", 0) == 0) {
        auto table = model::ParseObjectRef(text.substr(text.find(':') + 1));
        if (table.ok())
          if (absl::Status s = AddDataHeads(&*heads, table->QualifiedName()); !s.ok()) return s;
      }
      auto id = model::ParseObjectId(text);
      if (!id.ok()) continue;  // refused below with the reason
      auto o = DeployProjection::ReadObject(db(), id->ToString());
      if (!o.ok()) return o.status();
      if (*o && (*o)->latest_version() > 0)
        (*heads)[id->ToString()] = {(*o)->latest_version(), (*o)->latest_sha256(), (*o)->dropped()};
    }
  }
  if (!heads.ok()) return heads.status();
  // A named object that was renamed brings the names it left behind: their
  // last versions (dropped, renamed_to) take them out of the state, so the
  // plan renames instead of keeping the old object beside the new one.
  std::vector<std::string> left_names;
  if (!req.objects().empty()) {
    auto named = *heads;
    for (const auto& [id, head] : named) {
      std::string at = id;
      uint64_t version = head.version;
      for (int link = 0; link < 32; ++link) {
        auto from = DeployProjection::ReadRenamedFrom(db(), at, version);
        if (!from.ok()) return from.status();
        if (!*from) break;
        auto old = DeployProjection::ReadObject(db(), (*from)->object);
        if (!old.ok()) return old.status();
        if (!*old || !(*old)->dropped() || heads->count((*from)->object)) break;
        (*heads)[(*from)->object] = {(*old)->latest_version(), (*old)->latest_sha256(), true};
        left_names.push_back((*from)->object);
        at = (*from)->object;
        version = (*from)->object_version;
      }
    }
  }
  auto base = BaseState(req.since());
  if (!base.ok()) return base.status();
  std::map<std::string, v1::BaselineEntry> state = base->first;
  std::vector<std::string> changed;
  // A release's entries are what exists after it: a dropped object leaves
  // them, and is a change when the base had it or there is no base (since
  // the beginning: environments may hold it); plans then drop it.
  const bool from_beginning = base->second.empty();
  auto take_latest = [&](const std::string& id) {
    const auto& [version, sha, dropped] = heads->at(id);
    auto it = state.find(id);
    if (dropped) {
      if (it != state.end()) state.erase(it);
      if (it != state.end() || from_beginning) changed.push_back(id);
      return;
    }
    if (it != state.end() && it->second.version() == version) return;
    v1::BaselineEntry e;
    e.set_object(id);
    e.set_version(version);
    e.set_definition_sha256(sha);
    state[id] = e;
    changed.push_back(id);
  };
  if (!req.objects().empty()) {
    for (const auto& text : req.objects()) {
      if (text.rfind("data:", 0) == 0) {
        auto table = model::ParseObjectRef(text.substr(5));
        const std::string data_id = table.ok() ? "data:" + table->QualifiedName() : text;
        if (!heads->count(data_id))
          return absl::NotFoundError(fmt::format("{} has no data version (strata data list)", data_id));
        take_latest(data_id);
        continue;
      }
      if (auto table = model::ParseObjectId(text); table.ok() && table->kind == "table")
        if (heads->count("data:" + table->QualifiedName())) take_latest("data:" + table->QualifiedName());
      auto id = model::ParseObjectId(text);
      if (!id.ok()) return absl::InvalidArgumentError(fmt::format("{} (give full ids, e.g. table:sales.orders)",
                                                                  std::string(id.status().message())));
      if (!heads->count(id->ToString()))
        return absl::NotFoundError(fmt::format("{} has no checked-in version", id->ToString()));
      take_latest(id->ToString());
    }
    for (const auto& id : left_names) take_latest(id);
  } else if (!task_objects.empty()) {
    for (const auto& id : task_objects) take_latest(id);
  } else {
    for (const auto& [id, head] : *heads) take_latest(id);
  }
  std::sort(changed.begin(), changed.end());
  changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
  if (changed.empty() && req.data_scripts().empty())
    return absl::FailedPreconditionError(fmt::format(
        "nothing changed since {}: no object has a newer version and no data script was given",
        base->second.empty() ? "the beginning" : base->second));

  if (absl::Status s = ChangesInScope(who, changed); !s.ok()) return s;
  if (absl::Status s = CheckDataFits(state); !s.ok()) return s;
  // The definitions of its state, read once for the policy and the load.
  Entries entries;
  for (const auto& [id, entry] : state) *entries.Add() = entry;
  auto defs = DefinitionsOf(entries);
  if (!defs.ok()) return defs.status();
  {
    auto report = PolicyFindings(*defs, changed);
    if (!report.ok()) return report.status();
    if (!report->errors.empty())
      return absl::FailedPreconditionError(fmt::format(
          "release {}: its changes break the team's policy (version {}):\n  {}\nfix them, or a dba waives a rule for "
          "an object: strata policy waive OBJ RULE -r REASON",
          req.name(), report->version, fmt::join(report->errors, "\n  ")));
  }
  // Its objects must load together into PostgreSQL (a shadow database), or
  // no environment could reach its state. A shadow server that cannot be
  // reached does not stop the release: plans load it again.
  {
    if (auto loaded = schemadiff::LoadDefinitions(*defs, shadow_); !loaded.ok()) {
      if (loaded.status().code() == absl::StatusCode::kInvalidArgument)
        return absl::FailedPreconditionError(fmt::format("release {}: its objects do not load together: {}",
                                                         req.name(), std::string(loaded.status().message())));
      spdlog::warn("release {}: not loaded into a shadow database before creation: {}", req.name(),
                   loaded.status().ToString());
    }
  }
  v1::Event e = NewEvent(who, "release:" + req.name(), 1);
  auto* rc = e.mutable_release_created();
  rc->set_name(req.name());
  rc->set_description(req.description());
  for (auto& [id, entry] : state) *rc->add_entries() = entry;
  for (const auto& c : changed) rc->add_changed(c);
  rc->set_base(base->second);
  // The work items it carries: those named, or those its changes were made under.
  std::set<std::string> tasks(req.tasks().begin(), req.tasks().end());
  if (tasks.empty())
    for (const auto& c : changed)
      if (auto it = state.find(c); it != state.end())
        if (std::string t = DeployProjection::TaskOfVersion(db(), c, it->second.version()); !t.empty()) tasks.insert(t);
  for (const auto& t : tasks) rc->add_tasks(t);
  for (const auto& ds : req.data_scripts()) {
    auto* out = rc->add_data_scripts();
    *out = ds;
    out->set_sha256(auth::Sha256Hex(ds.sql()));
  }
  auto d = Submit(e);
  if (!d.ok()) return d.status();
  if (!d->accepted())
    return absl::AlreadyExistsError(fmt::format("release {} was created elsewhere first", req.name()));
  auto r = Release(req.name());
  if (!r.ok()) return r.status();
  *resp = r->release();
  return absl::OkStatus();
}

absl::Status DeployServiceImpl::DoApprove(const auth::Principal& who, const v1::ApproveRequest& req,
                                          v1::Release* resp) {
  if (absl::Status s = NeedRole(who, {"release-manager", "admin"}, "approving a release"); !s.ok()) return s;
  if (absl::Status s = InScope(who, req.environment()); !s.ok()) return s;
  auto env = Environment(req.environment(), /*with_state=*/false);
  if (!env.ok()) return env.status();
  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    auto rel = Release(req.release(), /*with_entries=*/false);
    if (!rel.ok()) return rel.status();
    v1::Event e = NewEvent(who, "release:" + req.release(), rel->last_seq() + 1);
    e.mutable_release_approved()->set_environment(req.environment());
    e.mutable_release_approved()->set_comment(req.comment());
    auto d = Submit(e);
    if (!d.ok()) return d.status();
    if (d->accepted()) {
      auto after = Release(req.release());
      if (!after.ok()) return after.status();
      *resp = after->release();
      return absl::OkStatus();
    }
  }
  return absl::AbortedError("too much contention on the release, try again");
}

absl::Status DeployServiceImpl::DoPipeline(v1::PipelineResponse* resp) {
  auto envs = DeployProjection::ReadEnvironments(db());
  if (!envs.ok()) return envs.status();
  auto releases = DeployProjection::ReadReleases(db());
  if (!releases.ok()) return releases.status();
  // Per environment: release -> latest deployment status of it.
  std::vector<std::map<std::string, std::string>> status(envs->size());
  for (size_t i = 0; i < envs->size(); ++i) {
    v1::Environment* out = resp->add_environments();
    *out = (*envs)[i].environment();
    out->clear_state();
    // One record per release deployed there, not every deployment ever.
    auto latest = DeployProjection::ReadLatestDeployments(db(), out->name());
    if (!latest.ok()) return latest.status();
    for (const auto& [release, d] : *latest) status[i].emplace(release, d.deployment().status());
  }
  for (const auto& r : *releases) {
    v1::PipelineRow* row = resp->add_releases();
    row->set_release(r.release().name());
    *row->mutable_created() = r.release().time();
    *row->mutable_tasks() = r.release().tasks();
    for (size_t i = 0; i < envs->size(); ++i) {
      const v1::Environment& e = (*envs)[i].environment();
      std::string cell;
      if (e.current_release() == r.release().name()) {
        cell = "current";
      } else if (auto it = status[i].find(r.release().name()); it != status[i].end()) {
        cell = it->second == "succeeded" ? "deployed" : it->second;
      } else {
        for (const auto& a : r.release().approvals())
          if (a.environment() == e.name()) cell = "approved";
      }
      row->add_cells(cell);
    }
  }
  return absl::OkStatus();
}

}  // namespace strata::deploy
