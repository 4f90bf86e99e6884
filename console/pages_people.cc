// The pages about people at work: the summary, who holds what, activity.
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <map>

#include "absl/strings/str_join.h"
#include "console/html.h"
#include "console/pages.h"
#include "fmt/format.h"
#include "model/object_id.h"

namespace strata::console {

nlohmann::json ProtoJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
}

namespace {

std::string KindOf(const std::string& object) {
  auto id = model::ParseObjectId(object);
  return id.ok() ? id->kind : "";
}
std::string SchemaOf(const std::string& object) {
  auto id = model::ParseObjectId(object);
  return id.ok() ? id->schema : "";
}

// The locks as the page keeps them: the service's, with kind, age and
// whether they are held too long.
nlohmann::json LockModel(const v1::Lock& l, absl::Duration long_held, absl::Time now) {
  // Built by hand: protobuf's JSON printer and a parse cost ten times more,
  // and this runs for every check-out of the repository.
  nlohmann::json j = {{"object", l.object()}, {"user", l.user()}, {"site", l.site()},
                      {"since", absl::FormatTime(absl::RFC3339_full,
                                                 absl::FromUnixSeconds(l.since().seconds()) +
                                                     absl::Nanoseconds(l.since().nanos()),
                                                 absl::UTCTimeZone())}};
  if (!l.reason().empty()) j["reason"] = l.reason();
  const absl::Duration age = now - absl::FromUnixSeconds(l.since().seconds());
  j["kind"] = KindOf(l.object());
  j["schema"] = SchemaOf(l.object());
  j["age_seconds"] = absl::ToInt64Seconds(age);
  j["long_held"] = age >= long_held;
  return j;
}

std::string LockRow(const nlohmann::json& l, const PageRequest& r, bool can_release) {
  std::string row = fmt::format(
      "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}{}</td><td>{}</td>", l["long_held"] ? " class=\"long\"" : "",
      ObjectLink(Str(l, "object")), Esc(Str(l, "user")), Esc(Str(l, "site")), TimeText(Str(l, "since")),
      AgeText(absl::Seconds(Num(l, "age_seconds"))), l["long_held"] ? " <span class=\"badge\">long</span>" : "",
      Esc(Str(l, "reason")));
  if (can_release)
    row += fmt::format(
        "<td><form method=\"post\" action=\"/locks/force-release\" class=\"release\">"
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\"><input type=\"hidden\" name=\"object\" value=\"{}\">"
        "<label class=\"sr\" for=\"reason-{}\">Reason</label>"
        "<input id=\"reason-{}\" name=\"reason\" required placeholder=\"reason (required)\">"
        "<button type=\"submit\">Force release</button></form></td>",
        Esc(r.csrf), Esc(Str(l, "object")), Esc(Url(Str(l, "object"))), Esc(Url(Str(l, "object"))));
  return row + "</tr>\n";
}

std::string LockTable(const nlohmann::json& locks, const PageRequest& r, bool can_release) {
  if (locks.empty()) return "<p class=\"empty\">Nobody holds anything here.</p>";
  std::string t = fmt::format(
      "<table class=\"locks\"><thead><tr><th>Object</th><th>Holder</th><th>Site</th><th>Since</th><th>Age</th>"
      "<th>Reason</th>{}</tr></thead><tbody>\n",
      can_release ? "<th>Action</th>" : "");
  for (const auto& l : locks) t += LockRow(l, r, can_release);
  return t + "</tbody></table>\n";
}

}  // namespace

std::string AuditRow(const nlohmann::json& a) {
  const std::string object = Str(a, "object");
  const bool is_object = object.find(':') != std::string::npos && object.rfind("env:", 0) != 0 &&
                         object.rfind("release:", 0) != 0 && object.rfind("baseline:", 0) != 0 &&
                         object.rfind("user:", 0) != 0;
  return fmt::format(
      "<tr class=\"outcome-{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
      Esc(Str(a, "outcome")), TimeText(Str(a, "time")), Esc(Str(a, "user")), Esc(Str(a, "site")),
      Esc(Str(a, "action")), is_object ? ObjectLink(object) : Esc(object), Esc(Str(a, "outcome")),
      Esc(Str(a, "detail")));
}

nlohmann::json LiveItem(const v1::AuditRecord& record) {
  nlohmann::json j = ProtoJson(record);
  j["row"] = AuditRow(j);
  return j;
}

Page LocksPage(Backend& b, const PageRequest& r) {
  Page page = NewPage("Who holds what", "locks", "refresh");
  v1::ListLocksRequest req;
  req.set_user(r.Param("user"));
  req.set_schema(r.Param("schema"));
  req.set_site(r.Param("site"));
  v1::ListLocksResponse resp;
  if (!Call(page, b, r, Service::kLock, b.lock(), &v1::LockService::Stub::ListLocks, req, &resp)) return page;
  const std::string kind = r.Param("kind");
  const std::string group = r.Param("group", "user");
  absl::Duration long_held = r.options.long_held;
  if (const std::string h = r.Param("long_hours"); !h.empty()) {
    char* end = nullptr;
    const double hours = std::strtod(h.c_str(), &end);
    if (end && *end == '\0' && hours > 0) long_held = absl::Hours(hours);
  }
  const absl::Time now = absl::Now();
  // Sorted, counted and cut to one page as protos; only the page's rows
  // become JSON (10,000 check-outs must not cost 10,000 JSON objects).
  std::vector<const v1::Lock*> all;
  all.reserve(resp.locks_size());
  for (const v1::Lock& l : resp.locks())
    if (kind.empty() || KindOf(l.object()) == kind) all.push_back(&l);
  std::sort(all.begin(), all.end(), [](const v1::Lock* a, const v1::Lock* b) {
    return std::pair(a->since().seconds(), a->since().nanos()) < std::pair(b->since().seconds(), b->since().nanos());
  });
  const bool can_release = r.who.HasAnyRole({"dba", "admin"});
  const size_t total = all.size();
  const size_t limit = std::clamp<long>(std::atol(r.Param("limit", "200").c_str()), 1, 5000);
  const size_t offset = std::min<size_t>(std::max<long>(0, std::atol(r.Param("offset", "0").c_str())), total);
  std::map<std::string, int> group_counts;
  int long_count = 0;
  const int64_t long_before = absl::ToUnixSeconds(now - long_held);
  for (const v1::Lock* l : all) {
    ++group_counts[group == "site" ? l->site() : l->user() + " (" + l->site() + ")"];
    long_count += l->since().seconds() <= long_before ? 1 : 0;
  }
  nlohmann::json locks = nlohmann::json::array();
  for (size_t i = offset; i < std::min(total, offset + limit); ++i) locks.push_back(LockModel(*all[i], long_held, now));
  page.data = {{"locks", locks},
               {"total", total},
               {"offset", offset},
               {"limit", limit},
               {"long_held_seconds", absl::ToInt64Seconds(long_held)},
               {"can_force_release", can_release},
               {"filters", {{"user", req.user()}, {"schema", req.schema()}, {"site", req.site()}, {"kind", kind}}},
               {"group", group}};

  std::string& h = page.body;
  h += fmt::format("<h1>Who holds what</h1><p class=\"lead\"><span id=\"lock-count\">{}</span> check-outs{}</p>",
                   total, long_count ? fmt::format(", <strong>{} held longer than {}</strong>", long_count,
                                                          AgeText(long_held))
                                            : "");
  h += "<form method=\"get\" action=\"/locks\" class=\"filters\">";
  for (const auto& [key, label] : {std::pair{"schema", "Schema"}, {"user", "User"}, {"site", "Site"}, {"kind", "Kind"}})
    h += fmt::format("<label>{} <input name=\"{}\" value=\"{}\"></label>", label, key, Esc(r.Param(key)));
  h += fmt::format("<label>Long after (hours) <input name=\"long_hours\" value=\"{}\" size=\"4\"></label>",
                   absl::ToDoubleHours(long_held));
  h += "<label>Group by <select name=\"group\">";
  for (const char* g : {"user", "site", "none"})
    h += fmt::format("<option{}>{}</option>", group == g ? " selected" : "", g);
  h += "</select></label><button type=\"submit\">Filter</button></form>\n";
  if (const std::string done = r.Param("released"); !done.empty())
    h += fmt::format("<p class=\"notice\" role=\"status\">Released {}.</p>", Esc(done));
  // Where the rows of other pages are: the same filters, another offset.
  std::string pager;
  if (total > limit) {
    std::string query;
    for (const auto& [k, v] : r.params)
      if (k != "offset" && k != "released") query += fmt::format("{}={}&amp;", Url(k), Url(v));
    pager = fmt::format("<p class=\"pager\">Rows {}–{} of {}, the longest held first. ", offset + 1,
                        offset + locks.size(), total);
    if (offset > 0)
      pager += fmt::format("<a rel=\"prev\" href=\"/locks?{}offset={}\">← previous {}</a> ", query,
                           offset > limit ? offset - limit : 0, limit);
    if (offset + limit < total)
      pager += fmt::format("<a rel=\"next\" href=\"/locks?{}offset={}\">next {} →</a>", query, offset + limit, limit);
    pager += "</p>";
  }
  if (group != "none" && group_counts.size() > 1) {
    h += fmt::format("<details class=\"groups\"{}><summary>{} {}s</summary><ul class=\"columns\">",
                     group_counts.size() <= 12 ? " open" : "", group_counts.size(), group);
    for (const auto& [key, n] : group_counts) h += fmt::format("<li>{} <small>{}</small></li>", Esc(key), n);
    h += "</ul></details>";
  }
  h += pager;
  if (group == "none") {
    h += LockTable(locks, r, can_release) + pager;
    return page;
  }
  std::map<std::string, nlohmann::json> groups;
  for (const auto& l : locks) {
    const std::string key = group == "site" ? Str(l, "site") : Str(l, "user") + " (" + Str(l, "site") + ")";
    groups[key].push_back(l);
  }
  for (const auto& [key, members] : groups)
    h += fmt::format("<section class=\"group\"><h2>{} <small>{} held</small></h2>{}</section>\n", Esc(key),
                     group_counts[key], LockTable(members, r, can_release));
  if (groups.empty()) h += LockTable(nlohmann::json::array(), r, false);
  h += pager;
  return page;
}

Page ActivityPage(Backend& b, const PageRequest& r) {
  Page page = NewPage("Activity", "activity", "prepend");
  v1::QueryAuditRequest req;
  req.set_newest_first(true);
  req.set_page_size(100);
  req.set_user(r.Param("user"));
  req.set_action(r.Param("action"));
  v1::QueryAuditResponse resp;
  if (!Call(page, b, r, Service::kHistory, b.history(), &v1::HistoryService::Stub::QueryAudit, req, &resp))
    return page;
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& e : resp.entries()) entries.push_back(ProtoJson(e.record()));
  page.data = {{"entries", entries}};
  page.body = "<h1>Activity</h1><p class=\"lead\">Check-outs, check-ins, refusals and deployments as they happen "
              "(newest first; new ones appear here live).</p>"
              "<table class=\"audit\" id=\"activity\"><thead><tr><th>Time</th><th>User</th><th>Site</th>"
              "<th>Action</th><th>Object</th><th>Outcome</th><th>Detail</th></tr></thead><tbody id=\"feed\">\n";
  for (const auto& e : entries) page.body += AuditRow(e);
  page.body += "</tbody></table>";
  return page;
}

Page SummaryPage(Backend& b, const PageRequest& r) {
  Page page = NewPage("Summary", "summary", "refresh");
  v1::ListLocksResponse locks;
  if (!Call(page, b, r, Service::kLock, b.lock(), &v1::LockService::Stub::ListLocks, v1::ListLocksRequest(), &locks))
    return page;
  v1::StatusRequest sreq;
  sreq.set_recent(10);
  sreq.set_days(14);
  sreq.set_without_holders(true);  // the lock service's list above has them
  v1::StatusResponse status;
  if (!Call(page, b, r, Service::kHistory, b.history(), &v1::HistoryService::Stub::Status, sreq, &status))
    return page;
  v1::PipelineResponse pipeline;
  if (!Call(page, b, r, Service::kDeploy, b.deploy(), &v1::DeployService::Stub::Pipeline, v1::PipelineRequest(),
            &pipeline))
    return page;

  const absl::Time now = absl::Now();
  std::map<std::string, int> per_site;
  std::map<std::pair<std::string, std::string>, int> per_user;
  std::vector<const v1::Lock*> oldest;
  for (const v1::Lock& l : locks.locks()) {
    ++per_site[l.site()];
    ++per_user[{l.user(), l.site()}];
    oldest.push_back(&l);
  }
  const size_t shown = std::min<size_t>(oldest.size(), 10);
  std::partial_sort(oldest.begin(), oldest.begin() + shown, oldest.end(),
                    [](const v1::Lock* a, const v1::Lock* b) { return a->since().seconds() < b->since().seconds(); });
  oldest.resize(shown);
  nlohmann::json& d = page.data;
  d["check_outs"] = locks.locks_size();
  d["per_site"] = nlohmann::json::array();
  for (const auto& [site, n] : per_site) d["per_site"].push_back({{"site", site}, {"check_outs", n}});
  d["per_user"] = nlohmann::json::array();
  for (const auto& [key, n] : per_user)
    d["per_user"].push_back({{"user", key.first}, {"site", key.second}, {"check_outs", n}});
  d["oldest"] = nlohmann::json::array();
  for (const v1::Lock* l : oldest) d["oldest"].push_back(LockModel(*l, r.options.long_held, now));
  d["check_ins_per_day"] = ProtoJson(status)["check_ins_per_day"];
  if (d["check_ins_per_day"].is_null()) d["check_ins_per_day"] = nlohmann::json::array();
  d["check_ins_partial"] = status.check_ins_partial();
  d["recent_check_ins"] = nlohmann::json::array();
  for (const auto& v : status.recent_check_ins()) d["recent_check_ins"].push_back(ProtoJson(v));
  // In flight: deployed somewhere, not yet in the last environment.
  d["releases_in_flight"] = nlohmann::json::array();
  for (const auto& row : pipeline.releases()) {
    bool somewhere = false;
    for (const auto& c : row.cells()) somewhere = somewhere || c == "current" || c == "deployed";
    const bool at_end = !row.cells().empty() && (*row.cells().rbegin() == "current" || *row.cells().rbegin() == "deployed");
    if (somewhere && !at_end) d["releases_in_flight"].push_back(ProtoJson(row));
  }

  std::string& h = page.body;
  h += fmt::format("<h1>Summary</h1><p class=\"lead\"><span id=\"checkout-total\">{}</span> objects checked out "
                   "by {} people at {} sites.</p><div class=\"cards\">",
                   locks.locks_size(), per_user.size(), per_site.size());
  h += "<section class=\"card\"><h2>Check-outs per site</h2><table><tbody>";
  for (const auto& [site, n] : per_site)
    h += fmt::format("<tr><td><a href=\"/locks?site={}&amp;group=user\">{}</a></td><td class=\"n\">{}</td></tr>",
                     Url(site), Esc(site), n);
  h += "</tbody></table></section><section class=\"card\"><h2>Check-outs per user</h2><table><tbody>";
  for (const auto& [key, n] : per_user)
    h += fmt::format("<tr><td><a href=\"/locks?user={}\">{}</a> <small>{}</small></td><td class=\"n\">{}</td></tr>",
                     Url(key.first), Esc(key.first), Esc(key.second), n);
  h += "</tbody></table></section>";
  // Check-ins per day: a bar chart in SVG, drawn here (no script needed).
  uint64_t peak = 1;
  for (const auto& c : status.check_ins_per_day()) peak = std::max<uint64_t>(peak, c.check_ins());
  const int bars = status.check_ins_per_day_size(), w = 24, height = 100;
  h += fmt::format("<section class=\"card wide\"><h2>Check-ins per day{}</h2><svg class=\"chart\" role=\"img\" "
                   "aria-label=\"check-ins per day\" viewBox=\"0 0 {} {}\">",
                   status.check_ins_partial() ? " (at least)" : "", bars * w, height + 30);
  for (int i = 0; i < bars; ++i) {
    const auto& c = status.check_ins_per_day(i);
    const int bar = static_cast<int>(c.check_ins() * height / peak);
    h += fmt::format("<g><title>{}: {}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"></rect>"
                     "<text x=\"{}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" class=\"day\">{}</text></g>",
                     c.day(), c.check_ins(), i * w + 3, height - bar + 12, w - 6, bar, i * w + w / 2, height - bar + 10,
                     c.check_ins(), i * w + w / 2, height + 26, c.day().substr(8));
  }
  h += "</svg></section>";
  h += "<section class=\"card wide\"><h2>Held the longest</h2>";
  h += LockTable(d["oldest"], r, false);
  h += "</section><section class=\"card wide\"><h2>Releases in flight</h2>";
  if (d["releases_in_flight"].empty()) h += "<p class=\"empty\">None: every release is either nowhere yet or in the last environment.</p>";
  else {
    h += "<table><thead><tr><th>Release</th>";
    for (const auto& e : pipeline.environments()) h += "<th>" + Esc(e.name()) + "</th>";
    h += "</tr></thead><tbody>";
    for (const auto& row : d["releases_in_flight"]) {
      h += fmt::format("<tr><td><a href=\"/releases/{}\">{}</a></td>", Url(Str(row, "release")), Esc(Str(row, "release")));
      for (const auto& c : row.value("cells", nlohmann::json::array()))
        h += fmt::format("<td class=\"cell-{}\">{}</td>", Esc(c.get<std::string>()), Esc(c.get<std::string>()));
      h += "</tr>";
    }
    h += "</tbody></table>";
  }
  h += "</section><section class=\"card wide\"><h2>Latest check-ins</h2><table><tbody>";
  for (const auto& v : status.recent_check_ins())
    h += fmt::format("<tr><td>{}</td><td>v{}</td><td>{} <small>{}</small></td><td>{}</td><td>{}</td></tr>",
                     ObjectLink(v.object()), v.version(), Esc(v.user()), Esc(v.site()),
                     TimeText(absl::FromUnixSeconds(v.time().seconds())), Esc(v.message()));
  h += "</tbody></table></section></div>";
  return page;
}

}  // namespace strata::console
