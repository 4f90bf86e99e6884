#include "sql/parse.h"

extern "C" {
#include <pg_query.h>
}

#include <algorithm>
#include <thread>

#include "fmt/format.h"
#include "sql/json_tree.h"

namespace strata::sql {

namespace {

// Texts shorter than this are parsed in one call.
constexpr size_t kSplitAbove = 16 << 10;

absl::Status ParseError(const std::string& text, const PgQueryError& error) {
  const LineColumn lc = LineColumnAt(text, error.cursorpos);
  return absl::InvalidArgumentError(error.cursorpos > 0
                                        ? fmt::format("{} (line {}, column {})", error.message, lc.line, lc.column)
                                        : std::string(error.message));
}

// Whether `text` may hold a negative number: a '-' before a digit.
bool MayHoldNegativeNumber(const std::string& text) {
  for (size_t i = text.find('-'); i != std::string::npos; i = text.find('-', i + 1)) {
    size_t j = i + 1;
    while (j < text.size() && std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    if (j < text.size() && std::isdigit(static_cast<unsigned char>(text[j]))) return true;
  }
  return false;
}

// One parse of `text` into `tree` (on an arena): libpg_query's JSON form,
// read with DecodeJsonParseTree, or its protobuf form when the JSON form
// would be wrong or does not decode. (libpg_query 15-4.0's JSON writes
// negative Integer values as empty, i.e. 0: texts that may hold a negative
// number take the protobuf form. Without one, the only negative Integers
// are the -1 bounds of "type[]", which the decoder restores.)
// On a syntax error returns false and fills *error (when given).
bool ParseTree(const std::string& text, pg_query::ParseResult* tree, absl::Status* error) {
  if (!MayHoldNegativeNumber(text)) {
    PgQueryParseResult json = pg_query_parse(text.c_str());
    if (json.error) {
      if (error) *error = ParseError(text, *json.error);
      pg_query_free_parse_result(json);
      return false;
    }
    const bool decoded = DecodeJsonParseTree(json.parse_tree, tree);
    pg_query_free_parse_result(json);
    if (decoded) return true;
    tree->Clear();
  }
  PgQueryProtobufParseResult result = pg_query_parse_protobuf(text.c_str());
  bool ok = !result.error && tree->ParseFromArray(result.parse_tree.data, static_cast<int>(result.parse_tree.len));
  if (!ok && error)
    *error = result.error ? ParseError(text, *result.error)
                          : absl::InternalError("libpg_query returned a parse tree that does not decode");
  pg_query_free_protobuf_parse_result(result);
  return ok;
}

// Parses `text` and adds its statements, shifted by `base`, to `out`.
// Returns false when it does not parse.
bool ParseInto(const std::string& text, int base, google::protobuf::Arena* arena,
               std::vector<std::pair<const pg_query::Node*, std::pair<int, int>>>* out) {
  auto* tree = google::protobuf::Arena::CreateMessage<pg_query::ParseResult>(arena);
  if (!ParseTree(text, tree, nullptr)) return false;
  for (const auto& raw : tree->stmts())
    out->push_back({&raw.stmt(), {base + raw.stmt_location(), raw.stmt_len() == 0
                                                                  ? static_cast<int>(text.size()) - raw.stmt_location()
                                                                  : raw.stmt_len()}});
  return true;
}

}  // namespace

ParsedSql::~ParsedSql() {
  statements_.clear();
  arenas_.clear();
}

absl::StatusOr<ParsedSql> ParsedSql::Parse(std::string_view sql) {
  ParsedSql parsed;
  parsed.source_ = std::make_shared<const std::string>(sql);
  absl::Status status = sql.size() > kSplitAbove ? parsed.ParseStatements() : parsed.ParseWhole();
  if (!status.ok()) return status;
  return parsed;
}

absl::Status ParsedSql::ParseWhole() {
  statements_.clear();
  arenas_.clear();
  arenas_.push_back(std::make_unique<google::protobuf::Arena>());
  auto* tree = google::protobuf::Arena::CreateMessage<pg_query::ParseResult>(arenas_.back().get());
  absl::Status status = absl::OkStatus();
  if (!ParseTree(*source_, tree, &status)) return status;
  for (const auto& raw : tree->stmts())
    statements_.push_back({&raw.stmt(), raw.stmt_location(), raw.stmt_len() == 0 ? -1 : raw.stmt_len()});
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ParsedSql::Piece>> ParsedSql::SplitStatements(const std::string& sql) {
  PgQuerySplitResult split = pg_query_split_with_scanner(sql.c_str());
  if (split.error) {
    absl::Status s = ParseError(sql, *split.error);
    pg_query_free_split_result(split);
    return s;
  }
  std::vector<Piece> pieces;
  pieces.reserve(split.n_stmts);
  for (int i = 0; i < split.n_stmts; ++i) pieces.push_back({split.stmts[i]->stmt_location, split.stmts[i]->stmt_len});
  pg_query_free_split_result(split);
  return pieces;
}

absl::StatusOr<ParsedSql> ParsedSql::ParsePieces(std::shared_ptr<const std::string> source,
                                                 const std::vector<Piece>& pieces, size_t begin, size_t end) {
  ParsedSql parsed;
  parsed.source_ = std::move(source);
  parsed.arenas_.push_back(std::make_unique<google::protobuf::Arena>());
  std::vector<std::pair<const pg_query::Node*, std::pair<int, int>>> found;
  std::string text;
  for (size_t i = begin; i < end; ++i) {
    const auto [offset, length] = pieces[i];
    text.assign(*parsed.source_, offset, length == 0 ? std::string::npos : static_cast<size_t>(length));
    if (!ParseInto(text, offset, parsed.arenas_.back().get(), &found))
      return absl::InvalidArgumentError("a statement does not parse on its own");
  }
  for (const auto& [node, where] : found) parsed.statements_.push_back({node, where.first, where.second});
  return parsed;
}

ParsedSql ParsedSql::Merge(std::vector<ParsedSql> parts) {
  ParsedSql merged;
  for (auto& p : parts) {
    if (!merged.source_) merged.source_ = p.source_;
    for (auto& a : p.arenas_) merged.arenas_.push_back(std::move(a));
    merged.statements_.insert(merged.statements_.end(), p.statements_.begin(), p.statements_.end());
    p.statements_.clear();
  }
  return merged;
}

absl::Status ParsedSql::ParseStatements() {
  auto pieces = SplitStatements(*source_);
  if (!pieces.ok()) return ParseWhole();  // reports the error with its position
  // Contiguous ranges of statements per thread.
  const size_t threads =
      std::clamp<size_t>(std::thread::hardware_concurrency(), 1, std::min<size_t>(8, pieces->size() / 32 + 1));
  std::vector<absl::StatusOr<ParsedSql>> parts;
  for (size_t t = 0; t < threads; ++t) parts.emplace_back(absl::UnknownError("not parsed"));
  auto work = [&](size_t t) {
    parts[t] = ParsePieces(source_, *pieces, pieces->size() * t / threads, pieces->size() * (t + 1) / threads);
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  std::vector<ParsedSql> ok;
  for (auto& p : parts) {
    if (!p.ok()) return ParseWhole();
    ok.push_back(std::move(*p));
  }
  *this = Merge(std::move(ok));
  return absl::OkStatus();
}

int ParsedSql::StatementOffset(int i) const { return statements_[i].offset; }

std::string_view ParsedSql::StatementText(int i) const {
  const auto& s = statements_[i];
  return std::string_view(*source_).substr(static_cast<size_t>(s.offset),
                                           s.length < 0 ? std::string::npos : static_cast<size_t>(s.length));
}

LineColumn ParsedSql::ErrorLocation(int i, int char_pos) const {
  if (char_pos <= 0) return StatementStart(i);
  return LineColumnAtByte(*source_, StatementOffset(i) + CharPosToByte(StatementText(i), char_pos));
}

LineColumn ParsedSql::StatementStart(int i) const {
  return LineColumnAtByte(*source_, StatementStartOffset(i));
}

int ParsedSql::StatementStartOffset(int i) const {
  // The statement's location points at its start including leading comments
  // and blanks that follow the previous ';'; report the first real character.
  std::string_view text = StatementText(i);
  size_t skip = 0;
  while (skip < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[skip]))) {
      ++skip;
    } else if (text.substr(skip, 2) == "--") {
      const size_t nl = text.find('\n', skip);
      skip = nl == std::string_view::npos ? text.size() : nl + 1;
    } else if (text.substr(skip, 2) == "/*") {
      const size_t end = text.find("*/", skip + 2);
      skip = end == std::string_view::npos ? text.size() : end + 2;
    } else {
      break;
    }
  }
  return StatementOffset(i) + static_cast<int>(skip);
}

namespace {
void AppendStrings(const google::protobuf::RepeatedPtrField<pg_query::Node>& list, std::vector<std::string>* out) {
  for (const auto& n : list)
    if (n.has_string()) out->push_back(n.string().sval());
}
}  // namespace

std::vector<std::string> NamesOf(const pg_query::Node& n) {
  std::vector<std::string> out;
  if (n.has_list()) AppendStrings(n.list().items(), &out);
  if (n.has_string()) out.push_back(n.string().sval());
  if (n.has_object_with_args()) AppendStrings(n.object_with_args().objname(), &out);
  if (n.has_type_name()) AppendStrings(n.type_name().names(), &out);
  if (n.has_range_var()) out = RangeVarNames(n.range_var());
  return out;
}

std::vector<std::string> RangeVarNames(const pg_query::RangeVar& rv) {
  std::vector<std::string> out;
  if (!rv.schemaname().empty()) out.push_back(rv.schemaname());
  out.push_back(rv.relname());
  return out;
}

int CharPosToByte(std::string_view text, int char_pos) {
  int chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) continue;  // continuation byte
    if (++chars == char_pos) return static_cast<int>(i);
  }
  return static_cast<int>(text.size());
}

bool IsDefinitionStatement(const pg_query::Node& stmt) {
  switch (stmt.node_case()) {
    case pg_query::Node::kCreateStmt:
    case pg_query::Node::kViewStmt:
    case pg_query::Node::kCreateTableAsStmt:
    case pg_query::Node::kIndexStmt:
    case pg_query::Node::kCreateFunctionStmt:
    case pg_query::Node::kCreateTrigStmt:
    case pg_query::Node::kCreateSeqStmt:
    case pg_query::Node::kCreateEnumStmt:
    case pg_query::Node::kCompositeTypeStmt:
    case pg_query::Node::kCreateRangeStmt:
    case pg_query::Node::kCreateDomainStmt:
    case pg_query::Node::kCreateSchemaStmt:
    case pg_query::Node::kCreateExtensionStmt:
      return true;
    default:
      return false;
  }
}

LineColumn LineColumnAtByte(std::string_view text, int byte_offset) {
  LineColumn lc;
  for (size_t i = 0; i < text.size() && i < static_cast<size_t>(byte_offset); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if ((c & 0xC0) == 0x80) continue;  // continuation byte
    if (c == '\n') {
      ++lc.line;
      lc.column = 1;
    } else {
      ++lc.column;
    }
  }
  return lc;
}

LineIndex::LineIndex(std::string_view text) : text_(text) {
  starts_.push_back(0);
  for (size_t i = 0; i < text.size(); ++i)
    if (text[i] == '\n') starts_.push_back(i + 1);
}

LineColumn LineIndex::At(int byte_offset) const {
  const size_t offset = std::min(static_cast<size_t>(std::max(byte_offset, 0)), text_.size());
  const auto it = std::upper_bound(starts_.begin(), starts_.end(), offset) - 1;
  LineColumn lc;
  lc.line = static_cast<int>(it - starts_.begin()) + 1;
  for (size_t i = *it; i < offset; ++i)
    if ((static_cast<unsigned char>(text_[i]) & 0xC0) != 0x80) ++lc.column;
  return lc;
}

std::string WhereInText(std::string_view text, int byte_offset) {
  const LineColumn lc = LineColumnAtByte(text, byte_offset);
  return fmt::format("(line {}, column {})", lc.line, lc.column);
}

}  // namespace strata::sql
