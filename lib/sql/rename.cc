#include "sql/rename.h"

extern "C" {
#include <pg_query.h>
}

#include <algorithm>
#include <cctype>
#include <set>
#include <tuple>
#include <vector>

#include "fmt/format.h"
#include "pg_query/pg_query.pb.h"

namespace strata::sql {
namespace {

// A name as PostgreSQL reads it: unquoted folded to lower case, quoted kept.
std::string Normalize(std::string_view raw) {
  if (raw.size() >= 2 && raw.front() == '"') {
    std::string out;
    for (size_t i = 1; i + 1 < raw.size(); ++i) {
      out.push_back(raw[i]);
      if (raw[i] == '"' && i + 2 < raw.size() && raw[i + 1] == '"') ++i;
    }
    return out;
  }
  std::string out(raw);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsNameToken(const pg_query::ScanToken& t) {
  return t.token() == pg_query::IDENT || (t.keyword_kind() != pg_query::NO_KEYWORD &&
                                          t.keyword_kind() != pg_query::RESERVED_KEYWORD);
}

// One dotted name in the text: its parts and where each is.
struct Path {
  std::vector<std::string> parts;
  std::vector<std::pair<int, int>> spans;  // [start, end) of each part
  int first_token = 0;
};

std::string Keyword(const pg_query::ScanToken& t, std::string_view text) {
  if (t.keyword_kind() == pg_query::NO_KEYWORD) return "";
  return Normalize(text.substr(t.start(), t.end() - t.start()));
}

absl::StatusOr<pg_query::ScanResult> Scan(const std::string& text) {
  PgQueryScanResult result = pg_query_scan(text.c_str());
  if (result.error) {
    absl::Status s = absl::InvalidArgumentError(fmt::format("the definition does not parse: {}", result.error->message));
    pg_query_free_scan_result(result);
    return s;
  }
  pg_query::ScanResult scan;
  const bool decoded = scan.ParseFromArray(result.pbuf.data, static_cast<int>(result.pbuf.len));
  pg_query_free_scan_result(result);
  if (!decoded) return absl::InternalError("libpg_query returned scan tokens that do not decode");
  return scan;
}

// Every dotted name of the text, in order, and the statement (counted by
// semicolons) each is in.
void DottedNames(const pg_query::ScanResult& scan, std::string_view text, std::vector<Path>* paths,
                 std::vector<int>* statement_of) {
  int statement = 0;
  const int n = scan.tokens_size();
  for (int i = 0; i < n;) {
    const auto& t = scan.tokens(i);
    if (t.token() == pg_query::ASCII_59) {
      ++statement;
      ++i;
      continue;
    }
    if (!IsNameToken(t)) {
      ++i;
      continue;
    }
    Path p;
    p.first_token = i;
    p.parts.push_back(Normalize(text.substr(t.start(), t.end() - t.start())));
    p.spans.emplace_back(t.start(), t.end());
    int j = i + 1;
    while (j + 1 < n && scan.tokens(j).token() == pg_query::ASCII_46 && IsNameToken(scan.tokens(j + 1)) &&
           scan.tokens(j).start() == scan.tokens(j - 1).end() && scan.tokens(j + 1).start() == scan.tokens(j).end()) {
      const auto& part = scan.tokens(j + 1);
      p.parts.push_back(Normalize(text.substr(part.start(), part.end() - part.start())));
      p.spans.emplace_back(part.start(), part.end());
      j += 2;
    }
    paths->push_back(std::move(p));
    statement_of->push_back(statement);
    i = j;
  }
}

// The text with each (start, end, replacement) applied, in order.
std::string Apply(const std::string& text, const std::vector<std::tuple<int, int, std::string>>& edits) {
  std::string out;
  int at = 0;
  for (const auto& [start, end, spelled] : edits) {
    out.append(text, at, start - at);
    out.append(spelled);
    at = end;
  }
  out.append(text, at, std::string::npos);
  return out;
}

}  // namespace

absl::StatusOr<std::string> RenameSchemaReferences(std::string_view sql, const std::string& from_schema,
                                                   const std::string& to_schema) {
  const std::string text(sql);
  auto scan = Scan(text);
  if (!scan.ok()) return scan.status();
  std::vector<Path> paths;
  std::vector<int> statement_of;
  DottedNames(*scan, text, &paths, &statement_of);
  const std::string from = Normalize(from_schema);
  std::vector<std::tuple<int, int, std::string>> edits;
  for (const Path& p : paths)
    if (p.parts.size() >= 2 && p.parts.front() == from)
      edits.emplace_back(p.spans.front().first, p.spans.front().second, to_schema);
  // Names in constants cast to a reg* type ('sales.orders_id_seq'::regclass
  // in a column default) are names too: PostgreSQL keeps them by OID.
  static const std::set<std::string, std::less<>> kRegTypes = {"regclass", "regtype", "regproc", "regprocedure"};
  for (int i = 0; i + 2 < scan->tokens_size(); ++i) {
    const auto& literal = scan->tokens(i);
    const auto& type = scan->tokens(i + 2);
    if (literal.token() != pg_query::SCONST || scan->tokens(i + 1).token() != pg_query::TYPECAST ||
        !kRegTypes.count(Normalize(std::string_view(text).substr(type.start(), type.end() - type.start()))))
      continue;
    // 'schema.name' (no E'' or $$ forms: those never come from PostgreSQL's deparser).
    const std::string_view quoted = std::string_view(text).substr(literal.start(), literal.end() - literal.start());
    if (quoted.size() < 2 || quoted.front() != '\'' || quoted.back() != '\'') continue;
    const std::string_view inside = quoted.substr(1, quoted.size() - 2);
    std::string_view first = inside;
    if (!first.empty() && first.front() == '"') {
      const size_t close = first.find('"', 1);
      if (close == std::string_view::npos) continue;
      first = first.substr(0, close + 1);
    } else {
      first = first.substr(0, first.find('.'));
    }
    if (first.size() >= inside.size() || inside[first.size()] != '.' || Normalize(first) != from) continue;
    std::string spelled = to_schema;
    for (size_t at = 0; (at = spelled.find('\'', at)) != std::string::npos; at += 2) spelled.insert(at, 1, '\'');
    edits.emplace_back(literal.start() + 1, literal.start() + 1 + static_cast<int>(first.size()), spelled);
  }
  std::sort(edits.begin(), edits.end());
  return Apply(text, edits);
}

absl::StatusOr<std::string> RenameReferences(std::string_view sql, const model::ObjectId& from,
                                             const model::ObjectId& to, const AnalyzeOptions& options) {
  const std::string text(sql);
  auto scanned = Scan(text);
  if (!scanned.ok()) return scanned.status();
  const pg_query::ScanResult& scan = *scanned;

  // Ids spell identifiers canonically (quoted when needed); the text is
  // compared as PostgreSQL reads it, unquoted.
  auto bare = [](const model::ObjectId& id) { return id.schema.empty() ? id.name : id.name.substr(0, id.name.find('(')); };
  const std::vector<std::string> qualified =
      from.schema.empty() ? std::vector<std::string>{Normalize(from.name)}
                          : std::vector<std::string>{Normalize(from.schema), Normalize(bare(from))};
  const bool unqualified_ok =
      !from.schema.empty() && !options.search_path.empty() && options.search_path.front() == Normalize(from.schema);
  const std::vector<std::string> unqualified = {Normalize(bare(from))};

  // Every dotted name, in order, with the statement it is in.
  std::vector<Path> paths;
  std::vector<int> statement_of;
  DottedNames(scan, text, &paths, &statement_of);

  auto starts_with = [](const std::vector<std::string>& parts, const std::vector<std::string>& name, size_t extra) {
    if (parts.size() != name.size() + extra) return false;
    return std::equal(name.begin(), name.end(), parts.begin());
  };
  // Replacements as (start, end, text), in order.
  std::vector<std::tuple<int, int, std::string>> edits;
  auto replace = [&](const Path& p, size_t name_parts) {
    const bool was_qualified = name_parts == qualified.size() && !from.schema.empty();
    std::string spelled;
    if (to.schema.empty()) {
      spelled = to.name;
    } else if (!was_qualified && to.schema == from.schema) {
      spelled = bare(to);
    } else {
      spelled = to.schema + "." + bare(to);
    }
    edits.emplace_back(p.spans.front().first, p.spans[name_parts - 1].second, spelled);
  };
  int subject_of = -1;  // the statement whose subject was found last
  for (size_t k = 0; k < paths.size(); ++k) {
    const Path& p = paths[k];
    const std::string before = p.first_token > 0 ? Keyword(scan.tokens(p.first_token - 1), text) : "";
    size_t matched = 0;
    if (starts_with(p.parts, qualified, 0)) matched = qualified.size();
    else if (unqualified_ok && starts_with(p.parts, unqualified, 0)) matched = 1;
    else if (before == "column" && starts_with(p.parts, qualified, 1)) matched = qualified.size();
    else if (before == "column" && unqualified_ok && starts_with(p.parts, unqualified, 1)) matched = 1;
    if (matched == 0) continue;
    if (subject_of != statement_of[k]) {
      subject_of = statement_of[k];
      replace(p, matched);
    } else if (before == "references") {
      replace(p, matched);
    }
  }
  if (edits.empty())
    return absl::InvalidArgumentError(fmt::format("the definition never names {}", from.ToString()));
  return Apply(text, edits);
}

absl::StatusOr<RenamedDefinition> RenameInDefinition(std::string_view sql, const model::ObjectId& from,
                                                     const model::ObjectId& to, const AnalyzeOptions& options) {
  if (from.kind != to.kind)
    return absl::InvalidArgumentError(fmt::format("{} cannot become a {}", from.ToString(), to.kind));
  auto out = RenameReferences(sql, from, to, options);
  if (!out.ok()) return out.status();
  auto defines = AnalyzeDefines(*out, to, options);
  if (!defines.ok())
    return absl::InvalidArgumentError(fmt::format("renamed, the definition of {} would not define {}: {}",
                                                  from.ToString(), to.ToString(),
                                                  std::string(defines.status().message())));
  return RenamedDefinition{std::move(*out), std::move(*defines)};
}

}  // namespace strata::sql
