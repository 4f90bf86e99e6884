#include "sql/analyze.h"

#include <map>
#include <memory>

#include "fmt/format.h"
#include "sql/analyzer.h"
#include "sql/parse.h"

namespace strata::sql {

using analysis::Analyzer;

absl::StatusOr<ObjectInfo> AnalyzeDefinition(std::string_view sql, const AnalyzeOptions& options) {
  auto parsed = ParsedSql::Parse(sql);
  if (!parsed.ok()) return parsed.status();
  return AnalyzeParsed(*parsed, options);
}

absl::StatusOr<ObjectInfo> AnalyzeParsed(const ParsedSql& parsed, const AnalyzeOptions& options) {
  Analyzer analyzer(parsed, options);
  return analyzer.Run();
}

struct PreparedDefinition::Bodies {
  std::map<int, analysis::PreparedBody> by_statement;
};

PreparedDefinition::PreparedDefinition(PreparedDefinition&&) noexcept = default;
PreparedDefinition& PreparedDefinition::operator=(PreparedDefinition&&) noexcept = default;
PreparedDefinition::~PreparedDefinition() = default;

absl::StatusOr<PreparedDefinition> PreparedDefinition::Prepare(std::string_view sql) {
  auto parsed = ParsedSql::Parse(sql);
  if (!parsed.ok()) return parsed.status();
  PreparedDefinition out;
  out.parsed_ = std::make_unique<ParsedSql>(std::move(*parsed));
  out.bodies_ = std::make_unique<Bodies>();
  // One thread: callers prepare many definitions at once.
  out.bodies_->by_statement = analysis::PrepareBodies(*out.parsed_, 0, out.parsed_->size(), 1);
  return out;
}

absl::StatusOr<ObjectInfo> AnalyzePrepared(const PreparedDefinition& prepared, const AnalyzeOptions& options) {
  Analyzer analyzer(*prepared.parsed_, options, {}, &prepared.bodies_->by_statement);
  return analyzer.Run();
}

absl::Status CheckDefines(std::string_view sql, const model::ObjectId& expected, const AnalyzeOptions& options) {
  return AnalyzeDefines(sql, expected, options).status();
}

absl::StatusOr<ObjectInfo> AnalyzeDefines(std::string_view sql, const model::ObjectId& expected,
                                          const AnalyzeOptions& options) {
  auto parsed = ParsedSql::Parse(sql);
  if (!parsed.ok()) return parsed.status();
  return AnalyzeDefines(*parsed, expected, options);
}

absl::StatusOr<ObjectInfo> AnalyzeDefines(const ParsedSql& parsed, const model::ObjectId& expected,
                                          const AnalyzeOptions& options) {
  auto info = AnalyzeParsed(parsed, options);
  if (!info.ok()) return info.status();
  if (info->id == expected) return info;
  std::string hint;
  if (info->id.kind == expected.kind && info->id.schema != expected.schema &&
      info->id.name == expected.name)
    hint = fmt::format("; qualify the name: {}", expected.QualifiedName());
  return absl::InvalidArgumentError(
      fmt::format("the definition defines {}, not {}{}", info->id.ToString(), expected.ToString(), hint));
}

}  // namespace strata::sql
