// The console's pages. Each page asks the services for what it shows (with
// the caller's token), keeps it as JSON (what /api/<page> returns) and renders
// it as HTML (what /<page> returns): both are one model, so a script reading
// the JSON sees what a supervisor sees.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "console/backend.h"
#include "console/console.h"
#include "console/session.h"
#include "nlohmann/json.hpp"

namespace strata::console {

struct PageRequest {
  const Identity& who;
  const Credential& credential;
  std::string csrf;                           // empty for bearer requests
  std::map<std::string, std::string> params;  // query (and form) values
  std::string arg;                            // the path's argument: an object, release or environment
  const ConsoleOptions& options;

  std::string Param(const std::string& key, const std::string& fallback = "") const {
    auto it = params.find(key);
    return it == params.end() || it->second.empty() ? fallback : it->second;
  }
};

struct Page {
  std::string title;
  std::string tab;
  std::string live;  // see Frame::live
  nlohmann::json data = nlohmann::json::object();
  std::string body;  // HTML inside <main>
  // Set when a call failed: the HTTP status and page come from it.
  std::optional<CallError> error;
};

inline Page NewPage(std::string title, std::string tab, std::string live) {
  Page page;
  page.title = std::move(title);
  page.tab = std::move(tab);
  page.live = std::move(live);
  return page;
}

Page SummaryPage(Backend& b, const PageRequest& r);
Page LocksPage(Backend& b, const PageRequest& r);
Page ActivityPage(Backend& b, const PageRequest& r);
Page ObjectPage(Backend& b, const PageRequest& r);
Page PipelinePage(Backend& b, const PageRequest& r);
Page ReleasePage(Backend& b, const PageRequest& r);
Page EnvironmentPage(Backend& b, const PageRequest& r);
Page AuditPage(Backend& b, const PageRequest& r);

// A protobuf message as JSON (protobuf's mapping, proto field names: the
// same as `strata ... --json`).
nlohmann::json ProtoJson(const google::protobuf::Message& m);

// Runs `method` on `stub` with the caller's token; on failure records it in
// `page` and returns false.
template <typename Stub, typename Req, typename Resp>
bool Call(Page& page, Backend& b, const PageRequest& r, Service service, Stub& stub,
          grpc::Status (Stub::*method)(grpc::ClientContext*, const Req&, Resp*), const Req& req, Resp* resp) {
  auto ctx = Backend::Context(r.credential);
  grpc::Status s = b.Track(service, (stub.*method)(ctx.get(), req, resp));
  if (s.ok()) return true;
  page.error = CallError{service, s};
  return false;
}

// One audit record as a table row (the activity and audit pages, and the
// live feed's rows).
std::string AuditRow(const nlohmann::json& record);
// An audit record as the live feed sends it (JSON, plus the row's HTML).
nlohmann::json LiveItem(const v1::AuditRecord& record);

}  // namespace strata::console
