// The impact service's projection: check-ins become the dependency graph
// (see impact_graph.h for the records). It applies the accept rule to
// object aggregates like every reader of the log, and analyzes each
// accepted check-in's definition with lib/sql.
//
// Analysis that depends on other objects (SELECT * expansion, which
// relation an unqualified column belongs to) is redone for the direct
// dependents of a relation whose columns change or that appears for the
// first time, and so on down while columns keep changing: the graph does not
// depend on the order in which partitions were read, nor on how events are
// grouped into commits (definitions are analyzed when a commit closes).
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "absl/container/node_hash_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "decide/decide.h"
#include "impact/impact_graph.h"
#include "projection/projection.h"
#include "sql/prepare_ahead.h"

namespace strata::impact {

class ImpactProjection : public projection::Projection {
 public:
  explicit ImpactProjection(std::vector<std::string> search_path) : search_path_(std::move(search_path)) {}
  absl::Status Apply(const v1::Event& event, const eventlog::Position& position,
                     projection::StateTxn& txn) override;
  // Analyzes the objects checked in since the last commit, each once with
  // its latest definition (a replay of ten versions analyzes one).
  absl::Status Flush(projection::StateTxn& txn) override;
  void BatchDone(bool committed) override {
    pending_.clear();
    pending_order_.clear();
    pending_keys_.clear();
    dependents_.clear();
  }

  static decide::AggregateFacts FactsOf(const internal::ImpactObject& o);
  // How many dependents records (d/) commits have written (for tests: a
  // cascade over the dependents of one table writes its record once).
  uint64_t dependents_written() const { return dependents_written_.load(); }
  // How many analyses of a definition commits have run (for tests: a
  // commit analyzes what others use first, so each object once).
  uint64_t analyses() const { return analyses_.load(); }

 private:
  // Analyzes `o`'s definition and rewrites its edges; then redoes its
  // dependents when its columns changed. `visited` bounds the cascade.
  // `prepared`: its latest definition, parsed and fingerprinted (Flush
  // prepares the checked-in definitions on the other cores).
  absl::Status Analyze(const std::string& id, internal::ImpactObject& o, projection::StateTxn& txn,
                       absl::flat_hash_set<std::string>& visited, sql::Prepared prepared);
  absl::Status ReanalyzeDependents(const std::string& id, projection::StateTxn& txn,
                                   absl::flat_hash_set<std::string>& visited);
  absl::Status RemoveEdges(const std::string& id, const internal::ImpactObject& o, projection::StateTxn& txn);
  absl::Status AddEdges(const std::string& id, const internal::ImpactObject& o, projection::StateTxn& txn);
  absl::Status AddName(const std::string& id, projection::StateTxn& txn);
  // The dependents record (d/) of a name, parsed once per commit: a cascade
  // over the N dependents of a table edits it N times, and parsing and
  // writing it each time cost O(N^2). Written once at the end of Flush.
  absl::StatusOr<internal::ImpactDependents*> Dependents(sql::RefClass cls, const std::string& qualified,
                                                         projection::StateTxn& txn);
  template <typename Change>
  absl::Status RewriteDependents(const internal::ImpactObject& o, projection::StateTxn& txn, Change change);

  std::vector<std::string> search_path_;
  // Checked in since the last commit, in the order they arrived, and the
  // names each one's latest definition uses (ObjectReferences, recorded by
  // the lock service at check-in; empty in events written before it did).
  absl::flat_hash_set<std::string> pending_;
  std::vector<std::string> pending_order_;
  absl::flat_hash_map<std::string, std::vector<std::string>> pending_keys_;
  // The order in which Flush analyzes `ids`: what others use first (a
  // relation before the views that read it), so that few are analyzed twice.
  std::vector<std::string> AnalysisOrder(std::vector<std::string> ids) const;
  // During Flush: d/ key -> its record as edited so far.
  struct CachedDependents {
    internal::ImpactDependents record;
    bool changed = false;
  };
  absl::node_hash_map<std::string, CachedDependents> dependents_;
  std::atomic<uint64_t> dependents_written_{0};
  std::atomic<uint64_t> analyses_{0};
};

}  // namespace strata::impact
