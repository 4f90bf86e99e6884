#include "pg/pg.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cstdlib>
#include <regex>

#include "absl/strings/str_cat.h"

namespace strata::pg {
namespace {

// SQLSTATE classes that mean "the statement is wrong" rather than "the
// database is not in a state to accept it".
bool IsStatementError(const std::string& sqlstate) {
  return sqlstate.rfind("42", 0) == 0 || sqlstate.rfind("22", 0) == 0;
}

// In pipeline mode, after a query's result: the NULL that ends it.
void EndOfResult(pg_conn* conn) {
  while (pg_result* more = PQgetResult(conn)) PQclear(more);
}

// In pipeline mode, after the last query's results: the sync's own result.
void SkipToSync(pg_conn* conn) {
  while (pg_result* res = PQgetResult(conn)) {
    const bool sync = PQresultStatus(res) == PGRES_PIPELINE_SYNC;
    PQclear(res);
    if (sync) break;
  }
}

std::string Field(pg_result* res, int code) {
  const char* v = PQresultErrorField(res, code);
  return v ? v : "";
}

}  // namespace

const std::string& Rows::text(int row, int col) const {
  static const std::string kEmpty;
  const auto& v = rows_[row][col];
  return v ? *v : kEmpty;
}

long long Rows::number(int row, int col) const { return std::atoll(text(row, col).c_str()); }

absl::StatusOr<std::unique_ptr<Session>> Session::Connect(const std::string& conninfo) {
  // A server that does not answer must not hang the caller: 10 s unless
  // the connection string says otherwise (its settings come later and win).
  const char* keywords[] = {"connect_timeout", "dbname", nullptr};
  const char* values[] = {"10", conninfo.c_str(), nullptr};
  pg_conn* conn = conninfo.empty() ? PQconnectdb("") : PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string why = PQerrorMessage(conn);
    PQfinish(conn);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return absl::UnavailableError(
        absl::StrCat("cannot connect to PostgreSQL at ", RedactUrl(conninfo.empty() ? "(libpq defaults)" : conninfo),
                     ": ", why));
  }
  PQsetErrorVerbosity(conn, PQERRORS_DEFAULT);
  // Notices (e.g. "extension already exists, skipping") are not errors.
  PQsetNoticeProcessor(conn, [](void*, const char*) {}, nullptr);
  return std::unique_ptr<Session>(new Session(conn));
}

Session::~Session() { PQfinish(conn_); }

std::string Session::database() const { return PQdb(conn_); }

absl::Status Session::StatusOf(pg_result* res, ErrorInfo* info) const {
  ExecStatusType st = PQresultStatus(res);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) return absl::OkStatus();
  if (res == nullptr || PQstatus(conn_) != CONNECTION_OK) {
    return absl::UnavailableError(absl::StrCat("PostgreSQL connection lost: ", PQerrorMessage(conn_)));
  }
  ErrorInfo e;
  e.sqlstate = Field(res, PG_DIAG_SQLSTATE);
  e.message = Field(res, PG_DIAG_MESSAGE_PRIMARY);
  if (auto d = Field(res, PG_DIAG_MESSAGE_DETAIL); !d.empty()) absl::StrAppend(&e.message, "\nDETAIL: ", d);
  if (auto h = Field(res, PG_DIAG_MESSAGE_HINT); !h.empty()) absl::StrAppend(&e.message, "\nHINT: ", h);
  if (auto p = Field(res, PG_DIAG_STATEMENT_POSITION); !p.empty()) e.position = std::atoi(p.c_str());
  e.internal_query = Field(res, PG_DIAG_INTERNAL_QUERY);
  if (auto p = Field(res, PG_DIAG_INTERNAL_POSITION); !p.empty()) e.internal_position = std::atoi(p.c_str());
  std::string msg = e.message;
  bool statement_error = IsStatementError(e.sqlstate);
  if (info) *info = std::move(e);
  return statement_error ? absl::InvalidArgumentError(msg) : absl::FailedPreconditionError(msg);
}

absl::Status Session::Exec(std::string_view sql) { return Exec(sql, nullptr); }

absl::Status Session::Exec(std::string_view sql, ErrorInfo* info) {
  std::string text(sql);
  pg_result* res = PQexec(conn_, text.c_str());
  absl::Status s = StatusOf(res, info);
  PQclear(res);
  return s;
}

absl::Status Session::ExecEach(const std::vector<std::string_view>& statements, int* failed, ErrorInfo* info) {
  // Batches keep what the server sends back small, so neither side can block
  // on a full socket buffer while the other is still writing.
  constexpr size_t kBatch = 256;
  if (!PQenterPipelineMode(conn_)) return Exec("SELECT 1");  // reports the connection's state
  absl::Status result = absl::OkStatus();
  std::string text;
  for (size_t begin = 0; begin < statements.size() && result.ok(); begin += kBatch) {
    size_t end = std::min(statements.size(), begin + kBatch);
    for (size_t i = begin; i < end; ++i) {
      text.assign(statements[i]);
      if (!PQsendQueryParams(conn_, text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0)) {
        result = absl::UnavailableError(absl::StrCat("PostgreSQL connection lost: ", PQerrorMessage(conn_)));
        end = i;
        break;
      }
    }
    PQpipelineSync(conn_);
    for (size_t i = begin; i < end; ++i) {
      pg_result* res = PQgetResult(conn_);
      if (res && PQresultStatus(res) != PGRES_PIPELINE_ABORTED && result.ok()) {
        absl::Status s = StatusOf(res, info);
        if (!s.ok()) {
          result = s;
          if (failed) *failed = static_cast<int>(i);
        }
      }
      PQclear(res);
      EndOfResult(conn_);
    }
    SkipToSync(conn_);
  }
  PQexitPipelineMode(conn_);
  return result;
}

absl::Status Session::ExecEachIsolated(
    const std::vector<std::string_view>& statements,
    const std::function<bool(size_t, const absl::Status&, const ErrorInfo&)>& on_failure) {
  // Per statement: SAVEPOINT, the statement, RELEASE. After a failure the
  // server skips the rest of the pipeline; the failed statement is rolled
  // back to its savepoint (what came before it stays) and the next pipeline
  // starts after it.
  constexpr size_t kBatch = 256;
  static constexpr const char* kSavepoint = "SAVEPOINT strata_each";
  static constexpr const char* kRelease = "RELEASE SAVEPOINT strata_each";
  size_t next = 0;
  std::string text;
  while (next < statements.size()) {
    if (!PQenterPipelineMode(conn_)) return Exec("SELECT 1");  // reports the connection's state
    const size_t end = std::min(statements.size(), next + kBatch);
    size_t sent = next;
    absl::Status lost = absl::OkStatus();
    auto send = [&](const char* sql) {
      return PQsendQueryParams(conn_, sql, 0, nullptr, nullptr, nullptr, nullptr, 0) == 1;
    };
    for (; sent < end; ++sent) {
      text.assign(statements[sent]);
      if (!send(kSavepoint) || !send(text.c_str()) || !send(kRelease)) {
        lost = absl::UnavailableError(absl::StrCat("PostgreSQL connection lost: ", PQerrorMessage(conn_)));
        break;
      }
    }
    PQpipelineSync(conn_);
    size_t failed = statements.size();
    absl::Status failure = absl::OkStatus();
    ErrorInfo failure_info;
    for (size_t i = next; i < sent; ++i) {
      for (int part = 0; part < 3; ++part) {  // savepoint, statement, release
        pg_result* res = PQgetResult(conn_);
        if (res && PQresultStatus(res) != PGRES_PIPELINE_ABORTED && failure.ok() && lost.ok()) {
          ErrorInfo info;
          absl::Status s = StatusOf(res, &info);
          if (!s.ok() && (part != 1 || s.code() == absl::StatusCode::kUnavailable)) {
            lost = s;  // the savepoint itself failed (not in a transaction?), or the connection
          } else if (!s.ok()) {
            failed = i;
            failure = s;
            failure_info = std::move(info);
          }
        }
        PQclear(res);
        EndOfResult(conn_);
      }
    }
    SkipToSync(conn_);
    PQexitPipelineMode(conn_);
    if (!lost.ok()) return lost;
    if (failure.ok()) {
      next = sent;
      continue;
    }
    if (absl::Status s = Exec("ROLLBACK TO SAVEPOINT strata_each; RELEASE SAVEPOINT strata_each"); !s.ok()) return s;
    if (!on_failure(failed, failure, failure_info)) return failure;
    next = failed + 1;
  }
  return absl::OkStatus();
}

absl::StatusOr<Rows> Session::Query(std::string_view sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  std::string text(sql);
  pg_result* res = PQexecParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                                values.empty() ? nullptr : values.data(), nullptr, nullptr, 0);
  if (absl::Status s = StatusOf(res, nullptr); !s.ok()) {
    PQclear(res);
    return s;
  }
  Rows rows;
  int n = PQntuples(res), m = PQnfields(res);
  rows.rows_.resize(n);
  for (int i = 0; i < n; ++i) {
    rows.rows_[i].reserve(m);
    for (int j = 0; j < m; ++j) {
      if (PQgetisnull(res, i, j)) rows.rows_[i].emplace_back(std::nullopt);
      else rows.rows_[i].emplace_back(std::string(PQgetvalue(res, i, j), PQgetlength(res, i, j)));
    }
  }
  PQclear(res);
  return rows;
}

std::string RedactUrl(std::string_view url) {
  static const std::regex kUrlPassword(R"(^(postgres(?:ql)?://[^:/@]*):[^@]*@)");
  // A quoted value may hold backslash-escaped quotes ('it\'s').
  static const std::regex kKeyPassword(R"((password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+))");
  std::string s = std::regex_replace(std::string(url), kUrlPassword, "$1:***@");
  return std::regex_replace(s, kKeyPassword, "$1***");
}

bool HasPassword(const std::string& conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(conninfo.c_str(), &error);
  if (error) PQfreemem(error);
  if (!options) return conninfo.find("password") != std::string::npos;  // unparsable: assume the worst
  bool has = false;
  for (PQconninfoOption* o = options; o->keyword; ++o)
    if (std::string_view(o->keyword) == "password" && o->val && *o->val) has = true;
  PQconninfoFree(options);
  return has;
}

std::string WithDatabase(const std::string& conninfo, const std::string& dbname) {
  // libpq: a later dbname keyword overrides; for URLs, a `dbname` query
  // parameter overrides the path.
  if (conninfo.rfind("postgres://", 0) == 0 || conninfo.rfind("postgresql://", 0) == 0) {
    return absl::StrCat(conninfo, conninfo.find('?') == std::string::npos ? "?" : "&", "dbname=", dbname);
  }
  return absl::StrCat(conninfo, conninfo.empty() ? "" : " ", "dbname=", QuoteLiteral(dbname));
}

std::string QuoteLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') out += '\'';
    out += c;
  }
  out += '\'';
  return out;
}

}  // namespace strata::pg
