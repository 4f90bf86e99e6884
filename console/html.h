// HTML for the console's pages: escaping, links, times, and the frame every
// page shares. Everything that comes from a service or a request goes
// through Esc() (or Url()) before it reaches a page.
#pragma once

#include <string>
#include <string_view>

#include "absl/time/time.h"
#include "console/session.h"
#include "nlohmann/json.hpp"

namespace strata::console {

// Text as HTML text or attribute value (& < > " ' escaped).
std::string Esc(std::string_view text);
// One path segment or query value, percent-encoded (RFC 3986 unreserved kept).
std::string Url(std::string_view text);
// A link to an object's page.
std::string ObjectLink(std::string_view object);

// RFC 3339 (protobuf JSON) -> time; InfinitePast when unreadable.
absl::Time ParseRfc3339(std::string_view text);
// "2026-12-05 08:30 UTC"
std::string TimeText(absl::Time t);
std::string TimeText(std::string_view rfc3339);
// "45s", "12m", "3h05m", "2d4h"
std::string AgeText(absl::Duration d);

// A JSON string field, or `fallback` when absent (protobuf JSON leaves out
// defaults).
std::string Str(const nlohmann::json& j, const char* key, std::string fallback = "");
int64_t Num(const nlohmann::json& j, const char* key);

struct Frame {
  std::string title;
  std::string tab;   // "summary", "locks", "activity", "pipeline", "audit", "" (none)
  std::string csrf;  // empty: no sign-out form (a bearer request)
  const Identity* who = nullptr;
  // Set on <main data-live="...">: what the page does when the live feed
  // brings a record ("refresh": reload its main part; "prepend": activity).
  std::string live;
};
// The whole document around `body`.
std::string Document(const Frame& frame, const std::string& body);

}  // namespace strata::console
