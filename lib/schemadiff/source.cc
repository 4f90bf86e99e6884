#include "schemadiff/source.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <future>
#include <optional>
#include <random>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "sql/parse.h"

namespace strata::schemadiff {
namespace {

namespace fs = std::filesystem;


struct SqlFile {
  std::string path;
  std::string text;
};

// pg_dump (15.14 and later) brackets its scripts with the psql commands
// \restrict and \unrestrict. They are psql's, not SQL: blank them out (lines
// keep their numbers for error messages).
void BlankPsqlRestrictLines(std::string& text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + pos, end - pos);
    if (line.rfind("\\restrict ", 0) == 0 || line.rfind("\\unrestrict ", 0) == 0) {
      std::fill(text.begin() + pos, text.begin() + end, ' ');
    }
    pos = end + 1;
  }
}

absl::StatusOr<std::vector<SqlFile>> ReadSqlFiles(const std::string& spec) {
  std::error_code ec;
  std::vector<std::string> paths;
  if (fs::is_directory(spec, ec)) {
    for (const auto& entry : fs::recursive_directory_iterator(spec, ec)) {
      if (entry.is_regular_file() && entry.path().extension() == ".sql") paths.push_back(entry.path().string());
    }
    if (paths.empty()) return absl::NotFoundError(absl::StrCat(spec, ": no .sql files in this folder"));
    std::sort(paths.begin(), paths.end());
  } else if (fs::is_regular_file(spec, ec)) {
    paths.push_back(spec);
  } else {
    return absl::NotFoundError(absl::StrCat(spec, ": no such file or folder (nor a postgres:// URL)"));
  }
  std::vector<SqlFile> files;
  for (const auto& p : paths) {
    std::ifstream in(p, std::ios::binary);
    if (!in) return absl::NotFoundError(absl::StrCat(p, ": cannot read"));
    std::stringstream ss;
    ss << in.rdbuf();
    files.push_back({p, ss.str()});
    BlankPsqlRestrictLines(files.back().text);
  }
  return files;
}

// strata_shadow_<pid>_<n>_<random>_<server clock, epoch seconds at creation>,
// or _kept for a long-lived shadow (never swept).
std::string ShadowName(long long server_now, bool long_lived) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return absl::StrCat("strata_shadow_", getpid(), "_", counter++, "_", rd() % 100000, "_",
                      long_lived ? std::string("kept") : std::to_string(server_now));
}

// A shadow older than this (by the server's clock) that nobody is connected
// to was left by a process that died before dropping it.
constexpr long long kStaleShadowSeconds = 60;

// A long-lived shadow's owner holds this session-level advisory lock, keyed
// by the shadow's name, on the session that created it (and drops it), for
// as long as the shadow lives: PostgreSQL releases it when that session
// ends, however its process ends. Both keys are computed by the server, so
// the owner and any sweeper agree: (kKeptLockClass, hashtext(name)). Free
// lock and no connection: left behind.
constexpr const char* kKeptLockClass = "hashtext('strata_shadow_kept')";

// Long-lived shadows dropped by one sweep at most (each DROP DATABASE forces
// a checkpoint: tens of milliseconds on an idle server); the next sweep
// takes the rest of a backlog.
constexpr int kMaxKeptDropsPerSweep = 16;

// Drops the shadows killed processes left on this server, and returns the
// server's clock (epoch seconds) for the next shadow's name. A shadow in use
// has a connection (a load, a catalog read, the lock service's prover keeps
// one open); DROP DATABASE without FORCE refuses one somebody connected to
// since, and a shadow this role does not own stays: both are left alone. A
// long-lived shadow is left behind when nobody is connected to it and its
// owner's lock (kKeptLockClass) is free; its owner takes the lock before it
// creates the database, so one being created is never taken for one left.
absl::StatusOr<long long> SweepStaleShadows(pg::Session& admin) {
  auto rows = admin.Query(absl::StrCat(
      "SELECT extract(epoch FROM now())::bigint, d.datname FROM (SELECT 1) AS one "
      "LEFT JOIN pg_database AS d ON d.datname ~ '^strata_shadow_[0-9]+_[0-9]+_[0-9]+_([0-9]+|kept)$' "
      "AND NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a WHERE a.datid = d.oid) "
      "AND (d.datname !~ '_kept$' OR NOT EXISTS (SELECT 1 FROM pg_locks AS l WHERE l.locktype = 'advisory' "
      "AND l.objsubid = 2 AND l.classid = ", kKeptLockClass, "::oid AND l.objid = hashtext(d.datname)::oid))"));
  if (!rows.ok()) return rows.status();
  const long long now = rows->number(0, 0);
  int kept_dropped = 0;
  for (int r = 0; r < rows->size(); ++r) {
    const std::string& name = rows->text(r, 1);
    if (name.empty()) continue;
    if (name.ends_with("_kept")) {
      if (kept_dropped++ >= kMaxKeptDropsPerSweep) continue;
    } else {
      long long created = 0;
      if (!absl::SimpleAtoi(name.substr(name.rfind('_') + 1), &created)) continue;
      if (now - created < kStaleShadowSeconds) continue;
    }
    (void)admin.Exec(absl::StrCat("DROP DATABASE IF EXISTS ", name));
  }
  return now;
}

absl::Status LoadError(const absl::Status& s, const std::string& where) {
  if (s.code() == absl::StatusCode::kUnavailable) return s;
  std::string msg = absl::StrCat(where, ": ", s.message());
  if (s.code() != absl::StatusCode::kInvalidArgument) {
    absl::StrAppend(&msg, "\n(while loading it into a shadow database: install what it needs on the shadow server, "
                          "or choose another server with --shadow-url)");
    return absl::FailedPreconditionError(msg);
  }
  return absl::InvalidArgumentError(msg);
}

// Ownership and privileges are not part of the model, and the roles they
// name may not exist on the shadow server: such statements are not run.
bool IsOwnershipOrPrivilege(const pg_query::Node& stmt) {
  if (stmt.has_grant_stmt() || stmt.has_grant_role_stmt() || stmt.has_alter_default_privileges_stmt() ||
      stmt.has_alter_owner_stmt()) {
    return true;
  }
  if (!stmt.has_alter_table_stmt() || stmt.alter_table_stmt().cmds().empty()) return false;
  for (const auto& cmd : stmt.alter_table_stmt().cmds()) {
    if (!cmd.has_alter_table_cmd() || cmd.alter_table_cmd().subtype() != pg_query::AT_ChangeOwner) return false;
  }
  return true;
}

// A file ready to run: its statements as our parser (PostgreSQL 15's
// grammar) cut them, or none when it does not read the file (the server may
// be newer: the file goes to it whole, and its error positions are exact
// for syntax). The file's own BEGIN/COMMIT are left out: the loader decides
// what a transaction is.
struct PreparedFile {
  const SqlFile* file;
  std::optional<sql::ParsedSql> parsed;
  std::vector<std::string_view> statements;
  std::vector<int> index;  // statement number in `parsed`
  long long relations = 0;  // an estimate of the relations it creates (locks one transaction holds)
};

PreparedFile Prepare(const SqlFile& f) {
  PreparedFile p{.file = &f};
  auto parsed = sql::ParsedSql::Parse(f.text);
  if (!parsed.ok()) return p;
  p.parsed = std::move(*parsed);
  for (int i = 0; i < p.parsed->size(); ++i) {
    const pg_query::Node& stmt = p.parsed->statement(i);
    if (stmt.has_transaction_stmt() || IsOwnershipOrPrivilege(stmt)) continue;  // BEGIN/COMMIT: see above
    p.statements.push_back(p.parsed->StatementText(i));
    p.index.push_back(i);
    p.relations += RelationsCreated(stmt);
  }
  return p;
}

// Runs a prepared file statement by statement (pipelined), so that an error
// names its statement even when PostgreSQL gives no position.
absl::Status RunFile(pg::Session& session, const PreparedFile& p) {
  const SqlFile& f = *p.file;
  if (!p.parsed) {
    pg::ErrorInfo info;
    absl::Status s = session.Exec(f.text, &info);
    if (s.ok()) return s;
    sql::LineColumn at{0, 0};
    if (info.position > 0) at = sql::LineColumnAtByte(f.text, sql::CharPosToByte(f.text, info.position));
    return LoadError(s, at.line ? absl::StrCat(f.path, ":", at.line, ":", at.column) : f.path);
  }
  int failed = -1;
  pg::ErrorInfo info;
  absl::Status s = session.ExecEach(p.statements, &failed, &info);
  if (s.ok() || failed < 0) return s;
  auto at = p.parsed->ErrorLocation(p.index[failed], info.position);
  return LoadError(s, absl::StrCat(f.path, ":", at.line, ":", at.column));
}

// Loads the files into a pooled shadow, in its transaction, and reads the
// catalog there; nullopt when that cannot be done or anything fails (the
// caller loads them into a database of their own, which gives the error a
// user should see: the same as before there was a pool).
std::optional<Catalog> LoadPooled(const std::vector<PreparedFile>& files, const ShadowOptions& options) {
  long long relations = 0;
  for (const PreparedFile& p : files) {
    if (!p.parsed) return std::nullopt;  // sent whole: it could COMMIT the pool's transaction
    relations += p.relations;
  }
  auto shadow = PooledShadow::Claim(options);
  if (!shadow || !shadow->Fits(relations)) return std::nullopt;
  for (const PreparedFile& p : files) {
    if (!RunFile(shadow->session(), p).ok()) return std::nullopt;
  }
  auto catalog = ReadCatalog(shadow->session(), /*in_open_transaction=*/true);
  if (!catalog.ok()) return std::nullopt;
  return std::move(*catalog);
}

// Loads `files` into a shadow and reads its catalog: a pooled one when it
// can, else a new database, dropped on return or handed to `keep` (to drop
// later, together with another one: each DROP DATABASE forces a checkpoint,
// which would otherwise write out the other shadow's pages).
absl::StatusOr<Catalog> LoadSqlFiles(const std::vector<SqlFile>& files, const ShadowOptions& options,
                                     std::unique_ptr<ShadowDatabase>* keep = nullptr) {
  std::vector<PreparedFile> prepared;
  prepared.reserve(files.size());
  for (const SqlFile& f : files) prepared.push_back(Prepare(f));
  if (options.pool) {
    if (auto catalog = LoadPooled(prepared, options)) return std::move(*catalog);
  }
  auto shadow = ShadowDatabase::Create(options);
  if (!shadow.ok()) return shadow.status();
  absl::StatusOr<Catalog> catalog;
  {
    auto session = pg::Session::Connect((*shadow)->url());
    if (!session.ok()) return session.status();
    // Bodies are checked when they run, as pg_dump's scripts do: a function
    // may use a table a later file creates. A shadow database is thrown
    // away: its commit need not wait for the disk.
    if (absl::Status s = (*session)->Exec("SET check_function_bodies = false; SET synchronous_commit = off"); !s.ok()) {
      return s;
    }
    // Not one transaction: a large schema would need more locks than a
    // server grants one (max_locks_per_transaction); this shadow is thrown
    // away anyway. Each pipelined batch is a transaction.
    for (const PreparedFile& p : prepared) {
      if (absl::Status s = RunFile(**session, p); !s.ok()) return s;
    }
    catalog = ReadCatalog(**session);
  }
  if (keep) *keep = std::move(*shadow);
  return catalog;
}

// The claim: an advisory lock taken in the pooled database itself (locks
// are per database, and every process claiming it connects there).
constexpr const char* kClaimQuery =
    "SELECT pg_try_advisory_lock(hashtext('strata_shadow_pool')), "
    // Empty as template0 left it: nobody committed anything here (loads
    // never do; a person connecting by hand might).
    "NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'public', "
    "'pg_toast') AND nspname !~ '^pg_(toast_)?temp_') "
    "AND EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'public') "
    "AND NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public') "
    "AND NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = 'public') "
    "AND NOT EXISTS (SELECT 1 FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public') "
    "AND NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname <> 'plpgsql'), "
    "current_setting('max_locks_per_transaction')::bigint * (current_setting('max_connections')::bigint + "
    "current_setting('max_prepared_transactions')::bigint) / 2";

}  // namespace

std::unique_ptr<PooledShadow> PooledShadow::Claim(const ShadowOptions& options) {
  const std::string admin_url = options.server.empty() ? "dbname=postgres" : options.server;
  std::unique_ptr<pg::Session> admin;  // only to create or drop a pooled database
  auto connect_admin = [&] {
    if (!admin) {
      if (auto a = pg::Session::Connect(admin_url); a.ok()) admin = std::move(*a);
    }
    return admin != nullptr;
  };
  for (int n = 0; n < kMaxDatabases; ++n) {
    const std::string name = absl::StrCat("strata_shadow_pool_", n);
    const std::string url = pg::WithDatabase(admin_url, name);
    auto session = pg::Session::Connect(url);
    if (!session.ok()) {
      // Not there yet (or the server is gone: then creating fails too).
      if (!connect_admin()) return nullptr;
      pg::ErrorInfo info;
      absl::Status created = admin->Exec(absl::StrCat("CREATE DATABASE ", name, " TEMPLATE template0"), &info);
      // 42P04 or 23505: another process made it at the same moment.
      if (!created.ok() && info.sqlstate != "42P04" && info.sqlstate != "23505") return nullptr;
      session = pg::Session::Connect(url);
      if (!session.ok()) return nullptr;
    }
    auto claim = (*session)->Query(kClaimQuery);
    if (!claim.ok() || !claim->is_true(0, 0)) continue;  // somebody's load is in it
    if (!claim->is_true(0, 1)) {
      // Somebody committed objects into it: it is no longer empty, so it
      // goes (DROP without FORCE: not while anyone else is connected), and
      // the next claim makes it again.
      session->reset();
      if (!connect_admin()) return nullptr;
      (void)admin->Exec(absl::StrCat("DROP DATABASE IF EXISTS ", name));
      continue;
    }
    // What killed processes left in databases of their own goes now, as
    // when one is created (DROP DATABASE cannot run in the transaction).
    if (!SweepStaleShadows(**session).ok()) return nullptr;
    if (!(*session)->Exec("BEGIN; SET LOCAL check_function_bodies = false").ok()) continue;
    return std::unique_ptr<PooledShadow>(new PooledShadow(std::move(*session), name, claim->number(0, 2)));
  }
  return nullptr;
}

PooledShadow::~PooledShadow() {
  // Undoes the load (and so frees its locks and files) before the claim
  // goes with the session: the next claimant finds the database empty.
  (void)session_->Exec("ROLLBACK");
}

absl::StatusOr<std::unique_ptr<ShadowDatabase>> ShadowDatabase::Create(const ShadowOptions& options) {
  std::string admin_url = options.server.empty() ? "dbname=postgres" : options.server;
  auto admin = pg::Session::Connect(admin_url);
  if (!admin.ok()) {
    return absl::UnavailableError(absl::StrCat("shadow server: ", admin.status().message(),
                                               " (choose another with --shadow-url)"));
  }
  auto now = SweepStaleShadows(**admin);
  if (!now.ok()) {
    return absl::UnavailableError(absl::StrCat("shadow server ", pg::RedactUrl(admin_url), ": ",
                                               now.status().message()));
  }
  std::string name = ShadowName(*now, options.long_lived);
  if (options.long_lived) {
    // The lock that says its owner lives (kKeptLockClass), before the database
    // exists. Taken by another name's owner only if the two names' hashes
    // collide: then another name.
    for (int attempt = 0;; ++attempt) {
      auto locked =
          (*admin)->Query(absl::StrCat("SELECT pg_try_advisory_lock(", kKeptLockClass, ", hashtext($1))"), {name});
      if (!locked.ok()) {
        return absl::UnavailableError(absl::StrCat("shadow server ", pg::RedactUrl(admin_url), ": ",
                                                   locked.status().message()));
      }
      if (locked->is_true(0, 0)) break;
      if (attempt == 3) return absl::InternalError("no free name for a long-lived shadow database");
      name = ShadowName(*now, options.long_lived);
    }
  }
  if (absl::Status s = (*admin)->Exec(absl::StrCat("CREATE DATABASE ", name, " TEMPLATE template0")); !s.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create a shadow database on ", pg::RedactUrl(admin_url), ": ", s.message()));
  }
  return std::unique_ptr<ShadowDatabase>(new ShadowDatabase(std::move(*admin), admin_url, name));
}

ShadowDatabase::~ShadowDatabase() {
  (void)admin_->Exec(absl::StrCat("DROP DATABASE IF EXISTS ", name_, " WITH (FORCE)"));
}

std::string ShadowDatabase::url() const { return pg::WithDatabase(admin_url_, name_); }

bool IsOwnershipOrPrivilegeStatement(const pg_query::Node& stmt) { return IsOwnershipOrPrivilege(stmt); }

long long RelationsCreated(const pg_query::Node& stmt) {
  return (stmt.has_create_stmt() || stmt.has_create_table_as_stmt()) ? 3 : 1;
}

bool IsDatabaseUrl(const std::string& spec) {
  return spec.rfind("postgres://", 0) == 0 || spec.rfind("postgresql://", 0) == 0;
}

namespace {

absl::StatusOr<Catalog> LoadKeepingShadow(const std::string& spec, const ShadowOptions& shadow,
                                          std::unique_ptr<ShadowDatabase>* keep) {
  if (IsDatabaseUrl(spec)) {
    auto session = pg::Session::Connect(spec);
    if (!session.ok()) return session.status();
    return ReadCatalog(**session);
  }
  auto files = ReadSqlFiles(spec);
  if (!files.ok()) return files.status();
  return LoadSqlFiles(*files, shadow, keep);
}

}  // namespace

absl::StatusOr<Catalog> LoadCatalog(const std::string& spec, const ShadowOptions& shadow) {
  return LoadKeepingShadow(spec, shadow, nullptr);
}

absl::StatusOr<std::pair<Catalog, Catalog>> LoadCatalogs(const std::string& from, const std::string& to,
                                                         const ShadowOptions& shadow) {
  std::unique_ptr<ShadowDatabase> shadow_a, shadow_b;
  auto later = std::async(std::launch::async, [&] { return LoadKeepingShadow(to, shadow, &shadow_b); });
  auto a = LoadKeepingShadow(from, shadow, &shadow_a);
  auto b = later.get();
  // Both shadows go at once (see LoadSqlFiles).
  auto drop_b = std::async(std::launch::async, [&] { shadow_b.reset(); });
  shadow_a.reset();
  drop_b.get();
  if (!a.ok()) return a.status();
  if (!b.ok()) return b.status();
  return std::make_pair(std::move(*a), std::move(*b));
}

}  // namespace strata::schemadiff
