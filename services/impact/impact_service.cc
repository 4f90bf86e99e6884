#include "absl/strings/ascii.h"
#include "absl/strings/str_join.h"
#include "impact/impact_service.h"

#include <algorithm>
#include <set>

#include "absl/container/flat_hash_set.h"
#include "fmt/format.h"
#include "hosting/hosting.h"
#include "model/object_id.h"
#include "rocksdb/db.h"
#include "sql/fingerprint.h"
#include "sql/risk.h"
#include "strata/v1/impact.grpc.pb.h"

namespace strata::impact {
namespace {

std::string KindOf(const std::string& id) { return id.substr(0, id.find(':')); }

constexpr size_t kMaxSet = 10'000;

}  // namespace

class ImpactServiceImpl final : public v1::ImpactService::Service {
 public:
  ImpactServiceImpl(const ImpactModuleOptions& options, eventlog::EventLog* log, projection::ProjectionRunner* runner,
                    std::shared_ptr<auth::TokenStore> tokens)
      : options_(options), log_(log), runner_(runner), tokens_(std::move(tokens)) {}

  grpc::Status GetDependencies(grpc::ServerContext* ctx, const v1::DependencyRequest* req,
                               v1::DependencyTree* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      auto id = Resolve(req->object());
      if (!id.ok()) return id.status();
      if (absl::Status s = hosting::RequireObjectInScope(who, *id, ReadAudit()); !s.ok()) return s;
      auto tree = Store().Dependencies(*id, req->depth());
      if (!tree.ok()) return tree.status();
      *resp = std::move(*tree);
      return absl::OkStatus();
    });
  }

  grpc::Status GetDependents(grpc::ServerContext* ctx, const v1::DependencyRequest* req,
                             v1::DependencyTree* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      auto id = Resolve(req->object());
      if (!id.ok()) return id.status();
      if (absl::Status s = hosting::RequireObjectInScope(who, *id, ReadAudit()); !s.ok()) return s;
      auto tree = Store().Dependents(*id, req->depth());
      if (!tree.ok()) return tree.status();
      *resp = std::move(*tree);
      return absl::OkStatus();
    });
  }

  grpc::Status AnalyzeChange(grpc::ServerContext* ctx, const v1::AnalyzeChangeRequest* req,
                             v1::ChangeImpact* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      if (auto id = Resolve(req->object()); id.ok()) {
        if (absl::Status s = hosting::RequireObjectInScope(who, *id, ReadAudit()); !s.ok()) return s;
      }
      return Analyze(*req, resp);
    });
  }

  grpc::Status AnalyzeSet(grpc::ServerContext* ctx, const v1::AnalyzeSetRequest* req,
                          v1::SetImpact* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      auto ids = ResolveAll(req->objects());
      if (!ids.ok()) return ids.status();
      for (const std::string& id : *ids)
        if (absl::Status s = hosting::RequireObjectInScope(who, id, ReadAudit()); !s.ok()) return s;
      auto order = Order(*ids);
      if (!order.ok()) return order.status();
      *resp->mutable_order() = std::move(*order);
      GraphStore store = Store();
      auto outside = store.DependentsOfSet(*ids, 0);
      if (!outside.ok()) return outside.status();
      for (auto& d : *outside) *resp->add_dependents_outside() = std::move(d);
      std::set<std::string> unknown;
      for (const auto& id : *ids) {
        auto o = store.Object(id);
        if (!o.ok()) return o.status();
        for (const auto& ref : (*o)->references()) {
          auto targets = store.Targets(ref);
          if (targets.ok() && targets->empty())
            unknown.insert(fmt::format("{} uses {}:{}.{}", id, sql::RefClassName(static_cast<sql::RefClass>(ref.cls())),
                                       ref.schema(), ref.name()));
        }
      }
      for (const auto& u : unknown) resp->add_unknown_references(u);
      return absl::OkStatus();
    });
  }

  grpc::Status OrderObjects(grpc::ServerContext* ctx, const v1::OrderRequest* req,
                            v1::OrderResponse* resp) override {
    return Handle(ctx, [&](const auth::Principal& who) -> absl::Status {
      auto ids = ResolveAll(req->objects());
      if (!ids.ok()) return ids.status();
      for (const std::string& id : *ids)
        if (absl::Status s = hosting::RequireObjectInScope(who, id, ReadAudit()); !s.ok()) return s;
      auto order = Order(*ids);
      if (!order.ok()) return order.status();
      *resp->mutable_steps() = std::move(*order);
      return absl::OkStatus();
    });
  }

 private:
  rocksdb::DB* db() const { return runner_->db(); }

  // The lines of `id`'s latest definition where `name` (an identifier,
  // case-insensitive, not part of a longer one) appears, sorted, unique.
  std::vector<int> LinesNaming(const std::string& id, const std::string& name) const {
    std::string definition;
    if (name.empty() || !db()->Get(rocksdb::ReadOptions(), keys::Definition(id), &definition).ok()) return {};
    const std::string lower_name = absl::AsciiStrToLower(name.substr(0, name.find('(')));
    const std::string text = absl::AsciiStrToLower(definition);
    auto ident = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; };
    std::vector<int> lines;
    for (size_t at = text.find(lower_name); at != std::string::npos; at = text.find(lower_name, at + 1)) {
      const size_t end = at + lower_name.size();
      if ((at > 0 && ident(text[at - 1])) || (end < text.size() && ident(text[end]))) continue;
      const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<long>(at), '\n'));
      if (lines.empty() || lines.back() != line) lines.push_back(line);
    }
    return lines;
  }

  GraphStore Store() const {
    return GraphStore([db = db()](const std::string& key) -> absl::StatusOr<std::optional<std::string>> {
      std::string value;
      rocksdb::Status s = db->Get(rocksdb::ReadOptions(), key, &value);
      if (s.IsNotFound()) return std::nullopt;
      if (!s.ok()) return absl::InternalError(fmt::format("reading the impact graph: {}", s.ToString()));
      return value;
    });
  }

  // Authenticates, then answers from a projection that has applied at least
  // everything the log held when the call arrived.
  template <typename Fn>
  grpc::Status Handle(grpc::ServerContext* ctx, Fn&& fn) {
    auto who = hosting::AuthenticateCall(*ctx, *tokens_);
    if (!who.ok()) return hosting::ToGrpcStatus(who.status());
    if (absl::Status s = runner_->CatchUp(options_.apply_timeout); !s.ok())
      return hosting::ToGrpcStatus(absl::UnavailableError(
          fmt::format("the impact graph is behind the event log: {}", std::string(s.message()))));
    return hosting::ToGrpcStatus(fn(*who));
  }

  // What the user typed ("sales.orders", "table:sales.orders") as a known object id.
  absl::StatusOr<std::string> Resolve(const std::string& text) const {
    auto ref = model::ParseObjectRef(text, options_.search_path.empty() ? "public" : options_.search_path.front());
    if (!ref.ok()) return ref.status();
    std::vector<std::string> found;
    std::string value;
    for (const std::string& kind :
         ref->kind.empty() ? model::ObjectKinds() : std::vector<std::string>{ref->kind}) {
      model::ObjectId id = *ref;
      id.kind = kind;
      if (db()->Get(rocksdb::ReadOptions(), keys::Object(id.ToString()), &value).ok()) {
        internal::ImpactObject o;
        if (o.ParseFromString(value) && (o.latest_version() > 0 || !ref->kind.empty()))
          found.push_back(id.ToString());
      }
    }
    if (found.empty()) {
      if (ref->kind.empty())
        return absl::NotFoundError(fmt::format("unknown object {}; nothing by that name is checked in", text));
      return absl::NotFoundError(fmt::format("unknown object {}", ref->ToString()));
    }
    if (found.size() > 1)
      return absl::InvalidArgumentError(fmt::format("{} is ambiguous: {}; name the kind, e.g. {}", text,
                                                    fmt::join(found, ", "), found.front()));
    return found.front();
  }

  absl::StatusOr<std::vector<std::string>> ResolveAll(const google::protobuf::RepeatedPtrField<std::string>& in) const {
    if (in.empty()) return absl::InvalidArgumentError("name at least one object");
    if (static_cast<size_t>(in.size()) > kMaxSet)
      return absl::InvalidArgumentError(fmt::format("at most {} objects per request", kMaxSet));
    std::vector<std::string> ids;
    std::set<std::string> seen;
    for (const auto& text : in) {
      auto id = Resolve(text);
      if (!id.ok()) return id.status();
      if (seen.insert(*id).second) ids.push_back(*id);
    }
    return ids;
  }

  absl::StatusOr<google::protobuf::RepeatedPtrField<v1::OrderStep>> Order(const std::vector<std::string>& ids) const {
    GraphStore store = Store();
    std::vector<sql::OrderInput> inputs;
    for (const auto& id : ids) {
      auto o = store.Object(id);
      if (!o.ok()) return o.status();
      auto in = store.OrderInputOf(id, **o);
      if (!in.ok()) return in.status();
      inputs.push_back(std::move(*in));
    }
    auto steps = sql::OrderByDependency(inputs);
    if (!steps.ok()) return steps.status();
    google::protobuf::RepeatedPtrField<v1::OrderStep> out;
    for (const auto& s : *steps) {
      v1::OrderStep* step = out.Add();
      step->set_object(s.object);
      step->set_constraint(s.constraint);
      step->set_references(s.references);
    }
    return out;
  }

  absl::Status Analyze(const v1::AnalyzeChangeRequest& req, v1::ChangeImpact* resp) const {
    auto id = Resolve(req.object());
    if (!id.ok()) return id.status();
    auto object_id = model::ParseObjectId(*id);
    if (!object_id.ok()) return object_id.status();
    GraphStore store = Store();
    auto stored = store.Object(*id);
    if (!stored.ok()) return stored.status();
    const internal::ImpactObject& o = **stored;
    resp->set_object(*id);
    resp->set_current_version(o.latest_version());
    std::optional<sql::ObjectInfo> before;
    if (o.latest_version() > 0 && o.analysis_error().empty()) before = LoadModel(*id, o);

    const sql::Catalog catalog = store.MakeCatalog();
    const sql::AnalyzeOptions analyze{.search_path = options_.search_path, .catalog = &catalog};
    sql::ProposedChange change;
    std::string proposed = req.proposed_definition();
    if (!req.rename_to().empty()) {
      auto statements = sql::RenameStatements(*object_id, req.rename_to());
      if (!statements.ok()) return statements.status();
      if (statements->empty())
        return absl::InvalidArgumentError(fmt::format("{} already has that name", *id));
      proposed = absl::StrJoin(*statements, ";\n") + ";\n";
    }
    if (proposed.empty()) {
      if (!before) return absl::FailedPreconditionError(fmt::format("{} has no version to drop", *id));
      change = sql::DropChange(*object_id);
    } else {
      auto described = sql::DescribeChange(*object_id, before ? &*before : nullptr, proposed, analyze);
      if (!described.ok()) return described.status();
      change = std::move(*described);
      auto fp = sql::Fingerprint(proposed);
      resp->set_unchanged(fp.ok() && !o.fingerprint().empty() && *fp == o.fingerprint());
    }

    // Direct dependents and what the change does to them.
    auto edges = store.DirectDependents(*id);
    if (!edges.ok()) return edges.status();
    std::vector<sql::DependentUse> uses;
    for (const auto& e : *edges)
      uses.push_back({e.source(), KindOf(e.source()), {e.columns().begin(), e.columns().end()}, e.all_columns(),
                      {e.via().begin(), e.via().end()}});
    const std::vector<sql::Breakage> broken = sql::BreakingDependents(&change, uses);

    resp->set_drops_object(change.drops_object);
    for (const auto& c : change.dropped_columns) resp->add_dropped_columns(c);
    for (const auto& t : change.type_changes) {
      auto* tc = resp->add_type_changes();
      tc->set_column(t.column);
      tc->set_from_type(t.from);
      tc->set_to_type(t.to);
      tc->set_narrowing(t.narrowing);
      tc->set_rewrite(t.rewrite);
    }
    std::vector<std::string> broken_ids;
    for (const auto& b : broken) {
      auto* out = resp->add_breaking();
      out->set_object(b.object);
      out->set_kind(KindOf(b.object));
      out->set_reason(b.reason);
      if (!change.renamed_to.empty())
        for (int line : LinesNaming(b.object, change.object.name)) out->add_lines(line);
      for (const auto& [from, to] : change.renamed_columns)
        for (int line : LinesNaming(b.object, from)) out->add_lines(line);
      broken_ids.push_back(b.object);
    }
    // What must be dropped and recreated with the broken objects.
    if (!broken_ids.empty()) {
      auto affected = store.DependentsOfSet(broken_ids, req.depth());
      if (!affected.ok()) return affected.status();
      for (auto& d : *affected)
        if (d.object() != *id) *resp->add_affected() = std::move(d);
    }
    auto all = store.Dependents(*id, req.depth());
    if (!all.ok()) return all.status();
    *resp->mutable_dependents() = std::move(*all->mutable_nodes());
    for (const auto& f : change.findings) {
      auto* out = resp->add_findings();
      out->set_code(f.code);
      out->set_severity(sql::SeverityName(f.severity));
      out->set_object(f.object);
      out->set_reason(f.reason);
    }
    if (change.after) {
      for (const auto& ref : change.after->references) {
        if (ref.known) continue;
        resp->add_unknown_references(fmt::format("{}:{}", sql::RefClassName(ref.cls), ref.QualifiedName()));
      }
    }
    return absl::OkStatus();
  }

  hosting::RefusalAudit ReadAudit() const { return {log_, options_.site, "read"}; }

  const ImpactModuleOptions& options_;
  eventlog::EventLog* log_;
  projection::ProjectionRunner* runner_;
  std::shared_ptr<auth::TokenStore> tokens_;
};

absl::StatusOr<std::unique_ptr<ImpactModule>> ImpactModule::Open(ImpactModuleOptions options,
                                                                 eventlog::EventLog* log,
                                                                 std::shared_ptr<auth::TokenStore> tokens) {
  std::unique_ptr<ImpactModule> m(new ImpactModule());
  m->options_ = std::move(options);
  if (m->options_.search_path.empty()) m->options_.search_path = {"public"};
  m->projection_ = std::make_unique<ImpactProjection>(m->options_.search_path);
  projection::RunnerOptions ro;
  ro.db_path = m->options_.data_dir + "/impact";
  ro.rebuild = m->options_.rebuild;
  // Not on the path of any command: events gather for a few milliseconds
  // between commits unless a query waits for them.
  ro.idle_batching = absl::Milliseconds(5);
  ro.read_wait = absl::Milliseconds(10);
  ro.shared_memory = m->options_.shared_memory;
  auto runner = projection::ProjectionRunner::Open(ro, log, m->projection_.get());
  if (!runner.ok()) return runner.status();
  m->runner_ = std::move(*runner);
  m->service_ = std::make_unique<ImpactServiceImpl>(m->options_, log, m->runner_.get(), std::move(tokens));
  return m;
}

ImpactModule::~ImpactModule() { Stop(); }

absl::Status ImpactModule::StartReplay() { return runner_->Start(); }

absl::Status ImpactModule::Start(absl::Duration catch_up_timeout) {
  if (absl::Status s = runner_->Start(); !s.ok()) return s;
  return runner_->CatchUp(catch_up_timeout);
}

void ImpactModule::Stop() {
  if (runner_) runner_->Stop();
}

grpc::Service* ImpactModule::service() { return service_.get(); }

}  // namespace strata::impact
