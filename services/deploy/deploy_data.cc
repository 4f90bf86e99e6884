// DeployServiceImpl (deploy_service_impl.h): reference data. Tracking a
// table's rows, storing data versions (check-in from a file or from an
// environment), showing and diffing them, and their part of imports and
// releases. The "data:<schema>.<table>" aggregate is decided here: the lock
// rule (the caller holds the table's check-out) is checked before the
// version is written, the accept rule (tracked, next version) by the log.
#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_join.h"
#include "auth/tokens.h"
#include "deploy/deploy_projection.h"
#include "deploy/deploy_service_impl.h"
#include "fmt/format.h"
#include "model/object_id.h"
#include "refdata/inserts.h"
#include "refdata/live.h"
#include "sql/analyze.h"

namespace strata::deploy {
namespace {

std::string Paren(const std::vector<std::string>& columns) { return "(" + absl::StrJoin(columns, ", ") + ")"; }

bool SameSet(std::vector<std::string> a, std::vector<std::string> b) {
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  return a == b;
}

v1::DataTable TableOf(const std::string& qualified, const internal::DataTableState& t) {
  v1::DataTable out;
  out.set_table("table:" + qualified);
  out.set_tracked(t.tracked());
  *out.mutable_key() = t.key();
  out.set_latest_version(t.latest_version());
  out.set_latest_sha256(t.latest_sha256());
  out.set_row_count(t.row_count());
  return out;
}

void FillVersion(const std::string& qualified, const internal::DataVersionRecord& rec, v1::DataVersion* out) {
  const auto& v = rec.stored();
  out->set_table("table:" + qualified);
  out->set_version(v.version());
  out->set_rows_csv(v.rows_csv());
  out->set_sha256(v.rows_sha256());
  out->set_row_count(v.row_count());
  *out->mutable_key() = v.key();
  out->set_user(rec.user());
  out->set_site(rec.site());
  *out->mutable_time() = rec.time();
  out->set_message(v.message());
  out->set_source(v.source());
}

std::string Shown(const refdata::Value& v) { return v ? fmt::format("'{}'", *v) : std::string("NULL"); }

}  // namespace

grpc::Status DeployServiceImpl::TrackData(grpc::ServerContext* ctx, const v1::TrackDataRequest* req,
                                          v1::DataTable* resp) {
  return Handle(ctx, "data_track", "data:" + req->table(),
                [&](const auth::Principal& who) { return DoTrackData(who, *req, resp); });
}

grpc::Status DeployServiceImpl::UntrackData(grpc::ServerContext* ctx, const v1::UntrackDataRequest* req,
                                            v1::DataTable* resp) {
  return Handle(ctx, "data_untrack", "data:" + req->table(),
                [&](const auth::Principal& who) { return DoUntrackData(who, *req, resp); });
}

grpc::Status DeployServiceImpl::CheckInData(grpc::ServerContext* ctx, const v1::CheckInDataRequest* req,
                                            v1::DataVersion* resp) {
  return Handle(ctx, "data_checkin", "data:" + req->table(),
                [&](const auth::Principal& who) { return DoCheckInData(who, *req, resp); });
}

grpc::Status DeployServiceImpl::GetData(grpc::ServerContext* ctx, const v1::GetDataRequest* req,
                                        v1::DataVersion* resp) {
  return Handle(ctx, "", "", [&](const auth::Principal& who) -> absl::Status {
    auto table = ShapeOf(req->table());
    if (!table.ok()) return table.status();
    if (absl::Status s = hosting::RequireObjectInScope(who, table->id, {log_, options_.site, "read"}); !s.ok())
      return s;
    auto t = DeployProjection::ReadDataTable(db(), table->qualified);
    if (!t.ok()) return t.status();
    const uint64_t version = req->version() ? req->version() : (*t ? (*t)->latest_version() : 0);
    if (!*t || version == 0)
      return absl::NotFoundError(fmt::format("{} has no data version (track it: strata data track {})", table->id,
                                             table->qualified));
    auto rec = DeployProjection::ReadDataVersion(db(), table->qualified, version);
    if (!rec.ok()) return rec.status();
    if (!*rec)
      return absl::NotFoundError(fmt::format("{} has no data version {} (latest: {})", table->id, version,
                                             (*t)->latest_version()));
    FillVersion(table->qualified, **rec, resp);
    return absl::OkStatus();
  });
}

grpc::Status DeployServiceImpl::DiffData(grpc::ServerContext* ctx, const v1::DiffDataRequest* req,
                                         v1::DataDiff* resp) {
  return Handle(ctx, "", "", [&](const auth::Principal& who) { return DoDiffData(who, *req, resp); });
}

grpc::Status DeployServiceImpl::ListData(grpc::ServerContext* ctx, const v1::ListDataRequest*,
                                         v1::ListDataResponse* resp) {
  return Handle(ctx, "", "", [&](const auth::Principal& who) -> absl::Status {
    auto all = DeployProjection::ReadDataTables(db());
    if (!all.ok()) return all.status();
    for (const auto& [qualified, t] : *all)
      if (hosting::ObjectInScope(who, "data:" + qualified)) *resp->add_tables() = TableOf(qualified, t);
    return absl::OkStatus();
  });
}

absl::StatusOr<DeployServiceImpl::TableShape> DeployServiceImpl::ShapeOf(const std::string& text) {
  auto ref = model::ParseObjectRef(text.rfind("data:", 0) == 0 ? text.substr(5) : text);
  if (!ref.ok()) return ref.status();
  if (ref->kind.empty()) ref->kind = "table";
  if (ref->kind != "table")
    return absl::InvalidArgumentError(
        fmt::format("{} is a {}: only the rows of tables are reference data", ref->ToString(), ref->kind));
  TableShape t;
  t.id = ref->ToString();
  t.qualified = ref->QualifiedName();
  auto o = DeployProjection::ReadObject(db(), t.id);
  if (!o.ok()) return o.status();
  if (!*o || (*o)->latest_version() == 0)
    return absl::NotFoundError(fmt::format("{} has no version in Strata; check the table in (or import it) first", t.id));
  if ((*o)->dropped()) return absl::FailedPreconditionError(fmt::format("{} is dropped", t.id));
  t.version = (*o)->latest_version();
  auto def = DeployProjection::ReadDefinition(db(), t.id, t.version);
  if (!def.ok()) return def.status();
  auto info = sql::AnalyzeDefinition(*def);
  if (!info.ok()) return info.status();
  t.info = std::move(*info);
  for (const auto& c : t.info.columns) t.columns.push_back({c.name, c.type});
  return t;
}

absl::StatusOr<refdata::RowSet> DeployServiceImpl::DataRows(const std::string& qualified, uint64_t version) {
  auto rec = DeployProjection::ReadDataVersion(db(), qualified, version);
  if (!rec.ok()) return rec.status();
  if (!*rec) return absl::NotFoundError(fmt::format("{} has no data version {}", qualified, version));
  const auto& v = (*rec)->stored();
  std::vector<refdata::Column> columns;
  for (const auto& c : v.columns()) columns.push_back({c.name(), c.type()});
  std::vector<std::string> key(v.key().begin(), v.key().end());
  auto rows = refdata::ParseCsv(v.rows_csv(), columns, key);
  if (!rows.ok())  // stored by Strata in its own form: cannot fail unless the store is damaged
    return absl::DataLossError(fmt::format("data version {} of {} does not read back: {}", version, qualified,
                                           std::string(rows.status().message())));
  return rows;
}

absl::StatusOr<std::vector<std::pair<std::string, std::vector<std::string>>>> DeployServiceImpl::KeysOf(
    const TableShape& table) {
  std::vector<std::pair<std::string, std::vector<std::string>>> keys;
  if (!table.info.primary_key.empty())
    keys.emplace_back("PRIMARY KEY " + Paren(table.info.primary_key), table.info.primary_key);
  for (const auto& u : table.info.unique_keys) keys.emplace_back("UNIQUE " + Paren(u), u);
  // Unique indexes of the table that Strata versions (same schema).
  auto id = model::ParseObjectId(table.id);
  if (!id.ok()) return id.status();
  auto heads = DeployProjection::ReadHeads(db());
  if (!heads.ok()) return heads.status();
  const std::string prefix = "index:" + id->schema + ".";
  for (auto it = heads->lower_bound(prefix); it != heads->end() && it->first.rfind(prefix, 0) == 0; ++it) {
    if (it->second.dropped) continue;
    auto def = DeployProjection::ReadDefinition(db(), it->first, it->second.version);
    if (!def.ok()) continue;
    auto info = sql::AnalyzeDefinition(*def);
    if (!info.ok() || !info->index_unique || info->index_key.empty() || info->index_table != table.qualified) continue;
    keys.emplace_back(fmt::format("UNIQUE INDEX {} {}", it->first.substr(6), Paren(info->index_key)), info->index_key);
  }
  return keys;
}

absl::Status DeployServiceImpl::DoTrackData(const auth::Principal& who, const v1::TrackDataRequest& req,
                                            v1::DataTable* resp) {
  if (absl::Status s = NeedRole(who, {"dba", "admin"}, "tracking a table's rows"); !s.ok()) return s;
  if (absl::Status s = runner_->CatchUp(options_.apply_timeout); !s.ok()) return s;
  auto table = ShapeOf(req.table());
  if (!table.ok()) return table.status();
  if (absl::Status s = hosting::RequireObjectInScope(who, table->id, {}); !s.ok()) return s;
  auto state = DeployProjection::ReadDataTable(db(), table->qualified);
  if (!state.ok()) return state.status();
  if (*state && (*state)->tracked())
    return absl::AlreadyExistsError(fmt::format("{} is tracked already (key {})", table->id,
                                                Paren({(*state)->key().begin(), (*state)->key().end()})));
  auto keys = KeysOf(*table);
  if (!keys.ok()) return keys.status();
  std::vector<std::string> key(req.key().begin(), req.key().end());
  std::vector<std::string> known;
  for (const auto& [what, columns] : *keys) known.push_back(what);
  if (keys->empty())
    return absl::InvalidArgumentError(fmt::format(
        "{} has neither a primary key nor a unique key: reference data needs a key that tells its rows apart; "
        "add one (e.g. PRIMARY KEY (...)) and check the table in, then track it",
        table->id));
  if (key.empty()) {
    key = keys->front().second;
  } else {
    std::vector<std::string> names;
    for (const auto& c : table->columns) names.push_back(c.name);
    for (const auto& k : key)
      if (!table->info.FindColumn(k))
        return absl::InvalidArgumentError(
            fmt::format("{} has no column {} (its columns: {})", table->id, k, fmt::join(names, ", ")));
    bool is_key = false;
    for (const auto& [what, columns] : *keys) is_key |= SameSet(columns, key);
    if (!is_key)
      return absl::InvalidArgumentError(fmt::format("{} is not a primary or unique key of {}; its keys: {}",
                                                    Paren(key), table->id, fmt::join(known, ", ")));
  }
  v1::Event e = NewEvent(who, "data:" + table->qualified, (*state ? (*state)->last_seq() : 0) + 1);
  e.mutable_data_tracked()->set_table(table->id);
  for (const auto& k : key) e.mutable_data_tracked()->add_key(k);
  auto d = Submit(e);
  if (!d.ok()) return d.status();
  if (!d->accepted())
    return absl::AbortedError(fmt::format("{} changed meanwhile ({}); look again", table->id, d->reason));
  auto now = DeployProjection::ReadDataTable(db(), table->qualified);
  if (!now.ok()) return now.status();
  *resp = TableOf(table->qualified, now->value_or(internal::DataTableState()));
  return absl::OkStatus();
}

absl::Status DeployServiceImpl::DoUntrackData(const auth::Principal& who, const v1::UntrackDataRequest& req,
                                              v1::DataTable* resp) {
  if (absl::Status s = NeedRole(who, {"dba", "admin"}, "untracking a table's rows"); !s.ok()) return s;
  if (absl::Status s = runner_->CatchUp(options_.apply_timeout); !s.ok()) return s;
  auto ref = model::ParseObjectRef(req.table());
  if (!ref.ok()) return ref.status();
  if (ref->kind.empty()) ref->kind = "table";
  if (absl::Status s = hosting::RequireObjectInScope(who, ref->ToString(), {}); !s.ok()) return s;
  const std::string qualified = ref->QualifiedName();
  auto state = DeployProjection::ReadDataTable(db(), qualified);
  if (!state.ok()) return state.status();
  if (!*state || !(*state)->tracked())
    return absl::FailedPreconditionError(fmt::format("{} is not tracked", ref->ToString()));
  v1::Event e = NewEvent(who, "data:" + qualified, (*state)->last_seq() + 1);
  e.mutable_data_untracked()->set_reason(req.reason());
  auto d = Submit(e);
  if (!d.ok()) return d.status();
  if (!d->accepted())
    return absl::AbortedError(fmt::format("{} changed meanwhile ({}); look again", ref->ToString(), d->reason));
  auto now = DeployProjection::ReadDataTable(db(), qualified);
  if (!now.ok()) return now.status();
  *resp = TableOf(qualified, now->value_or(internal::DataTableState()));
  return absl::OkStatus();
}

absl::StatusOr<v1::Event> DeployServiceImpl::NewDataVersion(const auth::Principal& who, const std::string& qualified,
                                                            const refdata::RowSet& rows, const std::string& message,
                                                            const std::string& source) {
  auto state = DeployProjection::ReadDataTable(db(), qualified);
  if (!state.ok()) return state.status();
  if (!*state || !(*state)->tracked())
    return absl::FailedPreconditionError(fmt::format("table:{} is not tracked", qualified));
  auto table = DeployProjection::ReadObject(db(), "table:" + qualified);
  if (!table.ok()) return table.status();
  std::string csv = refdata::Canonical(rows);
  if (absl::Status s = hosting::CheckSize(fmt::format("the rows of {}", qualified), csv.size(),
                                          options_.max_definition_bytes);
      !s.ok())
    return s;
  v1::Event e = NewEvent(who, "data:" + qualified, (*state)->last_seq() + 1);
  auto* v = e.mutable_data_version_stored();
  v->set_version((*state)->latest_version() + 1);
  v->set_rows_sha256(auth::Sha256Hex(csv));
  v->set_rows_csv(std::move(csv));
  for (const auto& c : rows.columns) {
    auto* col = v->add_columns();
    col->set_name(c.name);
    col->set_type(c.type);
  }
  for (size_t k : rows.key) v->add_key(rows.columns[k].name);
  v->set_row_count(rows.rows.size());
  v->set_message(message);
  v->set_table_version(*table ? (*table)->latest_version() : 0);
  v->set_source(source);
  return e;
}

absl::Status DeployServiceImpl::DoCheckInData(const auth::Principal& who, const v1::CheckInDataRequest& req,
                                              v1::DataVersion* resp) {
  // The roles that may hold check-outs.
  if (absl::Status s = NeedRole(who, {"developer", "dba", "admin"}, "checking in rows"); !s.ok()) return s;
  if (absl::Status s = runner_->CatchUp(options_.apply_timeout); !s.ok()) return s;
  auto table = ShapeOf(req.table());
  if (!table.ok()) return table.status();
  if (absl::Status s = hosting::RequireObjectInScope(who, table->id, {}); !s.ok()) return s;
  auto state = DeployProjection::ReadDataTable(db(), table->qualified);
  if (!state.ok()) return state.status();
  if (!*state || !(*state)->tracked())
    return absl::FailedPreconditionError(fmt::format(
        "{} is not tracked as reference data; a dba tracks it first: strata data track {} --key COL[,COL]", table->id,
        table->qualified));
  auto obj = DeployProjection::ReadObject(db(), table->id);
  if (!obj.ok()) return obj.status();
  const internal::DeployObject& o = **obj;  // ShapeOf found it
  if (o.holder() != who.user)
    return absl::FailedPreconditionError(
        o.holder().empty()
            ? fmt::format("check {} out first: its rows are checked in by the holder of its check-out "
                          "(strata checkout {})",
                          table->id, table->qualified)
            : fmt::format("{} is checked out by {}@{}; its rows are checked in by the holder of its check-out",
                          table->id, o.holder(), o.holder_site()));
  if (req.rows().empty() == req.from_environment().empty())
    return absl::InvalidArgumentError("give the rows (--data FILE) or an environment to read them from "
                                      "(--data-from-env ENV), one of them");
  const std::vector<std::string> key((*state)->key().begin(), (*state)->key().end());
  absl::StatusOr<refdata::RowSet> rows = absl::UnknownError("");
  std::string source = "file";
  if (!req.from_environment().empty()) {
    if (absl::Status s = InScope(who, req.from_environment()); !s.ok()) return s;
    auto env = Environment(req.from_environment(), /*with_state=*/false);
    if (!env.ok()) return env.status();
    auto session = Connect(env->environment());
    if (!session.ok()) return session.status();
    rows = refdata::ReadRows(**session, table->qualified, table->columns, key);
    if (!rows.ok() && rows.status().code() == absl::StatusCode::kNotFound)
      return absl::FailedPreconditionError(
          fmt::format("{} has no table {} to read rows from", req.from_environment(), table->qualified));
    source = "env:" + req.from_environment();
  } else {
    if (absl::Status s = hosting::CheckSize(fmt::format("the rows of {}", table->qualified), req.rows().size(),
                                            options_.max_definition_bytes);
        !s.ok())
      return s;
    rows = refdata::LooksLikeInserts(req.rows()) ? refdata::ParseInserts(req.rows(), table->qualified, table->columns, key)
                                                  : refdata::ParseCsv(req.rows(), table->columns, key);
  }
  if (!rows.ok())
    return absl::Status(rows.status().code(),
                        fmt::format("rows of {}: {}", table->qualified, std::string(rows.status().message())));
  auto event = NewDataVersion(who, table->qualified, *rows, req.message(), source);
  if (!event.ok()) return event.status();
  const auto& stored = event->data_version_stored();
  resp->set_table(table->id);
  resp->set_row_count(stored.row_count());
  *resp->mutable_key() = stored.key();
  resp->set_source(source);
  if ((*state)->latest_version() > 0) {
    if (stored.rows_sha256() == (*state)->latest_sha256()) {
      resp->set_version((*state)->latest_version());
      resp->set_sha256(stored.rows_sha256());
      resp->set_unchanged(true);
      return absl::OkStatus();
    }
    auto previous = DataRows(table->qualified, (*state)->latest_version());
    if (!previous.ok()) return previous.status();
    auto diff = refdata::Diff(*previous, *rows);
    if (diff.ok()) {
      resp->set_inserted(static_cast<uint32_t>(diff->inserted.size()));
      resp->set_updated(static_cast<uint32_t>(diff->updated.size()));
      resp->set_deleted(static_cast<uint32_t>(diff->deleted.size()));
    }
  } else {
    resp->set_inserted(static_cast<uint32_t>(stored.row_count()));
  }
  auto d = Submit(*event);
  if (!d.ok()) return d.status();
  if (!d->accepted())
    return absl::AbortedError(
        fmt::format("{}'s rows changed meanwhile ({}); look at `strata data show {}` and check in again", table->id,
                    d->reason, table->qualified));
  resp->set_version(stored.version());
  resp->set_sha256(stored.rows_sha256());
  resp->set_message(req.message());
  resp->set_user(who.user);
  resp->set_site(who.site);
  *resp->mutable_time() = event->time();
  if (!req.keep_checked_out()) {
    // The check-in ends the check-out, as a definition's does.
    v1::Event undo = NewEvent(who, "object:" + table->id, o.last_seq() + 1);
    undo.mutable_check_out_undone();
    auto released = Submit(undo);
    if (!released.ok() || !released->accepted())
      spdlog::warn("data check-in of {} by {}: the check-out was not ended: {}", table->id, who.user,
                   released.ok() ? released->reason : released.status().ToString());
  }
  return absl::OkStatus();
}

absl::Status DeployServiceImpl::DoDiffData(const auth::Principal& who, const v1::DiffDataRequest& req,
                                           v1::DataDiff* resp) {
  auto ref = model::ParseObjectRef(req.table());
  if (!ref.ok()) return ref.status();
  if (ref->kind.empty()) ref->kind = "table";
  if (absl::Status s = hosting::RequireObjectInScope(who, ref->ToString(), {log_, options_.site, "read"}); !s.ok())
    return s;
  const std::string qualified = ref->QualifiedName();
  auto t = DeployProjection::ReadDataTable(db(), qualified);
  if (!t.ok()) return t.status();
  if (!*t || (*t)->latest_version() == 0)
    return absl::NotFoundError(fmt::format("{} has no data version", ref->ToString()));
  const uint64_t to = req.to_version() ? req.to_version() : (*t)->latest_version();
  auto a = DataRows(qualified, req.from_version());
  if (!a.ok()) return a.status();
  auto b = DataRows(qualified, to);
  if (!b.ok()) return b.status();
  auto diff = refdata::Diff(*a, *b);
  if (!diff.ok()) return diff.status();
  resp->set_table(ref->ToString());
  resp->set_from_version(req.from_version());
  resp->set_to_version(to);
  resp->set_inserted(static_cast<uint32_t>(diff->inserted.size()));
  resp->set_updated(static_cast<uint32_t>(diff->updated.size()));
  resp->set_deleted(static_cast<uint32_t>(diff->deleted.size()));
  for (size_t k : b->key) resp->add_key_columns(b->columns[k].name);
  auto row_text = [&](const refdata::Row& row) {
    std::vector<std::string> parts;
    for (size_t c = 0; c < row.size(); ++c) parts.push_back(fmt::format("{}={}", b->columns[c].name, Shown(row[c])));
    return absl::StrJoin(parts, ", ");
  };
  auto add = [&](const refdata::RowChange& c, v1::DataRowChange::Kind kind) {
    auto* out = resp->add_changes();
    for (const auto& k : c.key) out->add_key(k);
    out->set_kind(kind);
    if (kind == v1::DataRowChange::UPDATED) {
      for (size_t col : c.changed)
        out->add_detail(fmt::format("{}: {} -> {}", b->columns[col].name, Shown(c.before[col]), Shown(c.after[col])));
    } else {
      out->add_detail(row_text(kind == v1::DataRowChange::DELETED ? c.before : c.after));
    }
  };
  for (const auto& c : diff->deleted) add(c, v1::DataRowChange::DELETED);
  for (const auto& c : diff->updated) add(c, v1::DataRowChange::UPDATED);
  for (const auto& c : diff->inserted) add(c, v1::DataRowChange::INSERTED);
  return absl::OkStatus();
}

absl::Status DeployServiceImpl::AddDataHeads(std::map<std::string, DeployProjection::Head>* heads,
                                             const std::string& only_table) {
  auto all = DeployProjection::ReadDataTables(db());
  if (!all.ok()) return all.status();
  for (const auto& [qualified, t] : *all) {
    if (!only_table.empty() && qualified != only_table) continue;
    if (t.latest_version() == 0) continue;
    (*heads)["data:" + qualified] = {t.latest_version(), t.latest_sha256(), /*dropped=*/!t.tracked()};
  }
  return absl::OkStatus();
}

absl::Status DeployServiceImpl::CheckDataFits(const std::map<std::string, v1::BaselineEntry>& state) {
  for (const auto& [id, entry] : state) {
    if (!detail::IsDataEntry(id)) continue;
    const std::string qualified = id.substr(5);
    auto table = state.find("table:" + qualified);
    if (table == state.end())
      return absl::FailedPreconditionError(
          fmt::format("the release carries the rows of {} (v{}) but not the table", qualified, entry.version()));
    auto rec = DeployProjection::ReadDataVersion(db(), qualified, entry.version());
    if (!rec.ok()) return rec.status();
    if (!*rec) return absl::NotFoundError(fmt::format("{} has no data version {}", qualified, entry.version()));
    auto def = DeployProjection::ReadDefinition(db(), table->first, table->second.version());
    if (!def.ok()) return def.status();
    auto info = sql::AnalyzeDefinition(*def);
    if (!info.ok()) continue;  // the definition's own problem, reported by loading the release
    for (const auto& c : (*rec)->stored().columns())
      if (!info->FindColumn(c.name()))
        return absl::FailedPreconditionError(fmt::format(
            "data v{} of {} fills column {}, which {} v{} of this release does not have; check the rows in again "
            "against the table's definition (strata checkin {} --data FILE)",
            entry.version(), qualified, c.name(), table->first, table->second.version(), qualified));
  }
  return absl::OkStatus();
}

absl::StatusOr<DeployServiceImpl::DataImport> DeployServiceImpl::ClassifyDataForImport(
    const v1::Environment& env, const schemadiff::CatalogDefinitions& defs) {
  DataImport out;
  auto all = DeployProjection::ReadDataTables(db());
  if (!all.ok()) return all.status();
  std::unique_ptr<pg::Session> session;
  for (const auto& [qualified, t] : *all) {
    if (!t.tracked()) continue;
    const std::string id = "table:" + qualified;
    if (std::none_of(defs.objects.begin(), defs.objects.end(), [&](const auto& d) { return d.object == id; })) continue;
    if (!session) {
      auto s = Connect(env);
      if (!s.ok()) return s.status();
      session = std::move(*s);
    }
    if (t.latest_version() == 0) {
      auto shape = ShapeOf(id);
      if (!shape.ok()) return shape.status();
      auto rows = refdata::ReadRows(*session, qualified, shape->columns, {t.key().begin(), t.key().end()});
      if (!rows.ok()) {
        out.conflicts.push_back(fmt::format("data {}: {}", qualified, std::string(rows.status().message())));
        continue;
      }
      out.fresh.emplace_back(qualified, std::move(*rows));
      continue;
    }
    // The newest version the rows equal (compared by type, in the database).
    uint64_t match = 0;
    size_t differing = 0;
    for (uint64_t v = t.latest_version(); v >= 1 && !match && t.latest_version() - v < 10; --v) {
      auto rows = DataRows(qualified, v);
      if (!rows.ok()) return rows.status();
      auto drift = refdata::CompareRows(*session, qualified, *rows, 0);
      if (!drift.ok()) {
        if (drift.status().code() == absl::StatusCode::kUnavailable) return drift.status();
        continue;  // a version whose columns or values do not fit the table there
      }
      if (drift->rows == 0) match = v;
      if (v == t.latest_version()) differing = drift->rows;
    }
    if (!match) {
      out.conflicts.push_back(fmt::format("data {}: the rows differ from every data version in Strata ({} rows "
                                          "differ from the latest, v{}; strata drift lists them once imported)",
                                          qualified, differing, t.latest_version()));
      continue;
    }
    v1::BaselineEntry e;
    e.set_object("data:" + qualified);
    e.set_version(match);
    auto rec = DeployProjection::ReadDataVersion(db(), qualified, match);
    if (rec.ok() && *rec) e.set_definition_sha256((*rec)->stored().rows_sha256());
    out.matched.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<std::vector<v1::BaselineEntry>> DeployServiceImpl::StoreDataVersionOnes(const auth::Principal& who,
                                                                                        const DataImport& data,
                                                                                        const std::string& env) {
  std::vector<v1::BaselineEntry> out;
  for (const auto& [qualified, rows] : data.fresh) {
    auto e = NewDataVersion(who, qualified, rows, fmt::format("imported from {}", env), "import:" + env);
    if (!e.ok()) return e.status();
    auto d = Submit(*e);
    if (!d.ok()) return d.status();
    if (!d->accepted())
      return absl::AbortedError(fmt::format("data {}: {}; run the import again", qualified, d->reason));
    v1::BaselineEntry entry;
    entry.set_object("data:" + qualified);
    entry.set_version(e->data_version_stored().version());
    entry.set_definition_sha256(e->data_version_stored().rows_sha256());
    out.push_back(std::move(entry));
  }
  return out;
}

}  // namespace strata::deploy
