// The audit trail: query with the CLI's filters and paging, verification of
// the hash chain. (The JSON Lines export streams; see server.cc.)
#include "console/html.h"
#include "console/pages.h"
#include "fmt/format.h"

namespace strata::console {
namespace {

bool ParseTimeParam(const std::string& text, google::protobuf::Timestamp* out) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err) && !absl::ParseTime("%Y-%m-%d", text, &t, &err) &&
      !absl::ParseTime("%Y-%m-%dT%H:%M", text, &t, &err))
    return false;
  out->set_seconds(absl::ToUnixSeconds(t));
  return true;
}

}  // namespace

Page AuditPage(Backend& b, const PageRequest& r) {
  Page page = NewPage("Audit", "audit", "");
  v1::QueryAuditRequest req;
  req.set_user(r.Param("user"));
  req.set_object(r.Param("object"));
  req.set_action(r.Param("action"));
  req.set_outcome(r.Param("outcome"));
  req.set_page_token(r.Param("page"));
  req.set_newest_first(r.Param("order", "newest") == "newest");
  req.set_page_size(static_cast<uint32_t>(std::clamp(std::atoi(r.Param("size", "100").c_str()), 1, 1000)));
  for (const char* key : {"from", "to"}) {
    if (r.Param(key).empty()) continue;  // (mutable_from() would set the field)
    if (!ParseTimeParam(r.Param(key), key == std::string_view("from") ? req.mutable_from() : req.mutable_to())) {
      page.error = CallError{Service::kHistory, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                                             fmt::format("{}: \"{}\" is not a time (2026-12-05 or "
                                                                         "2026-12-05T09:30:00Z)", key, r.Param(key)))};
      return page;
    }
  }
  v1::QueryAuditResponse resp;
  if (!Call(page, b, r, Service::kHistory, b.history(), &v1::HistoryService::Stub::QueryAudit, req, &resp)) return page;
  nlohmann::json entries = nlohmann::json::array();
  for (const auto& e : resp.entries()) {
    nlohmann::json j = ProtoJson(e.record());
    j["hash"] = e.hash();
    entries.push_back(std::move(j));
  }
  page.data = {{"entries", entries}, {"next_page_token", resp.next_page_token()}};
  std::string& h = page.body;
  h += "<h1>Audit trail</h1>";
  if (r.Param("verify") == "1") {
    v1::VerifyAuditResponse v;
    auto ctx = Backend::Context(r.credential, absl::Minutes(10));
    grpc::Status s = b.Track(Service::kHistory, b.history().VerifyAudit(ctx.get(), v1::VerifyAuditRequest(), &v));
    if (!s.ok()) {
      page.error = CallError{Service::kHistory, s};
      return page;
    }
    page.data["verification"] = ProtoJson(v);
    h += v.ok() ? fmt::format("<p class=\"notice ok\" id=\"verification\" role=\"status\">Verified: {} records match "
                              "the log; the hash chain is intact.</p>",
                              v.records_checked())
                : fmt::format("<p class=\"notice bad\" id=\"verification\" role=\"alert\">The trail does NOT match the "
                              "log: first bad record at partition {} offset {}: {}</p>",
                              v.bad_partition(), v.bad_offset(), Esc(v.problem()));
  }
  h += "<form method=\"get\" action=\"/audit\" class=\"filters\">";
  for (const auto& [key, label] : {std::pair{"user", "User"}, {"object", "Object"}, {"action", "Action"},
                                   {"outcome", "Outcome"}, {"from", "From"}, {"to", "To"}})
    h += fmt::format("<label>{} <input name=\"{}\" value=\"{}\"></label>", label, key, Esc(r.Param(key)));
  h += fmt::format("<label>Order <select name=\"order\"><option value=\"newest\"{}>newest first</option>"
                   "<option value=\"oldest\"{}>oldest first</option></select></label>"
                   "<button type=\"submit\">Query</button></form>",
                   req.newest_first() ? " selected" : "", req.newest_first() ? "" : " selected");
  h += "<p class=\"actions\"><a href=\"/audit?verify=1\">Verify the hash chain</a> · "
       "<a href=\"/audit/export\" download>Export (JSON Lines)</a></p>";
  h += "<table class=\"audit\"><thead><tr><th>Time</th><th>User</th><th>Site</th><th>Action</th><th>Object</th>"
       "<th>Outcome</th><th>Detail</th></tr></thead><tbody>\n";
  for (const auto& e : entries) h += AuditRow(e);
  if (entries.empty()) h += "<tr><td colspan=\"7\">No records match.</td></tr>";
  h += "</tbody></table>";
  if (!resp.next_page_token().empty()) {
    std::string query;
    for (const auto& [k, v] : r.params)
      if (k != "page" && k != "verify") query += fmt::format("{}={}&amp;", Url(k), Url(v));
    h += fmt::format("<p><a rel=\"next\" href=\"/audit?{}page={}\">Next page →</a></p>", query, Url(resp.next_page_token()));
  }
  return page;
}

}  // namespace strata::console
