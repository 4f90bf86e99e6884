// DeployServiceImpl (deploy_service_impl.h): the guard RPCs (install,
// uninstall, status with drift) and what GuardSync reads from the
// projection (deploy/guard.h).
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "auth/tokens.h"
#include "deploy/deploy_projection.h"
#include "deploy/deploy_service_impl.h"
#include "deploy/guard.h"
#include "fmt/format.h"
#include "hosting/hosting.h"
#include "pg/pg.h"
#include "schemadiff/catalog.h"
#include "schemadiff/definitions.h"
#include "spdlog/spdlog.h"

namespace strata::deploy {

absl::StatusOr<GuardState> DeployServiceImpl::ExpectedGuardState() {
  auto objects = DeployProjection::ReadObjects(db());
  if (!objects.ok()) return objects.status();
  return GuardStateOf(*objects);
}

GuardState DeployServiceImpl::GuardStateOf(const Objects& objects) const {
  GuardState state;
  for (const auto& [id, o] : objects) {
    state.managed.push_back(id);
    if (!o.holder().empty()) state.checkouts.push_back(GuardCheckoutOf(id, o));
  }
  return state;
}

GuardCheckout DeployServiceImpl::GuardCheckoutOf(const std::string& id, const internal::DeployObject& o) const {
  return {id, tokens_->DbRoleOf(o.holder()), o.holder(), o.holder_site(), o.held_since().seconds()};
}

absl::StatusOr<GuardState> DeployServiceImpl::ExpectedGuardSlice(const std::string& after, size_t limit, bool* done) {
  auto objects = DeployProjection::ReadObjectsAfter(db(), after, limit, done);
  if (!objects.ok()) return objects.status();
  return GuardStateOf(*objects);
}

absl::StatusOr<GuardDelta> DeployServiceImpl::GuardRowsOf(const std::vector<std::string>& ids) {
  GuardDelta d;
  d.ids = ids;
  for (const std::string& id : ids) {
    auto o = DeployProjection::ReadObject(db(), id);
    if (!o.ok()) return o.status();
    // As ReadObjects: a reservation given up is not managed.
    if (!*o || ((*o)->latest_version() == 0 && (*o)->holder().empty())) continue;
    d.managed.push_back(id);
    if (!(*o)->holder().empty()) d.checkouts.push_back(GuardCheckoutOf(id, **o));
  }
  return d;
}

std::vector<std::pair<std::string, std::string>> DeployServiceImpl::GuardTargets() {
  std::vector<std::pair<std::string, std::string>> out;
  auto envs = DeployProjection::ReadEnvironments(db());
  if (!envs.ok()) return out;
  for (const auto& e : *envs)
    out.emplace_back(e.environment().name(), secrets_->ConnectionUrl(e.environment().name(), e.environment().url()));
  return out;
}

absl::Status DeployServiceImpl::DoGuard(const auth::Principal& who, const v1::GuardRequest& req, bool install,
                                        bool uninstall, v1::GuardReport* resp) {
  if (install || uninstall) {
    if (absl::Status s = NeedRole(who, {"dba", "admin"}, install ? "installing the guard" : "removing the guard");
        !s.ok())
      return s;
  }
  if (absl::Status s = InScope(who, req.environment()); !s.ok()) return s;
  const uint32_t stale_after = req.stale_after_seconds();
  if (install && req.has_stale_after_seconds() && stale_after != 0 && stale_after < 3)
    return absl::InvalidArgumentError(fmt::format(
        "--stale-after {}s is too short: the deploy service confirms the guard's check-outs every second; give "
        "at least 3s (or 0 for never, which lets a stale guard grant what the log no longer grants)",
        stale_after));
  // What the caller just did through another service (a check-in at the
  // lock service) is in the log: answer from the state that includes it.
  if (absl::Status s = runner_->CatchUp(options_.apply_timeout); !s.ok()) return s;
  auto env = Environment(req.environment(), /*with_state=*/false);
  if (!env.ok()) return env.status();
  auto session = Connect(env->environment());
  if (!session.ok()) return session.status();
  std::optional<GuardState> written;  // by the install
  if (install) {
    const std::optional<absl::Duration> setting =
        req.has_stale_after_seconds() ? std::optional(absl::Seconds(stale_after)) : std::nullopt;
    if (absl::Status s = InstallGuard(**session, setting); !s.ok()) return s;
    // The check-outs are there, as of the log's end, before the call
    // returns; the sync keeps them and confirms them from then on.
    const absl::Time as_of = absl::Now();
    if (absl::Status s = runner_->CatchUp(absl::Seconds(10)); !s.ok())
      return absl::UnavailableError(fmt::format("the guard is installed in {} but its check-outs cannot be "
                                                "confirmed while this service is behind the log ({}); it fails "
                                                "closed until the service catches up",
                                                req.environment(), std::string(s.message())));
    auto expected = ExpectedGuardState();
    if (!expected.ok()) return expected.status();
    if (absl::Status s = WriteGuardState(**session, *expected); !s.ok()) return s;
    if (absl::Status s = ConfirmGuard(**session, absl::Now() - as_of); !s.ok()) return s;
    written = std::move(*expected);
    spdlog::info("guard installed in {} by {}", req.environment(), who.user);
    if (wake_guard_sync_) wake_guard_sync_();  // it follows the log from now on
  }
  if (uninstall) {
    if (absl::Status s = UninstallGuard(**session); !s.ok()) return s;
    spdlog::info("guard removed from {} by {}", req.environment(), who.user);
  }
  resp->set_environment(req.environment());
  auto installed = GuardInstalled(**session);
  if (!installed.ok()) return installed.status();
  resp->set_installed(*installed);
  // Status: the projection's objects, read once for the comparison and the
  // drift (an install compares with what it wrote; an uninstall with nothing).
  Objects objects;
  if (!install && !uninstall) {
    auto all = DeployProjection::ReadObjects(db());
    if (!all.ok()) return all.status();
    objects = std::move(*all);
  }
  if (*installed) {
    auto actual = ReadGuardState(**session);
    if (!actual.ok()) return actual.status();
    resp->set_in_sync(*actual == (written ? *written : GuardStateOf(objects)));
    resp->set_managed(static_cast<uint32_t>(actual->managed.size()));
    resp->set_checkouts(static_cast<uint32_t>(actual->checkouts.size()));
    auto confirmed = ReadGuardConfirmation(**session);
    if (!confirmed.ok()) return confirmed.status();
    resp->set_seconds_since_sync(confirmed->confirmed_unix > 0 ? absl::ToDoubleSeconds(confirmed->age) : -1);
    resp->set_stale_after_seconds(static_cast<uint32_t>(absl::ToInt64Seconds(confirmed->stale_after)));
    resp->set_fails_closed(confirmed->fails_closed);
  }
  if (install || uninstall) return absl::OkStatus();
  // The guard's state stands on its own: a comparison that cannot be made
  // is said in the report, not instead of it.
  if (absl::Status s = GuardDrift(who, **session, objects, resp); !s.ok()) {
    resp->clear_drift();
    resp->set_drift_note(fmt::format("not compared: {}", std::string(s.message())));
  }
  return absl::OkStatus();
}

absl::Status DeployServiceImpl::GuardDrift(const auth::Principal& who, pg::Session& environment_db,
                                           const Objects& objects, v1::GuardReport* resp) {
  auto live = schemadiff::ReadCatalog(environment_db);
  if (!live.ok()) return live.status();
  std::map<std::string, std::string> in_db;
  for (auto& d : schemadiff::DefinitionsOf(*live).objects) in_db[d.object] = std::move(d.sql);
  auto add = [&](const std::string& id, v1::GuardDrift::Kind kind, const internal::DeployObject* o) {
    v1::GuardDrift* d = resp->add_drift();
    d->set_object(id);
    d->set_kind(kind);
    if (!o) return d;
    d->set_latest_version(o->latest_version());
    d->set_holder(o->holder());
    d->set_holder_site(o->holder_site());
    return d;
  };
  std::vector<std::string> changed;
  for (const auto& [id, sql] : in_db) {
    if (!hosting::ObjectInScope(who, id)) continue;
    auto it = objects.find(id);
    if (it == objects.end() || it->second.latest_version() == 0)
      add(id, v1::GuardDrift::UNVERSIONED, it == objects.end() ? nullptr : &it->second);
    else if (it->second.dropped())
      add(id, v1::GuardDrift::CHANGED, &it->second)
          ->add_detail(fmt::format("version {} dropped it; the database still has it", it->second.latest_version()));
    else if (auth::Sha256Hex(sql) != it->second.latest_sha256())
      changed.push_back(id);
  }
  for (const auto& [id, o] : objects)
    if (o.latest_version() > 0 && !o.dropped() && !in_db.count(id) && hosting::ObjectInScope(who, id))
      add(id, v1::GuardDrift::MISSING, &o);
  if (changed.empty()) return absl::OkStatus();

  Entries latest;
  for (const auto& [id, o] : objects) {
    if (o.latest_version() == 0 || o.dropped()) continue;
    v1::BaselineEntry e;
    e.set_object(id);
    e.set_version(o.latest_version());
    latest.Add(std::move(e));
  }
  std::map<std::string, std::string> as_versioned;
  auto heads = LoadState(latest);
  if (!heads.ok()) {
    // Texts that differ only in layout are not changes: without the
    // catalogs, nothing is compared, and the note says which version is at
    // fault (LoadDefinitions names it) or why the shadow could not be used.
    resp->set_drift_note(fmt::format(
        "not compared: {} definition{} differ{} in text from the latest versions, and the latest versions do not "
        "load into a shadow database to compare them as catalogs: {}",
        changed.size(), changed.size() == 1 ? "" : "s", changed.size() == 1 ? "s" : "",
        std::string(heads.status().message())));
    return absl::OkStatus();
  }
  for (auto& d : schemadiff::DefinitionsOf(*heads).objects) as_versioned[d.object] = std::move(d.sql);
  resp->set_drift_note("catalogs");
  for (const std::string& id : changed) {
    const std::string& versioned = as_versioned[id];
    if (versioned == in_db[id]) continue;
    v1::GuardDrift* d = add(id, v1::GuardDrift::CHANGED, &objects.at(id));
    for (auto& line : LinesThatDiffer(versioned, in_db[id], 6)) d->add_detail(std::move(line));
  }
  return absl::OkStatus();
}

std::vector<std::string> DeployServiceImpl::LinesThatDiffer(const std::string& before, const std::string& after,
                                                            size_t limit) {
  const std::vector<std::string> a = absl::StrSplit(before, '\n', absl::SkipWhitespace());
  const std::vector<std::string> b = absl::StrSplit(after, '\n', absl::SkipWhitespace());
  const std::set<std::string> in_a(a.begin(), a.end()), in_b(b.begin(), b.end());
  std::vector<std::string> out;
  for (const auto& line : a)
    if (!in_b.count(line) && out.size() < limit) out.push_back("- " + line);
  for (const auto& line : b)
    if (!in_a.count(line) && out.size() < limit) out.push_back("+ " + line);
  return out;
}

}  // namespace strata::deploy
