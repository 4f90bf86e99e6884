#include "deploy_commands.h"

#include <algorithm>
#include <filesystem>

namespace strata::cli {
namespace {

using v1::Deployment;
using v1::Environment;

// Plans, imports and deployments work on databases: give them time.
constexpr int kDatabaseWorkTimeoutS = 1800;

std::string KindText(const Deployment& d) {
  return d.kind() == v1::ROLLBACK ? fmt::format("rollback of {}", d.rolls_back().substr(0, 8))
                                  : fmt::format("release {}", d.release());
}

void PrintDeployment(const Deployment& d) {
  std::cout << fmt::format("{}  {}  {} on {}  by {} ({})  {}  {} ms  script sha256 {}\n", d.id().substr(0, 8),
                           When(d.started()), KindText(d), d.environment(), d.user(), d.site(), d.status(),
                           d.duration_ms(), d.script_sha256().substr(0, 16));
  if (!d.drift_override().empty()) std::cout << "  drift overridden: " << d.drift_override() << "\n";
  if (!d.error().empty()) std::cout << "  error: " << d.error() << "\n";
}

void PrintEnvironment(const Environment& e, bool full) {
  std::cout << fmt::format("{:<10} {:>3}  {}{}\n", e.name(), e.order(), e.url(), e.protected_() ? "  [protected]" : "");
  if (!full) return;
  if (!e.description().empty()) std::cout << "  " << e.description() << "\n";
  std::string who;
  for (const auto& d : e.deployers()) who += (who.empty() ? "" : ", ") + d;
  std::cout << "  deployers: " << (who.empty() ? "(default roles)" : who) << "\n";
  std::cout << "  release:   " << (e.current_release().empty() ? "(none deployed)" : e.current_release()) << "\n";
  std::cout << "  objects:   " << e.object_count() << " expected\n";
  if (!e.running_deployment().empty()) std::cout << "  RUNNING:   deployment " << e.running_deployment() << "\n";
  if (!e.last_deployment().id().empty()) {
    std::cout << "  last:      ";
    PrintDeployment(e.last_deployment());
  }
  for (const auto& s : e.state()) std::cout << fmt::format("    {} v{}\n", s.object(), s.version());
}

void PrintRelease(const v1::Release& r, bool full) {
  std::cout << fmt::format("{}  {}  by {} ({})  {} objects, {} changed, {} data scripts{}\n", r.name(), When(r.time()),
                           r.user(), r.site(), r.object_count(), r.changed_size(), r.data_scripts_size(),
                           r.base().empty() ? "" : "  since " + r.base());
  if (!r.description().empty()) std::cout << "  " << r.description() << "\n";
  if (!r.tasks().empty()) std::cout << "  tasks: " << fmt::format("{}", fmt::join(r.tasks(), ", ")) << "\n";
  for (const auto& a : r.approvals())
    std::cout << fmt::format("  approved for {} by {} {}{}\n", a.environment(), a.user(), When(a.time()),
                             a.comment().empty() ? "" : ": " + a.comment());
  if (!full) return;
  std::cout << "  changed:\n";
  for (const auto& c : r.changed()) {
    uint64_t v = 0;
    for (const auto& e : r.entries())
      if (e.object() == c) v = e.version();
    std::cout << fmt::format("    {} v{}\n", c, v);
  }
  for (const auto& d : r.data_scripts())
    std::cout << fmt::format("  data script {} (sha256 {}){}\n", d.name(), d.sha256().substr(0, 16),
                             d.rollback_sql().empty() ? "" : ", with undo script");
}

void PrintPlan(const v1::DeploymentPlan& p) {
  std::cout << fmt::format("plan: release {} to {} (now: {})\n", p.release(), p.environment(),
                           p.from_release().empty() ? "no release deployed" : p.from_release());
  std::cout << fmt::format("  {} changed objects, {} schema statements, script sha256 {}, planned in {:.2f} s\n",
                           p.changed_objects_size(), p.statements(), p.script_sha256().substr(0, 16),
                           p.plan_seconds());
  for (const auto& c : p.changed_objects()) std::cout << "    " << c << "\n";
  if (!p.tasks().empty()) std::cout << "  tasks: " << fmt::format("{}", fmt::join(p.tasks(), ", ")) << "\n";
  if (p.data_changes_size() > 0) {
    std::cout << "  reference data:\n";
    for (const auto& d : p.data_changes()) std::cout << "    " << d << "\n";
  }
  std::cout << "\n" << p.summary();
  if (!p.summary().empty() && p.summary().back() != '\n') std::cout << "\n";
  if (p.findings_size() > 0) {
    std::cout << "\nrisk findings:\n";
    for (const auto& f : p.findings())
      std::cout << fmt::format("  [{}] {} {}: {}\n", f.severity(), f.code(), f.object(), f.reason());
  }
  if (p.drift_size() > 0) {
    std::cout << "\ndrift (the environment differs from what Strata deployed there):\n";
    for (const auto& d : p.drift()) std::cout << "  " << d << "\n";
  }
  if (p.blockers_size() > 0) {
    std::cout << "\nBLOCKED:\n";
    for (const auto& b : p.blockers()) std::cout << "  - " << b << "\n";
  } else {
    std::cout << fmt::format("\nready: strata deploy {} --env {}\n", p.release(), p.environment());
  }
  std::cout << "\n-- script ------------------------------------------------------------\n" << p.script();
  std::cout << "\n-- rollback script ---------------------------------------------------\n" << p.rollback_script();
}

void PrintPipeline(const v1::PipelineResponse& p) {
  size_t width = 8;
  for (const auto& r : p.releases()) width = std::max(width, r.release().size());
  std::cout << fmt::format("{:<{}}", "release", width);
  for (const auto& e : p.environments())
    std::cout << fmt::format("  {:<11}", e.name() + (e.protected_() ? " (p)" : ""));
  std::cout << "\n";
  for (const auto& r : p.releases()) {
    std::cout << fmt::format("{:<{}}", r.release(), width);
    // ASCII marks keep the columns aligned in any terminal.
    for (const auto& c : r.cells()) {
      const std::string mark = c.empty() ? "." : c == "current" ? "* current" : c == "deployed" ? "+ deployed"
                               : c == "failed" ? "x failed" : c;
      std::cout << fmt::format("  {:<11}", mark);
    }
    std::cout << "\n";
  }
  if (p.releases().empty()) std::cout << "(no releases yet: strata release create NAME)\n";
  for (const auto& r : p.releases())
    if (!r.tasks().empty()) std::cout << fmt::format("{}: tasks {}\n", r.release(), fmt::join(r.tasks(), ", "));
  std::cout << "\n";
  for (const auto& e : p.environments()) {
    std::cout << fmt::format("{:<10} {}", e.name(), e.current_release().empty() ? "-" : e.current_release());
    if (!e.running_deployment().empty()) std::cout << "  (deployment running)";
    if (!e.last_deployment().id().empty())
      std::cout << fmt::format("  last: {} {} by {} {}", KindText(e.last_deployment()), e.last_deployment().status(),
                               e.last_deployment().user(), When(e.last_deployment().started()));
    std::cout << "\n";
  }
  std::cout << "(p) protected: deploying needs a release-manager's approval\n";
}

// --data FILE or FILE:UNDO_FILE; the name is FILE's base name.
std::optional<v1::DataScript> ReadDataScript(const std::string& spec) {
  const size_t colon = spec.find(':');
  const std::string path = spec.substr(0, colon);
  auto sql = ReadFile(path);
  if (!sql) {
    std::cerr << "error: cannot read data script " << path << "\n";
    return std::nullopt;
  }
  v1::DataScript d;
  d.set_name(std::filesystem::path(path).filename().string());
  d.set_sql(*sql);
  if (colon != std::string::npos) {
    auto undo = ReadFile(spec.substr(colon + 1));
    if (!undo) {
      std::cerr << "error: cannot read undo script " << spec.substr(colon + 1) << "\n";
      return std::nullopt;
    }
    d.set_rollback_sql(*undo);
  }
  return d;
}

}  // namespace

// Prints `guard status` / install / uninstall; true when something changed
// in the database without a check-out.
static bool PrintGuardReport(const v1::GuardReport& r, bool with_drift) {
  if (!r.installed()) {
    std::cout << fmt::format("{}: no guard installed\n", r.environment());
  } else {
    std::cout << fmt::format(
        "{}: guard installed, {} ({} managed object{}, {} check-out{}; {}{})\n",
        r.environment(), r.in_sync() ? "in sync with the log" : "NOT in sync with the log yet", r.managed(),
        r.managed() == 1 ? "" : "s", r.checkouts(), r.checkouts() == 1 ? "" : "s",
        r.seconds_since_sync() < 0 ? std::string("never confirmed by Strata yet")
                                   : fmt::format("confirmed by Strata {:.1f}s ago", r.seconds_since_sync()),
        r.stale_after_seconds() ? fmt::format(", fails closed after {}s", r.stale_after_seconds()) : ", never stale");
    if (r.fails_closed())
      std::cout << "  FAILING CLOSED: Strata has not confirmed the check-outs in time; changes to managed objects are "
                   "refused until the deploy service catches up\n";
  }
  std::vector<const v1::GuardDrift*> unchecked, held, unversioned, missing;
  for (const auto& d : r.drift()) {
    if (d.kind() == v1::GuardDrift::UNVERSIONED) unversioned.push_back(&d);
    else if (d.kind() == v1::GuardDrift::MISSING) missing.push_back(&d);
    else if (d.holder().empty()) unchecked.push_back(&d);
    else held.push_back(&d);
  }
  auto section = [](const std::string& title, const std::vector<const v1::GuardDrift*>& list) {
    if (list.empty()) return;
    std::cout << fmt::format("{} ({}):\n", title, list.size());
    for (const auto* d : list) {
      std::string who = d->holder().empty() ? "" : fmt::format(", checked out by {} ({})", d->holder(), d->holder_site());
      std::string version = d->latest_version() ? fmt::format(" (latest v{}{})", d->latest_version(), who)
                                                : (who.empty() ? "" : fmt::format(" ({})", who.substr(2)));
      std::cout << fmt::format("  {}{}\n", d->object(), version);
      for (const auto& line : d->detail()) std::cout << "      " << line << "\n";
    }
  };
  section("CHANGED WITHOUT A CHECK-OUT (the database differs from the latest version; check it in with --from-env "
          "after checking it out, or restore the version)",
          unchecked);
  section("being changed under a check-out", held);
  section("missing from the database (Strata has versions)", missing);
  section("not versioned in Strata (created or imported outside it)", unversioned);
  if (with_drift && r.drift().empty() && r.drift_note().rfind("not compared", 0) != 0)
    std::cout << "no changes outside Strata: every managed object is as its latest version\n";
  if (!r.drift_note().empty() && r.drift_note() != "catalogs") std::cout << "definitions: " << r.drift_note() << "\n";
  return !unchecked.empty() || !missing.empty() || r.fails_closed();
}

void AddDeployCommands(CLI::App& app, DeployCommands* c) {
  auto* env = app.add_subcommand("env", "environments of the pipeline (dev -> qa -> uat -> prod)");
  env->require_subcommand(1);
  c->env_list = env->add_subcommand("list", "environments in pipeline order");
  c->env_add = env->add_subcommand("add", "register a PostgreSQL database as an environment (dba, admin)");
  c->env_add->add_option("name", c->name, "environment name, e.g. qa")->required();
  c->env_add->add_option("--url", c->url,
                         "postgres://user@host:port/db WITHOUT password (the server's secrets file holds it)")
      ->required();
  c->env_add->add_option("--order", c->order, "position in the pipeline (default: after the last one)");
  c->env_add->add_flag("--protected", c->is_protected, "deploying needs a release-manager's approval");
  c->env_add->add_option("--deployer", c->deployers, "who may deploy: user or role:NAME (repeatable)");
  c->env_add->add_option("-d,--description", c->description, "what it is");
  c->env_show = env->add_subcommand("show", "an environment, what Strata expects there, its last deployment");
  c->env_show->add_option("name", c->name, "environment")->required();

  c->import = app.add_subcommand("import", "take an existing database's objects into Strata as version 1 (dba)");
  c->import->add_option("--env", c->env, "environment to read")->required();
  c->import->add_option("-m,--message", c->message, "check-in message of the new versions");

  auto* rel = app.add_subcommand("release", "releases: frozen sets of object versions plus data scripts");
  rel->require_subcommand(1);
  c->release_create = rel->add_subcommand("create", "freeze a release (release-manager, dba)");
  c->release_create->add_option("name", c->name, "release name, e.g. 2026.11-1")->required();
  c->release_create->add_option("--objects", c->objects, "only these objects (latest versions)")->delimiter(',');
  c->release_create->add_option("--tasks", c->tasks,
                                "the objects of these work items, each at its latest version checked in under one "
                                "of them")
      ->delimiter(',');
  c->release_create->add_option("--since", c->since,
                                "changes since this release or baseline:NAME (default: the newest release)");
  c->release_create->add_option("--data", c->data,
                                "data script FILE or FILE:UNDO_FILE, run after the schema steps (repeatable, in order)");
  c->release_create->add_option("-d,--description", c->description, "what it is for");
  c->release_show = rel->add_subcommand("show", "a release: its objects, data scripts and approvals");
  c->release_show->add_option("name", c->name, "release")->required();
  c->release_list = rel->add_subcommand("list", "releases, newest first");

  c->plan = app.add_subcommand("plan", "the script (and rollback) that would deploy a release to an environment");
  c->plan->add_option("release", c->release, "release")->required();
  c->plan->add_option("--env", c->env, "environment")->required();
  c->plan->add_flag("--script-only", c->script_only, "print only the script");
  c->plan->add_flag("--rollback-script", c->rollback_script, "print only the rollback script");

  c->approve = app.add_subcommand("approve", "approve a release for a protected environment (release-manager)");
  c->approve->add_option("release", c->release, "release")->required();
  c->approve->add_option("--env", c->env, "environment")->required();
  c->approve->add_option("-m,--message", c->message, "comment");

  c->deploy = app.add_subcommand("deploy", "deploy a release to an environment: gates, drift check, one transaction");
  c->deploy->add_option("release", c->release, "release")->required();
  c->deploy->add_option("--env", c->env, "environment")->required();
  c->deploy->add_option("--override-drift", c->override_drift, "dba: deploy over drift, giving the reason (recorded)");
  c->deploy->add_flag("--allow-data-loss", c->allow_data_loss, "run steps that drop columns or narrow types");

  c->drift = app.add_subcommand("drift", "compare an environment with what Strata deployed there (exit 5: drifted)");
  c->drift->add_option("--env", c->env, "environment")->required();

  auto* guard = app.add_subcommand(
      "guard", "enforce check-outs inside an environment's database (DDL on managed objects only by their holder)");
  guard->require_subcommand(1);
  c->guard_install = guard->add_subcommand("install", "install the guard (dba; needs a superuser URL)");
  c->guard_uninstall = guard->add_subcommand("uninstall", "remove the guard completely (dba)");
  c->guard_install
      ->add_option("--stale-after", c->stale_after,
                   "seconds the guard trusts its check-outs without hearing from Strata before it refuses every change "
                   "to a managed object (default 60; 0: never)");
  c->guard_status = guard->add_subcommand(
      "status", "whether the guard is installed and in sync, and what changed in the database without a check-out "
                "(exit 5: changes without a check-out, or the guard is failing closed)");
  for (CLI::App* sub : {c->guard_install, c->guard_uninstall, c->guard_status})
    sub->add_option("--env", c->env, "environment")->required();

  c->rollback = app.add_subcommand("rollback", "run the stored rollback script of an environment's last deployment");
  c->rollback->add_option("--env", c->env, "environment")->required();
  c->rollback->add_option("--override-drift", c->override_drift, "dba: roll back over drift, giving the reason");

  c->abandon = app.add_subcommand("abandon", "end a deployment whose server died while it ran (dba, admin)");
  c->abandon->add_option("--env", c->env, "environment")->required();
  c->abandon->add_option("-r,--reason", c->reason, "why (recorded)")->required();

  auto* data = app.add_subcommand("data", "reference data: a table's rows versioned, released and drift-checked");
  data->require_subcommand(1);
  c->data_track = data->add_subcommand("track", "version a table's rows as reference data (dba, admin)");
  c->data_track->add_option("table", c->table, "table, e.g. sales.status_codes")->required();
  c->data_track->add_option("--key", c->key, "key columns (a primary or unique key; default: the primary key)")
      ->delimiter(',');
  c->data_untrack = data->add_subcommand("untrack", "stop versioning a table's rows (dba, admin); versions stay");
  c->data_untrack->add_option("table", c->table, "table")->required();
  c->data_untrack->add_option("-r,--reason", c->reason, "why (recorded)");
  c->data_show = data->add_subcommand("show", "a data version's rows as CSV (TABLE or TABLE@N)");
  c->data_show->add_option("table", c->table, "table, or table@version")->required();
  c->data_diff = data->add_subcommand("diff", "rows added, removed and changed between two data versions");
  c->data_diff->add_option("table", c->table, "table")->required();
  c->data_diff->add_option("from", c->from_version, "version")->required();
  c->data_diff->add_option("to", c->to_version, "version (default: the latest)");
  c->data_list = data->add_subcommand("list", "tracked tables and their latest data versions");

  c->pipeline = app.add_subcommand("pipeline", "which release is where");
  c->deployments = app.add_subcommand("deployments", "an environment's deployments, newest first");
  c->deployments->add_option("--env", c->env, "environment")->required();
  c->deployments->add_option("--limit", c->limit, "at most this many");
}

std::optional<int> RunDeployCommand(const DeployCommands& c, Client& client, const Globals& g) {
  auto& stub = client.deploy();
  grpc::Status s;
  auto done = [&](const google::protobuf::Message& m, auto print) -> int {
    if (!s.ok()) return Report(s, g);
    if (g.json) {
      std::cout << ToJson(m) << "\n";
    } else {
      print();
    }
    return 0;
  };
  if (*c.env_list) {
    v1::ListEnvironmentsResponse resp;
    s = stub.ListEnvironments(client.Context().get(), {}, &resp);
    return done(resp, [&] {
      for (const auto& e : resp.environments()) PrintEnvironment(e, false);
      if (resp.environments().empty()) std::cout << "(no environments: strata env add NAME --url URL)\n";
    });
  }
  if (*c.env_add) {
    v1::AddEnvironmentRequest req;
    req.set_name(c.name);
    req.set_url(c.url);
    req.set_order(c.order);
    req.set_protected_(c.is_protected);
    for (const auto& d : c.deployers) req.add_deployers(d);
    req.set_description(c.description);
    Environment resp;
    s = stub.AddEnvironment(client.Context().get(), req, &resp);
    return done(resp, [&] { PrintEnvironment(resp, true); });
  }
  if (*c.env_show) {
    v1::GetEnvironmentRequest req;
    req.set_name(c.name);
    Environment resp;
    s = stub.GetEnvironment(client.Context().get(), req, &resp);
    return done(resp, [&] { PrintEnvironment(resp, true); });
  }
  if (*c.import) {
    v1::ImportRequest req;
    req.set_environment(c.env);
    req.set_message(c.message);
    v1::ImportResponse resp;
    s = stub.Import(client.Context(kDatabaseWorkTimeoutS).get(), req, &resp);
    return done(resp, [&] {
      std::cout << fmt::format("imported {}: {} objects ({} new in Strata as version 1, {} already known)\n", c.env,
                               resp.objects(), resp.created_size(), resp.matched_size());
      for (const auto& o : resp.created()) std::cout << "  + " << o << "\n";
      for (const auto& o : resp.matched()) std::cout << "  = " << o << "\n";
      for (const auto& o : resp.skipped()) std::cout << "  skipped " << o << "\n";
      for (const auto& o : resp.data_created()) std::cout << "  + " << o << " v1 (rows)\n";
      for (const auto& o : resp.data_matched()) std::cout << "  = " << o << " (rows)\n";
    });
  }
  if (*c.release_create) {
    v1::CreateReleaseRequest req;
    req.set_name(c.name);
    req.set_description(c.description);
    for (const auto& o : c.objects) req.add_objects(o);
    for (const auto& t : c.tasks) req.add_tasks(t);
    req.set_since(c.since);
    for (const auto& spec : c.data) {
      auto d = ReadDataScript(spec);
      if (!d) return 1;
      *req.add_data_scripts() = std::move(*d);
    }
    v1::Release resp;
    s = stub.CreateRelease(client.Context().get(), req, &resp);
    return done(resp, [&] { PrintRelease(resp, true); });
  }
  if (*c.release_show) {
    v1::GetReleaseRequest req;
    req.set_name(c.name);
    v1::Release resp;
    s = stub.GetRelease(client.Context().get(), req, &resp);
    return done(resp, [&] { PrintRelease(resp, true); });
  }
  if (*c.release_list) {
    v1::ListReleasesResponse resp;
    s = stub.ListReleases(client.Context().get(), {}, &resp);
    return done(resp, [&] {
      for (const auto& r : resp.releases()) PrintRelease(r, false);
      if (resp.releases().empty()) std::cout << "(no releases yet)\n";
    });
  }
  if (*c.plan) {
    v1::PlanRequest req;
    req.set_release(c.release);
    req.set_environment(c.env);
    v1::DeploymentPlan resp;
    s = stub.Plan(client.Context(kDatabaseWorkTimeoutS).get(), req, &resp);
    return done(resp, [&] {
      if (c.script_only) {
        std::cout << resp.script();
      } else if (c.rollback_script) {
        std::cout << resp.rollback_script();
      } else {
        PrintPlan(resp);
      }
    });
  }
  if (*c.approve) {
    v1::ApproveRequest req;
    req.set_release(c.release);
    req.set_environment(c.env);
    req.set_comment(c.message);
    v1::Release resp;
    s = stub.Approve(client.Context().get(), req, &resp);
    return done(resp, [&] { std::cout << fmt::format("approved {} for {}\n", c.release, c.env); });
  }
  if (*c.deploy) {
    v1::DeployRequest req;
    req.set_release(c.release);
    req.set_environment(c.env);
    req.set_override_drift_reason(c.override_drift);
    req.set_allow_data_loss(c.allow_data_loss);
    Deployment resp;
    s = stub.Deploy(client.Context(kDatabaseWorkTimeoutS).get(), req, &resp);
    return done(resp, [&] {
      std::cout << fmt::format("deployed release {} to {}: {} statements in {} ms (deployment {}, script sha256 {})\n",
                               c.release, c.env, resp.statements(), resp.duration_ms(), resp.id(),
                               resp.script_sha256());
    });
  }
  if (*c.rollback) {
    v1::RollbackRequest req;
    req.set_environment(c.env);
    req.set_override_drift_reason(c.override_drift);
    Deployment resp;
    s = stub.Rollback(client.Context(kDatabaseWorkTimeoutS).get(), req, &resp);
    return done(resp, [&] {
      std::cout << fmt::format("rolled back {} of {}: now at {} ({} statements in {} ms, deployment {})\n",
                               resp.rolls_back().substr(0, 8), c.env,
                               resp.release().empty() ? "no release (its state before the first deployment)"
                                                      : "release " + resp.release(),
                               resp.statements(), resp.duration_ms(), resp.id());
    });
  }
  if (*c.drift) {
    v1::CheckDriftRequest req;
    req.set_environment(c.env);
    v1::DriftReport resp;
    s = stub.CheckDrift(client.Context(kDatabaseWorkTimeoutS).get(), req, &resp);
    int code = done(resp, [&] {
      if (!resp.drifted()) {
        std::cout << fmt::format("{}: no drift ({} objects as Strata deployed them)\n", c.env, resp.objects_checked());
        return;
      }
      std::cout << fmt::format("{}: DRIFTED, {} differences from what Strata deployed there:\n", c.env,
                               resp.differences_size());
      for (const auto& d : resp.differences()) std::cout << "  " << d << "\n";
    });
    return code == 0 && resp.drifted() ? 5 : code;
  }
  if (*c.guard_install || *c.guard_uninstall || *c.guard_status) {
    v1::GuardRequest req;
    req.set_environment(c.env);
    if (c.stale_after) req.set_stale_after_seconds(*c.stale_after);
    v1::GuardReport resp;
    auto ctx = client.Context(kDatabaseWorkTimeoutS);
    s = *c.guard_install ? stub.GuardInstall(ctx.get(), req, &resp)
        : *c.guard_uninstall ? stub.GuardUninstall(ctx.get(), req, &resp)
                             : stub.GuardStatus(ctx.get(), req, &resp);
    bool unchecked_changes = false;
    const int code = done(resp, [&] { unchecked_changes = PrintGuardReport(resp, c.guard_status->parsed()); });
    return code == 0 && unchecked_changes ? 5 : code;
  }
  if (*c.abandon) {
    v1::AbandonRequest req;
    req.set_environment(c.env);
    req.set_reason(c.reason);
    Deployment resp;
    s = stub.Abandon(client.Context().get(), req, &resp);
    return done(resp, [&] {
      std::cout << fmt::format("abandoned deployment {} on {}; run `strata drift --env {}` to see what PostgreSQL kept\n",
                               resp.id(), c.env, c.env);
    });
  }
  if (*c.data_track || *c.data_untrack || *c.data_list) {
    auto print = [](const v1::DataTable& t) {
      std::cout << fmt::format("{}  {}  key ({})  {}\n", t.table(), t.tracked() ? "tracked" : "not tracked",
                               fmt::join(t.key(), ", "),
                               t.latest_version() ? fmt::format("data v{}, {} rows", t.latest_version(), t.row_count())
                                                  : std::string("no data version yet (strata import, or checkin --data)"));
    };
    if (*c.data_list) {
      v1::ListDataResponse resp;
      s = stub.ListData(client.Context().get(), {}, &resp);
      return done(resp, [&] {
        for (const auto& t : resp.tables()) print(t);
        if (resp.tables().empty()) std::cout << "(no tracked tables: strata data track TABLE)\n";
      });
    }
    v1::DataTable resp;
    if (*c.data_track) {
      v1::TrackDataRequest req;
      req.set_table(c.table);
      for (const auto& k : c.key) req.add_key(k);
      s = stub.TrackData(client.Context().get(), req, &resp);
    } else {
      v1::UntrackDataRequest req;
      req.set_table(c.table);
      req.set_reason(c.reason);
      s = stub.UntrackData(client.Context().get(), req, &resp);
    }
    return done(resp, [&] { print(resp); });
  }
  if (*c.data_show) {
    v1::GetDataRequest req;
    const size_t at = c.table.rfind('@');
    req.set_table(c.table.substr(0, at));
    if (at != std::string::npos) {
      try {
        req.set_version(std::stoull(c.table.substr(at + 1)));
      } catch (...) {
        std::cerr << "error: TABLE@N needs a version number after @\n";
        return 2;
      }
    }
    v1::DataVersion resp;
    s = stub.GetData(client.Context().get(), req, &resp);
    return done(resp, [&] {
      std::cerr << fmt::format("{} data v{}: {} rows, by {} ({}) {}{}\n", resp.table(), resp.version(),
                               resp.row_count(), resp.user(), resp.site(), When(resp.time()),
                               resp.message().empty() ? "" : ": " + resp.message());
      std::cout << resp.rows_csv();
    });
  }
  if (*c.data_diff) {
    v1::DiffDataRequest req;
    req.set_table(c.table);
    req.set_from_version(c.from_version);
    req.set_to_version(c.to_version);
    v1::DataDiff resp;
    s = stub.DiffData(client.Context().get(), req, &resp);
    return done(resp, [&] {
      std::cout << fmt::format("{} data v{} -> v{}: {} inserted, {} updated, {} deleted (key {})\n", resp.table(),
                               resp.from_version(), resp.to_version(), resp.inserted(), resp.updated(), resp.deleted(),
                               fmt::join(resp.key_columns(), ", "));
      for (const auto& ch : resp.changes()) {
        const char mark = ch.kind() == v1::DataRowChange::INSERTED ? '+' : ch.kind() == v1::DataRowChange::DELETED ? '-' : '~';
        std::cout << fmt::format("{} ({})", mark, fmt::join(ch.key(), ", "));
        if (ch.kind() == v1::DataRowChange::UPDATED) {
          std::cout << "\n";
          for (const auto& d : ch.detail()) std::cout << "    " << d << "\n";
        } else {
          for (const auto& d : ch.detail()) std::cout << "  " << d;
          std::cout << "\n";
        }
      }
    });
  }
  if (*c.pipeline) {
    v1::PipelineResponse resp;
    s = stub.Pipeline(client.Context().get(), {}, &resp);
    return done(resp, [&] { PrintPipeline(resp); });
  }
  if (*c.deployments) {
    v1::ListDeploymentsRequest req;
    req.set_environment(c.env);
    req.set_limit(c.limit);
    v1::ListDeploymentsResponse resp;
    s = stub.ListDeployments(client.Context().get(), req, &resp);
    return done(resp, [&] {
      for (const auto& d : resp.deployments()) PrintDeployment(d);
      if (resp.deployments().empty()) std::cout << "(no deployments yet)\n";
    });
  }
  return std::nullopt;
}

}  // namespace strata::cli
