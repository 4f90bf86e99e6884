#include "impact_commands.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "fmt/ranges.h"

namespace strata::cli {
namespace {

using strata::v1::Dependency;

std::string Join(const google::protobuf::RepeatedPtrField<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

std::string NodeLabel(const Dependency& d) {
  std::string s = d.object();
  if (d.unknown()) return s + "  (unknown: not in Strata)";
  if (d.all_columns()) s += "  columns: *";
  else if (d.columns_size() > 0) s += "  columns: " + Join(d.columns());
  if (d.via_size() > 0) s += "  [" + Join(d.via()) + "]";
  return s;
}

// Prints nodes (a breadth-first walk, each naming its parent) as a tree.
void PrintTree(const std::string& root, const std::string& root_label,
               const google::protobuf::RepeatedPtrField<Dependency>& nodes) {
  std::map<std::string, std::vector<const Dependency*>> children;
  for (const auto& n : nodes) children[n.parent()].push_back(&n);
  std::cout << root_label << "\n";
  std::function<void(const std::string&, const std::string&)> print = [&](const std::string& parent,
                                                                           const std::string& indent) {
    auto it = children.find(parent);
    if (it == children.end()) return;
    const auto& kids = it->second;
    for (size_t i = 0; i < kids.size(); ++i) {
      const bool last = i + 1 == kids.size();
      std::cout << indent << (last ? "└── " : "├── ") << NodeLabel(*kids[i]) << "\n";
      print(kids[i]->object(), indent + (last ? "    " : "│   "));
    }
  };
  print(root, "");
}

// "table:s.a", or "table:s.a: add foreign key fk -> table:s.b" for a key
// split out of a cycle.
std::string StepText(const v1::OrderStep& step) {
  if (step.references().empty()) return step.object();
  return fmt::format("{}: add foreign key {} -> {}", step.object(),
                     step.constraint().empty() ? "(unnamed)" : step.constraint(), step.references());
}

int PrintChangeImpact(const v1::ChangeImpact& r) {
  std::cout << fmt::format("impact of the proposed change to {}{}\n", r.object(),
                           r.current_version() ? fmt::format(" (now at version {})", r.current_version())
                                               : std::string(" (new object)"));
  if (r.unchanged()) std::cout << "  the proposal equals the current definition (layout and comments aside)\n";
  if (r.drops_object()) std::cout << "  drops the object\n";
  for (const auto& c : r.dropped_columns()) std::cout << fmt::format("  drops column {}\n", c);
  for (const auto& t : r.type_changes())
    std::cout << fmt::format("  column {}: {} -> {}{}\n", t.column(), t.from_type(), t.to_type(),
                             t.narrowing() ? " (narrowing)" : t.rewrite() ? "" : " (no rewrite)");
  std::cout << "\n";
  const auto direct = std::count_if(r.dependents().begin(), r.dependents().end(),
                                    [](const Dependency& d) { return d.depth() == 1; });
  if (r.breaking().empty()) {
    std::cout << fmt::format("breaks none of its {} direct dependents\n", direct);
  } else {
    std::cout << fmt::format("breaks {} of its {} direct dependents:\n", r.breaking_size(), direct);
    for (const auto& b : r.breaking()) {
      std::cout << fmt::format("  ✗ {}: {}", b.object(), b.reason());
      if (!b.lines().empty())
        std::cout << fmt::format(" (line{} {})", b.lines_size() > 1 ? "s" : "", fmt::join(b.lines(), ", "));
      std::cout << "\n";
    }
  }
  if (!r.affected().empty()) {
    std::cout << "must be recreated with them:\n";
    for (const auto& a : r.affected()) std::cout << fmt::format("  • {} (uses {})\n", a.object(), a.parent());
  }
  if (!r.findings().empty()) {
    std::cout << "\nrisk:\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& f : r.findings()) rows.push_back({"  " + f.severity(), f.code(), f.reason()});
    for (const auto& row : rows) std::cout << fmt::format("{:<9} {:<32} {}\n", row[0], row[1], row[2]);
  }
  if (!r.unknown_references().empty())
    std::cout << "\nunknown references (not in Strata): " << Join(r.unknown_references()) << "\n";
  return 0;
}

}  // namespace

void AddImpactCommands(CLI::App& app, ImpactCommands* c) {
  c->deps = app.add_subcommand("deps", "what an object uses, directly and transitively");
  c->deps->add_option("object", c->object, "object, e.g. view:sales.open_orders")->required();
  c->deps->add_option("--depth", c->depth, "levels to follow (0: all)")->capture_default_str();

  c->impact = app.add_subcommand(
      "impact", "what depends on objects, and what a proposed change would break and risk");
  c->impact->add_option("objects", c->objects, "one object, or several (the impact of changing them together)")
      ->required();
  c->impact->add_option("--proposed", c->proposed,
                        "file with the proposed definition (CREATE ...) or ALTER/DROP/RENAME statements");
  c->impact->add_flag("--drop", c->drop, "the impact of dropping the object");
  c->impact->add_option("--rename", c->rename,
                        "the impact of renaming the object to NEW (NAME, or SCHEMA.NAME to move it): what names it "
                        "in a body that PostgreSQL does not rewrite, with the lines");
  c->impact->add_option("--depth", c->depth, "levels of dependents to follow (0: all)")->capture_default_str();

  c->order = app.add_subcommand("order", "objects in dependency order (the order to create them)");
  c->order->add_option("objects", c->objects, "objects")->required();
}

std::optional<int> RunImpactCommand(const ImpactCommands& c, Client& client, const Globals& g) {
  grpc::Status s;
  if (*c.deps) {
    v1::DependencyRequest req;
    req.set_object(c.object);
    req.set_depth(c.depth);
    v1::DependencyTree tree;
    s = client.impact().GetDependencies(client.Context().get(), req, &tree);
    if (!s.ok()) return Report(s, g);
    if (g.json) {
      std::cout << ToJson(tree) << "\n";
      return 0;
    }
    PrintTree(tree.object(), fmt::format("{} (version {}) uses:", tree.object(), tree.version()), tree.nodes());
    if (tree.nodes().empty()) std::cout << "  nothing\n";
    for (const auto& n : tree.notes()) std::cout << "note: " << n << "\n";
    return 0;
  }
  if (*c.impact) {
    if (c.objects.size() > 1) {
      if (!c.proposed.empty() || c.drop || !c.rename.empty()) {
        std::cerr << "error: --proposed and --drop analyze one object\n";
        return 2;
      }
      v1::AnalyzeSetRequest req;
      for (const auto& o : c.objects) req.add_objects(o);
      v1::SetImpact resp;
      s = client.impact().AnalyzeSet(client.Context().get(), req, &resp);
      if (!s.ok()) return Report(s, g);
      if (g.json) {
        std::cout << ToJson(resp) << "\n";
        return 0;
      }
      std::cout << "order:\n";
      int n = 0;
      for (const auto& step : resp.order()) std::cout << fmt::format("  {:>3}. {}\n", ++n, StepText(step));
      if (resp.dependents_outside().empty()) {
        std::cout << "no other objects depend on these\n";
      } else {
        std::cout << fmt::format("{} other objects depend on these:\n", resp.dependents_outside_size());
        for (const auto& d : resp.dependents_outside())
          std::cout << fmt::format("  {} (uses {})\n", d.object(), d.parent());
      }
      for (const auto& u : resp.unknown_references()) std::cout << "unknown reference: " << u << "\n";
      return 0;
    }
    if (c.proposed.empty() && !c.drop && c.rename.empty()) {
      v1::DependencyRequest req;
      req.set_object(c.objects[0]);
      req.set_depth(c.depth);
      v1::DependencyTree tree;
      s = client.impact().GetDependents(client.Context().get(), req, &tree);
      if (!s.ok()) return Report(s, g);
      if (g.json) {
        std::cout << ToJson(tree) << "\n";
        return 0;
      }
      PrintTree(tree.object(), fmt::format("{} (version {}) is used by:", tree.object(), tree.version()),
                tree.nodes());
      if (tree.nodes().empty()) std::cout << "  nothing\n";
      return 0;
    }
    v1::AnalyzeChangeRequest req;
    req.set_object(c.objects[0]);
    req.set_depth(c.depth);
    if (!c.rename.empty()) {
      req.set_rename_to(c.rename);  // the service writes the ALTER ... RENAME
    } else if (!c.drop) {
      auto text = ReadFile(c.proposed);
      if (!text) {
        std::cerr << "error: cannot read " << c.proposed << std::endl;
        return 1;
      }
      if (text->empty()) {
        std::cerr << "error: " << c.proposed << " is empty; use --drop for the impact of dropping the object\n";
        return 2;
      }
      req.set_proposed_definition(*text);
    }
    v1::ChangeImpact resp;
    s = client.impact().AnalyzeChange(client.Context().get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) {
      std::cout << ToJson(resp) << "\n";
      return 0;
    }
    return PrintChangeImpact(resp);
  }
  if (*c.order) {
    v1::OrderRequest req;
    for (const auto& o : c.objects) req.add_objects(o);
    v1::OrderResponse resp;
    s = client.impact().OrderObjects(client.Context().get(), req, &resp);
    if (!s.ok()) return Report(s, g);
    if (g.json) {
      std::cout << ToJson(resp) << "\n";
      return 0;
    }
    int n = 0;
    for (const auto& step : resp.steps()) std::cout << fmt::format("{:>3}. {}\n", ++n, StepText(step));
    return 0;
  }
  return std::nullopt;
}

}  // namespace strata::cli
