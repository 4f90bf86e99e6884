// Whole dumps: definitions in order, each seeing those before it, then each
// object again with the statements about it elsewhere in the dump; large
// dumps cut into regions parsed on every core (see analyzer.h).
#include <algorithm>
#include <atomic>
#include <memory>
#include <set>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "sql/analyzer.h"

namespace strata::sql {
namespace {

using analysis::AlteredObject;
using analysis::Analyzer;
using analysis::Node;
using analysis::PreparedBody;
using analysis::PrepareBodies;
using analysis::Q;

// The object a statement that accompanies definitions is about, as
// "schema.name" (nullopt: about no object, e.g. SET).
std::optional<std::string> AboutObject(const Node& stmt, const std::string& default_schema) {
  std::vector<std::string> names;
  if (stmt.has_comment_stmt()) {
    const auto& c = stmt.comment_stmt();
    names = NamesOf(c.object());
    if ((c.objtype() == pg_query::OBJECT_COLUMN || c.objtype() == pg_query::OBJECT_TABCONSTRAINT ||
         c.objtype() == pg_query::OBJECT_TRIGGER) &&
        !names.empty())
      names.pop_back();
  } else if (stmt.has_grant_stmt() && stmt.grant_stmt().objects_size() == 1) {
    names = NamesOf(stmt.grant_stmt().objects(0));
  } else if (auto altered = AlteredObject(stmt)) {
    names = std::move(*altered);
  }
  if (names.empty()) return std::nullopt;
  if (names.size() == 1) return Q(default_schema) + "." + Q(names[0]);
  return Q(names[names.size() - 2]) + "." + Q(names.back());
}

std::string BareName(const model::ObjectId& id) {
  std::string q = id.QualifiedName();
  return q.substr(0, q.find('('));
}


// Analyzes a dump: definitions in order (each seeing those before it), then
// each object again with the statements about it elsewhere in the dump.
class DumpAnalyzer {
 public:
  explicit DumpAnalyzer(const AnalyzeOptions& options) : options_(options) {
    catalog_.exists = [this](RefClass cls, const std::string& schema, const std::string& name) {
      if (names_.count({static_cast<int>(cls), schema + "." + name})) return true;
      return options_.catalog && options_.catalog->exists && options_.catalog->exists(cls, schema, name);
    };
    catalog_.columns = [this](const std::string& schema,
                              const std::string& name) -> std::optional<std::vector<std::string>> {
      if (auto it = columns_.find(schema + "." + name); it != columns_.end()) return it->second;
      if (options_.catalog && options_.catalog->columns) return options_.catalog->columns(schema, name);
      return std::nullopt;
    };
    layered_ = options_;
    layered_.catalog = &catalog_;
    default_schema_ = options_.search_path.empty() ? "public" : options_.search_path.front();
  }

  // Analyzes the definitions among `parsed`'s statements [begin, end);
  // `base` is the index of statement `begin` in the whole dump.
  absl::Status Definitions(const ParsedSql& parsed, int begin, int end, int base,
                           const std::map<int, PreparedBody>& bodies) {
    for (int i = begin; i < end; ++i) {
      if (!IsDefinitionStatement(parsed.statement(i))) continue;
      Analyzer one(parsed, layered_, {i}, &bodies);
      auto info = one.Run();
      if (!info.ok()) return info.status();
      Learn(*info);
      group_of_.emplace(BareName(info->id), groups_.size());
      groups_.push_back({base + i - begin});
      out_.objects.push_back(std::move(*info));
    }
    return absl::OkStatus();
  }

  // The statements about objects, found anywhere in the whole dump.
  absl::StatusOr<DumpAnalysis> Finish(const ParsedSql& whole, const std::map<int, PreparedBody>& bodies) {
    for (int i = 0; i < whole.size(); ++i) {
      if (IsDefinitionStatement(whole.statement(i))) continue;
      auto about = AboutObject(whole.statement(i), default_schema_);
      auto it = about ? group_of_.find(*about) : group_of_.end();
      if (it == group_of_.end()) {
        ++out_.skipped_statements;
        continue;
      }
      groups_[it->second].push_back(i);
    }
    // pg_dump adds foreign keys and comments at the end: objects with such
    // statements are analyzed again with them.
    for (size_t g = 0; g < groups_.size(); ++g) {
      if (groups_[g].size() == 1) continue;
      Analyzer all(whole, layered_, groups_[g], &bodies);
      auto info = all.Run();
      if (!info.ok()) return info.status();
      out_.objects[g] = std::move(*info);
    }
    return std::move(out_);
  }

 private:
  void Learn(const ObjectInfo& info) {
    auto cls = RefClassOfKind(info.id.kind);
    if (!cls) return;
    names_.insert({static_cast<int>(*cls), BareName(info.id)});
    if (*cls == RefClass::kRelation && !info.columns.empty()) {
      std::vector<std::string> cols;
      for (const auto& c : info.columns) cols.push_back(c.name);
      columns_[BareName(info.id)] = std::move(cols);
    }
  }

  const AnalyzeOptions& options_;
  AnalyzeOptions layered_;
  Catalog catalog_;
  std::string default_schema_;
  std::set<std::pair<int, std::string>> names_;
  std::map<std::string, std::vector<std::string>> columns_;
  DumpAnalysis out_;
  std::vector<std::vector<int>> groups_;
  std::map<std::string, size_t> group_of_;
};

// Texts below this size are analyzed without a pipeline.
constexpr size_t kPipelineAbove = 16 << 10;
constexpr size_t kRegionBytes = 16 << 10;

// Cuts a dump into regions of about kRegionBytes at likely statement
// boundaries: a line that starts with CREATE, ALTER, COMMENT, GRANT or
// REVOKE after a line that ends with ';'. A cut inside a quoted body (a
// function body with such a line) makes a region fail to parse on its own,
// and the caller then parses the whole text instead: slow, never wrong.
bool StartsStatement(std::string_view line) {
  for (std::string_view k : {"CREATE ", "ALTER ", "COMMENT ", "GRANT ", "REVOKE "}) {
    if (line.size() < k.size()) continue;
    bool match = true;
    for (size_t i = 0; i < k.size() && match; ++i)
      match = std::toupper(static_cast<unsigned char>(line[i])) == k[i];
    if (match) return true;
  }
  return false;
}

std::vector<std::pair<size_t, size_t>> Regions(const std::string& sql) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t start = 0, line = 0;
  bool after_semicolon = false;
  while (line < sql.size()) {
    size_t end = sql.find('\n', line);
    if (end == std::string::npos) end = sql.size();
    if (after_semicolon && line - start >= kRegionBytes &&
        StartsStatement(std::string_view(sql).substr(line, end - line))) {
      out.push_back({start, line - start});
      start = line;
    }
    size_t last = end;
    while (last > line && std::isspace(static_cast<unsigned char>(sql[last - 1]))) --last;
    if (last > line) after_semicolon = sql[last - 1] == ';';
    line = end + 1;
  }
  if (start < sql.size()) out.push_back({start, sql.size() - start});
  return out;
}

// The pipeline: workers split regions into statements, parse them (and
// their function bodies) while this thread analyzes the regions already
// parsed, in order. nullopt when a region does not parse on its own (the
// caller then parses the whole text, which reports a real error precisely).
std::optional<absl::StatusOr<DumpAnalysis>> AnalyzeDumpPipelined(const std::string& sql,
                                                                 const AnalyzeOptions& options) {
  auto source = std::make_shared<const std::string>(sql);
  const std::vector<std::pair<size_t, size_t>> regions = Regions(sql);
  struct Chunk {
    std::optional<absl::StatusOr<ParsedSql>> parsed;
    std::map<int, PreparedBody> bodies;
  };
  const size_t n = regions.size();
  std::vector<Chunk> chunks(n);
  absl::Mutex mu;  // guards chunks[c] until this thread has waited for it (a worker fills it once); a leaf lock
  absl::CondVar ready;
  std::atomic<size_t> next{0};
  std::atomic<bool> stop{false};
  auto worker = [&] {
    for (size_t c; !stop && (c = next++) < n;) {
      const auto [begin, length] = regions[c];
      absl::StatusOr<ParsedSql> parsed = absl::InvalidArgumentError("the region does not split");
      if (auto pieces = ParsedSql::SplitStatements(sql.substr(begin, length)); pieces.ok()) {
        for (auto& p : *pieces) p.first += static_cast<int>(begin);
        parsed = ParsedSql::ParsePieces(source, *pieces, 0, pieces->size());
      }
      std::map<int, PreparedBody> bodies;
      if (parsed.ok()) bodies = PrepareBodies(*parsed, 0, parsed->size(), 1);
      absl::MutexLock lock(&mu);
      chunks[c].parsed = std::move(parsed);
      chunks[c].bodies = std::move(bodies);
      ready.SignalAll();
    }
  };
  std::vector<std::thread> pool;
  const size_t threads = std::clamp<size_t>(std::thread::hardware_concurrency(), 1, 8);
  for (size_t t = 0; t < std::min(threads, n); ++t) pool.emplace_back(worker);

  DumpAnalyzer analyzer(options);
  absl::Status status = absl::OkStatus();
  bool split_wrongly = false;
  int base = 0;
  for (size_t c = 0; c < n && status.ok() && !split_wrongly; ++c) {
    {
      absl::MutexLock lock(&mu);
      while (!chunks[c].parsed.has_value()) ready.Wait(&mu);
    }
    if (!chunks[c].parsed->ok()) {
      split_wrongly = true;
      break;
    }
    const ParsedSql& parsed = **chunks[c].parsed;
    status = analyzer.Definitions(parsed, 0, parsed.size(), base, chunks[c].bodies);
    base += parsed.size();
  }
  stop = true;
  for (auto& t : pool) t.join();
  if (split_wrongly) return std::nullopt;
  if (!status.ok()) return absl::StatusOr<DumpAnalysis>(status);

  // One statement list for the statements about objects across chunks.
  std::vector<ParsedSql> parts;
  std::map<int, PreparedBody> bodies;
  base = 0;
  for (auto& chunk : chunks) {
    for (auto& [i, body] : chunk.bodies) bodies.emplace(base + i, std::move(body));
    base += (*chunk.parsed)->size();
    parts.push_back(std::move(**chunk.parsed));
  }
  const ParsedSql whole = ParsedSql::Merge(std::move(parts));
  return analyzer.Finish(whole, bodies);
}


}  // namespace

absl::StatusOr<DumpAnalysis> AnalyzeDump(std::string_view sql, const AnalyzeOptions& options) {
  const std::string text(sql);
  if (text.size() > kPipelineAbove)
    if (auto result = AnalyzeDumpPipelined(text, options)) return std::move(*result);
  auto parsed = ParsedSql::Parse(text);
  if (!parsed.ok()) return parsed.status();
  const auto bodies = PrepareBodies(*parsed, 0, parsed->size(), std::thread::hardware_concurrency());
  DumpAnalyzer analyzer(options);
  if (absl::Status s = analyzer.Definitions(*parsed, 0, parsed->size(), 0, bodies); !s.ok()) return s;
  return analyzer.Finish(*parsed, bodies);
}
}  // namespace strata::sql
