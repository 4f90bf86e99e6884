#include "schemadiff/definitions.h"

#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <functional>
#include <future>
#include <thread>
#include <map>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "pg/pg.h"
#include "sql/analyze.h"
#include "sql/parse.h"
#include "sql/validate.h"

namespace strata::schemadiff {
namespace {

bool IsAggregate(const Object& o) {
  return o.kind == Kind::kFunction && !o.create.empty() && absl::StartsWith(o.create[0], "CREATE AGGREGATE");
}

// The object whose definition carries `o` (itself for top-level objects);
// nullptr when it belongs to nothing Strata manages.
const Object* Carrier(const Object& o, const Catalog& catalog) {
  switch (o.kind) {
    case Kind::kOperator:
    case Kind::kTextSearch:
      return nullptr;
    case Kind::kFunction:
      return IsAggregate(o) ? nullptr : &o;
    case Kind::kSequenceOwner:
    case Kind::kConstraint:
    case Kind::kPolicy:
    case Kind::kComment: {
      const Object* parent = catalog.Find(o.parent);
      return parent ? Carrier(*parent, catalog) : nullptr;
    }
    default:
      return &o;
  }
}

// Statements of a definition: the object's own first, then what is about it
// in a stable order (constraints, policies, ownership, comments).
int PartRank(Kind kind) {
  switch (kind) {
    case Kind::kConstraint: return 1;
    case Kind::kPolicy: return 2;
    case Kind::kSequenceOwner: return 3;
    case Kind::kComment: return 4;
    default: return 0;
  }
}

std::string AsScript(const std::vector<std::string>& statements) {
  std::string out;
  for (const auto& s : statements) absl::StrAppend(&out, s, ";\n");
  return out;
}

// SQLSTATEs of "something this statement needs is not there (yet)".
bool MissingDependency(const std::string& sqlstate) {
  return sqlstate == "42P01"     // undefined_table
         || sqlstate == "42704"  // undefined_object (types, ...)
         || sqlstate == "42883"  // undefined_function
         || sqlstate == "3F000"  // invalid_schema_name
         || sqlstate == "42830"  // invalid_foreign_key: the referenced key is added later
         || sqlstate == "42703"; // undefined_column (a column another definition adds)
}

struct PendingStatement {
  size_t definition;
  int index;  // in the definition's parse
};

}  // namespace

bool IsManaged(const Object& object, const Catalog& catalog) { return Carrier(object, catalog) != nullptr; }

CatalogDefinitions DefinitionsOf(const Catalog& catalog) {
  CatalogDefinitions out;
  // Carrier key -> (rank, key) of its parts.
  std::map<std::string, std::vector<std::pair<int, std::string>>> parts;
  for (const auto& [key, o] : catalog.objects) {
    const Object* carrier = Carrier(o, catalog);
    if (!carrier) {
      if (o.kind != Kind::kComment) out.skipped.push_back(absl::StrCat(key, ": not managed by Strata"));
      continue;
    }
    // Every database has these (template0): not the team's objects.
    if (carrier->key == "schema public" || carrier->key == "extension plpgsql") continue;
    parts[carrier->key].push_back({PartRank(o.kind), key});
  }
  for (auto& [carrier, list] : parts) {
    std::sort(list.begin(), list.end());
    std::vector<std::string> statements;
    for (const auto& [rank, key] : list) {
      const Object& o = catalog.objects.at(key);
      if (o.kind == Kind::kTable) {
        for (auto& s : CreateTable(o, catalog)) statements.push_back(std::move(s));
      } else {
        statements.insert(statements.end(), o.create.begin(), o.create.end());
      }
    }
    ObjectDefinition d{.object = "", .sql = AsScript(statements)};
    // Every name in a catalog statement is qualified: no search path needed.
    auto info = sql::AnalyzeDefinition(d.sql, {.search_path = {"pg_catalog"}});
    if (!info.ok()) {
      out.skipped.push_back(absl::StrCat(carrier, ": ", info.status().message()));
      continue;
    }
    d.object = info->id.ToString();
    out.objects.push_back(std::move(d));
  }
  std::sort(out.objects.begin(), out.objects.end(),
            [](const ObjectDefinition& a, const ObjectDefinition& b) { return a.object < b.object; });
  return out;
}

namespace {

// This program: its executable's size and modification time.
const std::string& ProgramIdentity() {
  static const std::string identity = [] {
    struct stat st {};
    if (stat("/proc/self/exe", &st) != 0) return std::string("unknown");
    return absl::StrCat(st.st_size, ".", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec);
  }();
  return identity;
}

}  // namespace

std::string CatalogCache::ServerVersion(const std::string& server) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = server_versions_.find(server); it != server_versions_.end()) return it->second;
  }
  // Unreachable: "" (not remembered; a load then fails, and nothing is kept).
  auto session = pg::Session::Connect(server.empty() ? "dbname=postgres" : server);
  if (!session.ok()) return "";
  auto version = (*session)->Query("SELECT current_setting('server_version_num')");
  if (!version.ok()) return "";
  absl::MutexLock lock(&mu_);
  return server_versions_.emplace(server, version->text(0, 0)).first->second;
}

std::string CatalogCache::KeyOf(const std::vector<LabelledSql>& definitions, const std::string& server) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  auto add = [&](const std::string& text) {
    const uint64_t size = text.size();  // lengths keep the parts apart
    EVP_DigestUpdate(ctx, &size, sizeof size);
    EVP_DigestUpdate(ctx, text.data(), text.size());
  };
  add(ProgramIdentity());
  add(server);
  add(ServerVersion(server));
  for (const auto& d : definitions) add(d.sql);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, digest, &len);
  EVP_MD_CTX_free(ctx);
  return absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(digest), len));
}

std::string CatalogCache::PathOf(const std::string& key) const { return absl::StrCat(dir_, "/", key, ".catalog"); }

std::optional<Catalog> CatalogCache::Find(const std::string& key) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = index_.find(key); it != index_.end()) {
      ++hits_;
      entries_.splice(entries_.begin(), entries_, it->second);
      return *it->second->second;
    }
  }
  if (!dir_.empty()) {
    std::ifstream in(PathOf(key), std::ios::binary);
    if (in) {
      std::stringstream bytes;
      bytes << in.rdbuf();
      if (auto catalog = DecodeCatalog(bytes.str()); catalog.ok()) {
        std::error_code ec;
        std::filesystem::last_write_time(PathOf(key), std::filesystem::file_time_type::clock::now(), ec);  // used now
        {
          absl::MutexLock lock(&mu_);
          ++hits_;
        }
        Remember(key, *catalog);
        return std::move(*catalog);
      }
    }
  }
  absl::MutexLock lock(&mu_);
  ++misses_;
  return std::nullopt;
}

void CatalogCache::Remember(const std::string& key, const Catalog& catalog) {
  auto copy = std::make_shared<const Catalog>(catalog);  // outside the lock
  absl::MutexLock lock(&mu_);
  if (capacity_ == 0) return;
  if (auto it = index_.find(key); it != index_.end()) {
    entries_.splice(entries_.begin(), entries_, it->second);
    return;
  }
  entries_.emplace_front(key, std::move(copy));
  index_[key] = entries_.begin();
  while (entries_.size() > capacity_) {
    index_.erase(entries_.back().first);
    entries_.pop_back();
  }
}

void CatalogCache::Put(const std::string& key, const Catalog& catalog) {
  Remember(key, catalog);
  if (dir_.empty()) return;
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  const std::string tmp = absl::StrCat(PathOf(key), ".tmp.", getpid(), ".", std::hash<std::thread::id>()(std::this_thread::get_id()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << EncodeCatalog(catalog);
    if (!out.flush()) {
      fs::remove(tmp, ec);
      return;  // a cache: a full disk costs a load next time, nothing more
    }
  }
  fs::rename(tmp, PathOf(key), ec);
  if (ec) fs::remove(tmp, ec);
  // At most max_files_ catalogs: the least recently used go.
  std::vector<std::pair<fs::file_time_type, fs::path>> files;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (entry.path().extension() == ".catalog") files.push_back({entry.last_write_time(ec), entry.path()});
  }
  if (files.size() <= max_files_) return;
  std::sort(files.begin(), files.end());
  for (size_t i = 0; i + max_files_ < files.size(); ++i) fs::remove(files[i].second, ec);
}

uint64_t CatalogCache::hits() const {
  absl::MutexLock lock(&mu_);
  return hits_;
}

uint64_t CatalogCache::misses() const {
  absl::MutexLock lock(&mu_);
  return misses_;
}

namespace {

// The statements of parsed definitions, CREATEs first (a CREATE may also
// need a statement about another object: an inline foreign key needs the
// referenced table's key), and what they are for errors.
struct Loading {
  const std::vector<LabelledSql>& definitions;
  std::vector<sql::ParsedSql> parsed;
  std::vector<PendingStatement> statements;
  long long relations = 0;  // RelationsCreated of its statements

  std::string_view Text(const PendingStatement& st) const { return parsed[st.definition].StatementText(st.index); }
};

using Failure = std::pair<PendingStatement, std::pair<absl::Status, pg::ErrorInfo>>;

// The error for a round that failed: a statement PostgreSQL refuses
// (`fatal`), or statements that still miss something when a round makes no
// progress.
absl::Status RoundError(const Loading& l, const std::vector<Failure>& failures, bool fatal) {
  std::vector<std::string> lines;
  for (const auto& [st, err] : failures) {
    auto at = l.parsed[st.definition].ErrorLocation(st.index, err.second.position);
    lines.push_back(absl::StrCat(l.definitions[st.definition].label, ":", at.line, ":", at.column, ": ",
                                 err.first.message()));
    if (lines.size() == 10) break;
  }
  if (!fatal && failures.size() > lines.size())
    lines.push_back(absl::StrCat("... and ", failures.size() - lines.size(), " more"));
  return absl::InvalidArgumentError(absl::StrCat(
      fatal ? "a definition does not load into PostgreSQL:\n  "
            : "these definitions need objects that no definition creates (or form a cycle):\n  ",
      absl::StrJoin(lines, "\n  ")));
}

// Runs the statements, retrying those that miss something until a round
// makes no progress. `run_round` runs one round's statements and calls
// back for each failure (true: go on with the next statement).
absl::Status RunRounds(const Loading& l,
                       const std::function<absl::Status(const std::vector<PendingStatement>&,
                                                        const std::function<bool(size_t, const absl::Status&,
                                                                                 const pg::ErrorInfo&)>&)>& run_round) {
  std::vector<PendingStatement> pending = l.statements;
  while (!pending.empty()) {
    std::vector<PendingStatement> retry;
    std::vector<Failure> failures;
    bool fatal = false;
    absl::Status s = run_round(pending, [&](size_t i, const absl::Status& status, const pg::ErrorInfo& info) {
      if (status.code() == absl::StatusCode::kUnavailable) return false;
      failures.push_back({pending[i], {status, info}});
      if (!MissingDependency(info.sqlstate)) {
        fatal = true;
        return false;
      }
      retry.push_back(pending[i]);
      return true;
    });
    if (s.code() == absl::StatusCode::kUnavailable) return s;
    if (!s.ok() && !fatal) return s;  // not a statement's failure (the session's)
    if (fatal || retry.size() == pending.size()) return RoundError(l, failures, fatal);
    pending = std::move(retry);
  }
  return absl::OkStatus();
}

// In a pooled shadow's transaction, pipelined, each statement under a
// savepoint; nullopt when no pooled shadow can take it, or when it fails
// there (a database of its own then gives the error users see).
std::optional<Catalog> LoadPooled(const Loading& l, const ShadowOptions& shadow) {
  auto pooled = PooledShadow::Claim(shadow);
  if (!pooled || !pooled->Fits(l.relations)) return std::nullopt;
  pg::Session& session = pooled->session();
  absl::Status s = RunRounds(l, [&](const std::vector<PendingStatement>& pending, const auto& on_failure) {
    std::vector<std::string_view> texts;
    texts.reserve(pending.size());
    for (const auto& st : pending) texts.push_back(l.Text(st));
    return session.ExecEachIsolated(texts, on_failure);
  });
  if (!s.ok()) return std::nullopt;
  auto catalog = ReadCatalog(session, /*in_open_transaction=*/true);
  if (!catalog.ok()) return std::nullopt;
  return std::move(*catalog);
}

// In a database of its own, a statement per round trip, each its own
// transaction: a load too large for one transaction, or with statements
// that cannot run in one.
absl::StatusOr<Catalog> LoadIntoNewDatabase(const Loading& l, const ShadowOptions& shadow) {
  auto db = ShadowDatabase::Create(shadow);
  if (!db.ok()) return db.status();
  auto session = pg::Session::Connect((*db)->url());
  if (!session.ok()) return session.status();
  // As pg_dump's scripts: bodies are checked when they run. The shadow is
  // thrown away: commits need not wait for the disk.
  if (absl::Status s = (*session)->Exec("SET check_function_bodies = false; SET synchronous_commit = off"); !s.ok())
    return s;
  absl::Status s = RunRounds(l, [&](const std::vector<PendingStatement>& pending, const auto& on_failure) {
    for (size_t i = 0; i < pending.size(); ++i) {
      pg::ErrorInfo info;
      absl::Status r = (*session)->Exec(l.Text(pending[i]), &info);
      if (!r.ok() && !on_failure(i, r, info)) return r;
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return ReadCatalog(**session);
}

}  // namespace

absl::StatusOr<Catalog> LoadDefinitions(const std::vector<LabelledSql>& definitions, const ShadowOptions& shadow) {
  std::string key;
  if (shadow.cache) {
    key = shadow.cache->KeyOf(definitions, shadow.server);
    if (auto hit = shadow.cache->Find(key)) return std::move(*hit);
  }
  Loading l{.definitions = definitions};
  l.parsed.reserve(definitions.size());
  std::vector<PendingStatement> abouts;
  for (size_t i = 0; i < definitions.size(); ++i) {
    auto p = sql::ParsedSql::Parse(definitions[i].sql);
    if (!p.ok()) return absl::InvalidArgumentError(absl::StrCat(definitions[i].label, ": ", p.status().message()));
    for (int j = 0; j < p->size(); ++j) {
      const pg_query::Node& stmt = p->statement(j);
      if (IsOwnershipOrPrivilegeStatement(stmt)) continue;
      (j == 0 ? l.statements : abouts).push_back({i, j});
      l.relations += RelationsCreated(stmt);
    }
    l.parsed.push_back(std::move(*p));
  }
  l.statements.insert(l.statements.end(), abouts.begin(), abouts.end());
  std::optional<Catalog> pooled;
  if (shadow.pool) pooled = LoadPooled(l, shadow);
  absl::StatusOr<Catalog> catalog = pooled ? std::move(*pooled) : LoadIntoNewDatabase(l, shadow);
  if (catalog.ok() && shadow.cache) shadow.cache->Put(key, *catalog);
  return catalog;
}

absl::StatusOr<std::pair<Catalog, Catalog>> LoadDefinitionSets(const std::vector<LabelledSql>& a,
                                                               const std::vector<LabelledSql>& b,
                                                               const ShadowOptions& shadow) {
  auto later = std::async(std::launch::async, [&] { return LoadDefinitions(b, shadow); });
  auto first = LoadDefinitions(a, shadow);
  auto second = later.get();
  if (!first.ok()) return first.status();
  if (!second.ok()) return second.status();
  return std::make_pair(std::move(*first), std::move(*second));
}

namespace {

// One line, runs of blanks as one space, at most `max` bytes.
std::string Shorten(const std::string& text, size_t max = 160) {
  std::string s;
  for (char c : text) {
    const bool blank = c == ' ' || c == '\n' || c == '\t';
    if (blank && (s.empty() || s.back() == ' ')) continue;
    s.push_back(blank ? ' ' : c);
  }
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

std::string ColumnText(const Column& c) {
  std::string s = absl::StrCat(c.name, " ", c.type);
  if (c.not_null) s += " NOT NULL";
  if (!c.default_expr.empty()) absl::StrAppend(&s, c.generated ? " GENERATED AS " : " DEFAULT ", c.default_expr);
  return s;
}

// Column by column for tables; otherwise the first statement of each side.
std::string DescribeChange(const Object& expected, const Object& actual) {
  std::vector<std::string> what;
  if (expected.kind == Kind::kTable && actual.kind == Kind::kTable) {
    std::map<std::string, const Column*> want, have;
    for (const auto& c : expected.columns) want[c.name] = &c;
    for (const auto& c : actual.columns) have[c.name] = &c;
    for (const auto& [name, c] : have)
      if (!want.count(name)) what.push_back(absl::StrCat("column ", ColumnText(*c), " is there but not expected"));
    for (const auto& [name, c] : want) {
      auto it = have.find(name);
      if (it == have.end()) {
        what.push_back(absl::StrCat("column ", ColumnText(*c), " is expected but missing"));
      } else if (c->Signature() != it->second->Signature()) {
        what.push_back(absl::StrCat("column ", name, " is ", ColumnText(*it->second), ", expected ", ColumnText(*c)));
      }
    }
  }
  if (what.empty()) {
    const std::string want = expected.create.empty() ? expected.signature : expected.create[0];
    const std::string have = actual.create.empty() ? actual.signature : actual.create[0];
    what.push_back(absl::StrCat("is `", Shorten(have), "`, expected `", Shorten(want), "`"));
  }
  return absl::StrCat(actual.key, ": ", absl::StrJoin(what, "; "));
}

}  // namespace

std::vector<std::string> DescribeDrift(const Catalog& expected, const Catalog& actual) {
  std::vector<std::string> out;
  for (const auto& [key, o] : expected.objects) {
    if (!IsManaged(o, expected)) continue;
    const Object* live = actual.Find(key);
    if (!live) {
      out.push_back(absl::StrCat(key, ": expected but missing"));
    } else if (live->signature != o.signature) {
      out.push_back(DescribeChange(o, *live));
    }
  }
  for (const auto& [key, o] : actual.objects) {
    if (!IsManaged(o, actual) || expected.Find(key)) continue;
    out.push_back(absl::StrCat(key, ": is there but not expected (`",
                               Shorten(o.create.empty() ? o.signature : o.create[0]), "`)"));
  }
  return out;
}

}  // namespace strata::schemadiff
