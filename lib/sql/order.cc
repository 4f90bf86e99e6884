#include "sql/order.h"

#include <algorithm>
#include <map>
#include <queue>
#include <set>

#include "absl/strings/str_join.h"
#include "fmt/format.h"

namespace strata::sql {

int KindRank(const std::string& kind) {
  static const std::map<std::string, int> kRank = {
      {"schema", 0},   {"extension", 1}, {"type", 2},     {"domain", 3},
      {"sequence", 4}, {"table", 5},     {"function", 6}, {"procedure", 6},
      {"view", 7},     {"materialized_view", 8}, {"index", 9}, {"trigger", 10}};
  auto it = kRank.find(kind);
  return it == kRank.end() ? 11 : it->second;
}

namespace {

struct Graph {
  // edges[a] = objects that must come after a.
  std::vector<std::set<int>> after;
  std::vector<int> indegree;
};

// Strongly connected components (Tarjan); returns the component of each node.
std::vector<int> Components(const std::vector<std::set<int>>& after) {
  const int n = static_cast<int>(after.size());
  std::vector<int> index(n, -1), low(n, 0), comp(n, -1);
  std::vector<bool> on_stack(n, false);
  std::vector<int> stack;
  int counter = 0, comps = 0;
  // Iterative to survive deep graphs.
  for (int root = 0; root < n; ++root) {
    if (index[root] != -1) continue;
    std::vector<std::pair<int, std::set<int>::const_iterator>> work;
    work.push_back({root, after[root].begin()});
    index[root] = low[root] = counter++;
    stack.push_back(root);
    on_stack[root] = true;
    while (!work.empty()) {
      auto& [v, it] = work.back();
      if (it != after[v].end()) {
        const int w = *it++;
        if (index[w] == -1) {
          index[w] = low[w] = counter++;
          stack.push_back(w);
          on_stack[w] = true;
          work.push_back({w, after[w].begin()});
        } else if (on_stack[w]) {
          low[v] = std::min(low[v], index[w]);
        }
        continue;
      }
      if (low[v] == index[v]) {
        int w;
        do {
          w = stack.back();
          stack.pop_back();
          on_stack[w] = false;
          comp[w] = comps;
        } while (w != v);
        ++comps;
      }
      const int done = v;
      work.pop_back();
      if (!work.empty()) low[work.back().first] = std::min(low[work.back().first], low[done]);
    }
  }
  return comp;
}

}  // namespace

absl::StatusOr<std::vector<OrderStep>> OrderByDependency(const std::vector<OrderInput>& objects) {
  const int n = static_cast<int>(objects.size());
  std::map<std::string, int> index;
  for (int i = 0; i < n; ++i)
    if (!index.emplace(objects[i].id, i).second)
      return absl::InvalidArgumentError(fmt::format("{} is listed twice", objects[i].id));
  auto lookup = [&](const std::string& id) {
    auto it = index.find(id);
    return it == index.end() ? -1 : it->second;
  };

  // All edges, to find the cycles.
  std::vector<std::set<int>> all(n);
  for (int i = 0; i < n; ++i) {
    for (const auto& d : objects[i].depends_on)
      if (int j = lookup(d); j >= 0 && j != i) all[j].insert(i);
    for (const auto& d : objects[i].soft_depends_on)
      if (int j = lookup(d); j >= 0 && j != i) all[j].insert(i);
    for (const auto& fk : objects[i].foreign_keys)
      if (int j = lookup(fk.references); j >= 0 && j != i) all[j].insert(i);
  }
  const std::vector<int> comp = Components(all);

  // Keep: hard edges; soft edges and FKs outside cycles. FKs inside a cycle
  // become separate steps.
  std::vector<std::set<int>> after(n);
  std::vector<OrderStep> split;
  for (int i = 0; i < n; ++i) {
    for (const auto& d : objects[i].depends_on)
      if (int j = lookup(d); j >= 0 && j != i) after[j].insert(i);
    for (const auto& d : objects[i].soft_depends_on)
      if (int j = lookup(d); j >= 0 && j != i && comp[j] != comp[i]) after[j].insert(i);
    for (const auto& fk : objects[i].foreign_keys) {
      const int j = lookup(fk.references);
      if (j < 0 || j == i) continue;
      if (comp[j] == comp[i]) {
        split.push_back({objects[i].id, fk.constraint, fk.references});
      } else {
        after[j].insert(i);
      }
    }
  }
  std::vector<int> indegree(n, 0);
  for (int i = 0; i < n; ++i)
    for (int j : after[i]) ++indegree[j];
  auto later = [&](int a, int b) {
    const int ra = KindRank(objects[a].kind), rb = KindRank(objects[b].kind);
    if (ra != rb) return ra > rb;
    return objects[a].id > objects[b].id;
  };
  std::priority_queue<int, std::vector<int>, decltype(later)> ready(later);
  for (int i = 0; i < n; ++i)
    if (indegree[i] == 0) ready.push(i);
  std::vector<OrderStep> steps;
  steps.reserve(n + split.size());
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    steps.push_back({objects[i].id, "", ""});
    for (int j : after[i])
      if (--indegree[j] == 0) ready.push(j);
  }
  if (static_cast<int>(steps.size()) < n) {
    // Name one cycle among what is left.
    std::vector<std::string> left;
    for (int i = 0; i < n; ++i)
      if (indegree[i] > 0) left.push_back(objects[i].id);
    std::sort(left.begin(), left.end());
    return absl::FailedPreconditionError(fmt::format(
        "these objects depend on each other in a cycle that no foreign key can break: {}",
        absl::StrJoin(left, ", ")));
  }
  std::sort(split.begin(), split.end(), [](const OrderStep& a, const OrderStep& b) {
    return std::tie(a.object, a.constraint, a.references) < std::tie(b.object, b.constraint, b.references);
  });
  steps.insert(steps.end(), split.begin(), split.end());
  return steps;
}

}  // namespace strata::sql
