#include "lint_commands.h"

#include <algorithm>
#include <filesystem>
#include <iostream>

#include "common.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "policy/policy.h"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;

// One text of every file, and where each file's lines start in it.
struct Source {
  std::string text;
  std::vector<std::pair<int, std::string>> starts;  // (first line in text, file)

  std::pair<std::string, int> Where(int line) const {
    auto it = std::upper_bound(starts.begin(), starts.end(), line,
                               [](int l, const auto& s) { return l < s.first; });
    if (it == starts.begin()) return {"", line};
    --it;
    return {it->second, line - it->first + 1};
  }
};

bool Gather(const std::vector<std::string>& paths, Source* out) {
  std::vector<std::string> files;
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::is_directory(p, ec)) {
      std::vector<std::string> found;
      for (const auto& e : fs::recursive_directory_iterator(p, ec))
        if (e.is_regular_file() && e.path().extension() == ".sql") found.push_back(e.path().string());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(p);
    }
  }
  int line = 1;
  for (const auto& f : files) {
    auto text = ReadFile(f);
    if (!text) {
      std::cerr << "error: cannot read " << f << "\n";
      return false;
    }
    out->starts.emplace_back(line, f);
    out->text += *text;
    if (!text->empty() && text->back() != '\n') out->text += "\n";
    line += static_cast<int>(std::count(text->begin(), text->end(), '\n')) + (text->empty() || text->back() == '\n' ? 0 : 1);
    // A file's last statement may lack its ';'.
    out->text += ";\n";
    ++line;
  }
  return true;
}

}  // namespace

void AddLintCommands(CLI::App& app, LintCommands* c) {
  c->lint = app.add_subcommand("lint", "check definition files against a policy (naming, structure, squawk's rules); "
                                       "exit 1 on errors");
  c->lint->add_option("paths", c->paths, "SQL files and folders (their .sql files)");
  c->lint->add_option("--policy", c->policy_file, "policy YAML (default: every rule at its default severity)");
  c->lint->add_option("--format", c->format, "text, or github (workflow annotations)")
      ->check(CLI::IsMember({"text", "github"}));
  c->lint->add_flag("--json", c->json, "the findings as a JSON array");
  c->lint->add_flag("--rules", c->rules, "list the rules: code, default severity, options, rationale");
}

std::optional<int> RunLintCommand(const LintCommands& c, bool global_json) {
  if (!*c.lint) return std::nullopt;
  const bool json = global_json || c.json;
  if (c.rules) {
    for (const auto& r : policy::Rules()) {
      std::string options;
      for (const auto& o : r.options) options += (options.empty() ? "" : ", ") + o;
      std::cout << fmt::format("{:<36} {:<8} {}{}\n", r.code, policy::SeverityName(r.default_severity), r.rationale,
                               options.empty() ? "" : " [" + options + "]");
    }
    return 0;
  }
  if (c.paths.empty()) {
    std::cerr << "error: name SQL files or folders to lint\n";
    return 2;
  }
  policy::Policy pol = policy::DefaultPolicy();
  if (!c.policy_file.empty()) {
    auto text = ReadFile(c.policy_file);
    if (!text) return std::cerr << "error: cannot read " << c.policy_file << "\n", 2;
    auto parsed = policy::ParsePolicy(*text);
    if (!parsed.ok()) return std::cerr << "error: " << c.policy_file << ": " << parsed.status().message() << "\n", 2;
    pol = std::move(*parsed);
  }
  Source src;
  if (!Gather(c.paths, &src)) return 2;
  auto findings = policy::Lint(pol, src.text);
  if (!findings.ok()) {
    std::string message(findings.status().message());
    // "line N, column C: ..." of the joined text is the file's line.
    int line = 0;
    if (sscanf(message.c_str(), "line %d", &line) == 1 || message.find("(line ") != std::string::npos) {
      if (line == 0) sscanf(message.substr(message.find("(line ")).c_str(), "(line %d", &line);
      auto [file, file_line] = src.Where(line);
      message = fmt::format("{}:{}: {}", file, file_line, message);
    }
    std::cerr << "error: " << message << "\n";
    return 2;
  }
  int errors = 0;
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : *findings) {
    auto [file, line] = src.Where(f.line);
    errors += f.severity == policy::Severity::kError;
    if (json) {
      out.push_back({{"file", file}, {"line", line}, {"column", f.column}, {"code", f.code},
                     {"severity", policy::SeverityName(f.severity)}, {"object", f.object}, {"message", f.message}});
    } else if (c.format == "github") {
      std::cout << fmt::format("::{} file={},line={},col={},title={}::{}: {}\n",
                               f.severity == policy::Severity::kError ? "error" : "warning", file, line, f.column, f.code,
                               f.object, f.message);
    } else {
      std::cout << fmt::format("{}:{}:{}: {}\n", file, line, f.column, policy::Format(f));
    }
  }
  if (json) std::cout << out.dump(2) << "\n";
  if (!json && c.format == "text")
    std::cerr << fmt::format("{} finding(s): {} error(s), {} warning(s)\n", findings->size(), errors,
                             findings->size() - errors);
  return errors > 0 ? 1 : 0;
}

}  // namespace strata::cli
