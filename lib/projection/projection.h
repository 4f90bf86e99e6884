// strata_projection: rebuilds a service's state from the event log into
// RocksDB, in the manner of a Kafka Streams state store with its changelog.
//
// Contract:
//  * Events are applied in memory and committed as one WriteBatch together
//    with the next offset of every partition they touched, written
//    atomically. A crash therefore never applies an event twice nor loses
//    one: on restart the runner resumes from the stored offsets.
//  * Like Kafka Streams' record cache, the runner commits as soon as it has
//    caught up with the log or someone waits for what it applied; while it
//    works through a backlog (a rebuild) it keeps applying and commits every
//    RunnerOptions::max_uncommitted_events or commit_interval, so that an
//    aggregate touched many times is read and written once per commit.
//  * An empty directory, Options::rebuild, or a store written in another
//    storage layout (RunnerOptions::format_version) replays the whole log
//    from offset 0.
//  * Records that are not a valid strata.v1.Event (garbage on the topic) are
//    skipped and counted (persistently); the runner keeps going.
//  * WaitForApplied(p) returns once the record at p is applied and durable,
//    which gives command handlers read-your-writes.
//
// Keys beginning with '\x01' are reserved for the runner; a projection uses
// any other keys.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "rocksdb/options.h"
#include "eventlog/event_log.h"
#include "projection/shared_memory.h"
#include "strata/v1/events.pb.h"

namespace rocksdb {
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace strata::projection {

// How StateTxn::WriteBlind writes.
struct BlindWriteOptions {
  rocksdb::WriteOptions write;
  // Batches of about this size go through the memtable...
  size_t chunk_bytes = 4 << 20;
  // ...unless there are at least this many writes and a path is given: then
  // they are written as one sorted table file there and ingested.
  size_t ingest_min_writes = 0;
  std::string ingest_path;
};

// The writes of one batch. Reads see the batch's own writes, then those of
// the earlier batch still being written (if any), then the database. Writes
// are buffered and reach RocksDB sorted by key when the runner commits
// (sorted inserts are much cheaper for RocksDB's memtable).
class StateTxn {
 public:
  // `earlier`: a commit still being written, whose writes reads must see.
  explicit StateTxn(rocksdb::DB* db, const StateTxn* earlier = nullptr);
  // Sizes the blind-write buffers for as many writes as `other` holds.
  void ReserveLike(const StateTxn& other);
  // Hands this txn's blind-write buffers (emptied, capacity kept) to `next`,
  // so that a replay does not fault fresh pages in for every commit.
  void RecycleBuffersInto(StateTxn* next);
  ~StateTxn();
  absl::StatusOr<std::optional<std::string>> Get(const std::string& key);
  void Put(const std::string& key, std::string value);
  void Delete(const std::string& key);
  // A write of a key that nothing reads back before the commit (append-only
  // records and index entries): it skips the read overlay, so Get() does
  // not see it, and costs no hashing. Its value must follow from the events
  // alone: a commit writes blind writes ahead of the batch that carries the
  // offsets, so after a crash in between they are written again,
  // identically, when the events are re-applied.
  void PutBlind(std::string_view key, std::string_view value);
  // Writes the blind writes to the database in key order (see
  // BlindWriteOptions). A single batch of hundreds of megabytes costs more
  // in copying and page faults than the memtable inserts themselves.
  absl::Status WriteBlind(const BlindWriteOptions& options);
  // Puts the other buffered writes into `batch` in key order.
  void WriteTo(rocksdb::WriteBatch* batch) const;
  // The earlier batch is in the database now: read it there.
  void ForgetEarlier() { earlier_ = nullptr; }

 private:
  std::vector<uint32_t> BlindOrder() const;

  rocksdb::DB* db_;
  const StateTxn* earlier_;
  absl::flat_hash_map<std::string, std::optional<std::string>> writes_;  // nullopt: delete
  struct BlindWrite {
    size_t offset;  // in blind_bytes_: the key, then the value
    uint32_t key_size, value_size;
  };
  std::string_view BlindKey(size_t i) const {
    return std::string_view(blind_bytes_).substr(blind_[i].offset, blind_[i].key_size);
  }
  std::string_view BlindValue(size_t i) const {
    return std::string_view(blind_bytes_).substr(blind_[i].offset + blind_[i].key_size, blind_[i].value_size);
  }
  std::vector<BlindWrite> blind_;
  std::string blind_bytes_;
};

// A service's projection logic.
class Projection {
 public:
  virtual ~Projection() = default;
  // Applies one well-formed event read at `position`. Must be deterministic
  // and write only through `txn`. A non-OK result is a storage failure and
  // stops the runner; bad events are never errors (the accept rule ignores them).
  virtual absl::Status Apply(const v1::Event& event, const eventlog::Position& position,
                             StateTxn& txn) = 0;
  // Called once per commit, after the last Apply of the events it covers and
  // before it is written: a projection that coalesces its writes in memory
  // puts them into `txn` here. The same `txn` is passed to every Apply and
  // Flush of one commit.
  virtual absl::Status Flush(StateTxn& txn) { return absl::OkStatus(); }
  // Memory held for the events applied since the last commit (an estimate);
  // the runner commits when it passes RunnerOptions::max_uncommitted_bytes.
  virtual size_t UncommittedBytes() const { return 0; }
  // After the events applied since the last call: `committed` says whether
  // their commit became durable (true) or was discarded (false). Also called
  // with false when a runner starts, so that a projection drops anything it
  // cached from an earlier run.
  virtual void BatchDone(bool committed) {}
};

struct RunnerOptions {
  std::string db_path;
  // Wipe the projection and replay the log from offset 0.
  bool rebuild = false;
  // The projection's storage layout. A store written with another layout
  // (a store from before versions counts as 1) is wiped and rebuilt from the
  // log when opened: the log is the source of truth, the store a cache of it.
  uint32_t format_version = 1;
  // Records read from the log per poll.
  size_t max_batch = 5000;
  // While working through a backlog with nobody waiting, commit at least
  // this often. Bound the memory a projection's coalescing may use.
  size_t max_uncommitted_events = 1'000'000;
  size_t max_uncommitted_bytes = 128 << 20;
  absl::Duration commit_interval = absl::Seconds(10);
  // Caught up and with nobody waiting for what it applied, the runner lets
  // new events gather this long before it reads, applies and commits them
  // in one go (0: each as it comes). Whoever waits (WaitForApplied,
  // CatchUp) ends the gathering at once. For projections that are not on
  // the path of every command: fewer wake-ups and commits per event.
  absl::Duration idle_batching = absl::ZeroDuration();
  // How long a read from the log may wait for new records (see
  // EventLog::ReaderOptions): short on the command path, longer for
  // projections that gather events anyway (Kafka fetches less often).
  absl::Duration read_wait = absl::Milliseconds(1);
  // A backlog of at least this many records switches RocksDB to bulk
  // loading until the runner has caught up (see SetBulkLoading).
  int64_t bulk_load_backlog = 100'000;
  // Blind writes reach RocksDB in batches of about this size, or, from this
  // many writes in one commit on, as an ingested table file (bulk load).
  size_t blind_chunk_bytes = 4 << 20;
  size_t ingest_min_blind_writes = 50'000;
  // While records remain to be read, write each commit in a second thread
  // while the next events are applied. For projections
  // whose BatchDone(true) may come before the commit is durable (it then
  // means "handed to the writer"); if that write fails, the runner stops.
  bool pipeline_commits = false;
  // RocksDB block cache for the state store (without shared_memory).
  size_t block_cache_bytes = 64 << 20;
  // RocksDB memory shared with the other runners of the process (see
  // shared_memory.h): its block cache and memtable bound replace this
  // store's own. nullptr: this store's own.
  std::shared_ptr<SharedMemory> shared_memory = nullptr;
  // Fault-injection seam: called before each commit is written. A non-OK
  // result discards it and stops the runner, as a crash at that point.
  std::function<absl::Status(uint64_t batch_number)> before_commit = nullptr;
};

struct RunnerStats {
  uint64_t events_applied = 0;   // since this runner started
  uint64_t batches = 0;          // commits since this runner started
  uint64_t records_skipped = 0;  // garbage records, over the projection's life
  std::vector<int64_t> next_offsets;
};

class KeyFamily;

class ProjectionRunner {
 public:
  // Opens (or creates) the RocksDB at options.db_path. Fails if the stored
  // offsets lie beyond the log's end (the directory belongs to another log).
  static absl::StatusOr<std::unique_ptr<ProjectionRunner>> Open(RunnerOptions options,
                                                                eventlog::EventLog* log,
                                                                Projection* projection);
  ~ProjectionRunner();

  // Starts applying the log in a background thread.
  absl::Status Start() ABSL_LOCKS_EXCLUDED(mu_);
  // Stops the thread; idempotent.
  void Stop() ABSL_LOCKS_EXCLUDED(mu_);

  // Waits until the record at `position` is applied (see contract).
  absl::Status WaitForApplied(const eventlog::Position& position, absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until every record in the log at the time of the call is applied.
  absl::Status CatchUp(absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);
  // Like CatchUp, for one partition.
  absl::Status CatchUpPartition(int32_t partition, absl::Duration timeout) ABSL_LOCKS_EXCLUDED(mu_);

  // This process appended `record`: Append returned OK at its partition and
  // offset, for its key and value. The runner may apply it from here rather
  // than wait until its reader returns it (on Kafka, a fetch that the broker
  // may hold for fetch.wait.max.ms), so that a command's WaitForApplied
  // does not wait for the log to be read back. A record is applied only in
  // its place in the log's order, when every record before it in its
  // partition is applied; one applied already is dropped, and the reader's
  // copy is skipped when it comes. What is applied is therefore exactly
  // what reading the log applies. Thread-safe, does not wait. A hint, and
  // bounded: records over kMaxOfferedRecordBytes (which a log may write in
  // fragments), and any beyond kMaxOffered records or kMaxOfferedBytes
  // waiting for their turn, are left to the reader.
  void Appended(eventlog::Record record) ABSL_LOCKS_EXCLUDED(mu_, reader_mu_);
  static constexpr size_t kMaxOffered = 4096;
  static constexpr size_t kMaxOfferedBytes = 4 << 20;
  static constexpr size_t kMaxOfferedRecordBytes = 64 << 10;

  // The state store, for reads. Owned by the runner.
  rocksdb::DB* db() const { return db_.get(); }
  RunnerStats stats() const ABSL_LOCKS_EXCLUDED(mu_);
  // OK while running; the error that stopped the runner otherwise.
  absl::Status health() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  ProjectionRunner(RunnerOptions options, eventlog::EventLog* log, Projection* projection,
                   std::unique_ptr<rocksdb::DB> db, std::shared_ptr<KeyFamily> key_family,
                   std::vector<int64_t> next, uint64_t skipped);
  void Loop() ABSL_LOCKS_EXCLUDED(mu_);
  // Applies records on top of the uncommitted state; Commit makes it durable.
  absl::Status ApplyRecords(const std::vector<eventlog::Record>& records);
  absl::Status ApplyRecord(const eventlog::Record& record, v1::Event& scratch);
  // Applies the records handed to Appended that are next in their partition.
  absl::Status ApplyOffered() ABSL_LOCKS_EXCLUDED(mu_);
  bool ShouldCommit(int64_t backlog) const ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status WaitForAll(const std::vector<eventlog::Position>& positions, absl::Duration timeout)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Whether every one of `positions` is applied (committed).
  bool AllApplied(const std::vector<eventlog::Position>& positions) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  struct InFlightCommit;
  absl::Status Commit(bool in_background) ABSL_LOCKS_EXCLUDED(mu_);
  // Writes a commit, retrying while its store cannot be written (a full or
  // read-only disk), with health_ reporting why.
  absl::Status WriteCommit(InFlightCommit& commit) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status WriteCommitOnce(InFlightCommit& commit);
  // Makes a written commit's offsets visible to WaitForApplied and stats.
  void PublishCommit(const InFlightCommit& commit) ABSL_LOCKS_EXCLUDED(mu_);
  absl::Status AwaitInFlight();
  void SetBulkLoading(bool on);
  void Fail(absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);

  RunnerOptions options_;
  eventlog::EventLog* log_;
  Projection* projection_;
  std::unique_ptr<rocksdb::DB> db_;
  std::shared_ptr<KeyFamily> key_family_;  // the store's memtable insert hints (projection.cc)

  // Uncommitted work, owned by the runner thread.
  std::unique_ptr<StateTxn> txn_;
  std::vector<int64_t> pending_next_;
  std::vector<bool> pending_touched_;
  uint64_t pending_skipped_ = 0;
  uint64_t uncommitted_events_ = 0;
  bool bulk_loading_ = false;
  // The level-0 triggers bulk loading overrides, restored afterwards.
  int saved_l0_slowdown_ = 0;
  int saved_l0_stop_ = 0;
  uint64_t commits_started_ = 0;
  std::unique_ptr<InFlightCommit> in_flight_;
  std::unique_ptr<StateTxn> recycled_;  // a written commit, for its buffers
  absl::Time last_commit_;
  // Records handed to Appended that wait for the records before them,
  // sorted by partition and offset, and their bytes (runner thread).
  std::vector<eventlog::Record> held_;
  size_t held_bytes_ = 0;
  // Records applied from Appended that the reader has not returned yet: its
  // Backlog counts them, the runner does not (runner thread).
  int64_t handed_ahead_ = 0;

  // The runner thread's log reader while it runs, for Appended and Stop to
  // wake (LogReader::Wake). A leaf lock, held only to set the pointer or
  // call Wake; the runner thread owns the reader.
  absl::Mutex reader_mu_;
  eventlog::LogReader* reader_ ABSL_GUARDED_BY(reader_mu_) = nullptr;

  // Guards next_, waiting_, offered_, skipped_, events_applied_, batches_,
  // health_ and running_ (shared by the runner, commit writer and caller
  // threads); a leaf lock, never held while calling the projection, the log
  // or RocksDB.
  mutable absl::Mutex mu_;
  absl::CondVar applied_cv_;
  // Ends the idle batching early (a waiter came, or Stop).
  absl::CondVar gather_cv_;
  // Runner thread: when the oldest uncommitted event was applied.
  absl::Time gathering_since_;
  std::vector<int64_t> next_ ABSL_GUARDED_BY(mu_);  // per partition: next offset to apply (committed)
  // What WaitForAll callers wait for, each a group of positions.
  std::list<const std::vector<eventlog::Position>*> waiting_ ABSL_GUARDED_BY(mu_);
  // Handed over by Appended, taken by the runner thread (ApplyOffered).
  std::vector<eventlog::Record> offered_ ABSL_GUARDED_BY(mu_);
  size_t offered_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t skipped_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t events_applied_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t batches_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status health_ ABSL_GUARDED_BY(mu_);
  bool running_ ABSL_GUARDED_BY(mu_) = false;

  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace strata::projection
