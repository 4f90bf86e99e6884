// The pipeline board, a release, an environment.
#include <future>

#include "console/html.h"
#include "console/pages.h"
#include "fmt/format.h"

namespace strata::console {
namespace {

std::string CellText(const std::string& c) { return c.empty() ? "·" : c; }

std::string DeploymentText(const v1::Deployment& d) {
  if (d.id().empty()) return "none yet";
  return fmt::format("{} {} <span class=\"status-{}\">{}</span> by {} ({}) {} · {:.1f} s", Esc(d.release()),
                     d.kind() == v1::ROLLBACK ? "rollback" : "deploy", Esc(d.status()), Esc(d.status()),
                     Esc(d.user()), Esc(d.site()), TimeText(absl::FromUnixSeconds(d.started().seconds())),
                     d.duration_ms() / 1000.0);
}

// The guard's state in each environment, asked of the deploy service in
// parallel (each call reaches the environment's database).
std::vector<nlohmann::json> GuardStates(Backend& b, const PageRequest& r,
                                        const google::protobuf::RepeatedPtrField<v1::Environment>& envs) {
  std::vector<std::future<nlohmann::json>> calls;
  for (const auto& e : envs)
    calls.push_back(std::async(std::launch::async, [&b, &r, name = e.name()] {
      v1::GuardRequest req;
      req.set_environment(name);
      v1::GuardReport report;
      auto ctx = Backend::Context(r.credential, absl::Seconds(3));
      grpc::Status s = b.Track(Service::kDeploy, b.deploy().GuardStatus(ctx.get(), req, &report));
      nlohmann::json j = {{"environment", name}};
      if (!s.ok()) {
        j["error"] = s.error_message();
        return j;
      }
      j["installed"] = report.installed();
      j["in_sync"] = report.in_sync();
      j["drift"] = report.drift_size();
      j["fails_closed"] = report.fails_closed();
      return j;
    }));
  std::vector<nlohmann::json> out;
  for (auto& c : calls) out.push_back(c.get());
  return out;
}

std::string GuardText(const nlohmann::json& g) {
  if (g.contains("error")) return "<span class=\"warn\">unknown</span> <small>" + Esc(Str(g, "error")) + "</small>";
  if (!g.value("installed", false)) return "not installed";
  std::string t = g.value("in_sync", false) ? "installed, in sync" : "<span class=\"warn\">installed, behind</span>";
  if (g.value("drift", 0) > 0) t += fmt::format(", <span class=\"warn\">{} drifted</span>", g.value("drift", 0));
  if (g.value("fails_closed", false)) t += ", <span class=\"warn\">failing closed</span>";
  return t;
}

}  // namespace

Page PipelinePage(Backend& b, const PageRequest& r) {
  Page page = NewPage("Pipeline", "pipeline", "refresh");
  v1::PipelineResponse p;
  if (!Call(page, b, r, Service::kDeploy, b.deploy(), &v1::DeployService::Stub::Pipeline, v1::PipelineRequest(), &p))
    return page;
  v1::ListReleasesResponse releases;
  if (!Call(page, b, r, Service::kDeploy, b.deploy(), &v1::DeployService::Stub::ListReleases,
            v1::ListReleasesRequest(), &releases))
    return page;
  const std::vector<nlohmann::json> guards = GuardStates(b, r, p.environments());
  // Pending approvals: a protected environment that a release has not
  // reached and nobody approved it for.
  nlohmann::json pending = nlohmann::json::array();
  std::map<std::string, const v1::PipelineRow*> rows;
  for (const auto& row : p.releases()) rows[row.release()] = &row;
  for (const auto& rel : releases.releases()) {
    for (int i = 0; i < p.environments_size(); ++i) {
      const auto& env = p.environments(i);
      if (!env.protected_()) continue;
      bool approved = false;
      for (const auto& a : rel.approvals()) approved = approved || a.environment() == env.name();
      auto row = rows.find(rel.name());
      const bool reached = row != rows.end() && i < row->second->cells_size() && !row->second->cells(i).empty();
      if (!approved && !reached) pending.push_back({{"release", rel.name()}, {"environment", env.name()}});
    }
  }
  page.data = {{"pipeline", ProtoJson(p)}, {"guards", guards}, {"pending_approvals", pending}};

  std::string& h = page.body;
  h += "<h1>Pipeline</h1><table class=\"board\" id=\"board\"><thead><tr><th>Release</th>";
  for (const auto& e : p.environments())
    h += fmt::format("<th><a href=\"/environments/{}\">{}</a>{}</th>", Url(e.name()), Esc(e.name()),
                     e.protected_() ? " <small title=\"deploying needs a release-manager's approval\">(p)</small>" : "");
  h += "</tr></thead><tbody>";
  for (const auto& row : p.releases()) {
    h += fmt::format("<tr><th scope=\"row\"><a href=\"/releases/{}\">{}</a></th>", Url(row.release()), Esc(row.release()));
    for (const auto& c : row.cells()) h += fmt::format("<td class=\"cell-{}\">{}</td>", Esc(c.empty() ? "none" : c), Esc(CellText(c)));
    h += "</tr>";
  }
  if (p.releases().empty()) h += "<tr><td colspan=\"99\">No releases yet (strata release create NAME).</td></tr>";
  h += "</tbody></table>";
  h += "<h2>Environments</h2><table class=\"envs\"><thead><tr><th>Environment</th><th>Current release</th>"
       "<th>Last deployment</th><th>Guard</th><th>Drift</th></tr></thead><tbody>";
  for (int i = 0; i < p.environments_size(); ++i) {
    const auto& e = p.environments(i);
    h += fmt::format("<tr><td><a href=\"/environments/{0}\">{1}</a></td><td>{2}{3}</td><td>{4}</td><td>{5}</td>"
                     "<td><a href=\"/environments/{0}?drift=1\">check now</a>{6}</td></tr>",
                     Url(e.name()), Esc(e.name()), Esc(e.current_release().empty() ? "-" : e.current_release()),
                     e.running_deployment().empty() ? "" : " <span class=\"warn\">(deployment running)</span>",
                     DeploymentText(e.last_deployment()), GuardText(guards[i]),
                     guards[i].value("drift", 0) > 0 ? fmt::format(" <span class=\"warn\">guard saw {} drifted</span>",
                                                                   guards[i].value("drift", 0))
                                                     : "");
  }
  h += "</tbody></table><h2>Pending approvals</h2>";
  if (pending.empty()) h += "<p class=\"empty\">None.</p>";
  else {
    h += "<ul>";
    for (const auto& pa : pending)
      h += fmt::format("<li><a href=\"/releases/{}\">{}</a> for {}: <code>strata release approve {} --env {}</code></li>",
                       Url(Str(pa, "release")), Esc(Str(pa, "release")), Esc(Str(pa, "environment")),
                       Esc(Str(pa, "release")), Esc(Str(pa, "environment")));
    h += "</ul>";
  }
  return page;
}

Page ReleasePage(Backend& b, const PageRequest& r) {
  Page page = NewPage("Release " + r.arg, "pipeline", "");
  v1::GetReleaseRequest req;
  req.set_name(r.arg);
  v1::Release rel;
  if (!Call(page, b, r, Service::kDeploy, b.deploy(), &v1::DeployService::Stub::GetRelease, req, &rel)) return page;
  page.data["release"] = ProtoJson(rel);
  std::string& h = page.body;
  h += fmt::format("<h1>Release {}</h1><p class=\"lead\">{}</p><p>Created by {} ({}) {}{}</p>", Esc(rel.name()),
                   Esc(rel.description()), Esc(rel.user()), Esc(rel.site()),
                   TimeText(absl::FromUnixSeconds(rel.time().seconds())),
                   rel.base().empty() ? "" : ", since " + Esc(rel.base()));
  h += fmt::format("<h2>Changed objects ({})</h2><ul class=\"objects\">", rel.changed_size());
  for (const auto& c : rel.changed()) h += "<li>" + ObjectLink(c) + "</li>";
  h += "</ul>";
  h += fmt::format("<details><summary>All {} objects of the release</summary><table><tbody>", rel.entries_size());
  for (const auto& e : rel.entries())
    h += fmt::format("<tr><td>{}</td><td>v{}</td></tr>", ObjectLink(e.object()), e.version());
  h += "</tbody></table></details><h2>Data scripts</h2>";
  if (rel.data_scripts().empty()) h += "<p class=\"empty\">None.</p>";
  for (const auto& d : rel.data_scripts())
    h += fmt::format("<h3>{}</h3><pre><code>{}</code></pre>{}", Esc(d.name()), Esc(d.sql()),
                     d.rollback_sql().empty() ? "" : "<p>Undo:</p><pre><code>" + Esc(d.rollback_sql()) + "</code></pre>");
  h += "<h2>Approvals</h2>";
  if (rel.approvals().empty()) h += "<p class=\"empty\">None yet.</p>";
  else {
    h += "<ul>";
    for (const auto& a : rel.approvals())
      h += fmt::format("<li>{} by {} {}: {}</li>", Esc(a.environment()), Esc(a.user()),
                       TimeText(absl::FromUnixSeconds(a.time().seconds())), Esc(a.comment()));
    h += "</ul>";
  }
  // The generated script for one environment, on request (?plan=ENV): the
  // deploy service plans it on a shadow database.
  if (const std::string env = r.Param("plan"); !env.empty()) {
    v1::PlanRequest preq;
    preq.set_release(rel.name());
    preq.set_environment(env);
    v1::DeploymentPlan plan;
    if (!Call(page, b, r, Service::kDeploy, b.deploy(), &v1::DeployService::Stub::Plan, preq, &plan)) return page;
    page.data["plan"] = ProtoJson(plan);
    h += fmt::format("<h2>Script for {}</h2><pre>{}</pre><pre><code>{}</code></pre><h3>Rollback</h3><pre><code>{}</code></pre>",
                     Esc(env), Esc(plan.summary()), Esc(plan.script()), Esc(plan.rollback_script()));
  } else {
    h += "<h2>Scripts</h2><form method=\"get\" class=\"filters\"><label>Plan the deployment to "
         "<input name=\"plan\" required placeholder=\"environment\"></label><button type=\"submit\">Show script</button></form>";
  }
  return page;
}

Page EnvironmentPage(Backend& b, const PageRequest& r) {
  Page page = NewPage("Environment " + r.arg, "pipeline", "");
  v1::GetEnvironmentRequest req;
  req.set_name(r.arg);
  req.set_object(" ");  // no object has this id: the state's size is all the page shows
  v1::Environment env;
  if (!Call(page, b, r, Service::kDeploy, b.deploy(), &v1::DeployService::Stub::GetEnvironment, req, &env)) return page;
  v1::ListDeploymentsRequest lreq;
  lreq.set_environment(env.name());
  lreq.set_limit(20);
  v1::ListDeploymentsResponse deployments;
  if (!Call(page, b, r, Service::kDeploy, b.deploy(), &v1::DeployService::Stub::ListDeployments, lreq, &deployments))
    return page;
  google::protobuf::RepeatedPtrField<v1::Environment> one;
  *one.Add() = env;
  const nlohmann::json guard = GuardStates(b, r, one)[0];
  page.data = {{"environment", ProtoJson(env)}, {"deployments", ProtoJson(deployments).value("deployments", nlohmann::json::array())},
               {"guard", guard}};
  std::string& h = page.body;
  h += fmt::format("<h1>Environment {}</h1><dl class=\"facts\"><dt>Database</dt><dd>{}</dd><dt>Protected</dt><dd>{}</dd>"
                   "<dt>Current release</dt><dd>{}</dd><dt>Objects deployed</dt><dd>{}</dd><dt>Guard</dt><dd>{}</dd></dl>",
                   Esc(env.name()), Esc(env.url()), env.protected_() ? "yes" : "no",
                   Esc(env.current_release().empty() ? "-" : env.current_release()), env.object_count(), GuardText(guard));
  if (r.Param("drift") == "1") {
    v1::CheckDriftRequest dreq;
    dreq.set_environment(env.name());
    v1::DriftReport drift;
    if (!Call(page, b, r, Service::kDeploy, b.deploy(), &v1::DeployService::Stub::CheckDrift, dreq, &drift)) return page;
    page.data["drift"] = ProtoJson(drift);
    h += fmt::format("<h2>Drift</h2><p id=\"drift\">{} ({} objects checked)</p>",
                     drift.drifted() ? "<span class=\"warn\">drifted</span>" : "no drift", drift.objects_checked());
    if (!drift.differences().empty()) {
      h += "<ul>";
      for (const auto& d : drift.differences()) h += "<li>" + Esc(d) + "</li>";
      h += "</ul>";
    }
  } else {
    h += fmt::format("<p><a href=\"/environments/{}?drift=1\">Check drift now</a> (compares the database with what "
                     "Strata deployed there)</p>", Url(env.name()));
  }
  h += "<h2>Deployments</h2><table><thead><tr><th>Release</th><th>Kind</th><th>Status</th><th>By</th><th>Started</th>"
       "<th>Duration</th><th>Error</th></tr></thead><tbody>";
  for (const auto& d : deployments.deployments())
    h += fmt::format("<tr><td>{}</td><td>{}</td><td class=\"status-{}\">{}</td><td>{} ({})</td><td>{}</td><td>{:.1f} s</td><td>{}</td></tr>",
                     Esc(d.release()), d.kind() == v1::ROLLBACK ? "rollback" : "deploy", Esc(d.status()),
                     Esc(d.status()), Esc(d.user()), Esc(d.site()), TimeText(absl::FromUnixSeconds(d.started().seconds())),
                     d.duration_ms() / 1000.0, Esc(d.error()));
  if (deployments.deployments().empty()) h += "<tr><td colspan=\"7\">None yet.</td></tr>";
  h += "</tbody></table>";
  return page;
}

}  // namespace strata::console
