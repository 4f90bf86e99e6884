// DeployServiceImpl (deploy_service_impl.h): adding environments,
// connecting to them and reading their catalogs, import, CaptureDefinition.
#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "auth/tokens.h"
#include "deploy/deploy_projection.h"
#include "deploy/deploy_service_impl.h"
#include "deploy/secrets.h"
#include "fmt/format.h"
#include "hosting/hosting.h"
#include "model/object_id.h"
#include "pg/pg.h"
#include "schemadiff/catalog.h"
#include "schemadiff/definitions.h"
#include "spdlog/spdlog.h"

namespace strata::deploy {

using detail::ValidName;

grpc::Status DeployServiceImpl::CaptureDefinition(grpc::ServerContext* ctx, const v1::CaptureRequest* req,
                                                  v1::CaptureResponse* resp) {
  return Handle(ctx, "", "", [&](const auth::Principal& who) -> absl::Status {
    if (absl::Status s = InScope(who, req->environment()); !s.ok()) return s;
    auto id = model::ParseObjectId(req->object());
    if (!id.ok())
      return absl::InvalidArgumentError(fmt::format("{} (give the full id, e.g. table:sales.orders)",
                                                    std::string(id.status().message())));
    if (absl::Status s = hosting::RequireObjectInScope(who, id->ToString(), {log_, options_.site, "read"}); !s.ok())
      return s;
    auto env = Environment(req->environment(), /*with_state=*/false);
    if (!env.ok()) return env.status();
    auto live = ReadLive(env->environment());
    if (!live.ok()) return live.status();
    for (auto& d : schemadiff::DefinitionsOf(*live).objects) {
      if (d.object != id->ToString()) continue;
      resp->set_object(d.object);
      resp->set_definition(std::move(d.sql));
      return absl::OkStatus();
    }
    return absl::NotFoundError(
        fmt::format("{} is not in {}'s database (or is not an object Strata versions)", id->ToString(),
                    req->environment()));
  });
}

absl::Status DeployServiceImpl::DoAddEnvironment(const auth::Principal& who, const v1::AddEnvironmentRequest& req,
                                                 v1::Environment* resp) {
  if (absl::Status s = NeedRole(who, {"dba", "admin"}, "adding an environment"); !s.ok()) return s;
  if (absl::Status s = InScope(who, req.name()); !s.ok()) return s;
  if (!ValidName(req.name()))
    return absl::InvalidArgumentError(
        fmt::format("environment name '{}' must be 1-100 letters, digits, '.', '-' or '_'", req.name()));
  if (req.url().empty()) return absl::InvalidArgumentError("an environment needs a PostgreSQL URL (--url)");
  if (UrlHasPassword(req.url()))
    return absl::InvalidArgumentError(fmt::format(
        "the URL carries a password, which would be written to the event log; give the URL without it and put "
        "the password in the server's secrets file (environments: {{{}: {{password: ...}}}}) or in "
        "STRATA_ENV_{}_PASSWORD on the server",
        req.name(), absl::AsciiStrToUpper(req.name())));
  for (const auto& d : req.deployers())
    if (d.rfind("role:", 0) == 0 &&
        std::find(auth::KnownRoles().begin(), auth::KnownRoles().end(), d.substr(5)) == auth::KnownRoles().end())
      return absl::InvalidArgumentError(fmt::format("unknown role in deployers: {} (known: {})", d,
                                                    fmt::join(auth::KnownRoles(), ", ")));
  if (absl::Status s = CatchUpWith("env:" + req.name()); !s.ok()) return s;
  if (auto existing = DeployProjection::ReadEnvironment(db(), req.name()); existing.ok() && *existing)
    return absl::AlreadyExistsError(fmt::format("environment {} exists already ({})", req.name(),
                                                (*existing)->environment().url()));
  int order = req.order();
  if (order == 0) {
    auto all = DeployProjection::ReadEnvironments(db());
    if (!all.ok()) return all.status();
    order = all->empty() ? 1 : all->back().environment().order() + 1;
  }
  v1::Event e = NewEvent(who, "env:" + req.name(), 1);
  auto* r = e.mutable_environment_registered();
  r->set_name(req.name());
  r->set_url(req.url());
  r->set_order(order);
  r->set_protected_(req.protected_());
  *r->mutable_deployers() = req.deployers();
  r->set_description(req.description());
  auto d = Submit(e);
  if (!d.ok()) return d.status();
  if (!d->accepted())
    return absl::AlreadyExistsError(fmt::format("environment {} was registered elsewhere first", req.name()));
  auto env = Environment(req.name());
  if (!env.ok()) return env.status();
  *resp = env->environment();
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<pg::Session>> DeployServiceImpl::Connect(const v1::Environment& env) {
  auto session = pg::Session::Connect(secrets_->ConnectionUrl(env.name(), env.url()));
  if (!session.ok())
    return absl::UnavailableError(fmt::format("environment {} ({}): {}", env.name(), pg::RedactUrl(env.url()),
                                              std::string(session.status().message())));
  // If this server dies mid-deployment, PostgreSQL notices within a second
  // and rolls the transaction back instead of finishing the queued script
  // (PostgreSQL 14+; older servers ignore it).
  (void)(*session)->Exec("SET client_connection_check_interval = '1s'");
  // Names Strata's sessions (pg_stat_activity; the guard lets its deployments through).
  (void)(*session)->Exec("SET application_name = 'strata-deploy'");
  return session;
}

absl::Status DeployServiceImpl::InEnvironment(const v1::Environment& env, const absl::Status& status) {
  if (status.ok() || status.message().find("environment " + env.name() + " (") != std::string_view::npos)
    return status;
  return absl::Status(status.code(), fmt::format("environment {} ({}): {}", env.name(), pg::RedactUrl(env.url()),
                                                 std::string(status.message())));
}

absl::StatusOr<schemadiff::Catalog> DeployServiceImpl::ReadLive(const v1::Environment& env) {
  auto session = Connect(env);
  if (!session.ok()) return session.status();
  auto catalog = schemadiff::ReadCatalog(**session);
  if (!catalog.ok()) return InEnvironment(env, catalog.status());
  return catalog;
}

absl::StatusOr<std::vector<schemadiff::LabelledSql>> DeployServiceImpl::DefinitionsOf(const Entries& entries) {
  std::vector<schemadiff::LabelledSql> out;
  out.reserve(entries.size());
  for (const auto& e : entries) {
    if (detail::IsDataEntry(e.object())) continue;  // rows, not a definition
    auto sql = DeployProjection::ReadDefinition(db(), e.object(), e.version());
    if (!sql.ok()) return sql.status();
    out.push_back({fmt::format("{} v{}", e.object(), e.version()), std::move(*sql)});
  }
  return out;
}

absl::StatusOr<schemadiff::Catalog> DeployServiceImpl::LoadState(const Entries& entries) {
  auto defs = DefinitionsOf(entries);
  if (!defs.ok()) return defs.status();
  return schemadiff::LoadDefinitions(*defs, shadow_);
}

absl::StatusOr<DeployServiceImpl::ImportClassification> DeployServiceImpl::ClassifyForImport(
    const schemadiff::CatalogDefinitions& defs) {
  ImportClassification c;
  for (const auto& d : defs.objects) {
    auto obj = DeployProjection::ReadObject(db(), d.object);
    if (!obj.ok()) return obj.status();
    if (!*obj || ((*obj)->latest_version() == 0 && (*obj)->holder().empty())) {
      c.fresh.push_back(&d);
      continue;
    }
    if ((*obj)->latest_version() == 0) {
      c.conflicts.push_back(fmt::format("{}: reserved by {} (not checked in yet)", d.object, (*obj)->holder()));
      continue;
    }
    uint64_t match = 0;
    for (uint64_t v = (*obj)->latest_version(); v >= 1 && !match; --v) {
      auto sql = DeployProjection::ReadDefinition(db(), d.object, v);
      if (sql.ok() && *sql == d.sql) match = v;
    }
    if (!match) {
      c.conflicts.push_back(fmt::format("{}: differs from every version in Strata (latest v{})", d.object,
                                        (*obj)->latest_version()));
      continue;
    }
    v1::BaselineEntry entry;
    entry.set_object(d.object);
    entry.set_version(match);
    entry.set_definition_sha256(auth::Sha256Hex(d.sql));
    c.matched.push_back(std::move(entry));
  }
  return c;
}

absl::StatusOr<std::vector<v1::BaselineEntry>> DeployServiceImpl::CreateVersionOnes(
    const auth::Principal& who, const std::vector<const schemadiff::ObjectDefinition*>& fresh,
    const std::string& message) {
  std::vector<v1::Event> checkouts;
  for (const auto* d : fresh) {
    auto obj = DeployProjection::ReadObject(db(), d->object);
    if (!obj.ok()) return obj.status();
    v1::Event e = NewEvent(who, "object:" + d->object, (*obj ? (*obj)->last_seq() : 0) + 1);
    e.mutable_checked_out()->set_reason(message);
    checkouts.push_back(std::move(e));
  }
  auto taken = SubmitAll(checkouts);
  if (!taken.ok())
    return absl::Status(taken.status().code(),
                        fmt::format("{}; some of the {} new objects may be left checked out by {}: see `strata locks "
                                    "--user {}` and `strata undo`, then import again",
                                    std::string(taken.status().message()), fresh.size(), who.user, who.user));
  std::vector<std::string> lost;
  for (size_t i = 0; i < fresh.size(); ++i)
    if (!(*taken)[i].accepted()) lost.push_back(fmt::format("{} ({})", fresh[i]->object, (*taken)[i].reason));
  if (!lost.empty()) {
    GiveBack(who, checkouts, *taken);
    return absl::AbortedError(fmt::format("objects were taken by someone else during the import, nothing was "
                                          "imported; run it again:\n  {}",
                                          fmt::join(lost, "\n  ")));
  }
  std::vector<v1::Event> checkins;
  for (size_t i = 0; i < fresh.size(); ++i) {
    v1::Event e = NewEvent(who, checkouts[i].aggregate(), checkouts[i].seq() + 1);
    auto* ci = e.mutable_checked_in();
    ci->set_version(1);
    ci->set_definition(fresh[i]->sql);
    ci->set_message(message);
    ci->set_definition_sha256(auth::Sha256Hex(fresh[i]->sql));
    checkins.push_back(std::move(e));
  }
  auto stored = SubmitAll(checkins);
  if (!stored.ok()) return stored.status();
  std::vector<v1::BaselineEntry> created;
  for (size_t i = 0; i < fresh.size(); ++i) {
    if (!(*stored)[i].accepted())  // only if a dba force-released it meanwhile
      return absl::AbortedError(fmt::format("{}: {}; run the import again", fresh[i]->object, (*stored)[i].reason));
    v1::BaselineEntry entry;
    entry.set_object(fresh[i]->object);
    entry.set_version(1);
    entry.set_definition_sha256(checkins[i].checked_in().definition_sha256());
    created.push_back(std::move(entry));
  }
  return created;
}

absl::Status DeployServiceImpl::DoImport(const auth::Principal& who, const v1::ImportRequest& req,
                                         v1::ImportResponse* resp) {
  if (absl::Status s = NeedRole(who, {"dba", "admin"}, "importing an environment"); !s.ok()) return s;
  if (absl::Status s = InScope(who, req.environment()); !s.ok()) return s;
  auto env = FreshEnvironment(req.environment(), /*with_state=*/false);
  if (!env.ok()) return env.status();
  if (!env->environment().running_deployment().empty())
    return absl::FailedPreconditionError(fmt::format("deployment {} is running on {}; import when it is done",
                                                     env->environment().running_deployment(), req.environment()));
  auto live = ReadLive(env->environment());
  if (!live.ok()) return live.status();
  schemadiff::CatalogDefinitions defs = schemadiff::DefinitionsOf(*live);
  for (auto& s : defs.skipped) resp->add_skipped(std::move(s));
  resp->set_objects(static_cast<uint32_t>(defs.objects.size()));
  auto classified = ClassifyForImport(defs);
  if (!classified.ok()) return classified.status();
  // Tracked tables: their rows are a data version, or become version 1.
  auto data = ClassifyDataForImport(env->environment(), defs);
  if (!data.ok()) return data.status();
  for (auto& c : data->conflicts) classified->conflicts.push_back(std::move(c));
  if (!classified->conflicts.empty())
    return absl::FailedPreconditionError(fmt::format(
        "{} holds objects that do not match Strata's versions; nothing was imported:\n  {}\nDeploy a release "
        "there, or check the objects in as new versions first",
        req.environment(), fmt::join(classified->conflicts, "\n  ")));
  const std::string message =
      req.message().empty() ? fmt::format("imported from {}", req.environment()) : req.message();
  auto created = CreateVersionOnes(who, classified->fresh, message);
  if (!created.ok()) return created.status();

  auto data_created = StoreDataVersionOnes(who, *data, req.environment());
  if (!data_created.ok()) return data_created.status();

  std::vector<v1::BaselineEntry> entries = classified->matched;
  for (const auto& e : classified->matched) resp->add_matched(fmt::format("{} v{}", e.object(), e.version()));
  for (auto& e : *created) {
    resp->add_created(e.object());
    entries.push_back(std::move(e));
  }
  for (auto& e : data->matched) {
    resp->add_data_matched(fmt::format("{} v{}", e.object(), e.version()));
    entries.push_back(std::move(e));
  }
  for (auto& e : *data_created) {
    resp->add_data_created(e.object());
    entries.push_back(std::move(e));
  }
  std::sort(entries.begin(), entries.end(), [](const auto& a, const auto& b) { return a.object() < b.object(); });
  v1::Event imported = NewEvent(who, "env:" + req.environment(), env->last_seq() + 1);
  imported.mutable_environment_imported();  // set even when the environment holds nothing
  for (auto& e : entries) *imported.mutable_environment_imported()->add_entries() = std::move(e);
  for (const auto& s : resp->skipped()) imported.mutable_environment_imported()->add_skipped(s);
  auto d = Submit(imported);
  if (!d.ok()) return d.status();
  if (!d->accepted())
    return absl::AbortedError(fmt::format(
        "the objects were recorded, but {} changed meanwhile ({}); run the import again", req.environment(),
        d->reason));
  return absl::OkStatus();
}

void DeployServiceImpl::GiveBack(const auth::Principal& who, const std::vector<v1::Event>& checkouts,
                                 const std::vector<decide::Decision>& decisions) {
  std::vector<v1::Event> undo;
  for (size_t i = 0; i < checkouts.size(); ++i) {
    if (!decisions[i].accepted()) continue;
    v1::Event e = NewEvent(who, checkouts[i].aggregate(), checkouts[i].seq() + 1);
    e.mutable_check_out_undone();
    undo.push_back(std::move(e));
  }
  if (auto done = SubmitAll(undo); !done.ok())
    spdlog::warn("import by {}: could not give back {} check-outs: {}", who.user, undo.size(), done.status().ToString());
}

}  // namespace strata::deploy
