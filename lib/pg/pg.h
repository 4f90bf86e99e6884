// A PostgreSQL session through libpq, with errors as absl::Status values.
//
// Contract: every call returns OK or a status whose message a user can act
// on (PostgreSQL's message, its DETAIL and HINT). Connection failures are
// UNAVAILABLE; SQL errors are INVALID_ARGUMENT (the statement is wrong) or
// FAILED_PRECONDITION (the database refuses it in its current state, e.g. a
// missing extension or privilege). Not thread-safe: one session per thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct pg_conn;
struct pg_result;

namespace strata::pg {

// The rows of a query as text (NULL is std::nullopt).
class Rows {
 public:
  int size() const { return static_cast<int>(rows_.size()); }
  const std::optional<std::string>& at(int row, int col) const { return rows_[row][col]; }
  // The text of a column; "" for NULL.
  const std::string& text(int row, int col) const;
  bool is_true(int row, int col) const { return text(row, col) == "t"; }
  long long number(int row, int col) const;

 private:
  friend class Session;
  std::vector<std::vector<std::optional<std::string>>> rows_;
};

// Where PostgreSQL says a failing statement went wrong: the 1-based character
// position in the statement text (0 when it gives none) and its SQLSTATE.
struct ErrorInfo {
  int position = 0;
  std::string sqlstate;
  std::string message;  // message + DETAIL + HINT, one line each
  // An error inside text the statement carries (a SQL function's body):
  // that text, and the 1-based character position in it (0: none).
  std::string internal_query;
  int internal_position = 0;
};

class Session {
 public:
  // Connects with a libpq connection string or postgres:// URL (giving up
  // after 10 s unless it sets connect_timeout).
  static absl::StatusOr<std::unique_ptr<Session>> Connect(const std::string& conninfo);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs SQL that returns no rows (may hold several statements).
  absl::Status Exec(std::string_view sql);
  // Like Exec, and on failure fills `info` with the error's position.
  absl::Status Exec(std::string_view sql, ErrorInfo* info);
  // Runs statements one after another (each one statement, no parameters),
  // pipelined: a round trip per batch of statements instead of per
  // statement. Stops at the first failure: `failed` gets its index and `info`
  // its error. Each batch is one (implicit) transaction; wrap the call in
  // BEGIN/COMMIT to make all of them one.
  absl::Status ExecEach(const std::vector<std::string_view>& statements, int* failed, ErrorInfo* info);
  // Inside an open transaction (BEGIN ...): runs statements pipelined, each
  // under a savepoint, so one that fails is undone alone and the
  // transaction goes on. For each failure `on_failure(index, status, info)`
  // says whether to go on with the next statement (true) or stop (false:
  // the call returns that failure). UNAVAILABLE when the connection is lost.
  absl::Status ExecEachIsolated(
      const std::vector<std::string_view>& statements,
      const std::function<bool(size_t index, const absl::Status& failure, const ErrorInfo& info)>& on_failure);
  // Runs a query with text parameters $1, $2, ...
  absl::StatusOr<Rows> Query(std::string_view sql, const std::vector<std::string>& params = {});

  // The server's database name, e.g. to tell the user where something failed.
  std::string database() const;

 private:
  explicit Session(pg_conn* conn) : conn_(conn) {}
  absl::Status StatusOf(pg_result* res, ErrorInfo* info) const;
  pg_conn* conn_;
};

// Whether a connection string (URL, with its query parameters, or key=value
// form) carries a password, as libpq parses it.
bool HasPassword(const std::string& conninfo);

// The URL with its password replaced by "***" (for messages and logs).
std::string RedactUrl(std::string_view url);

// A connection string for another database on the same server as `conninfo`
// (a postgres:// URL or key=value string; "" means libpq's defaults).
std::string WithDatabase(const std::string& conninfo, const std::string& dbname);

// "name" as a SQL string literal ('it''s').
std::string QuoteLiteral(std::string_view text);

}  // namespace strata::pg
