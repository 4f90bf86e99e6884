// An object's page: head, holder, versions, a diff of any two, its impact
// tree both ways, and its deployed version per environment.
#include <sstream>

#include "console/html.h"
#include "console/pages.h"
#include "fmt/format.h"

namespace strata::console {
namespace {

// The unified diff as a table: side by side (removed | added) or unified.
std::string DiffTable(const std::string& unified, bool split) {
  std::vector<std::string> lines;
  std::istringstream in(unified);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  std::string h = fmt::format("<table class=\"diff {}\"><tbody>\n", split ? "split" : "unified");
  auto cell = [](const char* cls, const std::string& text) {
    return fmt::format("<td class=\"{}\"><code>{}</code></td>", cls, Esc(text));
  };
  std::vector<std::string> removed, added;
  auto flush = [&] {
    const size_t n = std::max(removed.size(), added.size());
    for (size_t i = 0; i < n; ++i)
      h += "<tr>" + (i < removed.size() ? cell("del", removed[i]) : cell("none", "")) +
           (i < added.size() ? cell("add", added[i]) : cell("none", "")) + "</tr>\n";
    removed.clear();
    added.clear();
  };
  for (const std::string& line : lines) {
    if (line.rfind("---", 0) == 0 || line.rfind("+++", 0) == 0) continue;  // the header names the versions
    const char mark = line.empty() ? ' ' : line[0];
    const std::string text = line.empty() ? "" : line.substr(1);
    if (!split) {
      const char* cls = mark == '-' ? "del" : mark == '+' ? "add" : mark == '@' ? "hunk" : "ctx";
      h += fmt::format("<tr><td class=\"{}\"><code>{}</code></td></tr>\n", cls, Esc(line));
      continue;
    }
    if (mark == '-') removed.push_back(text);
    else if (mark == '+') added.push_back(text);
    else {
      flush();
      if (mark == '@') h += "<tr>" + cell("hunk", line) + cell("hunk", line) + "</tr>\n";
      else h += "<tr>" + cell("ctx", text) + cell("ctx", text) + "</tr>\n";
    }
  }
  flush();
  return h + "</tbody></table>\n";
}

std::string TreeTable(const nlohmann::json& nodes, size_t limit) {
  if (nodes.empty()) return "<p class=\"empty\">None.</p>";
  std::string h = "<table><thead><tr><th>Object</th><th>Depth</th><th>Through</th><th>How</th></tr></thead><tbody>";
  size_t shown = 0;
  for (const auto& n : nodes) {
    if (shown++ == limit) break;
    std::string via;
    for (const auto& v : n.value("via", nlohmann::json::array())) via += (via.empty() ? "" : ", ") + v.get<std::string>();
    h += fmt::format("<tr><td>{}{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td></tr>",
                     n.value("unknown", false) ? Esc(Str(n, "object")) : ObjectLink(Str(n, "object")),
                     n.value("unknown", false) ? " <small>(not in Strata)</small>" : "", Num(n, "depth"),
                     Esc(Str(n, "parent")), Esc(via));
  }
  h += "</tbody></table>";
  if (nodes.size() > limit) h += fmt::format("<p>… and {} more (the JSON has them all).</p>", nodes.size() - limit);
  return h;
}

}  // namespace

Page ObjectPage(Backend& b, const PageRequest& r) {
  Page page = NewPage(r.arg, "", "");
  v1::GetObjectRequest oreq;
  oreq.set_object(r.arg);
  v1::ObjectHead head;
  if (!Call(page, b, r, Service::kLock, b.lock(), &v1::LockService::Stub::GetObject, oreq, &head)) return page;
  const std::string& id = head.object();
  page.title = id;
  v1::ListVersionsRequest vreq;
  vreq.set_object(id);
  v1::ListVersionsResponse versions;
  if (!Call(page, b, r, Service::kHistory, b.history(), &v1::HistoryService::Stub::ListVersions, vreq, &versions))
    return page;
  v1::DependencyRequest dreq;
  dreq.set_object(id);
  v1::DependencyTree dependents, dependencies;
  if (!Call(page, b, r, Service::kImpact, b.impact(), &v1::ImpactService::Stub::GetDependents, dreq, &dependents))
    return page;
  if (!Call(page, b, r, Service::kImpact, b.impact(), &v1::ImpactService::Stub::GetDependencies, dreq, &dependencies))
    return page;
  v1::ListEnvironmentsResponse envs;
  if (!Call(page, b, r, Service::kDeploy, b.deploy(), &v1::DeployService::Stub::ListEnvironments,
            v1::ListEnvironmentsRequest(), &envs))
    return page;
  nlohmann::json deployed = nlohmann::json::array();
  for (const auto& e : envs.environments()) {
    v1::GetEnvironmentRequest ereq;
    ereq.set_name(e.name());
    ereq.set_object(id);
    v1::Environment env;
    if (!Call(page, b, r, Service::kDeploy, b.deploy(), &v1::DeployService::Stub::GetEnvironment, ereq, &env)) {
      // An environment outside the caller's scope is left out, not an error.
      if (page.error->status.error_code() != grpc::StatusCode::PERMISSION_DENIED) return page;
      page.error.reset();
      continue;
    }
    const uint64_t version = env.state().empty() ? 0 : env.state(0).version();
    deployed.push_back({{"environment", e.name()}, {"version", version}, {"release", env.current_release()}});
  }

  // The diff: ?from=&to= (default: the last two versions).
  const uint64_t latest = head.latest_version();
  uint64_t to = latest, from = latest > 1 ? latest - 1 : 0;
  if (auto p = r.Param("to"); !p.empty()) to = std::strtoull(p.c_str(), nullptr, 10);
  if (auto p = r.Param("from"); !p.empty()) from = std::strtoull(p.c_str(), nullptr, 10);
  const bool split = r.Param("view", "split") == "split";
  v1::DiffVersionsResponse diff;
  if (from > 0 && to > 0 && from != to) {
    v1::DiffVersionsRequest req;
    req.set_object(id);
    req.set_from_version(from);
    req.set_to_version(to);
    if (!Call(page, b, r, Service::kHistory, b.history(), &v1::HistoryService::Stub::DiffVersions, req, &diff))
      return page;
  }

  nlohmann::json& d = page.data;
  d["head"] = ProtoJson(head);
  d["versions"] = ProtoJson(versions).value("versions", nlohmann::json::array());
  d["dependents"] = ProtoJson(dependents).value("nodes", nlohmann::json::array());
  d["dependencies"] = ProtoJson(dependencies).value("nodes", nlohmann::json::array());
  d["deployed"] = deployed;
  if (!diff.object().empty()) d["diff"] = ProtoJson(diff);

  std::string& h = page.body;
  h += fmt::format("<h1><span class=\"kind\">{}</span> {}</h1>", Esc(head.kind()), Esc(id));
  h += "<dl class=\"facts\">";
  h += fmt::format("<dt>Latest version</dt><dd id=\"latest\">{}</dd>", latest ? fmt::format("v{}{}", latest, head.dropped() ? " (dropped)" : "")
                                                                          : "none yet (reserved)");
  if (!head.policy_findings().empty() || !head.waivers().empty()) {
    std::string items;
    for (const auto& f : head.policy_findings()) items += "<li>" + Esc(f) + "</li>";
    for (const auto& w : head.waivers())
      items += fmt::format("<li>waived: {} by {}: {}</li>", Esc(w.rule()), Esc(w.user()), Esc(w.reason()));
    h += fmt::format("<dt>Policy</dt><dd id=\"policy\"><ul>{}</ul></dd>", items);
  }
  h += fmt::format("<dt>Holder</dt><dd id=\"holder\">{}</dd>",
                   head.has_lock() ? fmt::format("{} ({}) since {} — {}", Esc(head.lock().user()), Esc(head.lock().site()),
                                                 TimeText(absl::FromUnixSeconds(head.lock().since().seconds())),
                                                 Esc(head.lock().reason()))
                                   : "nobody");
  h += "</dl>";
  h += "<section><h2>Versions</h2><table class=\"versions\"><thead><tr><th>Version</th><th>Who</th><th>Site</th>"
       "<th>When</th><th>Message</th><th>Compare</th></tr></thead><tbody>";
  for (auto it = versions.versions().rbegin(); it != versions.versions().rend(); ++it) {
    const auto& v = *it;
    h += fmt::format("<tr><td>v{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", v.version(),
                     v.dropped() ? " dropped" : "", Esc(v.user()), Esc(v.site()), TimeText(absl::FromUnixSeconds(v.time().seconds())), Esc(v.message()),
                     v.version() > 1 ? fmt::format("<a href=\"/objects/{}?from={}&amp;to={}\">with v{}</a>", Url(id),
                                                   v.version() - 1, v.version(), v.version() - 1)
                                     : "");
  }
  h += "</tbody></table></section>";
  if (versions.versions_size() >= 2) {
    h += fmt::format("<section id=\"diff\"><h2>Diff v{} → v{}</h2>", from, to);
    h += fmt::format("<form method=\"get\" action=\"/objects/{}\" class=\"filters\">", Url(id));
    for (const auto& [key, value] : {std::pair{"from", from}, {"to", to}}) {
      h += fmt::format("<label>{} <select name=\"{}\">", key, key);
      for (const auto& v : versions.versions())
        h += fmt::format("<option value=\"{}\"{}>v{}</option>", v.version(), v.version() == value ? " selected" : "", v.version());
      h += "</select></label>";
    }
    h += fmt::format("<label>View <select name=\"view\"><option value=\"split\"{}>side by side</option>"
                     "<option value=\"unified\"{}>unified</option></select></label><button type=\"submit\">Compare</button></form>",
                     split ? " selected" : "", split ? "" : " selected");
    if (from == to || from == 0 || to == 0) h += "<p class=\"empty\">Pick two different versions.</p>";
    else if (diff.unified_diff().empty()) h += "<p class=\"empty\">The two versions are the same.</p>";
    else {
      h += fmt::format("<p><span class=\"add\">+{}</span> <span class=\"del\">−{}</span> lines</p>", diff.lines_added(),
                       diff.lines_removed());
      h += DiffTable(diff.unified_diff(), split);
    }
    h += "</section>";
  }
  if (latest && !head.dropped()) h += fmt::format("<details><summary>Definition (v{})</summary><pre><code>{}</code></pre></details>", latest,
                               Esc(head.definition()));
  h += "<section><h2>Deployed</h2><table><thead><tr><th>Environment</th><th>Version</th><th>Release</th></tr></thead><tbody>";
  for (const auto& e : deployed)
    h += fmt::format("<tr><td><a href=\"/environments/{}\">{}</a></td><td>{}</td><td>{}</td></tr>",
                     Url(Str(e, "environment")), Esc(Str(e, "environment")),
                     Num(e, "version") ? fmt::format("v{}", Num(e, "version")) : "not deployed", Esc(Str(e, "release", "-")));
  if (deployed.empty()) h += "<tr><td colspan=\"3\">No environments.</td></tr>";
  h += "</tbody></table></section>";
  h += fmt::format("<section><h2>Dependents <small>({}: what breaks if it changes)</small></h2>{}</section>",
                   d["dependents"].size(), TreeTable(d["dependents"], 200));
  h += fmt::format("<section><h2>Dependencies <small>({}: what it uses)</small></h2>{}</section>",
                   d["dependencies"].size(), TreeTable(d["dependencies"], 200));
  return page;
}

}  // namespace strata::console
