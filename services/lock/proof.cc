#include "lock/proof.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "fmt/format.h"
#include "model/object_id.h"
#include "sql/parse.h"

namespace strata::lock {
namespace {

constexpr size_t kIdle = 8;

// UTF-8 characters in `text`.
int CharactersIn(std::string_view text) {
  int n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Runs each statement of `sql` but ownership and privilege ones. On a
// PostgreSQL error: the status, and where in `sql` it is.
absl::Status RunStatements(pg::Session& session, const sql::ParsedSql& parsed, sql::LineColumn* at) {
  for (int i = 0; i < parsed.size(); ++i) {
    if (schemadiff::IsOwnershipOrPrivilegeStatement(parsed.statement(i))) continue;
    pg::ErrorInfo info;
    const std::string_view text = parsed.StatementText(i);
    absl::Status s = session.Exec(text, &info);
    if (s.ok()) continue;
    // An error in a function's body is placed in the body, where the
    // statement holds it (PostgreSQL counts characters, not bytes).
    int position = info.position;
    if (position == 0 && info.internal_position > 0 && !info.internal_query.empty())
      if (const size_t body = text.find(info.internal_query); body != std::string_view::npos)
        position = CharactersIn(text.substr(0, body)) + info.internal_position;
    if (at) *at = parsed.ErrorLocation(i, position);
    return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Prover>> Prover::Open(const std::string& shadow_url,
                                                     std::vector<std::string> search_path) {
  auto db = schemadiff::ShadowDatabase::Create({.server = shadow_url, .long_lived = true});
  if (!db.ok()) return db.status();
  std::unique_ptr<Prover> p(new Prover());
  p->shadow_url_ = shadow_url;
  {
    absl::MutexLock l(&p->mu_);
    p->db_ = std::move(*db);
  }
  p->search_path_ = std::move(search_path);
  auto session = p->Acquire();
  if (!session.ok()) return session.status();
  auto version = (*session)->Query("SHOW server_version");
  if (!version.ok()) return version.status();
  p->server_ = "PostgreSQL " + version->text(0, 0).substr(0, version->text(0, 0).find(' '));
  p->Release(std::move(*session));
  return p;
}

absl::StatusOr<std::unique_ptr<pg::Session>> Prover::Acquire() {
  std::string url;
  {
    absl::MutexLock l(&mu_);
    if (!idle_.empty()) {
      auto s = std::move(idle_.back());
      idle_.pop_back();
      return s;
    }
    url = db_->url();
  }
  auto session = pg::Session::Connect(url);
  if (session.ok() || !absl::StrContains(session.status().message(), "does not exist")) return session;
  // The database is gone: dropped as left behind while this service had no
  // connection to it and had lost its lock with a server restart, or by
  // hand. It holds nothing between proofs, so a new one serves as well.
  std::unique_ptr<schemadiff::ShadowDatabase> gone;  // dropped (if it exists) after the lock
  {
    absl::MutexLock l(&mu_);
    if (db_->url() == url) {  // not made again by another proof meanwhile
      auto db = schemadiff::ShadowDatabase::Create({.server = shadow_url_, .long_lived = true});
      if (!db.ok()) return db.status();
      gone = std::move(db_);
      db_ = std::move(*db);
      idle_.clear();  // sessions to the one that is gone
    }
    url = db_->url();
  }
  return pg::Session::Connect(url);
}

void Prover::Release(std::unique_ptr<pg::Session> session) {
  absl::MutexLock l(&mu_);
  if (idle_.size() < kIdle) idle_.push_back(std::move(session));
}

absl::StatusOr<Prover::Result> Prover::Prove(const std::vector<std::string>& schemas,
                                             const std::vector<Dependency>& dependencies,
                                             std::string_view definition) {
  auto parsed = sql::ParsedSql::Parse(definition);
  if (!parsed.ok()) return parsed.status();
  std::vector<std::string> path;
  for (const auto& s : search_path_) path.push_back(model::QuoteIdentifier(s));
  const std::string begin_sql = absl::StrCat(
      "BEGIN; SET LOCAL check_function_bodies = on; SET LOCAL statement_timeout = '10s'; SET LOCAL search_path = ",
      path.empty() ? "pg_catalog" : absl::StrJoin(path, ", "));
  absl::StatusOr<std::unique_ptr<pg::Session>> session;
  absl::Status begun;
  for (int attempt = 0; attempt < 2; ++attempt) {
    session = Acquire();
    if (!session.ok())
      return Result{.proven = false, .note = fmt::format("the shadow database cannot be reached: {}",
                                                         std::string(session.status().message()))};
    begun = (*session)->Exec(begin_sql);
    if (begun.code() != absl::StatusCode::kUnavailable) break;
    // A kept session the server closed (it restarted, or the database was
    // dropped): the others are likely closed too. Once more on a new one.
    absl::MutexLock l(&mu_);
    idle_.clear();
  }
  if (!begun.ok()) {
    // A broken session is not put back.
    return Result{.proven = false,
                  .note = fmt::format("the shadow database cannot be used: {}", std::string(begun.message()))};
  }
  auto finish = [&](absl::StatusOr<Result> r) -> absl::StatusOr<Result> {
    if ((*session)->Exec("ROLLBACK").ok()) Release(std::move(*session));
    return r;
  };
  for (const auto& schema : schemas) {
    if (absl::Status s = (*session)->Exec("CREATE SCHEMA IF NOT EXISTS " + schema); !s.ok())
      return finish(Result{.proven = false, .note = fmt::format("schema {} cannot be created: {}", schema,
                                                                std::string(s.message()))});
  }
  for (const auto& d : dependencies) {
    auto dp = sql::ParsedSql::Parse(d.sql);
    absl::Status s = dp.ok() ? RunStatements(**session, *dp, nullptr) : dp.status();
    if (!s.ok())
      return finish(Result{.proven = false,
                           .note = fmt::format("{}, which it depends on, does not load: {}", d.label,
                                               std::string(s.message()))});
  }
  sql::LineColumn at;
  if (absl::Status s = RunStatements(**session, *parsed, &at); !s.ok()) {
    if (s.code() == absl::StatusCode::kUnavailable)
      return finish(Result{.proven = false, .note = fmt::format("the shadow database went away: {}",
                                                                std::string(s.message()))});
    return finish(absl::InvalidArgumentError(
        fmt::format("PostgreSQL refuses it at line {}, column {}: {}", at.line, at.column, std::string(s.message()))));
  }
  return finish(Result{.proven = true, .note = {}});
}

}  // namespace strata::lock
