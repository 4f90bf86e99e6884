// Function bodies, parsed without a catalog (see analyzer.h).
#include <algorithm>
#include <thread>

extern "C" {
#include <pg_query.h>
}

#include "absl/strings/str_cat.h"
#include "sql/analyzer.h"
#include "sql/json_tree.h"

namespace strata::sql::analysis {
namespace {

// A PL/pgSQL expression as SQL: statements stay, "target := expr" and
// bare expressions become SELECT lists.
std::string PlpgsqlAsSql(const std::string& text) {
  std::string q = text;
  if (size_t assign = q.find(":="); assign != std::string::npos) {
    const std::string lhs = q.substr(0, assign);
    if (lhs.find_first_of("'()$") == std::string::npos) q = q.substr(assign + 2);
  }
  size_t start = q.find_first_not_of(" \t\r\n(");
  std::string word;
  for (size_t i = start; i != std::string::npos && i < q.size() && std::isalpha(static_cast<unsigned char>(q[i])); ++i)
    word += static_cast<char>(std::tolower(static_cast<unsigned char>(q[i])));
  static const absl::flat_hash_set<std::string> kStatements = {
      "select", "insert", "update", "delete", "with", "values", "table", "merge", "refresh", "truncate",
      "lock", "notify", "call", "create", "alter", "drop", "analyze", "vacuum", "copy", "set", "reset"};
  if (kStatements.contains(word)) return q;
  return "SELECT " + q;
}

// Collects from libpg_query's PL/pgSQL JSON what PrepareBody needs: the
// names of variables, the SQL of statements and expressions, declared types
// and dynamic SQL. A linear scan: the JSON is only ever read for these keys.
void CollectPlpgsql(std::string_view json, PreparedBody* out, std::vector<std::string>* sql) {
  std::string key;
  bool dynamic = false;
  for (size_t i = 0; i < json.size();) {
    if (json[i] != '"') {
      ++i;
      continue;
    }
    std::string s;
    if (!ReadJsonString(json, &i, &s)) break;
    size_t j = i;
    while (j < json.size() && std::isspace(static_cast<unsigned char>(json[j]))) ++j;
    if (j < json.size() && json[j] == ':') {
      key = std::move(s);
      if (key == "PLpgSQL_stmt_dynexecute" || key == "PLpgSQL_stmt_dynfors") dynamic = true;
      i = j + 1;
      continue;
    }
    if (key == "refname") {
      if (s != "(unnamed row)") out->variables.push_back(std::move(s));
    } else if (key == "query") {
      sql->push_back(PlpgsqlAsSql(s));
    } else if (key == "typname") {
      std::string lower = s;
      std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
      if (s == "UNKNOWN" || lower == "record" || IsBuiltinType(lower)) continue;
      if (lower.find('%') != std::string::npos) out->row_types.push_back(s);
      else sql->push_back("SELECT NULL::" + s);  // a user type: its references come from the cast
    }
  }
  if (dynamic) out->notes.push_back("dynamic SQL (EXECUTE) is not analyzed");
}

}  // namespace

PreparedBody PrepareBody(const std::string& language, const std::string& body, std::string_view stmt_text,
                         int stmt_offset) {
  PreparedBody out;
  if (language == "sql") {
    auto parsed = ParsedSql::Parse(body);
    if (!parsed.ok()) {
      out.error = fmt::format("the body does not parse: {} (in the body)", std::string(parsed.status().message()));
    } else {
      out.parsed.push_back(std::move(*parsed));
    }
    return out;
  }
  if (language != "plpgsql") {
    if (!body.empty()) out.notes.push_back(fmt::format("body in language {} is not analyzed", language));
    return out;
  }
  const std::string text(stmt_text);
  PgQueryPlpgsqlParseResult result = pg_query_parse_plpgsql(text.c_str());
  if (result.error) {
    // The PL/pgSQL parser reports no position; find the token its message
    // quotes (`syntax error at or near "RETRUN"`) in the body.
    out.error = result.error->message;
    if (result.error->cursorpos > 0) {
      out.error_offset = stmt_offset + CharPosToByte(text, result.error->cursorpos);
    } else if (const size_t q1 = out.error.find('"'); q1 != std::string::npos) {
      const size_t q2 = out.error.find('"', q1 + 1);
      const std::string token = out.error.substr(q1 + 1, q2 - q1 - 1);
      const size_t body_at = body.empty() ? std::string::npos : text.find(body);
      if (!token.empty() && body_at != std::string::npos) {
        const size_t at = text.find(token, body_at);
        if (at != std::string::npos) out.error_offset = stmt_offset + static_cast<int>(at);
      }
    }
    pg_query_free_plpgsql_parse_result(result);
    return out;
  }
  // The output is a JSON array of functions.
  const std::string json = result.plpgsql_funcs ? result.plpgsql_funcs : "";
  pg_query_free_plpgsql_parse_result(result);
  std::vector<std::string> sql;
  CollectPlpgsql(json, &out, &sql);
  // One parser call for all of them; one by one if that fails.
  std::string all;
  for (const auto& q : sql) absl::StrAppend(&all, q, ";\n");
  auto parsed = ParsedSql::Parse(all);
  if (parsed.ok() && parsed->size() == static_cast<int>(sql.size())) {
    out.parsed.push_back(std::move(*parsed));
    return out;
  }
  for (const auto& q : sql) {
    auto one = ParsedSql::Parse(q);
    if (one.ok()) out.parsed.push_back(std::move(*one));
    else out.notes.push_back(fmt::format("PL/pgSQL expression not analyzed: {}", q));
  }
  return out;
}

// The language and body text of CREATE FUNCTION (body "" for BEGIN ATOMIC).
std::pair<std::string, std::string> LanguageAndBody(const pg_query::CreateFunctionStmt& s) {
  std::string language = "sql", body;
  for (const auto& o : s.options()) {
    if (!o.has_def_elem()) continue;
    const auto& d = o.def_elem();
    if (d.defname() == "language") language = Str(d.arg());
    if (d.defname() == "as" && d.arg().has_list() && d.arg().list().items_size() >= 1)
      body = Str(d.arg().list().items(0));
  }
  return {language, body};
}

std::map<int, PreparedBody> PrepareBodies(const ParsedSql& parsed, int begin, int end, size_t threads) {
  std::vector<int> functions;
  for (int i = begin; i < end; ++i)
    if (parsed.statement(i).has_create_function_stmt() && !parsed.statement(i).create_function_stmt().has_sql_body())
      functions.push_back(i);
  std::vector<PreparedBody> bodies(functions.size());
  threads = std::clamp<size_t>(threads, 1, functions.size() / 8 + 1);
  auto work = [&](size_t t) {
    for (size_t k = t; k < functions.size(); k += threads) {
      const int i = functions[k];
      const auto [language, body] = LanguageAndBody(parsed.statement(i).create_function_stmt());
      bodies[k] = PrepareBody(language, body, parsed.StatementText(i), parsed.StatementOffset(i));
    }
  };
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  std::map<int, PreparedBody> out;
  for (size_t k = 0; k < functions.size(); ++k) out.emplace(functions[k], std::move(bodies[k]));
  return out;
}

}  // namespace strata::sql::analysis
