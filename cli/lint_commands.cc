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

  auto* pol = app.add_subcommand("policy", "the team's policy, versioned in the log and enforced at every site");
  pol->require_subcommand(1);
  c->policy_set = pol->add_subcommand("set", "make FILE the policy every check-in is held to (dba, admin)");
  c->policy_set->add_option("file", c->file, "policy YAML (strata lint --rules lists the rules)")->required();
  c->policy_set->add_option("-m,--message", c->message, "why (recorded)");
  c->policy_show = pol->add_subcommand("show", "the policy in force (or --version N) and the waivers");
  c->policy_show->add_option("--version", c->version, "a past version");
  c->policy_diff = pol->add_subcommand("diff", "what changed between two policy versions");
  c->policy_diff->add_option("from", c->from, "version")->required();
  c->policy_diff->add_option("to", c->to, "version (default: the latest)");
  c->policy_waive = pol->add_subcommand("waive", "let one object through one rule's errors (dba, admin; audited)");
  c->policy_waive->add_option("object", c->object, "object, e.g. table:sales.Orders")->required();
  c->policy_waive->add_option("rule", c->rule, "rule code, e.g. naming-table")->required();
  c->policy_waive->add_option("-r,--reason", c->reason, "why (recorded in the audit trail)")->required();
}

namespace {

void PrintLines(const std::string& a, const std::string& b) {
  // A plain line diff: "- " lines only in a, "+ " lines only in b, in order.
  std::vector<std::string> x, y;
  for (const auto* t : {&a, &b}) {
    auto& v = t == &a ? x : y;
    size_t start = 0;
    while (start < t->size()) {
      size_t nl = t->find('\n', start);
      if (nl == std::string::npos) nl = t->size();
      v.push_back(t->substr(start, nl - start));
      start = nl + 1;
    }
  }
  // Longest common subsequence (policy files are short).
  std::vector<std::vector<int>> l(x.size() + 1, std::vector<int>(y.size() + 1, 0));
  for (size_t i = x.size(); i-- > 0;)
    for (size_t j = y.size(); j-- > 0;)
      l[i][j] = x[i] == y[j] ? l[i + 1][j + 1] + 1 : std::max(l[i + 1][j], l[i][j + 1]);
  size_t i = 0, j = 0;
  while (i < x.size() || j < y.size()) {
    if (i < x.size() && j < y.size() && x[i] == y[j]) {
      std::cout << "  " << x[i] << "\n";
      ++i, ++j;
    } else if (j < y.size() && (i == x.size() || l[i][j + 1] >= l[i + 1][j])) {
      std::cout << "+ " << y[j++] << "\n";
    } else {
      std::cout << "- " << x[i++] << "\n";
    }
  }
}

std::optional<int> RunPolicyCommand(const LintCommands& c, Client& client, const Globals& g) {
  auto& stub = client.stub();
  grpc::Status s;
  if (*c.policy_set) {
    auto text = ReadFile(c.file);
    if (!text) return std::cerr << "error: cannot read " << c.file << "\n", 1;
    v1::SetPolicyRequest req;
    req.set_yaml(*text);
    req.set_message(c.message);
    v1::PolicyVersion resp;
    s = stub.SetPolicy(client.Context().get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) return std::cout << ToJson(resp) << "\n", 0;
    std::cout << fmt::format("policy version {} is in force at every site (sha256 {})\n", resp.version(),
                             resp.sha256().substr(0, 16));
    return 0;
  }
  if (*c.policy_show || *c.policy_diff) {
    auto get = [&](uint64_t version, v1::PolicyVersion* out) {
      v1::GetPolicyRequest req;
      req.set_version(version);
      return stub.GetPolicy(client.Context().get(), req, out);
    };
    v1::PolicyVersion a;
    s = get(*c.policy_show ? c.version : c.from, &a);
    if (!s.ok()) return Report(s, g);
    if (*c.policy_show) {
      if (g.json) return std::cout << ToJson(a) << "\n", 0;
      if (a.version() == 0) {
        std::cout << "no policy set: `strata lint` uses each rule's default; check-ins are not held to a policy\n";
      } else {
        std::cerr << fmt::format("policy version {} by {} ({}) {}{}\n", a.version(), a.user(), a.site(), When(a.time()),
                                 a.message().empty() ? "" : ": " + a.message());
        std::cout << a.yaml();
        if (!a.yaml().empty() && a.yaml().back() != '\n') std::cout << "\n";
      }
      for (const auto& w : a.waivers())
        std::cout << fmt::format("# waived: {} for {} by {} {}: {}\n", w.rule(), w.object(), w.user(), When(w.time()),
                                 w.reason());
      return 0;
    }
    v1::PolicyVersion b;
    s = get(c.to, &b);
    if (!s.ok()) return Report(s, g);
    std::cout << fmt::format("policy version {} -> {}\n", a.version(), b.version());
    PrintLines(a.yaml(), b.yaml());
    return 0;
  }
  if (*c.policy_waive) {
    v1::WaiveRequest req;
    req.set_object(c.object);
    req.set_rule(c.rule);
    req.set_reason(c.reason);
    v1::Waiver resp;
    s = stub.Waive(client.Context().get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) return std::cout << ToJson(resp) << "\n", 0;
    std::cout << fmt::format("{} waived for {} (recorded in the audit trail)\n", resp.rule(), resp.object());
    return 0;
  }
  return std::nullopt;
}

}  // namespace

std::optional<int> RunLintCommand(const LintCommands& c, Client& client, const Globals& g) {
  if (auto code = RunPolicyCommand(c, client, g)) return code;
  if (!*c.lint) return std::nullopt;
  const bool json = g.json || c.json;
  if (c.rules) {
    for (const auto& r : policy::Rules()) {
      std::cout << fmt::format("{:<36} {:<8} {}{}\n", r.code, policy::SeverityName(r.default_severity), r.rationale,
                               r.options.empty() ? "" : fmt::format(" [{}]", fmt::join(r.options, ", ")));
    }
    return 0;
  }
  if (c.paths.empty()) {
    std::cerr << "error: name SQL files or folders to lint\n";
    return 2;
  }
  policy::Policy pol = policy::DefaultPolicy();
  if (c.policy_file.empty()) {
    // The policy in force on the server, when one can be reached.
    v1::GetPolicyRequest req;
    v1::PolicyVersion v;
    auto ctx = client.Context();
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
    grpc::Status s = client.stub().GetPolicy(ctx.get(), req, &v);
    if (s.ok() && v.version() > 0) {
      auto parsed = policy::ParsePolicy(v.yaml());
      if (!parsed.ok()) return std::cerr << "error: the server's policy: " << parsed.status().message() << "\n", 2;
      pol = std::move(*parsed);
      if (!json) std::cerr << fmt::format("policy version {} from {}\n", v.version(), g.endpoint);
    } else if (!json) {
      std::cerr << (s.ok() ? "no policy set on the server: each rule's default severity\n"
                           : "no --policy and no server reached: each rule's default severity\n");
    }
  } else {
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
