// Test support: the objects of a test schema file ("--- <object id>" lines
// start each definition) and a catalog that learns them in order.
#pragma once

#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "sql/analyze.h"

namespace strata::sql::testing {

inline std::vector<std::pair<std::string, std::string>> LoadObjects(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::pair<std::string, std::string>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("--- ", 0) == 0) {
      out.push_back({line.substr(4), ""});
    } else if (!out.empty()) {
      out.back().second += line + "\n";
    }
  }
  return out;
}

// A catalog of analyzed objects, as the impact projection keeps it.
class TestCatalog {
 public:
  TestCatalog() {
    catalog_.exists = [this](RefClass cls, const std::string& schema, const std::string& name) {
      return names_.count({static_cast<int>(cls), schema + "." + name}) > 0;
    };
    catalog_.columns = [this](const std::string& schema,
                              const std::string& name) -> std::optional<std::vector<std::string>> {
      auto it = columns_.find(schema + "." + name);
      if (it == columns_.end()) return std::nullopt;
      return it->second;
    };
  }
  void Add(const ObjectInfo& info) {
    auto cls = RefClassOfKind(info.id.kind);
    if (!cls) return;
    std::string name = info.id.QualifiedName();
    if (auto p = name.find('('); p != std::string::npos) name = name.substr(0, p);
    names_.insert({static_cast<int>(*cls), name});
    if (!info.columns.empty()) {
      std::vector<std::string> cols;
      for (const auto& c : info.columns) cols.push_back(c.name);
      columns_[name] = cols;
    }
  }
  const Catalog* catalog() const { return &catalog_; }

 private:
  Catalog catalog_;
  std::set<std::pair<int, std::string>> names_;
  std::map<std::string, std::vector<std::string>> columns_;
};

// Every object of a test schema file analyzed in order, by id.
inline std::map<std::string, ObjectInfo> AnalyzeObjects(const std::string& path, TestCatalog* catalog) {
  std::map<std::string, ObjectInfo> out;
  for (const auto& [id, ddl] : LoadObjects(path)) {
    auto info = AnalyzeDefinition(ddl, {.catalog = catalog->catalog()});
    if (!info.ok()) continue;  // callers compare the count with the file's
    catalog->Add(*info);
    out[id] = *info;
  }
  return out;
}

}  // namespace strata::sql::testing
