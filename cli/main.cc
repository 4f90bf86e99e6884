// strata: the command-line client. Talks gRPC to any Strata endpoint.
//
// Exit codes: 0 ok; 1 other error; 2 usage; 3 not authenticated or not
// allowed; 4 not found; 5 conflict (e.g. held by someone else); 6 server or
// event log unavailable (safe to retry).
#include <grpcpp/grpcpp.h>
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include "CLI/CLI.hpp"
#include "common.h"
#include "fmt/format.h"
#include "history_commands.h"
#include "model/object_id.h"
#include "impact_commands.h"
#include "deploy_commands.h"
#include "schema_commands.h"
#include "lint_commands.h"

using namespace strata::cli;

int main(int argc, char** argv) {
  Globals g;
  if (const char* e = std::getenv("STRATA_ENDPOINT")) g.endpoint = e;
  if (const char* t = std::getenv("STRATA_TOKEN")) g.token = t;
  if (const char* h = std::getenv("STRATA_HISTORY_ENDPOINT")) g.history_endpoint = h;
  if (const char* i = std::getenv("STRATA_IMPACT_ENDPOINT")) g.impact_endpoint = i;
  if (const char* d = std::getenv("STRATA_DEPLOY_ENDPOINT")) g.deploy_endpoint = d;
  if (g.endpoint.empty()) g.endpoint = "127.0.0.1:7300";
  if (const char* v = std::getenv("STRATA_TLS")) g.tls.enabled = std::string(v) == "1" || std::string(v) == "true";
  if (const char* v = std::getenv("STRATA_TLS_CA")) g.tls.ca = v;
  if (const char* v = std::getenv("STRATA_TLS_CERT")) g.tls.cert = v;
  if (const char* v = std::getenv("STRATA_TLS_KEY")) g.tls.key = v;

  CLI::App app{"strata: database change management (check-out/check-in, history, deploy)"};
  app.require_subcommand(1);
  app.add_option("--endpoint", g.endpoint, "Strata endpoint host:port (env STRATA_ENDPOINT)");
  app.add_option("--history-endpoint", g.history_endpoint,
                 "history service host:port when it runs apart (env STRATA_HISTORY_ENDPOINT; "
                 "default: --endpoint)");
  app.add_option("--impact-endpoint", g.impact_endpoint,
                 "impact service host:port when it runs apart (env STRATA_IMPACT_ENDPOINT; default: --endpoint)");
  app.add_option("--deploy-endpoint", g.deploy_endpoint,
                 "deploy service host:port when it runs apart (env STRATA_DEPLOY_ENDPOINT; default: --endpoint)");
  app.add_option("--token", g.token, "bearer token (env STRATA_TOKEN)");
  app.add_flag("--tls", g.tls.enabled, "connect over TLS, trusting the system's CAs (env STRATA_TLS=1)");
  app.add_option("--tls-ca", g.tls.ca, "PEM CA bundle to trust; implies --tls (env STRATA_TLS_CA)");
  app.add_option("--tls-cert", g.tls.cert, "PEM client certificate for mTLS (env STRATA_TLS_CERT)");
  app.add_option("--tls-key", g.tls.key, "PEM key of --tls-cert (env STRATA_TLS_KEY)");
  app.add_option("--tls-server-name", g.tls.server_name, "name to verify in the server's certificate");
  app.add_flag("--json", g.json, "machine-readable JSON output");
  app.add_option("--timeout", g.timeout_s, "seconds to wait for the server");
  app.add_option("--max-definition-bytes", g.max_definition_bytes,
                 "the largest definition or data script to send (bytes; the servers have their own limit)")
      ->capture_default_str();

  std::vector<std::string> objects;
  std::string reason, file, message, object, user, schema, site;
  bool keep = false, force = false, definition = false;

  auto* co = app.add_subcommand("checkout", "check out objects (all or nothing); reserves new names");
  co->add_option("objects", objects, "objects, e.g. table:sales.orders or sales.orders")->required();
  co->add_option("-r,--reason", reason, "why (shown to others)");
  std::string task;
  co->add_option("--task", task, "the work item the change belongs to, e.g. ABC-123 (the policy may require one)");
  bool new_object = false;
  co->add_flag("--new", new_object,
               "check out a name whose object was renamed away, to create a new object under it (without it, the "
               "renamed object is checked out under its new name)");
  std::string checkout_file;
  co->add_option("-f,--file", checkout_file,
                 "write the object's current definition to this file (one object; - for stdout), to edit and check in");

  auto* ci = app.add_subcommand("checkin", "check in a new version of an object you hold");
  ci->add_option("object", object, "object")->required();
  std::string from_env;
  auto* ci_file = ci->add_option("-f,--file", file, "file with the object's full definition (- for stdin)");
  auto* ci_env = ci->add_option("--from-env", from_env,
                                "take the definition from this environment's database (its catalog, as Strata "
                                "versions it) instead of a file");
  std::string data_file, data_env;
  auto* ci_data = ci->add_option("--data", data_file,
                                 "a tracked table's rows: CSV with a header, or INSERT statements (- for stdin); "
                                 "stores a new data version (strata data track)");
  auto* ci_data_env = ci->add_option("--data-from-env", data_env,
                                     "a tracked table's rows as they are in this environment's database");
  ci_file->excludes(ci_env);
  ci_env->excludes(ci_file);
  for (CLI::Option* a : {ci_file, ci_env, ci_data, ci_data_env})
    for (CLI::Option* b : {ci_file, ci_env, ci_data, ci_data_env})
      if (a != b && !((a == ci_file && b == ci_env) || (a == ci_env && b == ci_file))) a->excludes(b);
  ci->add_option("-m,--message", message, "check-in message")->required();
  ci->add_flag("--keep", keep, "keep the object checked out");
  std::vector<std::string> rename_columns;
  ci->add_option("--rename-column", rename_columns,
                 "OLD=NEW: a column of the latest version this definition renames, or an enum type's label (deployments rename it and keep "
                 "its values instead of dropping and adding it); repeat for several")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);

  auto* dr = app.add_subcommand("drop", "drop objects you hold: a \"dropped\" version each; releases then drop them");
  std::vector<std::string> drop_objects;
  bool cascade = false;
  dr->add_option("objects", drop_objects, "objects to drop together (dependents first)")->required();
  dr->add_option("-m,--message", message, "why (the dropped version's message)")->required();
  dr->add_flag("--cascade", cascade,
               "also drop every object that depends on them (each must be free or yours; free ones are checked out)");

  auto* rn = app.add_subcommand("rename", "rename an object you hold: its versions continue under the new name, and "
                                             "releases rename it (ALTER ... RENAME) keeping its rows");
  std::string rename_to;
  rn->add_option("object", object, "object, e.g. table:sales.orders")->required();
  rn->add_option("new_name", rename_to, "NAME, or SCHEMA.NAME to move it to another schema (a schema: its new name)")->required();
  rn->add_option("-m,--message", message, "why (the new version's message)")->required();
  rn->add_flag("--keep", keep, "keep the object checked out under its new name");

  auto* un = app.add_subcommand("undo", "give up check-outs without checking in");
  un->add_option("objects", objects, "objects")->required();

  auto* rl = app.add_subcommand("release-lock", "take a lock away from its holder (dba, admin)");
  rl->add_option("object", object, "object")->required();
  rl->add_flag("--force", force, "required: confirms taking someone else's lock")->required();
  rl->add_option("-r,--reason", reason, "why (recorded in the audit trail)")->required();

  auto* lk = app.add_subcommand("locks", "who holds what");
  lk->add_option("--user", user, "only this user's locks");
  lk->add_option("--schema", schema, "only objects in this schema");
  lk->add_option("--site", site, "only locks held from this site");

  auto* sh = app.add_subcommand("show", "an object's head; OBJECT@N: version N from the history");
  sh->add_option("object", object, "object")->required();
  sh->add_flag("--definition", definition, "print only the latest definition");

  auto* who = app.add_subcommand("whoami", "the identity the server sees for your token");

  HistoryCommands history;
  AddHistoryCommands(app, &history);
  ImpactCommands impact;
  AddImpactCommands(app, &impact);
  SchemaCommands schema_cmds;
  AddSchemaCommands(app, &schema_cmds);
  LintCommands lint_cmds;
  AddLintCommands(app, &lint_cmds);
  DeployCommands deploy_cmds;
  AddDeployCommands(app, &deploy_cmds);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (auto code = RunSchemaCommand(schema_cmds)) return *code;
  auto credentials = strata::hosting::MakeChannelCredentials(g.tls);
  if (!credentials.ok()) {
    std::cerr << "error: " << credentials.status().message() << std::endl;
    return 2;
  }
  g.credentials = *credentials;
  Client client(g);
  if (auto code = RunHistoryCommand(history, client, g)) return *code;
  if (auto code = RunImpactCommand(impact, client, g)) return *code;
  if (auto code = RunDeployCommand(deploy_cmds, client, g)) return *code;
  if (auto code = RunLintCommand(lint_cmds, client, g)) return *code;
  if (*sh && object.find('@') != std::string::npos) return ShowVersion(client, g, object, definition);
  grpc::Status s;
  if (*co) {
    if (!checkout_file.empty() && objects.size() != 1) {
      std::cerr << "error: --file takes the definition of one object; check out one object at a time" << std::endl;
      return 2;
    }
    strata::v1::CheckOutRequest req;
    for (const auto& o : objects) req.add_objects(o);
    req.set_reason(reason);
    req.set_new_object(new_object);
    req.set_task(task);
    strata::v1::CheckOutResponse resp;
    s = client.stub().CheckOut(client.Context().get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    for (const auto& h : resp.objects()) {
      if (h.renamed_from().empty()) continue;
      auto was = strata::model::ParseObjectId(h.renamed_from());
      for (const auto& o : objects)
        if (was.ok() && (o == h.renamed_from() || o == was->QualifiedName()))
          std::cerr << fmt::format("note: {} was renamed to {} (version {}); checked out {} (--new checks out the old "
                                   "name, to create a new object under it)\n",
                                   h.renamed_from(), h.object(), h.renamed_from_version(), h.object());
    }
    if (g.json) {
      std::cout << ToJson(resp) << "\n";
    } else {
      for (const auto& h : resp.objects())
        std::cout << fmt::format("checked out {} ({})\n", h.object(),
                                 h.latest_version() ? fmt::format("latest version {}{}", h.latest_version(),
                                                                                  h.dropped() ? ", dropped" : "")
                                                    : std::string("new: name reserved"));
    }
    if (!checkout_file.empty()) {
      // The definition as of the check-out: the latest version's.
      strata::v1::GetObjectRequest get;
      get.set_object(resp.objects(0).object());
      strata::v1::ObjectHead head;
      s = client.stub().GetObject(client.Context().get(), get, &head);
      if (!s.ok()) return Report(s, g);
      if (head.latest_version() == 0) {
        std::cerr << fmt::format("{} has no version yet: nothing written to {}\n", head.object(), checkout_file);
      } else if (head.dropped()) {
        std::cerr << fmt::format("{} is dropped (version {}): nothing written to {}; strata revert {} --to N "
                                 "brings a version back\n",
                                 head.object(), head.latest_version(), checkout_file, head.object());
      } else if (checkout_file == "-") {
        std::cout << head.definition();
      } else {
        std::ofstream out(checkout_file, std::ios::binary | std::ios::trunc);
        out << head.definition();
        if (!out.flush()) {
          std::cerr << fmt::format("error: cannot write {}\n", checkout_file);
          return 1;
        }
        std::cerr << fmt::format("wrote version {} of {} to {}\n", head.latest_version(), head.object(),
                                 checkout_file);
      }
    }
  } else if (*ci && (!data_file.empty() || !data_env.empty())) {
    // Reference data: a new data version of a tracked table (deploy service).
    strata::v1::CheckInDataRequest req;
    req.set_table(object);
    req.set_message(message);
    req.set_keep_checked_out(keep);
    if (!data_env.empty()) {
      req.set_from_environment(data_env);
    } else {
      auto rows = ReadFile(data_file);
      if (!rows) {
        std::cerr << "error: cannot read " << data_file << std::endl;
        return 1;
      }
      if (absl::Status size = strata::hosting::CheckSize(data_file, rows->size(), g.max_definition_bytes); !size.ok()) {
        std::cerr << "error: " << size.message() << std::endl;
        return 2;
      }
      req.set_rows(std::move(*rows));
    }
    strata::v1::DataVersion resp;
    s = client.deploy().CheckInData(client.Context(120).get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) {
      std::cout << ToJson(resp) << "\n";
    } else if (resp.unchanged()) {
      std::cout << fmt::format("{}: rows unchanged (data v{}, {} rows); nothing stored, still checked out\n",
                               resp.table(), resp.version(), resp.row_count());
    } else {
      std::cout << fmt::format("{}: data v{} stored, {} rows ({} inserted, {} updated, {} deleted){}\n", resp.table(),
                               resp.version(), resp.row_count(), resp.inserted(), resp.updated(), resp.deleted(),
                               keep ? "; still checked out" : "");
    }
    return 0;
  } else if (*ci) {
    std::optional<std::string> text;
    if (!from_env.empty()) {
      // Capture: the definition as it is in the environment's database now.
      std::string id = object;
      if (id.find(':') == std::string::npos) {  // "sales.orders": resolved by the lock service
        strata::v1::GetObjectRequest get;
        get.set_object(object);
        strata::v1::ObjectHead head;
        s = client.stub().GetObject(client.Context().get(), get, &head);
        if (!s.ok()) return Report(s, g);
        id = head.object();
      }
      strata::v1::CaptureRequest capture;
      capture.set_environment(from_env);
      capture.set_object(id);
      strata::v1::CaptureResponse captured;
      s = client.deploy().CaptureDefinition(client.Context(120).get(), capture, &captured);
      if (!s.ok()) return Report(s, g);
      text = captured.definition();
    } else if (file.empty()) {
      std::cerr << "error: give the definition with --file FILE (- for stdin) or --from-env ENV" << std::endl;
      return 2;
    } else {
      text = ReadFile(file);
    }
    if (!text) {
      std::cerr << "error: cannot read " << file << std::endl;
      return 1;
    }
    if (absl::Status size = strata::hosting::CheckSize(file.empty() ? "the definition" : file, text->size(),
                                                       g.max_definition_bytes);
        !size.ok()) {
      std::cerr << "error: " << size.message() << std::endl;
      return 2;
    }
    strata::v1::CheckInRequest req;
    req.set_object(object);
    req.set_definition(*text);
    req.set_message(message);
    req.set_keep_checked_out(keep);
    for (const auto& r : rename_columns) req.add_rename_columns(r);
    strata::v1::CheckInResponse resp;
    s = client.stub().CheckIn(client.Context().get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) {
      std::cout << ToJson(resp) << "\n";
    } else {
      std::cout << fmt::format("checked in {} version {}{}\n", resp.object().object(),
                               resp.object().latest_version(), keep ? " (still checked out)" : "");
      PrintValidation(resp);
    }
  } else if (*dr) {
    strata::v1::DropRequest req;
    for (const auto& o : drop_objects) req.add_objects(o);
    req.set_message(message);
    req.set_cascade(cascade);
    strata::v1::DropResponse resp;
    s = client.stub().Drop(client.Context().get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) {
      std::cout << ToJson(resp) << "\n";
    } else {
      for (const auto& h : resp.objects())
        std::cout << fmt::format("dropped {} (version {})\n", h.object(), h.latest_version());
      if (!resp.cascaded().empty()) {
        std::string also;
        for (const auto& c : resp.cascaded()) also += (also.empty() ? "" : ", ") + c;
        std::cout << fmt::format("with --cascade, also: {}\n", also);
      }
    }
  } else if (*rn) {
    strata::v1::RenameRequest req;
    req.set_object(object);
    req.set_to(rename_to);
    req.set_message(message);
    req.set_keep_checked_out(keep);
    strata::v1::RenameResponse resp;
    s = client.stub().Rename(client.Context().get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) {
      std::cout << ToJson(resp) << "\n";
    } else {
      std::cout << fmt::format("renamed {} to {} (version {}){}\n", resp.previous().object(), resp.object().object(),
                               resp.object().latest_version(), keep ? " (still checked out)" : "");
      for (const auto& f : resp.followers())
        std::cout << fmt::format("  {} (version {}) {}\n", f.object(), f.latest_version(),
                                 resp.object().kind() == "schema" ? "moved with it" : "follows it");
    }
    for (const auto& w : resp.warnings()) std::cerr << "warning: " << w << "\n";
  } else if (*un) {
    strata::v1::UndoCheckOutRequest req;
    for (const auto& o : objects) req.add_objects(o);
    strata::v1::UndoCheckOutResponse resp;
    s = client.stub().UndoCheckOut(client.Context().get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) {
      std::cout << ToJson(resp) << "\n";
    } else {
      for (const auto& h : resp.objects())
        std::cout << fmt::format("released {}{}\n", h.object(),
                                 h.latest_version() ? "" : " (reserved name freed)");
    }
  } else if (*rl) {
    strata::v1::ForceReleaseRequest req;
    req.set_object(object);
    req.set_reason(reason);
    strata::v1::ForceReleaseResponse resp;
    s = client.stub().ForceRelease(client.Context().get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) {
      std::cout << ToJson(resp) << "\n";
    } else {
      std::cout << fmt::format("force-released {} (was held by {} ({}) since {})\n",
                               resp.object().object(), resp.released().user(), resp.released().site(),
                               When(resp.released().since()));
    }
  } else if (*lk) {
    strata::v1::ListLocksRequest req;
    req.set_user(user);
    req.set_schema(schema);
    req.set_site(site);
    strata::v1::ListLocksResponse resp;
    s = client.stub().ListLocks(client.Context().get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) {
      std::cout << ToJson(resp) << "\n";
    } else if (resp.locks().empty()) {
      std::cout << "no objects are checked out\n";
    } else {
      std::vector<std::vector<std::string>> rows;
      for (const auto& l : resp.locks())
        rows.push_back({l.object(), l.user(), l.site(), When(l.since()) + " UTC", Age(l.since()),
                        l.task().empty() ? l.reason() : fmt::format("[{}] {}", l.task(), l.reason())});
      PrintTable({"OBJECT", "USER", "SITE", "SINCE", "FOR", "REASON"}, rows);
    }
  } else if (*sh) {
    strata::v1::GetObjectRequest req;
    req.set_object(object);
    strata::v1::ObjectHead h;
    s = client.stub().GetObject(client.Context().get(), req, &h);
    if (!s.ok()) return Report(s, g);
    // The old name of a renamed object resolves to it, with a notice.
    for (int names = 0; names < 32 && !h.renamed_to().empty(); ++names) {
      std::cerr << fmt::format("note: {} was renamed to {} in version {}; showing {}\n", h.object(), h.renamed_to(),
                               h.latest_version(), h.renamed_to());
      req.set_object(h.renamed_to());
      s = client.stub().GetObject(client.Context().get(), req, &h);
      if (!s.ok()) return Report(s, g);
    }
    if (g.json) {
      std::cout << ToJson(h) << "\n";
    } else if (definition) {
      std::cout << h.definition();
      if (!h.definition().empty() && h.definition().back() != '\n') std::cout << "\n";
    } else {
      std::cout << fmt::format("object:       {}\n", h.object());
      std::cout << fmt::format("version:      {}{}\n",
                               h.latest_version() ? std::to_string(h.latest_version()) : std::string("none (name reserved)"),
                               h.dropped() ? " (dropped; strata revert OBJECT --to N brings it back)" : "");
      if (!h.renamed_from().empty())
        std::cout << fmt::format("renamed from: {} (versions before {})\n", h.renamed_from(), h.renamed_from_version());
      std::cout << fmt::format("checked out:  {}\n", HolderText(h));
      if (h.has_lock() && !h.lock().reason().empty())
        std::cout << fmt::format("reason:       {}\n", h.lock().reason());
      if (h.has_lock() && !h.lock().task().empty()) std::cout << fmt::format("task:         {}\n", h.lock().task());
      for (const auto& f : h.policy_findings()) std::cout << fmt::format("policy:       {}\n", f);
      for (const auto& w : h.waivers())
        std::cout << fmt::format("waived:       {} by {} {}: {}\n", w.rule(), w.user(), When(w.time()), w.reason());
      if (h.has_last_check_in()) {
        const auto& c = h.last_check_in();
        std::cout << fmt::format("last checkin: v{} by {} ({}) at {} UTC: {}\n", c.version(), c.user(),
                                 c.site(), When(c.time()), c.message());
        std::cout << fmt::format("sha256:       {}\n", c.definition_sha256());
      }
    }
  } else if (*who) {
    strata::v1::WhoAmIResponse resp;
    s = client.stub().WhoAmI(client.Context().get(), strata::v1::WhoAmIRequest(), &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) {
      std::cout << ToJson(resp) << "\n";
    } else {
      std::string roles;
      for (const auto& r : resp.roles()) roles += (roles.empty() ? "" : ", ") + r;
      std::cout << fmt::format("{} ({}), roles: {}; server site {}\n", resp.user(), resp.site(), roles,
                               resp.server_site());
    }
  }
  return 0;
}
