// The lock service's projection: object heads (latest version, holder, last
// check-in) and the current locks, rebuilt from the event log with the accept
// rule of strata_decide.
//
// Storage layout (RocksDB, one key space):
//   h/<object id>            -> strata.internal.ObjectState
//   l/<object id>            -> strata.v1.Lock            (only while locked)
//   n/<schema.name>\0<kind>  -> ""                        (name index)
//   r/<key>\0<object id>     -> ""                        (reverse references)
//   P/state                  -> strata.internal.PolicyState (the policy aggregate's facts)
//   p/<version %020d>        -> strata.v1.PolicyVersion    (each policy version)
//   w/<object id>\0<rule>    -> strata.v1.Waiver           (waivers in force)
//
// r/ says which objects' latest versions use a name (a dependency key,
// sql::DependencyKeys: "relation:sales.orders"); a dropped version uses
// nothing. Keys come from the check-in event (ObjectCheckedIn.references);
// events written before Strata recorded them are parsed here instead.
// kFormatVersion 2 added r/ (older stores are rebuilt from the log).
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <string>
#include <vector>

#include "decide/decide.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "projection/projection.h"
#include "strata/internal/lock_state.pb.h"
#include "strata/v1/lock.pb.h"

namespace rocksdb {
class DB;
}

namespace strata::lock {

// What became of one event a command handler appended.
struct Outcome {
  decide::Decision decision;
  // The object's state right after the event was decided (whether or not it
  // was accepted); absent if the object does not exist (e.g. a freed name).
  std::optional<v1::ObjectHead> head;
};

// Outcomes of the events command handlers are waiting for. Only expected
// event ids are kept, so memory stays bounded by the commands in flight.
class OutcomeBoard {
 public:
  // Whether a policy was ever set (as of a committed state): until then a
  // check-out or check-in need not look for one. Set at open from the store
  // and after each commit that applied a policy version.
  void NotePolicySet() { policy_set_.store(true, std::memory_order_release); }
  bool PolicyEverSet() const { return policy_set_.load(std::memory_order_acquire); }

  void Expect(const std::string& event_id) ABSL_LOCKS_EXCLUDED(mu_);
  void Forget(const std::string& event_id) ABSL_LOCKS_EXCLUDED(mu_);
  // True if a handler waits for `event_id` (cheap when nobody waits, as
  // during a rebuild).
  bool IsExpected(const std::string& event_id) ABSL_LOCKS_EXCLUDED(mu_);
  // Records the outcome if someone expects it.
  void Publish(const std::string& event_id, Outcome outcome) ABSL_LOCKS_EXCLUDED(mu_);
  // The outcome of an expected, published event (removes it).
  std::optional<Outcome> Take(const std::string& event_id) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  absl::Mutex mu_;  // guards expected_ (size_ mirrors its size, written under mu_, read without it); a leaf lock
  std::atomic<size_t> size_{0};
  std::map<std::string, std::optional<Outcome>> expected_ ABSL_GUARDED_BY(mu_);
  std::atomic<bool> policy_set_{false};
};

class LockProjection : public projection::Projection {
 public:
  static constexpr uint32_t kFormatVersion = 2;

  LockProjection(OutcomeBoard* board, std::vector<std::string> search_path)
      : board_(board), search_path_(std::move(search_path)) {}

  absl::Status Apply(const v1::Event& event, const eventlog::Position& position,
                     projection::StateTxn& txn) override;
  absl::Status Flush(projection::StateTxn& txn) override;
  void BatchDone(bool committed) override;
  size_t UncommittedBytes() const override { return dirty_bytes_; }

  // Read side (from the committed store).
  static absl::StatusOr<std::optional<internal::ObjectState>> ReadObject(rocksdb::DB* db,
                                                                        const std::string& id);
  // Kinds of the known objects named `qualified_name` ("sales.orders").
  static std::vector<std::string> KindsNamed(rocksdb::DB* db, const std::string& qualified_name);
  // Ids of the objects ever named in schema `schema` (spelled as ids spell
  // it), dropped ones included, sorted by name.
  static std::vector<std::string> ObjectsInSchema(rocksdb::DB* db, const std::string& schema);
  // Ids of the objects ever named with a qualified name that starts with
  // `prefix` ("sales.total(" finds every overload of sales.total).
  static std::vector<std::string> IdsWithNamePrefix(rocksdb::DB* db, const std::string& prefix);
  static std::vector<v1::Lock> ReadLocks(rocksdb::DB* db);
  // The objects whose latest versions use dependency key `key`, sorted.
  static std::vector<std::string> Dependents(rocksdb::DB* db, const std::string& key);

  static decide::AggregateFacts FactsOf(const internal::ObjectState& state);

  // The policy: version N (0: the latest; none when no policy was set), and
  // the policy aggregate's last seq; the waivers of one object ("" : all).
  static absl::StatusOr<std::optional<v1::PolicyVersion>> ReadPolicy(rocksdb::DB* db, uint64_t version,
                                                                     uint64_t* last_seq = nullptr);
  static std::vector<v1::Waiver> ReadWaivers(rocksdb::DB* db, const std::string& object = "");
  // The latest policy version (0: none), from the policy's small facts record.
  static uint64_t LatestPolicyVersion(rocksdb::DB* db);

 private:
  // An object touched since the last commit, and which of its index entries
  // the store holds, so that Flush() writes only what changed.
  struct Touched {
    internal::ObjectState state;
    bool stored_lock = false;
    bool stored_name = false;
    std::vector<std::string> stored_references;  // r/ entries the store holds
    size_t bytes = 0;  // its share of dirty_bytes_
  };
  // The state of `key` as of the events applied so far in this commit.
  absl::StatusOr<Touched*> Load(const std::string& key, projection::StateTxn& txn);

  absl::Status ApplyPolicy(const v1::Event& event, projection::StateTxn& txn);
  bool batch_policy_set_ = false;  // runner thread: this commit applied a policy version

  // The keys of a check-in's version: the event's, or parsed (old events).
  std::vector<std::string> ReferencesOf(const v1::Event& event) const;

  OutcomeBoard* board_;
  const std::vector<std::string> search_path_;
  std::vector<std::pair<std::string, Outcome>> pending_;  // this commit's outcomes
  // Written once per commit by Flush(), so a rebuild does not rewrite an
  // object for each of its events.
  // absl's clear() frees a large table; std::unordered_map's kept the
  // buckets of the largest commit (a replay's: 100,000 objects) and cleared
  // them all after every later commit, a cost that grew with the repository.
  absl::node_hash_map<std::string, Touched> dirty_;
  size_t dirty_bytes_ = 0;
};

}  // namespace strata::lock
