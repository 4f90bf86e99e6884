// The proof of a check-in on PostgreSQL (proof.h): what a definition depends
// on, from the projection's latest versions (lock_service_impl.h).
#include "lock/lock_service_impl.h"

namespace strata::lock {
namespace {

// A proof creates at most this many objects before the definition; more,
// and the definition is accepted as parsed only (and the answer says why).
constexpr size_t kMaxDependencies = 300;

}  // namespace

std::string LockServiceImpl::ParsedOnly() const {
  if (prover_) return "parsed only (the caller does not hold the object)";
  if (!proof_unavailable_.empty()) return "parsed only: " + proof_unavailable_;
  return "parsed only: this lock service has no shadow database (--shadow-url), so PostgreSQL did not create it";
}

std::vector<std::pair<model::ObjectId, internal::ObjectState>> LockServiceImpl::Providers(const std::string& key) {
  const size_t colon = key.find(':');
  if (colon == std::string::npos) return {};
  const std::string space = key.substr(0, colon), name = key.substr(colon + 1);
  std::vector<std::string> candidates;
  if (space == "schema" || space == "extension") {
    candidates.push_back(key);
  } else if (space == "function") {
    candidates = LockProjection::IdsWithNamePrefix(runner_->db(), name + "(");
  } else {
    for (const auto& kind : LockProjection::KindsNamed(runner_->db(), name)) candidates.push_back(kind + ":" + name);
  }
  std::vector<std::pair<model::ObjectId, internal::ObjectState>> out;
  for (const auto& text : candidates) {
    auto id = model::ParseObjectId(text);
    if (!id.ok()) continue;
    auto own = sql::DependencyKeyOf(*id);
    // A type key also names a table's (or view's) row type.
    if (!own || (*own != key && !(space == "type" && *own == "relation:" + name))) continue;
    auto state = Read(*id);
    if (!state.ok() || !*state || (**state).head().latest_version() == 0 || (**state).head().dropped()) continue;
    out.emplace_back(std::move(*id), std::move(**state));
  }
  return out;
}

absl::StatusOr<std::string> LockServiceImpl::ProveDefinition(const model::ObjectId& id, std::string_view definition,
                                                             const sql::ObjectInfo& info,
                                                             google::protobuf::RepeatedPtrField<std::string>* warnings) {
  if (!prover_) return ParsedOnly();
  // The latest versions of what it depends on, dependencies first (depth
  // first over the references each latest version recorded).
  std::vector<Prover::Dependency> dependencies;
  std::vector<std::string> schemas, unknown, unknown_types;
  std::set<std::string> seen = {id.ToString()};  // objects already taken
  std::set<std::string> resolved;                 // keys already looked up ("schema:s" is a key and an id)
  if (const auto own_key = sql::DependencyKeyOf(id)) resolved.insert(*own_key);
  bool too_many = false;
  std::function<void(const std::vector<std::string>&)> visit = [&](const std::vector<std::string>& keys) {
    for (const auto& key : keys) {
      if (too_many || !resolved.insert(key).second) continue;
      auto providers = Providers(key);
      if (providers.empty()) {
        const std::string name = key.substr(key.find(':') + 1);
        if (key.starts_with("schema:")) {
          if (std::find(schemas.begin(), schemas.end(), name) == schemas.end()) schemas.push_back(name);
        } else if (key.starts_with("type:")) {
          // A type neither PostgreSQL nor Strata knows is most often a typo:
          // the proof goes on, and PostgreSQL's refusal is the answer.
          if (std::find(unknown_types.begin(), unknown_types.end(), name) == unknown_types.end())
            unknown_types.push_back(name);
        } else if (std::find(unknown.begin(), unknown.end(), name) == unknown.end()) {
          unknown.push_back(name);
        }
        continue;
      }
      for (const auto& [p, state] : providers) {
        if (!seen.insert(p.ToString()).second) continue;
        visit(std::vector<std::string>(state.references().begin(), state.references().end()));
        if (dependencies.size() >= kMaxDependencies) {
          too_many = true;
          return;
        }
        dependencies.push_back({p.ToString(), state.head().definition()});
      }
    }
  };
  visit(sql::DependencyKeys(info));
  if (too_many) {
    warnings->Add(fmt::format("not proven on PostgreSQL: {} depends on more than {} objects", id.ToString(),
                              kMaxDependencies));
    return std::string("parsed only (too many dependencies to create for a proof)");
  }
  if (!unknown.empty()) {
    std::sort(unknown.begin(), unknown.end());
    warnings->Add(fmt::format("not proven on PostgreSQL: {} refers to {}, which Strata does not know yet",
                              id.ToString(), fmt::join(unknown, ", ")));
    return std::string("parsed only (it refers to objects Strata does not know yet)");
  }
  auto proof = prover_->Prove(schemas, dependencies, definition);
  if (!proof.ok()) {
    if (proof.status().code() == absl::StatusCode::kInvalidArgument)
      return absl::InvalidArgumentError(fmt::format(
          "{}: {}{}", id.ToString(), std::string(proof.status().message()),
          unknown_types.empty() ? ""
                                : fmt::format(" (Strata does not know type {} either; if it exists, check it in "
                                              "first, or the extension that makes it)",
                                              fmt::join(unknown_types, ", "))));
    return proof.status();
  }
  if (!proof->proven) {
    warnings->Add(fmt::format("not proven on PostgreSQL: {}", proof->note));
    return std::string("parsed only (") + proof->note + ")";
  }
  if (dependencies.empty()) return fmt::format("proven on {} (created, then rolled back)", prover_->server());
  return fmt::format("proven on {} (created after {} object{} it depends on, then rolled back)", prover_->server(),
                     dependencies.size(), dependencies.size() == 1 ? "" : "s");
}

}  // namespace strata::lock
