#include "schema_commands.h"

#include <iostream>

#include "common.h"
#include "fmt/format.h"
#include "pg/pg.h"
#include "schemadiff/apply.h"
#include "schemadiff/diff.h"
#include "schemadiff/rename.h"
#include "schemadiff/source.h"

namespace strata::cli {
namespace {

// Exit codes as the rest of the CLI uses them: 1 error, 6 unavailable.
int Fail(const absl::Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  return s.code() == absl::StatusCode::kUnavailable ? 6 : 1;
}

std::string Describe(const std::string& spec) {
  return schemadiff::IsDatabaseUrl(spec) ? pg::RedactUrl(spec) : spec;
}

int RunDiff(const SchemaCommands& c) {
  schemadiff::ShadowOptions shadow{c.shadow_url};
  if (shadow.server.empty()) {
    if (const char* env = std::getenv("STRATA_SHADOW_URL")) shadow.server = env;
  }
  std::vector<schemadiff::Rename> renames;
  for (const auto& text : c.renames) {
    auto r = schemadiff::ParseObjectRename(text);
    if (!r.ok()) return std::cerr << "error: " << r.status().message() << "\n", 2;
    renames.push_back(*r);
  }
  for (const auto& text : c.column_renames) {
    auto r = schemadiff::ParseColumnRename(text);
    if (!r.ok()) return std::cerr << "error: " << r.status().message() << "\n", 2;
    renames.push_back(*r);
  }
  for (const auto& text : c.value_renames) {
    auto r = schemadiff::ParseValueRename(text);
    if (!r.ok()) return std::cerr << "error: " << r.status().message() << "\n", 2;
    renames.push_back(*r);
  }
  auto catalogs = schemadiff::LoadCatalogs(c.from, c.to, shadow);
  if (!catalogs.ok()) return Fail(catalogs.status());
  const auto& [from, to] = *catalogs;
  schemadiff::DiffOptions options{.allow_data_loss = c.allow_data_loss};
  auto plan = !renames.empty() ? schemadiff::DiffWithRenames(from, to, renames, shadow, options, c.reverse)
              : c.reverse      ? schemadiff::Diff(to, from, options)
                               : schemadiff::Diff(from, to, options);
  if (!plan.ok()) return Fail(plan.status());
  std::string title = c.reverse ? fmt::format("rollback: {} -> {}", Describe(c.to), Describe(c.from))
                                : fmt::format("{} -> {}", Describe(c.from), Describe(c.to));
  std::cout << schemadiff::RenderScript(*plan, title);
  if (!c.quiet) {
    std::cerr << schemadiff::Summary(*plan);
    for (const auto& r : schemadiff::RenameStatements(renames)) std::cerr << "renamed: " << r << "\n";
    if (renames.empty()) {
      // Never applied silently: a drop and a create stay what they are.
      const auto suggestions = schemadiff::SuggestRenames(from, to);
      if (!suggestions.empty()) {
        std::cerr << "possible renames (the script drops and creates them; to rename instead, add):\n";
        for (const auto& s : suggestions) std::cerr << "  " << s << "\n";
      }
    }
  }
  return 0;
}

int RunApply(const SchemaCommands& c) {
  std::optional<std::string> script = ReadFile(c.script);
  if (!script) return Fail(absl::NotFoundError(c.script + ": cannot read"));
  auto session = pg::Session::Connect(c.url);
  if (!session.ok()) return Fail(session.status());
  auto result = schemadiff::ApplyScript(**session, *script, c.script == "-" ? "<stdin>" : c.script);
  if (!result.ok()) return Fail(result.status());
  if (!c.quiet) {
    std::cerr << fmt::format("applied {} statement(s) in one transaction in {:.3f} s\n", result->statements,
                             result->seconds);
  }
  return 0;
}

}  // namespace

void AddSchemaCommands(CLI::App& app, SchemaCommands* c) {
  auto* schema = app.add_subcommand("schema", "compare schemas and apply migration scripts (no Strata service needed)");
  schema->require_subcommand(1);
  c->diff = schema->add_subcommand(
      "diff", "print the script that turns FROM into TO (script on stdout, summary on stderr)");
  c->diff->add_option("from", c->from, "a .sql file, a folder of .sql files, or a postgres:// URL")->required();
  c->diff->add_option("to", c->to, "a .sql file, a folder of .sql files, or a postgres:// URL")->required();
  c->diff->add_flag("--reverse", c->reverse, "print the rollback script (TO back to FROM) instead");
  c->diff->add_option("--shadow-url", c->shadow_url,
                      "server for the shadow databases that SQL sources are loaded into "
                      "(env STRATA_SHADOW_URL; default: the local server, libpq defaults)");
  c->diff->add_flag("--allow-data-loss", c->allow_data_loss,
                    "emit steps that lose data (dropped tables or columns, narrowed types) instead of refusing");
  c->diff->add_option("--rename", c->renames,
                      "KIND:FROM=TO: FROM's object is TO's under a new name (table:sales.orders=sales.purchases; "
                      "functions with argument types); the script renames it, keeping its rows")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->diff->add_option("--rename-column", c->column_renames,
                      "SCHEMA.TABLE.COLUMN=NEW: a column renamed (the table named as after --rename)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->diff->add_option("--rename-value", c->value_renames,
                      "SCHEMA.TYPE.LABEL=NEW: an enum label renamed (ALTER TYPE ... RENAME VALUE keeps the rows using it)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  c->diff->add_flag("-q,--quiet", c->quiet, "no summary on stderr");
  c->apply = schema->add_subcommand("apply", "run a script in one transaction: all of it or nothing");
  c->apply->add_option("script", c->script, "the script (- for stdin)")->required();
  c->apply->add_option("--url", c->url, "postgres:// URL of the database")->required();
  c->apply->add_flag("-q,--quiet", c->quiet, "no summary on stderr");
}

std::optional<int> RunSchemaCommand(const SchemaCommands& c) {
  if (c.diff && c.diff->parsed()) return RunDiff(c);
  if (c.apply && c.apply->parsed()) return RunApply(c);
  return std::nullopt;
}

}  // namespace strata::cli
