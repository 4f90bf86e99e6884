// Drops, renames and a check-in's column renames (lock_service_impl.h).
#include "lock/lock_service_impl.h"

namespace strata::lock {

absl::Status LockServiceImpl::DoDrop(const auth::Principal& who, const v1::DropRequest& req, v1::DropResponse* resp) {
  if (req.objects().empty()) return absl::InvalidArgumentError("name at least one object to drop");
  if (req.message().empty()) return absl::InvalidArgumentError("a drop needs a message (-m)");
  std::vector<model::ObjectId> ids;
  for (const auto& text : req.objects()) {
    auto id = Resolve(text, /*allow_new=*/false);
    if (!id.ok()) return id.status();
    if (std::find(ids.begin(), ids.end(), *id) == ids.end()) ids.push_back(*id);
  }
  // Who depends on what, among the latest versions: the closure of the
  // request under "depends on" (only what --cascade may add).
  std::map<std::string, std::vector<std::string>> dependents;  // object -> its dependents
  std::set<std::string> in_set;
  for (const auto& id : ids) in_set.insert(id.ToString());
  std::vector<std::string> queue(in_set.begin(), in_set.end());
  std::map<std::string, std::vector<std::string>> outside;  // object -> dependents not in the set
  for (size_t i = 0; i < queue.size(); ++i) {
    auto id = model::ParseObjectId(queue[i]);
    if (!id.ok()) return id.status();
    auto key = sql::DependencyKeyOf(*id);
    if (!key) continue;
    for (auto& d : LockProjection::Dependents(runner_->db(), *key)) {
      if (d == queue[i]) continue;
      dependents[queue[i]].push_back(d);
      if (in_set.count(d)) continue;
      if (req.cascade()) {
        in_set.insert(d);
        queue.push_back(d);
        resp->add_cascaded(d);
      } else {
        outside[queue[i]].push_back(d);
      }
    }
  }
  if (!outside.empty()) {
    std::vector<std::string> lines;
    for (const auto& [object, ds] : outside)
      lines.push_back(fmt::format("{} is used by {}", object, fmt::join(ds, ", ")));
    refused_object_ = outside.begin()->first;
    return absl::FailedPreconditionError(fmt::format(
        "cannot drop: {}; drop them in the same command (strata drop {} {}) or give --cascade",
        fmt::join(lines, "; "), outside.begin()->first, fmt::join(outside.begin()->second, " ")));
  }
  // Every object must be ours (or, added by --cascade, free), live, and
  // visible to the caller.
  std::vector<model::ObjectId> to_take;
  for (const std::string& object : queue) {
    auto id = model::ParseObjectId(object);
    if (!id.ok()) return id.status();
    refused_object_ = object;
    if (absl::Status s = hosting::RequireObjectInScope(who, object, {nullptr, options_.site, ""}); !s.ok()) return s;
    auto state = ReadFresh(*id);
    if (!state.ok()) return state.status();
    if (!Visible(*state)) return UnknownObject(object);
    const v1::ObjectHead& head = (**state).head();
    if (head.dropped())
      return absl::FailedPreconditionError(
          fmt::format("{} is already dropped (version {})", object, head.latest_version()));
    if (head.has_lock() && head.lock().user() != who.user)
      return absl::FailedPreconditionError(HeldBy(head.lock()));
    if (!head.has_lock()) {
      if (std::find(ids.begin(), ids.end(), *id) != ids.end())
        return absl::FailedPreconditionError(
            fmt::format("{} is not checked out; check it out before dropping it", object));
      to_take.push_back(*id);
    }
  }
  // Dependents first: a depth-first walk emitting an object after all of
  // its dependents (cycles, e.g. foreign keys both ways, are cut).
  std::vector<std::string> order;
  std::set<std::string> visited;
  std::function<void(const std::string&)> visit = [&](const std::string& o) {
    if (!visited.insert(o).second) return;
    for (const auto& d : dependents[o])
      if (in_set.count(d)) visit(d);
    order.push_back(o);
  };
  for (const auto& o : queue) visit(o);

  std::vector<model::ObjectId> taken;
  for (const auto& id : to_take) {
    auto head = Decide(who, id, [&](const std::optional<internal::ObjectState>& s,
                                    v1::Event* e) -> absl::StatusOr<bool> {
      if (s && s->head().has_lock()) return absl::FailedPreconditionError(HeldBy(s->head().lock()));
      e->mutable_checked_out()->set_reason(fmt::format("dropped with {} (--cascade)", ids.front().ToString()));
      return true;
    });
    if (!head.ok()) {
      ReleaseTaken(who, taken);
      return head.status();
    }
    taken.push_back(id);
  }
  static const std::string kEmptySha = auth::Sha256Hex("");
  for (size_t i = 0; i < order.size(); ++i) {
    auto id = model::ParseObjectId(order[i]);
    if (!id.ok()) return id.status();
    auto head = Decide(who, *id, [&](const std::optional<internal::ObjectState>& s,
                                     v1::Event* e) -> absl::StatusOr<bool> {
      if (!Visible(s)) return UnknownObject(order[i]);
      if (!s->head().has_lock() || s->head().lock().user() != who.user)
        return absl::FailedPreconditionError(s->head().has_lock() ? HeldBy(s->head().lock())
                                                                  : order[i] + " is no longer checked out");
      if (s->head().dropped()) return false;
      auto* ci = e->mutable_checked_in();
      ci->set_version(s->head().latest_version() + 1);
      ci->set_message(req.message());
      ci->set_definition_sha256(kEmptySha);
      ci->set_dropped(true);
      ci->mutable_references();  // present and empty: a dropped version uses nothing
      return true;
    });
    if (!head.ok()) {
      std::vector<model::ObjectId> rest;
      for (const auto& t : taken)
        if (std::find(order.begin() + static_cast<long>(i), order.end(), t.ToString()) != order.end())
          rest.push_back(t);
      ReleaseTaken(who, rest);
      if (i == 0) return head.status();
      return absl::Status(head.status().code(),
                          fmt::format("{} (already dropped: {})", std::string(head.status().message()),
                                      fmt::join(order.begin(), order.begin() + static_cast<long>(i), ", ")));
    }
    if (*head) *resp->add_objects() = **head;
  }
  return absl::OkStatus();
}

absl::StatusOr<model::ObjectId> LockServiceImpl::FollowRenames(model::ObjectId id,
                                                             std::optional<internal::ObjectState>* out) {
  for (int hops = 0; hops < 32; ++hops) {
    auto state = Read(id);
    if (!state.ok()) return state.status();
    if (out) *out = *state;
    if (!*state || (**state).head().renamed_to().empty()) return id;
    auto next = model::ParseObjectId((**state).head().renamed_to());
    if (!next.ok()) return id;
    id = *next;
  }
  if (out) {  // the chain was cut: the caller reads the id it gets
    auto state = Read(id);
    if (!state.ok()) return state.status();
    *out = *state;
  }
  return id;
}

absl::StatusOr<model::ObjectId> LockServiceImpl::RenamedId(const model::ObjectId& object, const std::string& to) {
  static const std::set<std::string, std::less<>> kRenamable = {
      "table", "view", "materialized_view", "sequence", "function", "procedure", "type", "domain", "schema"};
  if (!kRenamable.count(object.kind))
    return absl::InvalidArgumentError(fmt::format(
        "{}: a {} is not renamed with strata rename (indexes and triggers follow their table; change the table's "
        "definition)",
        object.ToString(), object.kind));
  auto parts = model::SplitIdentifiers(to);
  const size_t most = object.kind == "schema" ? 1 : 2;
  if (!parts.ok() || parts->empty() || parts->size() > most || parts->back().empty() ||
      parts->back().find('(') != std::string::npos)
    return absl::InvalidArgumentError(fmt::format("rename {} to \"{}\": give {}", object.ToString(), to,
                                                  most == 1 ? "the new schema name" : "NAME or SCHEMA.NAME"));
  model::ObjectId id = object;
  if (object.kind == "schema") {
    id.name = model::QuoteIdentifier(parts->back());
    return id;
  }
  if (parts->size() == 2) id.schema = model::QuoteIdentifier((*parts)[0]);
  const size_t args = object.name.find('(');
  id.name = model::QuoteIdentifier(parts->back()) + (args == std::string::npos ? "" : object.name.substr(args));
  return id;
}

absl::Status LockServiceImpl::NameIsFree(const auth::Principal& who, const model::ObjectId& to) {
  refused_object_ = to.ToString();
  auto target = ReadFresh(to);
  if (!target.ok()) return target.status();
  if (!*target) return absl::OkStatus();
  const v1::ObjectHead& t = (**target).head();
  if (t.latest_version() > 0 && !t.dropped())
    return absl::FailedPreconditionError(fmt::format("{} already exists (version {}); choose another name or drop it first",
                                                     to.ToString(), t.latest_version()));
  if (t.has_lock() && t.lock().user() != who.user) return absl::FailedPreconditionError(HeldBy(t.lock()));
  return absl::OkStatus();
}

absl::StatusOr<v1::ObjectHead> LockServiceImpl::WriteUnderNewName(const auth::Principal& who,
                                                                  const model::ObjectId& from,
                                                                  const v1::ObjectHead& head, const model::ObjectId& to,
                                                                  const sql::RenamedDefinition& text,
                                                                  const v1::RenameRequest& req) {
  bool took = false;
  auto taken = Decide(who, to, [&](const std::optional<internal::ObjectState>& s,
                                   v1::Event* e) -> absl::StatusOr<bool> {
    if (s && s->head().has_lock()) {
      if (s->head().lock().user() == who.user) return false;
      return absl::FailedPreconditionError(HeldBy(s->head().lock()));
    }
    e->mutable_checked_out()->set_reason(fmt::format("rename of {}", from.ToString()));
    took = true;
    return true;
  });
  if (!taken.ok()) return taken.status();
  const std::string sha = auth::Sha256Hex(text.sql);
  auto renamed = Decide(who, to, [&](const std::optional<internal::ObjectState>& s,
                                     v1::Event* e) -> absl::StatusOr<bool> {
    if (!s || !s->head().has_lock() || s->head().lock().user() != who.user)
      return absl::FailedPreconditionError(s && s->head().has_lock() ? HeldBy(s->head().lock())
                                                                     : to.ToString() + " is no longer checked out");
    if (s->head().latest_version() > 0 && !s->head().dropped())
      return absl::FailedPreconditionError(fmt::format("{} already exists", to.ToString()));
    auto* ci = e->mutable_checked_in();
    ci->set_version(std::max(head.latest_version(), s->head().latest_version()) + 1);
    ci->set_definition(text.sql);
    ci->set_definition_sha256(sha);
    ci->set_message(req.message());
    ci->set_keep_checked_out(req.keep_checked_out());
    ci->set_renamed_from(from.ToString());
    ci->set_renamed_from_version(head.latest_version());
    for (auto& k : sql::DependencyKeys(text.info)) ci->mutable_references()->add_keys(std::move(k));
    return true;
  });
  if (!renamed.ok()) {
    if (took) ReleaseTaken(who, {to});
    return renamed.status();
  }
  if (!*renamed) return absl::InternalError(fmt::format("the rename into {} wrote nothing", to.ToString()));
  return **renamed;
}

absl::StatusOr<std::optional<v1::ObjectHead>> LockServiceImpl::EndOldName(const auth::Principal& who,
                                                                          const model::ObjectId& id,
                                                                          const model::ObjectId& to,
                                                                          const std::string& message) {
  static const std::string kEmptySha = auth::Sha256Hex("");
  refused_object_ = id.ToString();
  return Decide(who, id, [&](const std::optional<internal::ObjectState>& s, v1::Event* e) -> absl::StatusOr<bool> {
    if (!Visible(s)) return UnknownObject(id.ToString());
    if (!s->head().has_lock() || s->head().lock().user() != who.user)
      return absl::FailedPreconditionError(s->head().has_lock() ? HeldBy(s->head().lock())
                                                                : id.ToString() + " is no longer checked out");
    auto* ci = e->mutable_checked_in();
    ci->set_version(s->head().latest_version() + 1);
    ci->set_message(message);
    ci->set_definition_sha256(kEmptySha);
    ci->set_dropped(true);
    ci->set_renamed_to(to.ToString());
    ci->mutable_references();
    return true;
  });
}

absl::Status LockServiceImpl::DoRename(const auth::Principal& who, const v1::RenameRequest& req, v1::RenameResponse* resp) {
  auto id = Resolve(req.object(), /*allow_new=*/false);
  if (!id.ok()) return id.status();
  if (req.message().empty()) return absl::InvalidArgumentError("a rename needs a message (-m)");
  auto to = RenamedId(*id, req.to());
  if (!to.ok()) return to.status();
  if (*to == *id) return absl::InvalidArgumentError(fmt::format("{} already has that name", id->ToString()));
  refused_object_ = id->ToString();
  for (const auto* object : {&*id, &*to})
    if (absl::Status s = hosting::RequireObjectInScope(who, object->ToString(), {nullptr, options_.site, ""}); !s.ok())
      return s;
  auto state = ReadFresh(*id);
  if (!state.ok()) return state.status();
  if (!Visible(*state) || (**state).head().latest_version() == 0) return UnknownObject(id->ToString());
  const v1::ObjectHead head = (**state).head();
  if (head.dropped())
    return absl::FailedPreconditionError(
        fmt::format("{} is dropped (version {}); there is nothing to rename", id->ToString(), head.latest_version()));
  if (!head.has_lock())
    return absl::FailedPreconditionError(
        fmt::format("{} is not checked out; check it out before renaming it", id->ToString()));
  if (head.lock().user() != who.user) return absl::FailedPreconditionError(HeldBy(head.lock()));
  if (id->kind == "schema") return DoRenameSchema(who, req, *id, head, *to, resp);
  // Objects whose definitions name it must be in the caller's hands: their
  // next versions have to name the new name.
  // Indexes and triggers on a table follow it: the rename writes their
  // next versions, naming the new name.
  struct Follower {
    model::ObjectId id;
    std::string definition;
    sql::ObjectInfo info;
  };
  std::vector<Follower> followers;
  if (auto key = sql::DependencyKeyOf(*id)) {
    std::vector<std::string> outside;
    for (const auto& d : LockProjection::Dependents(runner_->db(), *key)) {
      if (d == id->ToString()) continue;
      auto did = model::ParseObjectId(d);
      if (!did.ok()) continue;
      auto ds = Read(*did);
      if (!ds.ok()) return ds.status();
      if (!*ds || !(**ds).head().has_lock() || (**ds).head().lock().user() != who.user) {
        outside.push_back(d);
        continue;
      }
      if (did->kind != "index" && did->kind != "trigger") continue;
      auto follows = sql::RenameReferences((**ds).head().definition(), *id, *to, {.search_path = options_.search_path});
      absl::StatusOr<sql::ObjectInfo> info =
          follows.ok() ? sql::AnalyzeDefines(*follows, *did, {.search_path = options_.search_path})
                       : absl::StatusOr<sql::ObjectInfo>(follows.status());
      if (!info.ok())
        return absl::InvalidArgumentError(fmt::format("{} would not follow the rename: {}", d,
                                                      std::string(info.status().message())));
      followers.push_back({*did, std::move(*follows), std::move(*info)});
    }
    if (!outside.empty())
      return absl::FailedPreconditionError(fmt::format(
          "cannot rename {}: {} name{} it; check {} out too (strata checkout {}), rename, then check in "
          "definitions that name {}",
          id->ToString(), fmt::join(outside, ", "), outside.size() == 1 ? "s" : "",
          outside.size() == 1 ? "it" : "them", fmt::join(outside, " "), to->QualifiedName()));
  }
  auto text = sql::RenameInDefinition(head.definition(), *id, *to, {.search_path = options_.search_path});
  if (!text.ok())
    return absl::InvalidArgumentError(fmt::format("{}: {}", id->ToString(), std::string(text.status().message())));

  // The new name: free (never used, or its object dropped), or reserved by
  // the caller.
  if (absl::Status s = NameIsFree(who, *to); !s.ok()) return s;
  // Proven on PostgreSQL under its new name, as a check-in is.
  if (auto proof = ProveDefinition(*to, text->sql, text->info, resp->mutable_warnings()); !proof.ok())
    return proof.status();
  auto renamed = WriteUnderNewName(who, *id, head, *to, *text, req);
  if (!renamed.ok()) return renamed.status();
  *resp->mutable_object() = *renamed;
  for (const Follower& f : followers) {
    // References, not a structured binding: the lambda below captures them
    // (clang 14 cannot capture bindings).
    const model::ObjectId& follower = f.id;
    const std::string& definition = f.definition;
    const sql::ObjectInfo& info = f.info;
    refused_object_ = follower.ToString();
    auto followed = Decide(who, follower, [&](const std::optional<internal::ObjectState>& s,
                                              v1::Event* e) -> absl::StatusOr<bool> {
      if (!Visible(s) || !s->head().has_lock() || s->head().lock().user() != who.user)
        return absl::FailedPreconditionError(follower.ToString() + " is no longer checked out by " + who.user);
      auto* ci = e->mutable_checked_in();
      ci->set_version(s->head().latest_version() + 1);
      ci->set_definition(definition);
      ci->set_definition_sha256(auth::Sha256Hex(definition));
      ci->set_message(fmt::format("{} (follows {} renamed to {})", req.message(), id->ToString(), to->ToString()));
      ci->set_keep_checked_out(req.keep_checked_out());
      for (auto& k : sql::DependencyKeys(info)) ci->mutable_references()->add_keys(std::move(k));
      return true;
    });
    if (!followed.ok())
      return absl::Status(followed.status().code(),
                          fmt::format("{} exists now, but {} could not follow: {}", to->ToString(),
                                      follower.ToString(), std::string(followed.status().message())));
    if (*followed) *resp->add_followers() = **followed;
  }
  auto ended = EndOldName(who, *id, *to, req.message());
  if (!ended.ok())
    return absl::Status(ended.status().code(),
                        fmt::format("{} exists now (version {}), but {} could not be ended: {}; drop it with "
                                    "strata drop {}",
                                    to->ToString(), resp->object().latest_version(), id->ToString(),
                                    std::string(ended.status().message()), id->ToString()));
  if (*ended) *resp->mutable_previous() = **ended;
  return absl::OkStatus();
}

absl::Status LockServiceImpl::DoRenameSchema(const auth::Principal& who, const v1::RenameRequest& req,
                                             const model::ObjectId& id, const v1::ObjectHead& head,
                                             const model::ObjectId& to, v1::RenameResponse* resp) {
  // Unqualified names in definitions are read with the search path; a
  // schema on it cannot be renamed without changing what they mean.
  const std::string from_schema = id.name, to_schema = to.name;
  for (const auto& s : options_.search_path)
    if (model::QuoteIdentifier(s) == from_schema)
      return absl::FailedPreconditionError(fmt::format(
          "{} is on the search path ({}): unqualified names in definitions mean its objects, so it is not renamed "
          "through Strata",
          id.ToString(), fmt::join(options_.search_path, ", ")));
  // Every live object in the schema moves with it, each under its own id:
  // all must be the caller's. Objects elsewhere that name one of them must
  // be the caller's too (their next versions name the new schema).
  struct Member {
    model::ObjectId from, to;
    v1::ObjectHead head;
    sql::RenamedDefinition text;
  };
  std::vector<Member> members;
  std::vector<std::string> not_held, outside;
  for (const auto& text : LockProjection::ObjectsInSchema(runner_->db(), from_schema)) {
    auto mid = model::ParseObjectId(text);
    if (!mid.ok()) continue;
    auto ms = Read(*mid);
    if (!ms.ok()) return ms.status();
    if (!*ms || (**ms).head().latest_version() == 0 || (**ms).head().dropped()) {
      if (*ms && (**ms).head().has_lock() && (**ms).head().lock().user() != who.user) not_held.push_back(text);
      continue;
    }
    const v1::ObjectHead& mh = (**ms).head();
    if (!mh.has_lock() || mh.lock().user() != who.user) not_held.push_back(text);
    model::ObjectId moved = *mid;
    moved.schema = to_schema;
    members.push_back({*mid, moved, mh, {}});
    if (auto key = sql::DependencyKeyOf(*mid))
      for (const auto& d : LockProjection::Dependents(runner_->db(), *key)) {
        auto did = model::ParseObjectId(d);
        if (!did.ok() || did->schema == from_schema) continue;
        auto ds = Read(*did);
        if (!ds.ok()) return ds.status();
        if (!*ds || !(**ds).head().has_lock() || (**ds).head().lock().user() != who.user) outside.push_back(d);
      }
  }
  std::sort(outside.begin(), outside.end());
  outside.erase(std::unique(outside.begin(), outside.end()), outside.end());
  auto some = [](const std::vector<std::string>& ids) {
    constexpr size_t kShown = 20;
    std::vector<std::string> shown(ids.begin(), ids.begin() + static_cast<long>(std::min(ids.size(), kShown)));
    std::string out = fmt::format("{}", fmt::join(shown, " "));
    if (ids.size() > kShown) out += fmt::format(" (and {} more)", ids.size() - kShown);
    return out;
  };
  if (!not_held.empty())
    return absl::FailedPreconditionError(fmt::format(
        "cannot rename {}: every object in it moves with it and must be checked out by you; not yours: {} (strata "
        "checkout them, then rename)",
        id.ToString(), some(not_held)));
  if (!outside.empty())
    return absl::FailedPreconditionError(fmt::format(
        "cannot rename {}: objects in other schemas name its objects: {}; check them out too, rename, then check in "
        "definitions that name {}",
        id.ToString(), some(outside), to_schema));
  // The new definitions: every qualified name in the schema renamed (function
  // bodies are kept; a body still naming the old schema is reported).
  const sql::AnalyzeOptions analyze{.search_path = options_.search_path};
  for (auto& m : members) {
    auto sql_text = sql::RenameSchemaReferences(m.head.definition(), from_schema, to_schema);
    absl::StatusOr<sql::ObjectInfo> info = sql_text.ok() ? sql::AnalyzeDefines(*sql_text, m.to, analyze)
                                                         : absl::StatusOr<sql::ObjectInfo>(sql_text.status());
    if (!info.ok())
      return absl::InvalidArgumentError(fmt::format("{} would not move to schema {}: {}", m.from.ToString(), to_schema,
                                                    std::string(info.status().message())));
    for (const auto& r : info->references)
      if (r.schema == from_schema) {
        resp->add_warnings(fmt::format("{} still names {}.{} (in its body); check in a definition that names {}",
                                       m.to.ToString(), from_schema, r.name, to_schema));
        break;
      }
    m.text = {std::move(*sql_text), std::move(*info)};
  }
  auto schema_text = sql::RenameInDefinition(head.definition(), id, to, analyze);
  if (!schema_text.ok())
    return absl::InvalidArgumentError(fmt::format("{}: {}", id.ToString(), std::string(schema_text.status().message())));
  if (absl::Status s = NameIsFree(who, to); !s.ok()) return s;
  for (const auto& m : members)
    if (absl::Status s = NameIsFree(who, m.to); !s.ok()) return s;

  // The new schema first, then its objects under their new names, then the
  // old names ended (the schema's last): a rename cut short leaves objects
  // under both names, never under none.
  auto schema = WriteUnderNewName(who, id, head, to, *schema_text, req);
  if (!schema.ok()) return schema.status();
  *resp->mutable_object() = *schema;
  auto cut_short = [&](const std::string& what, const absl::Status& s) {
    return absl::Status(s.code(), fmt::format("the rename of {} stopped at {}: {}; what was written stays (see "
                                              "strata log), finish it with strata rename or strata drop",
                                              id.ToString(), what, std::string(s.message())));
  };
  for (const auto& m : members) {
    refused_object_ = m.to.ToString();
    auto moved = WriteUnderNewName(who, m.from, m.head, m.to, m.text, req);
    if (!moved.ok()) return cut_short(m.to.ToString(), moved.status());
    *resp->add_followers() = *moved;
  }
  for (const auto& m : members) {
    auto ended = EndOldName(who, m.from, m.to, req.message());
    if (!ended.ok()) return cut_short(m.from.ToString(), ended.status());
  }
  auto ended = EndOldName(who, id, to, req.message());
  if (!ended.ok()) return cut_short(id.ToString(), ended.status());
  if (*ended) *resp->mutable_previous() = **ended;
  return absl::OkStatus();
}

absl::Status LockServiceImpl::ColumnRenames(const model::ObjectId& id, const v1::ObjectHead& head,
                                            const sql::ObjectInfo& now, const v1::CheckInRequest& req,
                                            v1::ObjectCheckedIn* ci) {
  if (req.rename_columns().empty()) return absl::OkStatus();
  if (id.kind != "table" && id.kind != "type")
    return absl::InvalidArgumentError(
        fmt::format("{}: only a table's columns and an enum type's labels can be renamed", id.ToString()));
  if (head.latest_version() == 0 || head.dropped())
    return absl::InvalidArgumentError(fmt::format("{}: no previous version whose {} could be renamed",
                                                  id.ToString(), id.kind == "table" ? "columns" : "labels"));
  auto before = sql::AnalyzeDefinition(head.definition(), {.search_path = options_.search_path});
  if (!before.ok()) return before.status();
  // A table's columns, or an enum's labels: the names a rename may name.
  const bool labels = id.kind == "type";
  if (labels && before->enum_labels.empty())
    return absl::InvalidArgumentError(
        fmt::format("{}: version {} is not an enum; only an enum type's labels can be renamed", id.ToString(),
                    head.latest_version()));
  const char* what = labels ? "label" : "column";
  auto has = [&](const sql::ObjectInfo& info, const std::string& name) {
    if (!labels) return info.FindColumn(name) != nullptr;
    return std::find(info.enum_labels.begin(), info.enum_labels.end(), name) != info.enum_labels.end();
  };
  for (const auto& text : req.rename_columns()) {
    const size_t eq = text.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
      return absl::InvalidArgumentError(fmt::format("--rename-column {}: write OLD=NEW", text));
    const std::string from = text.substr(0, eq), to = text.substr(eq + 1);
    if (!has(*before, from))
      return absl::InvalidArgumentError(
          fmt::format("{}: version {} has no {} {} to rename", id.ToString(), head.latest_version(), what, from));
    if (has(now, from))
      return absl::InvalidArgumentError(
          fmt::format("{}: the new definition still has {} {}", id.ToString(), what, from));
    if (!has(now, to))
      return absl::InvalidArgumentError(fmt::format("{}: the new definition has no {} {}", id.ToString(), what, to));
    if (has(*before, to))
      return absl::InvalidArgumentError(
          fmt::format("{}: version {} already has a {} {}", id.ToString(), head.latest_version(), what, to));
    auto* r = ci->add_renamed_columns();
    r->set_from(from);
    r->set_to(to);
  }
  return absl::OkStatus();
}

}  // namespace strata::lock
