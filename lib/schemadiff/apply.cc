#include "schemadiff/apply.h"

#include <chrono>

#include "absl/strings/str_cat.h"
#include "sql/parse.h"

namespace strata::schemadiff {
namespace {

std::string FirstLine(std::string_view text) {
  size_t start = text.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return "";
  text.remove_prefix(start);
  // Skip leading comment lines (a DATA LOSS note, say).
  while (text.rfind("--", 0) == 0) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos) return "";
    text.remove_prefix(nl + 1);
    text.remove_prefix(std::min(text.size(), text.find_first_not_of(" \t\r\n")));
  }
  std::string line(text.substr(0, text.find('\n')));
  if (line.size() > 100) line = line.substr(0, 97) + "...";
  return line;
}

}  // namespace

absl::StatusOr<ApplyResult> ApplyScript(pg::Session& session, const std::string& script,
                                        const std::string& script_name, const ApplyOptions& options) {
  auto parsed = sql::ParsedSql::Parse(script);
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(script_name, ": ", parsed.status().message()));
  for (int i = 0; i < parsed->size(); ++i) {
    if (parsed->statement(i).has_transaction_stmt()) {
      auto at = parsed->StatementStart(i);
      return absl::InvalidArgumentError(absl::StrCat(
          script_name, ":", at.line, ":", at.column, ": transaction control (", FirstLine(parsed->StatementText(i)),
          ") is not allowed: the script already runs in one transaction"));
    }
  }
  std::vector<std::string_view> statements;
  for (int i = 0; i < parsed->size(); ++i) statements.push_back(parsed->StatementText(i));
  auto start = std::chrono::steady_clock::now();
  if (absl::Status s = session.Exec("BEGIN"); !s.ok()) return s;
  int failed = -1;
  pg::ErrorInfo info;
  if (absl::Status s = session.ExecEach(statements, &failed, &info); !s.ok()) {
    (void)session.Exec("ROLLBACK");
    if (failed < 0) return s;
    std::string_view text = statements[failed];
    auto at = parsed->ErrorLocation(failed, info.position);
    return absl::Status(s.code(), absl::StrCat(script_name, ":", at.line, ":", at.column, ": statement ", failed + 1,
                                               " of ", parsed->size(), " failed: ", FirstLine(text), "\n",
                                               s.message(), "\nnothing was applied (the transaction was rolled back)"));
  }
  for (const std::string& statement : options.epilogue)
    if (absl::Status s = session.Exec(statement); !s.ok()) {
      (void)session.Exec("ROLLBACK");
      return absl::Status(s.code(), absl::StrCat("recording the deployment in the database failed: ", s.message(),
                                                 "\nnothing was applied (the transaction was rolled back)"));
    }
  if (options.before_commit) options.before_commit();
  if (absl::Status s = session.Exec("COMMIT"); !s.ok()) return s;
  return ApplyResult{parsed->size(),
                     std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()};
}

}  // namespace strata::schemadiff
