#include "console/html.h"

#include "absl/strings/str_join.h"
#include "fmt/format.h"

namespace strata::console {

std::string Esc(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 16);
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Url(std::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == ':')
      out += static_cast<char>(c);
    else
      out += fmt::format("%{:02X}", c);
  }
  return out;
}

std::string ObjectLink(std::string_view object) {
  return fmt::format("<a href=\"/objects/{}\">{}</a>", Url(object), Esc(object));
}

absl::Time ParseRfc3339(std::string_view text) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, std::string(text), &t, &err)) return absl::InfinitePast();
  return t;
}

std::string TimeText(absl::Time t) {
  if (t == absl::InfinitePast()) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}
std::string TimeText(std::string_view rfc3339) { return TimeText(ParseRfc3339(rfc3339)); }

std::string AgeText(absl::Duration d) {
  int64_t s = std::max<int64_t>(0, absl::ToInt64Seconds(d));
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m", s / 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{}h", s / 86400, (s % 86400) / 3600);
}

std::string Str(const nlohmann::json& j, const char* key, std::string fallback) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return fallback;
  return it->get<std::string>();
}

int64_t Num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number()) return it->get<int64_t>();
  if (it->is_string()) return std::strtoll(it->get<std::string>().c_str(), nullptr, 10);  // 64-bit ints
  return 0;
}

std::string Document(const Frame& f, const std::string& body) {
  static const std::pair<const char*, const char*> kTabs[] = {{"summary", "Summary"}, {"locks", "Who holds what"},
                                                              {"activity", "Activity"}, {"pipeline", "Pipeline"},
                                                              {"audit", "Audit"}};
  std::string nav;
  for (const auto& [tab, label] : kTabs)
    nav += fmt::format("<a href=\"/{}\"{}>{}</a>", tab == std::string_view("summary") ? "" : tab,
                       f.tab == tab ? " aria-current=\"page\"" : "", label);
  std::string me;
  if (f.who) {
    me = fmt::format("<span class=\"who\">{} <small>({})</small> · {}{}</span>", Esc(f.who->user),
                     Esc(f.who->site), Esc(absl::StrJoin(f.who->roles, ", ")),
                     f.who->schemas.empty() ? ""
                                            : " · scope " + Esc(absl::StrJoin(f.who->schemas, ", ")));
    if (!f.csrf.empty())
      me += fmt::format(
          "<form method=\"post\" action=\"/signout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" "
          "value=\"{}\"><button type=\"submit\">Sign out</button></form>",
          Esc(f.csrf));
  }
  return fmt::format(
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>{} · Strata</title><link rel=\"stylesheet\" href=\"/assets/console.css\">"
      "<script src=\"/assets/console.js\" defer></script></head>\n"
      "<body><a class=\"skip\" href=\"#main\">Skip to content</a>"
      "<header><nav aria-label=\"Pages\"><strong class=\"brand\">Strata</strong>{}"
      "<form method=\"get\" action=\"/objects\" class=\"inline search\" role=\"search\">"
      "<label for=\"q\" class=\"sr\">Object</label><input id=\"q\" name=\"q\" placeholder=\"find an object "
      "(schema.name)\"></form></nav>{}</header>\n"
      "<main id=\"main\" data-live=\"{}\" tabindex=\"-1\">\n{}\n</main>\n"
      "<footer><span id=\"live-state\" aria-live=\"polite\"></span></footer></body></html>\n",
      Esc(f.title), nav, me.empty() ? "" : "<div class=\"me\">" + me + "</div>", Esc(f.live), body);
}

}  // namespace strata::console
