#include "model/object_id.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "fmt/format.h"

namespace strata::model {
namespace {

std::string S(std::string_view v) { return std::string(v); }


bool IsSchemaless(std::string_view kind) { return kind == "schema" || kind == "extension"; }
bool IsCallable(std::string_view kind) { return kind == "function" || kind == "procedure"; }

bool IsPlainIdentifier(std::string_view s) {
  if (s.empty() || !(std::islower(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::islower(static_cast<unsigned char>(c)) || std::isdigit(static_cast<unsigned char>(c)) ||
           c == '_' || c == '$';
  });
}

std::string QuoteIfNeededImpl(std::string_view ident) {
  if (IsPlainIdentifier(ident)) return std::string(ident);
  std::string out = "\"";
  for (char c : ident) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string QuoteIfNeeded(std::string_view ident) { return QuoteIfNeededImpl(ident); }


// Canonical spelling of common PostgreSQL type aliases in signatures.
std::string CanonicalType(std::string t) {
  static const std::map<std::string, std::string> kAliases = {
      {"int", "integer"}, {"int4", "integer"}, {"int8", "bigint"}, {"int2", "smallint"},
      {"bool", "boolean"}, {"float8", "double precision"}, {"float4", "real"},
      {"varchar", "character varying"}, {"decimal", "numeric"}, {"char", "character"},
      {"bpchar", "character"}, {"varbit", "bit varying"},
      {"timestamptz", "timestamp with time zone"}, {"timetz", "time with time zone"},
      {"timestamp", "timestamp without time zone"}};
  t = absl::AsciiStrToLower(t);
  std::string collapsed;
  for (char c : t) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      if (!collapsed.empty() && collapsed.back() != ' ') collapsed += ' ';
    } else {
      collapsed += c;
    }
  }
  t = std::string(absl::StripAsciiWhitespace(collapsed));
  auto it = kAliases.find(t);
  return it == kAliases.end() ? t : it->second;
}

absl::StatusOr<std::string> CanonicalSignature(std::string_view args) {
  std::vector<std::string> out;
  if (absl::StripAsciiWhitespace(S(args)).empty()) return std::string("()");
  for (absl::string_view a : absl::StrSplit(S(args), ',')) {
    std::string t = CanonicalType(std::string(a));
    if (t.empty()) return absl::InvalidArgumentError("empty argument type in signature");
    out.push_back(t);
  }
  return absl::StrCat("(", absl::StrJoin(out, ","), ")");
}

absl::StatusOr<ObjectId> ParseNamePart(std::string kind, std::string_view text,
                                       std::string_view default_schema) {
  ObjectId id;
  id.kind = std::move(kind);
  std::string_view path = text;
  std::string signature;
  if (size_t paren = text.find('('); paren != std::string_view::npos) {
    if (!id.kind.empty() && !IsCallable(id.kind))
      return absl::InvalidArgumentError(
          absl::StrCat("only functions and procedures take an argument list: '", S(text), "'"));
    if (text.back() != ')')
      return absl::InvalidArgumentError(absl::StrCat("unclosed argument list in '", S(text), "'"));
    auto sig = CanonicalSignature(text.substr(paren + 1, text.size() - paren - 2));
    if (!sig.ok()) return sig.status();
    signature = *sig;
    path = text.substr(0, paren);
  } else if (IsCallable(id.kind)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "a ", id.kind, " id needs its argument types, e.g. ", id.kind, ":sales.total(integer)"));
  }
  auto parts = SplitIdentifiers(path);
  if (!parts.ok()) return parts.status();
  if (IsSchemaless(id.kind)) {
    if (parts->size() != 1)
      return absl::InvalidArgumentError(absl::StrCat("a ", id.kind, " name has no schema: '", S(text), "'"));
    id.name = QuoteIfNeeded((*parts)[0]);
    return id;
  }
  // Triggers are named within their table: trigger:schema.table.trigger.
  const size_t max_parts = id.kind == "trigger" ? 3 : 2;
  if (parts->size() > max_parts)
    return absl::InvalidArgumentError(absl::StrCat("too many name parts in '", S(text), "'"));
  if (parts->size() == 1 || (id.kind == "trigger" && parts->size() == 2)) {
    id.schema = S(default_schema);
  } else {
    id.schema = QuoteIfNeeded(parts->front());
    parts->erase(parts->begin());
  }
  std::vector<std::string> quoted;
  for (const auto& p : *parts) quoted.push_back(QuoteIfNeeded(p));
  id.name = absl::StrJoin(quoted, ".") + signature;
  return id;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitIdentifiers(std::string_view text) {
  std::vector<std::string> parts(1);
  bool quoted = false, was_quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        parts.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        parts.back() += c;
      }
    } else if (c == '"') {
      quoted = was_quoted = true;
    } else if (c == '.') {
      parts.emplace_back();
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected space in name '", S(text), "'"));
    } else {
      parts.back() += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (quoted) return absl::InvalidArgumentError(absl::StrCat("unterminated quote in '", S(text), "'"));
  for (const auto& p : parts)
    if (p.empty()) return absl::InvalidArgumentError(absl::StrCat("empty name part in '", S(text), "'"));
  (void)was_quoted;
  return parts;
}

std::string QuoteIdentifier(std::string_view ident) { return QuoteIfNeededImpl(ident); }
std::string CanonicalTypeName(std::string type) { return CanonicalType(std::move(type)); }

const std::vector<std::string>& ObjectKinds() {
  static const std::vector<std::string> kKinds = {
      "schema", "extension", "type",     "domain",  "sequence", "table",
      "view",   "materialized_view",     "function", "procedure", "index", "trigger"};
  return kKinds;
}

std::string ObjectId::QualifiedName() const {
  return schema.empty() ? name : absl::StrCat(schema, ".", name);
}
std::string ObjectId::ToString() const { return absl::StrCat(kind, ":", QualifiedName()); }
std::string ObjectId::Aggregate() const { return absl::StrCat("object:", ToString()); }

absl::StatusOr<ObjectId> ParseObjectRef(std::string_view text, std::string_view default_schema) {
  const std::string trimmed(absl::StripAsciiWhitespace(S(text)));
  text = trimmed;
  if (text.empty()) return absl::InvalidArgumentError("empty object name");
  size_t colon = text.find(':');
  // A colon inside quotes or an argument list is part of the name.
  if (colon != std::string_view::npos &&
      (text.find('"') < colon || text.find('(') < colon))
    colon = std::string_view::npos;
  if (colon == std::string_view::npos) return ParseNamePart("", text, default_schema);
  std::string kind = absl::AsciiStrToLower(S(text.substr(0, colon)));
  if (kind == "matview" || kind == "mview") kind = "materialized_view";
  const auto& kinds = ObjectKinds();
  if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
    return absl::InvalidArgumentError(absl::StrCat("unknown object kind '", kind, "'; expected one of ",
                                                   absl::StrJoin(kinds, ", ")));
  return ParseNamePart(kind, text.substr(colon + 1), default_schema);
}

absl::StatusOr<ObjectId> ParseObjectId(std::string_view text) {
  auto id = ParseObjectRef(text);
  if (id.ok() && id->kind.empty())
    return absl::InvalidArgumentError(
        fmt::format("'{}' has no kind; write e.g. table:{}", text, text));
  return id;
}

absl::StatusOr<ObjectId> ObjectIdFromAggregate(std::string_view aggregate) {
  constexpr std::string_view kPrefix = "object:";
  if (!aggregate.starts_with(kPrefix))
    return absl::InvalidArgumentError(fmt::format("not an object aggregate: {}", aggregate));
  return ParseObjectId(aggregate.substr(kPrefix.size()));
}

}  // namespace strata::model
