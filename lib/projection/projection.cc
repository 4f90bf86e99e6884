#include "projection/projection.h"

#include "eventlog/rocksdb_logger.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <tuple>

#include <pthread.h>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "fmt/format.h"
#include "rocksdb/db.h"
#include "rocksdb/cache.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "spdlog/spdlog.h"

namespace strata::projection {
namespace {

constexpr char kSkippedKey[] = "\x01skipped";
constexpr char kPartitionsKey[] = "\x01partitions";
constexpr char kFormatKey[] = "\x01format";

std::string OffsetKey(int32_t partition) { return fmt::format("\x01offset/{:08d}", partition); }

std::string EncodeU64(uint64_t v) { return std::to_string(v); }
uint64_t DecodeU64(const std::string& s) { return s.empty() ? 0 : std::stoull(s); }

rocksdb::Slice Slice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }

absl::Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return absl::OkStatus();
  // The disk (full, read-only, failing) is outside the program, and often
  // repaired while it runs: UNAVAILABLE, which WriteCommit retries.
  if (s.IsIOError()) return absl::UnavailableError(fmt::format("{}: {}", what, s.ToString()));
  return absl::InternalError(fmt::format("{}: {}", what, s.ToString()));
}

}  // namespace

// The "family" of a key for memtable insert hints. With a hint per family an
// insert starts where the family's last one went instead of searching the
// memtable from the top.
//  * Serving commands: up to and including its first '\0' ("u/alice\0",
//    "j/table:s.t\0", ...), else the whole key ("h/table:s.t", an offset
//    key). Index entries by time are written in order and an object's state
//    is written again and again: measured, about a third of the
//    instructions of a check-out in strata-server went to memtable inserts
//    without hints.
//  * Bulk loading (a replay): up to and including its first '/' ("o/",
//    "v/", ...; keys without one form one family). A replay writes each of
//    100,000s of objects' keys in key order, once per commit: a hint per
//    object was a skiplist splice of a few hundred bytes of memtable per
//    object that never served a second insert (112 MB of a cold start's
//    peak), where one per family follows the sorted inserts along.
// The runner switches it with bulk loading; a hint is only where a search
// starts, so a memtable holding hints of both kinds inserts correctly.
class KeyFamily : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "strata.KeyFamily"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    if (bulk_.load(std::memory_order_relaxed)) {
      const void* slash = std::memchr(key.data(), '/', key.size());
      return rocksdb::Slice(key.data(), slash ? static_cast<const char*>(slash) - key.data() + 1 : 0);
    }
    const void* nul = std::memchr(key.data(), '\0', key.size());
    return nul ? rocksdb::Slice(key.data(), static_cast<const char*>(nul) - key.data() + 1) : key;
  }
  bool InDomain(const rocksdb::Slice&) const override { return true; }
  void SetBulkLoading(bool on) { bulk_.store(on, std::memory_order_relaxed); }

 private:
  std::atomic<bool> bulk_{false};  // set by the runner thread, read by RocksDB's writers
};

// A commit handed to the writer thread.
struct ProjectionRunner::InFlightCommit {
  std::unique_ptr<StateTxn> txn;
  std::vector<int64_t> next;
  uint64_t skipped = 0;
  uint64_t events = 0;
  absl::Status status;
  std::thread thread;
};

StateTxn::StateTxn(rocksdb::DB* db, const StateTxn* earlier) : db_(db), earlier_(earlier) {}

void StateTxn::ReserveLike(const StateTxn& other) {
  // Commits during a replay are alike: growing the buffers by doubling
  // would copy them over and over.
  blind_.reserve(other.blind_.size() + other.blind_.size() / 8);
  blind_bytes_.reserve(other.blind_bytes_.size() + other.blind_bytes_.size() / 8);
}

void StateTxn::RecycleBuffersInto(StateTxn* next) {
  if (!next->blind_.empty()) return;  // only into a txn that has no blind writes yet
  blind_.clear();
  blind_bytes_.clear();
  next->blind_.swap(blind_);
  next->blind_bytes_.swap(blind_bytes_);
}
StateTxn::~StateTxn() = default;

void StateTxn::PutBlind(std::string_view key, std::string_view value) {
  // One buffer for all of them: a replay puts millions of small records.
  blind_.push_back({blind_bytes_.size(), static_cast<uint32_t>(key.size()),
                    static_cast<uint32_t>(value.size())});
  blind_bytes_.append(key);
  blind_bytes_.append(value);
}

absl::StatusOr<std::optional<std::string>> StateTxn::Get(const std::string& key) {
  if (auto it = writes_.find(key); it != writes_.end()) return it->second;
  if (earlier_ != nullptr)
    if (auto it = earlier_->writes_.find(key); it != earlier_->writes_.end()) return it->second;
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  if (!s.ok()) return absl::InternalError(fmt::format("read {}: {}", key, s.ToString()));
  return std::optional<std::string>(std::move(value));
}
void StateTxn::Put(const std::string& key, std::string value) { writes_[key] = std::move(value); }
void StateTxn::Delete(const std::string& key) { writes_[key] = std::nullopt; }

std::vector<uint32_t> StateTxn::BlindOrder() const {
  // Most keys differ within their first 24 bytes: compare those as three
  // integers and fall back to the whole key only on a tie. Equal keys keep
  // the order they were written in, so the last write wins.
  struct Item {
    uint64_t a, b, c;
    uint32_t index;
  };
  auto prefix = [](std::string_view key, size_t from) {
    uint64_t v = 0;
    if (key.size() >= from + 8) {
      std::memcpy(&v, key.data() + from, 8);
      return __builtin_bswap64(v);  // big-endian: integer order is byte order
    }
    for (size_t i = from; i < from + 8; ++i)
      v = v << 8 | (i < key.size() ? static_cast<unsigned char>(key[i]) : 0);
    return v;
  };
  std::vector<Item> items(blind_.size());
  for (uint32_t i = 0; i < items.size(); ++i)
    items[i] = {prefix(BlindKey(i), 0), prefix(BlindKey(i), 8), prefix(BlindKey(i), 16), i};
  std::sort(items.begin(), items.end(), [&](const Item& x, const Item& y) {
    if (x.a != y.a) return x.a < y.a;
    if (x.b != y.b) return x.b < y.b;
    if (x.c != y.c) return x.c < y.c;
    const int c = BlindKey(x.index).compare(BlindKey(y.index));
    return c != 0 ? c < 0 : x.index < y.index;
  });
  std::vector<uint32_t> order(items.size());
  for (size_t i = 0; i < items.size(); ++i) order[i] = items[i].index;
  return order;
}

absl::Status StateTxn::WriteBlind(const BlindWriteOptions& options) {
  const std::vector<uint32_t> order = BlindOrder();
  auto superseded = [&](size_t i) {  // a later write of the same key follows
    return i + 1 < order.size() && BlindKey(order[i + 1]) == BlindKey(order[i]);
  };
  if (!options.ingest_path.empty() && !order.empty() && order.size() >= options.ingest_min_writes) {
    // RocksDB's bulk load: one sorted table file, linked into the tree
    // without passing through the memtable.
    rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), db_->GetOptions());
    rocksdb::Status s = writer.Open(options.ingest_path);
    for (size_t i = 0; s.ok() && i < order.size(); ++i)
      if (!superseded(i)) s = writer.Put(Slice(BlindKey(order[i])), Slice(BlindValue(order[i])));
    if (s.ok()) s = writer.Finish();
    if (s.ok()) {
      rocksdb::IngestExternalFileOptions ingest;
      ingest.move_files = true;
      s = db_->IngestExternalFile({options.ingest_path}, ingest);
    }
    std::error_code ignored;
    std::filesystem::remove(options.ingest_path, ignored);
    return FromRocks(s, "bulk-load projection records");
  }
  // Sorted runs go into RocksDB's memtable skiplist far faster than random order.
  rocksdb::WriteBatch chunk(options.chunk_bytes + (64 << 10));
  for (size_t i = 0; i < order.size(); ++i) {
    if (!superseded(i)) chunk.Put(Slice(BlindKey(order[i])), Slice(BlindValue(order[i])));
    if (chunk.GetDataSize() < options.chunk_bytes && i + 1 < order.size()) continue;
    rocksdb::Status s = db_->Write(options.write, &chunk);
    if (!s.ok()) return FromRocks(s, "write projection records");
    chunk.Clear();
  }
  return absl::OkStatus();
}

void StateTxn::WriteTo(rocksdb::WriteBatch* batch) const {
  std::vector<const std::pair<const std::string, std::optional<std::string>>*> sorted;
  sorted.reserve(writes_.size());
  for (const auto& w : writes_) sorted.push_back(&w);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->first < b->first; });
  for (const auto* w : sorted) {
    if (w->second) {
      batch->Put(w->first, *w->second);
    } else {
      batch->Delete(w->first);
    }
  }
}

absl::StatusOr<std::unique_ptr<ProjectionRunner>> ProjectionRunner::Open(RunnerOptions options,
                                                                         eventlog::EventLog* log,
                                                                         Projection* projection) {
  rocksdb::Options ro;
  ro.create_if_missing = true;
  ro.info_log = eventlog::NewRocksDbLogger();  // no LOG file (see rocksdb_logger.h)
  // Most reads during a rebuild are point lookups of keys that do not exist
  // yet (first event of an aggregate): bloom filters answer those cheaply.
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.whole_key_filtering = true;
  // Every event reads its aggregate's state: keep the hot set in memory.
  table.block_cache = options.shared_memory ? options.shared_memory->block_cache()
                                            : rocksdb::NewLRUCache(options.block_cache_bytes);
  if (options.shared_memory) ro.write_buffer_manager = options.shared_memory->memtables();
  ro.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // Projections are rewritten constantly and rebuilt from the log at will:
  // favour CPU over disk space.
  ro.compression = rocksdb::kLZ4Compression;
  ro.IncreaseParallelism(2);
  auto key_family = std::make_shared<KeyFamily>();
  ro.memtable_insert_with_hint_prefix_extractor = key_family;
  auto open = [&](bool wipe) -> absl::StatusOr<std::unique_ptr<rocksdb::DB>> {
    if (wipe && std::filesystem::exists(options.db_path)) {
      rocksdb::Status s = rocksdb::DestroyDB(options.db_path, ro);
      if (!s.ok()) return FromRocks(s, "wipe projection for rebuild");
    }
    std::error_code ec;
    std::filesystem::create_directories(options.db_path, ec);
    if (ec)
      return absl::FailedPreconditionError(
          fmt::format("cannot create projection directory {}: {}", options.db_path, ec.message()));
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(ro, options.db_path, &raw);
    if (!s.ok()) return FromRocks(s, fmt::format("open projection store {}", options.db_path));
    return std::unique_ptr<rocksdb::DB>(raw);
  };
  auto opened = open(options.rebuild);
  if (!opened.ok()) return opened.status();
  std::unique_ptr<rocksdb::DB> db = std::move(*opened);
  std::string value;
  // A store in another layout is rebuilt (stores from before layouts were
  // numbered are layout 1).
  rocksdb::Status s = db->Get(rocksdb::ReadOptions(), kFormatKey, &value);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "read projection format");
  uint32_t stored = 0;
  if (s.ok()) {
    stored = static_cast<uint32_t>(DecodeU64(value));
  } else if (db->Get(rocksdb::ReadOptions(), kPartitionsKey, &value).ok()) {
    stored = 1;
  }
  if (stored != 0 && stored != options.format_version) {
    spdlog::info("projection {}: stored in layout {}, this version uses layout {}: rebuilding it from the log",
                 options.db_path, stored, options.format_version);
    db.reset();
    opened = open(/*wipe=*/true);
    if (!opened.ok()) return opened.status();
    db = std::move(*opened);
    stored = 0;
  }
  if (stored == 0) {
    s = db->Put(rocksdb::WriteOptions(), kFormatKey, EncodeU64(options.format_version));
    if (!s.ok()) return FromRocks(s, "init projection");
  }

  const int32_t partitions = log->partitions();
  s = db->Get(rocksdb::ReadOptions(), kPartitionsKey, &value);
  if (s.ok() && std::stoi(value) != partitions)
    return absl::FailedPreconditionError(fmt::format(
        "projection {} was built from a log with {} partitions, this log has {}; use --rebuild",
        options.db_path, value, partitions));
  if (s.IsNotFound()) {
    s = db->Put(rocksdb::WriteOptions(), kPartitionsKey, std::to_string(partitions));
    if (!s.ok()) return FromRocks(s, "init projection");
  }

  std::vector<int64_t> next(partitions, 0);
  for (int32_t p = 0; p < partitions; ++p) {
    if (db->Get(rocksdb::ReadOptions(), OffsetKey(p), &value).ok()) next[p] = std::stoll(value);
    auto end = log->EndOffset(p);
    if (!end.ok()) return end.status();
    if (next[p] > *end)
      return absl::FailedPreconditionError(fmt::format(
          "projection {} has applied partition {} up to offset {} but the log ends at {}: the "
          "data directory belongs to another log; start with --rebuild",
          options.db_path, p, next[p], *end));
  }
  uint64_t skipped = 0;
  if (db->Get(rocksdb::ReadOptions(), kSkippedKey, &value).ok()) skipped = DecodeU64(value);
  return std::unique_ptr<ProjectionRunner>(new ProjectionRunner(
      std::move(options), log, projection, std::move(db), std::move(key_family), std::move(next), skipped));
}

ProjectionRunner::ProjectionRunner(RunnerOptions options, eventlog::EventLog* log,
                                   Projection* projection, std::unique_ptr<rocksdb::DB> db,
                                   std::shared_ptr<KeyFamily> key_family, std::vector<int64_t> next,
                                   uint64_t skipped)
    : options_(std::move(options)), log_(log), projection_(projection), db_(std::move(db)),
      key_family_(std::move(key_family)),
      next_(std::move(next)), skipped_(skipped) {}

ProjectionRunner::~ProjectionRunner() { Stop(); }

absl::Status ProjectionRunner::Start() {
  absl::MutexLock lk(&mu_);
  if (running_) return absl::OkStatus();
  running_ = true;
  stop_ = false;
  thread_ = std::thread([this] {
    // "apply:lock", "apply:history", ... in top -H and perf.
    const std::string name = "apply:" + std::filesystem::path(options_.db_path).filename().string();
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    Loop();
  });
  return absl::OkStatus();
}

void ProjectionRunner::Stop() {
  {
    absl::MutexLock lk(&mu_);
    stop_ = true;
  }
  gather_cv_.SignalAll();
  {
    absl::MutexLock lk(&reader_mu_);
    if (reader_) reader_->Wake();
  }
  if (thread_.joinable()) thread_.join();
  // Commits skip the WAL: persist them so a clean restart replays nothing.
  if (rocksdb::Status s = db_->Flush(rocksdb::FlushOptions()); !s.ok())
    spdlog::warn("projection {}: flush on stop: {}", options_.db_path, s.ToString());
  absl::MutexLock lk(&mu_);
  running_ = false;
  applied_cv_.SignalAll();
}

void ProjectionRunner::Loop() {
  std::vector<int64_t> start;
  {
    absl::MutexLock lk(&mu_);
    start = next_;
    pending_skipped_ = skipped_;
  }
  // Whatever the projection cached belongs to an earlier run (or an earlier
  // store, after a rebuild).
  projection_->BatchDone(false);
  pending_next_ = start;
  pending_touched_.assign(start.size(), false);
  held_.clear();  // applied or not, the reader brings them
  held_bytes_ = 0;
  handed_ahead_ = 0;
  txn_ = std::make_unique<StateTxn>(db_.get());
  last_commit_ = absl::Now();
  auto reader = log_->OpenReader(start, {.max_wait = options_.read_wait});
  if (!reader.ok()) return Fail(reader.status());
  {
    absl::MutexLock lk(&reader_mu_);
    reader_ = reader->get();
  }
  absl::Cleanup forget_reader = [this] {
    absl::MutexLock lk(&reader_mu_);
    reader_ = nullptr;
  };
  while (!stop_) {
    if (uncommitted_events_ > 0 && options_.idle_batching > absl::ZeroDuration()) {
      // Idle batching (see RunnerOptions): let events gather unless someone waits.
      absl::MutexLock lk(&mu_);
      const absl::Time deadline = gathering_since_ + options_.idle_batching;
      while (!stop_.load() && waiting_.empty())
        if (gather_cv_.WaitWithDeadline(&mu_, deadline)) break;  // timed out
    }
    // Poll briefly while holding uncommitted work so that a quiet log still
    // commits promptly.
    const absl::Duration wait = uncommitted_events_ ? absl::ZeroDuration() : absl::Milliseconds(100);
    auto records = (*reader)->Poll(options_.max_batch, wait);
    if (records.status().code() == absl::StatusCode::kDataLoss) return Fail(records.status());
    if (!records.ok()) {
      spdlog::warn("projection {}: reading the log: {}", options_.db_path,
                   std::string(records.status().message()));
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (absl::Status s = ApplyRecords(*records); !s.ok()) return Fail(s);
    // What this process appended (Appended) and the reader has not returned
    // yet: the Poll ended when it came (Wake), or the records it returned
    // are the ones before it.
    if (absl::Status s = ApplyOffered(); !s.ok()) return Fail(s);
    // Nothing new: no records, or only records applied already (on Kafka,
    // the reader's copies of what Appended handed over).
    if (uncommitted_events_ == 0) continue;
    // The reader counts what it has not returned, some of which may have
    // been applied from Appended already.
    const int64_t backlog = std::max<int64_t>(0, (*reader)->Backlog() - handed_ahead_);
    if (backlog >= options_.bulk_load_backlog) SetBulkLoading(true);
    // Near the end of a pipelined replay, hand what is applied to the writer
    // so that the commit that completes the catch-up, written before
    // anything else, is a small one.
    const bool nearly_caught_up = options_.pipeline_commits && bulk_loading_ && backlog > 0 &&
                                  backlog < static_cast<int64_t>(4 * options_.max_batch) &&
                                  uncommitted_events_ >= 4 * options_.max_batch;
    if (!nearly_caught_up && !ShouldCommit(backlog)) continue;
    // While records remain, the commit is written while the next events are
    // applied; the one that catches up is written before anything else.
    const bool in_background = options_.pipeline_commits && backlog > 0;
    if (absl::Status s = Commit(in_background); !s.ok()) return Fail(s);
    if (backlog == 0) SetBulkLoading(false);
  }
  if (absl::Status s = AwaitInFlight(); !s.ok()) return Fail(s);
  SetBulkLoading(false);
}

void ProjectionRunner::SetBulkLoading(bool on) {
  if (on == bulk_loading_) return;
  // Like a Kafka Streams store during restoration: while a large backlog is
  // replayed, compactions wait (level-0 files pile up, reads stay correct and
  // bloom filters keep point lookups cheap); once caught up they resume and
  // work the pile down in the background.
  if (on) {
    const rocksdb::Options current = db_->GetOptions();
    saved_l0_slowdown_ = current.level0_slowdown_writes_trigger;
    saved_l0_stop_ = current.level0_stop_writes_trigger;
  }
  rocksdb::Status s = db_->SetOptions({
      {"disable_auto_compactions", on ? "true" : "false"},
      {"level0_slowdown_writes_trigger", on ? "1000" : std::to_string(saved_l0_slowdown_)},
      {"level0_stop_writes_trigger", on ? "1000" : std::to_string(saved_l0_stop_)},
  });
  if (!s.ok()) {
    spdlog::warn("projection {}: bulk-load mode {}: {}", options_.db_path, on, s.ToString());
    return;
  }
  bulk_loading_ = on;
  key_family_->SetBulkLoading(on);
  spdlog::debug("projection {}: bulk-load mode {}", options_.db_path, on ? "on" : "off");
}

void ProjectionRunner::Fail(absl::Status status) {
  (void)AwaitInFlight();  // an earlier commit still being written lands or fails first
  spdlog::error("projection {} stopped: {}", options_.db_path, std::string(status.message()));
  projection_->BatchDone(false);
  absl::MutexLock lk(&mu_);
  health_ = std::move(status);
  applied_cv_.SignalAll();
}

absl::Status ProjectionRunner::ApplyRecords(const std::vector<eventlog::Record>& records) {
  v1::Event event;
  for (const eventlog::Record& r : records)
    if (absl::Status s = ApplyRecord(r, event); !s.ok()) return s;
  return absl::OkStatus();
}

absl::Status ProjectionRunner::ApplyRecord(const eventlog::Record& r, v1::Event& event) {
  if (r.partition < 0 || r.partition >= static_cast<int32_t>(pending_next_.size())) return absl::OkStatus();
  if (r.offset < pending_next_[r.partition]) {
    // Applied already: handed over by Appended (ApplyOffered filters its
    // own), or redelivered after a reconnect.
    if (handed_ahead_ > 0) --handed_ahead_;
    return absl::OkStatus();
  }
  event.Clear();
  if (r.fragment) {
    // A piece of a large record, which comes whole at its own offset.
  } else if (!event.ParseFromString(r.value) || event.aggregate().empty() || event.aggregate() != r.key) {
    ++pending_skipped_;
    spdlog::warn("projection {}: skipped a record that is not a Strata event at {}/{}",
                 options_.db_path, r.partition, r.offset);
  } else if (absl::Status s = projection_->Apply(event, {r.partition, r.offset}, *txn_); !s.ok()) {
    return s;
  }
  pending_next_[r.partition] = r.offset + 1;
  pending_touched_[r.partition] = true;
  if (uncommitted_events_++ == 0) gathering_since_ = absl::Now();
  return absl::OkStatus();
}

void ProjectionRunner::Appended(eventlog::Record record) {
  const size_t bytes = record.key.size() + record.value.size();
  if (bytes > kMaxOfferedRecordBytes) return;  // the reader brings it
  {
    absl::MutexLock lk(&mu_);
    if (offered_.size() >= kMaxOffered || offered_bytes_ + bytes > kMaxOfferedBytes) return;
    offered_bytes_ += bytes;
    offered_.push_back(std::move(record));
  }
  absl::MutexLock lk(&reader_mu_);
  if (reader_) reader_->Wake();
}

absl::Status ProjectionRunner::ApplyOffered() {
  {
    absl::MutexLock lk(&mu_);
    if (offered_.empty() && held_.empty()) return absl::OkStatus();
    for (eventlog::Record& r : offered_) {
      const size_t bytes = r.key.size() + r.value.size();
      if (held_.size() >= kMaxOffered || held_bytes_ + bytes > kMaxOfferedBytes) continue;  // the reader brings it
      held_bytes_ += bytes;
      held_.push_back(std::move(r));
    }
    offered_.clear();
    offered_bytes_ = 0;
  }
  std::sort(held_.begin(), held_.end(), [](const eventlog::Record& a, const eventlog::Record& b) {
    return std::tie(a.partition, a.offset) < std::tie(b.partition, b.offset);
  });
  v1::Event event;
  size_t kept = 0;
  held_bytes_ = 0;
  for (eventlog::Record& r : held_) {
    if (r.partition < 0 || r.partition >= static_cast<int32_t>(pending_next_.size()) ||
        r.offset < pending_next_[r.partition])
      continue;  // applied already (or no such partition: the reader decides)
    if (r.offset > pending_next_[r.partition]) {
      // Records before it are still to be read.
      held_bytes_ += r.key.size() + r.value.size();
      if (&held_[kept] != &r) held_[kept] = std::move(r);
      ++kept;
      continue;
    }
    if (absl::Status s = ApplyRecord(r, event); !s.ok()) {
      held_.clear();  // some moved from; the runner stops, a restart reads the log
      held_bytes_ = 0;
      return s;
    }
    ++handed_ahead_;
  }
  held_.resize(kept);
  return absl::OkStatus();
}

bool ProjectionRunner::ShouldCommit(int64_t backlog) const {
  // Caught up with the log (and, with idle batching, gathered long enough).
  if (backlog == 0 && absl::Now() - gathering_since_ >= options_.idle_batching) return true;
  if (uncommitted_events_ >= options_.max_uncommitted_events) return true;
  if (projection_->UncommittedBytes() >= options_.max_uncommitted_bytes) return true;
  if (absl::Now() - last_commit_ >= options_.commit_interval) return true;
  absl::MutexLock lk(&mu_);
  for (const std::vector<eventlog::Position>* group : waiting_) {
    bool all = true;  // someone waits for exactly what is applied now
    for (const eventlog::Position& p : *group) all = all && pending_next_[p.partition] > p.offset;
    if (all) return true;
  }
  return false;
}

absl::Status ProjectionRunner::Commit(bool in_background) {
  if (absl::Status s = projection_->Flush(*txn_); !s.ok()) return s;
  uint64_t skipped_before;
  {
    absl::MutexLock lk(&mu_);
    skipped_before = skipped_;
  }
  for (size_t p = 0; p < pending_next_.size(); ++p)
    if (pending_touched_[p]) txn_->Put(OffsetKey(static_cast<int32_t>(p)), std::to_string(pending_next_[p]));
  if (pending_skipped_ != skipped_before) txn_->Put(kSkippedKey, EncodeU64(pending_skipped_));
  if (options_.before_commit) {
    if (absl::Status s = options_.before_commit(commits_started_); !s.ok()) return s;
  }
  // Commits land in order, at most one in flight.
  if (absl::Status s = AwaitInFlight(); !s.ok()) return s;
  auto commit = std::make_unique<InFlightCommit>();
  commit->txn = std::move(txn_);
  commit->next = pending_next_;
  commit->skipped = pending_skipped_;
  commit->events = uncommitted_events_;
  ++commits_started_;
  std::fill(pending_touched_.begin(), pending_touched_.end(), false);
  uncommitted_events_ = 0;
  last_commit_ = absl::Now();
  if (!in_background) {
    txn_ = std::make_unique<StateTxn>(db_.get());
    if (absl::Status s = WriteCommit(*commit); !s.ok()) return s;
    // The projection publishes what it decided before waiters wake up.
    projection_->BatchDone(true);
    PublishCommit(*commit);
    return absl::OkStatus();
  }
  // The projection goes on with the next events at once; its reads see this
  // commit's writes through the new txn until they are in the database.
  projection_->BatchDone(true);
  txn_ = std::make_unique<StateTxn>(db_.get(), commit->txn.get());
  if (recycled_) recycled_->RecycleBuffersInto(txn_.get());
  recycled_.reset();
  txn_->ReserveLike(*commit->txn);
  in_flight_ = std::move(commit);
  InFlightCommit* c = in_flight_.get();
  c->thread = std::thread([this, c] {
    c->status = WriteCommit(*c);
    if (c->status.ok()) PublishCommit(*c);
  });
  return absl::OkStatus();
}

absl::Status ProjectionRunner::WriteCommit(InFlightCommit& commit) {
  // A store that cannot be written (its disk full or read-only) is retried
  // until it can, with backoff; meanwhile the projection reports the error
  // (health, /readyz) and commands waiting for it get it at once. Writing
  // the same commit again is safe: its writes are the same.
  absl::Status s = WriteCommitOnce(commit);
  for (int attempt = 0; absl::IsUnavailable(s) && !stop_.load(); ++attempt) {
    if (attempt == 0 || attempt % 20 == 0)
      spdlog::error("projection {} cannot write its store, retrying: {}", options_.db_path,
                    std::string(s.message()));
    {
      absl::MutexLock lk(&mu_);
      health_ = absl::UnavailableError(
          fmt::format("the projection cannot write its store under {} ({}); it retries, and a restart once the "
                      "disk accepts writes again recovers it",
                      options_.db_path, std::string(s.message())));
      applied_cv_.SignalAll();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(100 << std::min(attempt, 4), 1000)));
    (void)db_->Resume();  // leaves RocksDB's read-only mode once the disk accepts writes
    s = WriteCommitOnce(commit);
    if (s.ok()) {
      spdlog::info("projection {} writes its store again", options_.db_path);
      absl::MutexLock lk(&mu_);
      health_ = absl::OkStatus();
    }
  }
  return s;
}

absl::Status ProjectionRunner::WriteCommitOnce(InFlightCommit& commit) {
  // No WAL: the projection is derived state and the log is its WAL. A crash
  // loses the commits since the last memtable flush together with their
  // offsets (one WriteBatch never straddles a flush), and they are re-applied.
  // Blind writes go first; they are idempotent (see PutBlind).
  BlindWriteOptions blind;
  blind.write.disableWAL = true;
  blind.chunk_bytes = options_.blind_chunk_bytes;
  blind.ingest_min_writes = options_.ingest_min_blind_writes;
  blind.ingest_path = options_.db_path + "/bulk-load.sst";
  if (absl::Status s = commit.txn->WriteBlind(blind); !s.ok()) return s;
  rocksdb::WriteBatch batch;
  commit.txn->WriteTo(&batch);
  return FromRocks(db_->Write(blind.write, &batch), "write projection batch");
}

void ProjectionRunner::PublishCommit(const InFlightCommit& commit) {
  absl::MutexLock lk(&mu_);
  next_ = commit.next;
  skipped_ = commit.skipped;
  events_applied_ += commit.events;
  ++batches_;
  applied_cv_.SignalAll();
}

absl::Status ProjectionRunner::AwaitInFlight() {
  if (!in_flight_) return absl::OkStatus();
  in_flight_->thread.join();
  absl::Status status = std::move(in_flight_->status);
  // Its writes are in the database now (or the runner stops).
  if (txn_) txn_->ForgetEarlier();
  recycled_ = std::move(in_flight_->txn);  // its buffers serve a later commit
  in_flight_.reset();
  return status;
}

absl::Status ProjectionRunner::WaitForApplied(const eventlog::Position& position,
                                              absl::Duration timeout) {
  return WaitForAll({position}, timeout);
}

bool ProjectionRunner::AllApplied(const std::vector<eventlog::Position>& positions) const {
  for (const eventlog::Position& p : positions)
    if (next_[p.partition] <= p.offset) return false;
  return true;
}

absl::Status ProjectionRunner::WaitForAll(const std::vector<eventlog::Position>& positions,
                                          absl::Duration timeout) {
  absl::MutexLock lk(&mu_);
  for (const eventlog::Position& p : positions)
    if (p.partition < 0 || p.partition >= static_cast<int32_t>(next_.size()))
      return absl::InvalidArgumentError(fmt::format("no partition {}", p.partition));
  // Registered so that the runner commits as soon as it has applied all of
  // them (and stops gathering, see RunnerOptions::idle_batching).
  auto waiting = waiting_.insert(waiting_.end(), &positions);
  gather_cv_.SignalAll();
  const absl::Time deadline = absl::Now() + timeout;
  while (!AllApplied(positions) && health_.ok() && running_)
    if (applied_cv_.WaitWithDeadline(&mu_, deadline)) break;  // timed out
  waiting_.erase(waiting);
  if (AllApplied(positions)) return absl::OkStatus();
  if (!health_.ok()) return absl::UnavailableError(fmt::format(
      "projection unavailable: {}", std::string(health_.message())));
  if (!running_) return absl::UnavailableError("projection is not running");
  for (const eventlog::Position& p : positions)
    if (next_[p.partition] <= p.offset)
      return absl::DeadlineExceededError(fmt::format(
          "the projection has not applied log position {}/{} yet", p.partition, p.offset));
  return absl::OkStatus();
}

absl::Status ProjectionRunner::CatchUpPartition(int32_t partition, absl::Duration timeout) {
  auto end = log_->EndOffset(partition);
  if (!end.ok()) return end.status();
  if (*end == 0) return absl::OkStatus();
  return WaitForApplied({partition, *end - 1}, timeout);
}

absl::Status ProjectionRunner::CatchUp(absl::Duration timeout) {
  auto end_offsets = log_->EndOffsets();
  if (!end_offsets.ok()) return end_offsets.status();
  std::vector<eventlog::Position> ends;
  for (int32_t p = 0; p < static_cast<int32_t>(end_offsets->size()); ++p)
    if ((*end_offsets)[p] > 0) ends.push_back({p, (*end_offsets)[p] - 1});
  return WaitForAll(ends, timeout);
}

RunnerStats ProjectionRunner::stats() const {
  absl::MutexLock lk(&mu_);
  return {events_applied_, batches_, skipped_, next_};
}

absl::Status ProjectionRunner::health() const {
  absl::MutexLock lk(&mu_);
  return health_;
}

}  // namespace strata::projection
