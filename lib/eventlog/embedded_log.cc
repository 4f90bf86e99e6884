#include "eventlog/embedded_log.h"

#include "eventlog/rocksdb_logger.h"

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <thread>


#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/db.h"
#include "spdlog/spdlog.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/write_batch.h"

namespace strata::eventlog {
namespace {

void PutFixed32BE(std::string* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutFixed64BE(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
uint64_t GetFixed64BE(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(in[i]);
  return v;
}
void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
bool GetVarint(std::string_view* in, uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    auto byte = static_cast<unsigned char>(in->front());
    in->remove_prefix(1);
    *v |= uint64_t(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return true;
  }
  return false;
}
void PutBytes(std::string* out, std::string_view s) {
  PutVarint(out, s.size());
  out->append(s);
}
bool GetBytes(std::string_view* in, std::string* s) {
  uint64_t n;
  if (!GetVarint(in, &n) || n > in->size()) return false;
  s->assign(in->substr(0, n));
  in->remove_prefix(n);
  return true;
}

// Record keys: 'r' + partition (BE32) + offset (BE64), so one partition's
// records are contiguous and ordered by offset.
std::string RecordKey(int32_t partition, int64_t offset) {
  std::string k = "r";
  PutFixed32BE(&k, static_cast<uint32_t>(partition));
  PutFixed64BE(&k, static_cast<uint64_t>(offset));
  return k;
}
constexpr char kPartitionsKey[] = "m/partitions";

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class EmbeddedLog;

class EmbeddedReader : public LogReader {
 public:
  EmbeddedReader(EmbeddedLog* log, std::vector<int64_t> next) : log_(log), next_(std::move(next)) {}
  absl::StatusOr<std::vector<Record>> Poll(size_t max_records, absl::Duration timeout) override;
  int64_t Backlog() const override;
  void Wake() override;

 private:
  EmbeddedLog* log_;
  std::vector<int64_t> next_;
  size_t rr_ = 0;  // partition to start with, rotated for fairness
  std::atomic<bool> woken_{false};  // set by Wake, taken by the Poll it ends
};

class EmbeddedLog : public EventLog {
 public:
  EmbeddedLog(std::unique_ptr<rocksdb::DB> db, std::string dir, int32_t partitions, bool sync,
              std::vector<int64_t> ends)
      : db_(std::move(db)), dir_(std::move(dir)), partitions_(partitions), sync_(sync),
        end_(std::move(ends)), tail_(partitions), tail_bytes_(partitions, 0) {}
  ~EmbeddedLog() override {
    absl::MutexLock lk(&mu_);
    stopping_ = true;
    while (!queue_.empty()) done_cv_.Wait(&mu_);  // appends under way finish
    appended_cv_.SignalAll();
  }

  int32_t partitions() const override { return partitions_; }
  std::string Describe() const override { return "embedded:" + dir_; }

  absl::StatusOr<Position> Append(std::string_view key, std::string_view value,
                                  const std::vector<Header>& headers) override ABSL_LOCKS_EXCLUDED(mu_) {
    Pending p;
    p.record.partition = KeyPartition(key, partitions_);
    p.record.key = std::string(key);
    p.record.value = std::string(value);
    p.record.headers = headers;
    absl::MutexLock lk(&mu_);
    if (stopping_) return absl::UnavailableError("event log is shutting down");
    if (!write_error_.ok()) return write_error_;
    // Group commit as in LevelDB: the first append in the queue writes (and
    // syncs) every record queued by then, the others wait for it; the next
    // in line then leads the next group. One append at a time is written by
    // its own thread, with no hand-over to a writer thread and back.
    queue_.push_back(&p);
    while (!p.done && queue_.front() != &p) done_cv_.Wait(&mu_);
    if (!p.done) WriteGroup();
    if (!p.status.ok()) return p.status;
    return Position{p.record.partition, p.record.offset};
  }

  absl::StatusOr<int64_t> EndOffset(int32_t partition) override ABSL_LOCKS_EXCLUDED(mu_) {
    if (partition < 0 || partition >= partitions_)
      return absl::InvalidArgumentError(absl::StrCat("no partition ", partition));
    absl::MutexLock lk(&mu_);
    return end_[partition];
  }

  absl::StatusOr<std::vector<int64_t>> EndOffsets() override ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lk(&mu_);
    return end_;
  }

  using EventLog::OpenReader;
  absl::StatusOr<std::unique_ptr<LogReader>> OpenReader(const std::vector<int64_t>& start_offsets,
                                                        const ReaderOptions&) override {
    std::vector<int64_t> next(partitions_, 0);
    for (size_t p = 0; p < next.size() && p < start_offsets.size(); ++p) next[p] = start_offsets[p];
    return std::unique_ptr<LogReader>(new EmbeddedReader(this, std::move(next)));
  }

  // Wakes every reader waiting in WaitForRecords; those whose flag is not
  // set wait on.
  void WakeReaders() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lk(&mu_);
    appended_cv_.SignalAll();
  }

  // Reads records of `partition` in [from, end) up to `max`, appending to out.
  void ReadRange(int32_t partition, int64_t from, int64_t end, size_t max,
                 std::vector<Record>* out) {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions()));
    const std::string stop = RecordKey(partition, end);
    size_t n = 0;
    for (it->Seek(RecordKey(partition, from)); it->Valid() && n < max; it->Next(), ++n) {
      if (it->key().compare(stop) >= 0) break;
      Record r;
      if (!DecodeStoredRecord(std::string_view(it->value().data(), it->value().size()), &r)) break;
      r.partition = partition;
      r.offset = static_cast<int64_t>(GetFixed64BE(std::string_view(it->key().data() + 5, 8)));
      out->push_back(std::move(r));
    }
  }

  // Waits until some partition has records at or beyond next[p], or timeout.
  // Returns each partition's end; records that are still in the in-memory
  // tail are copied to `out` (at most `max`) and next[] advanced past them.
  // `woken` (the reader's Wake flag) ends the wait early and is reset.
  std::vector<int64_t> WaitForRecords(std::vector<int64_t>& next, absl::Duration timeout, size_t first,
                                      size_t max, std::vector<Record>* out, std::atomic<bool>* woken)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lk(&mu_);
    const absl::Time deadline = absl::Now() + timeout;
    while (!Available(next) && !woken->exchange(false))
      if (appended_cv_.WaitWithDeadline(&mu_, deadline)) break;  // timed out
    for (size_t i = 0; i < tail_.size() && out->size() < max; ++i) {
      const size_t p = (first + i) % tail_.size();
      const std::deque<Record>& t = tail_[p];
      if (t.empty() || next[p] < t.front().offset || next[p] >= end_[p]) continue;
      for (size_t k = static_cast<size_t>(next[p] - t.front().offset); k < t.size() && out->size() < max; ++k)
        out->push_back(t[k]);
      next[p] = out->back().offset + 1;
    }
    return end_;
  }

 private:
  struct Pending {
    Record record;
    absl::Status status;
    bool done = false;
  };

  // Whether some partition has records at or beyond next[p], or the log stops.
  bool Available(const std::vector<int64_t>& next) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (int32_t p = 0; p < partitions_; ++p)
      if (end_[p] > next[p]) return true;
    return stopping_;
  }

  // Called by the append at the front of the queue, holding mu_: writes the
  // records of every queued append, one batch and one sync (mu_ released
  // meanwhile), then wakes them (and the next leader) and the readers.
  void WriteGroup() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::vector<Pending*> batch(queue_.begin(), queue_.end());
    std::vector<int64_t> next = end_;
    mu_.Unlock();

    rocksdb::WriteBatch wb;
    const int64_t now = NowMs();
    for (Pending* p : batch) {
      p->record.offset = next[p->record.partition]++;
      p->record.timestamp_ms = now;
      wb.Put(RecordKey(p->record.partition, p->record.offset), EncodeStoredRecord(p->record));
    }
    rocksdb::WriteOptions wo;
    wo.sync = sync_;
    rocksdb::Status s = db_->Write(wo, &wb);

    mu_.Lock();
    if (!s.ok()) {
      // The log's disk failed it (full, read-only, broken). RocksDB 7.8 must
      // not write to a log file after a failed write (it asserts; fixed in
      // RocksDB 9.1, PR 12448), so no append is tried again until a restart
      // reopens the log: everything written so far stays readable.
      write_error_ = absl::UnavailableError(absl::StrCat(
          "the embedded log cannot write to its disk (", s.ToString(),
          "); nothing was changed; restart the server once the disk accepts writes again"));
      spdlog::error("{}", std::string(write_error_.message()));
    }
    if (s.ok()) {
      // Readers are mostly at the end of the log: they take new records
      // from here instead of from RocksDB.
      for (Pending* p : batch) {
        const int32_t partition = p->record.partition;
        std::deque<Record>& t = tail_[partition];
        t.push_back(p->record);
        tail_bytes_[partition] += p->record.key.size() + p->record.value.size();
        while (t.size() > kTailRecords || (t.size() > 1 && tail_bytes_[partition] > kTailBytes)) {
          tail_bytes_[partition] -= t.front().key.size() + t.front().value.size();
          t.pop_front();
        }
      }
      end_ = next;
    }
    for (Pending* p : batch) {
      p->done = true;
      if (!s.ok()) p->status = write_error_;
    }
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(batch.size()));
    done_cv_.SignalAll();
    if (s.ok()) appended_cv_.SignalAll();
  }

  std::unique_ptr<rocksdb::DB> db_;
  const std::string dir_;
  const int32_t partitions_;
  const bool sync_;

  // Guards everything below (a leaf lock, released while a group is written
  // to RocksDB). queue_: appends waiting to be written, the first of them
  // writing (see Append).
  absl::Mutex mu_;
  absl::CondVar done_cv_, appended_cv_;
  std::deque<Pending*> queue_ ABSL_GUARDED_BY(mu_);
  std::vector<int64_t> end_ ABSL_GUARDED_BY(mu_);  // per partition: offset of the next record
  // Per partition, the last records written (up to kTailRecords and about
  // kTailBytes), in offset order and ending at end_: what readers at the end
  // of the log read. Guarded by mu_, like end_.
  static constexpr size_t kTailRecords = 1024;
  static constexpr size_t kTailBytes = 4 << 20;
  std::vector<std::deque<Record>> tail_ ABSL_GUARDED_BY(mu_);
  std::vector<size_t> tail_bytes_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // Set by the first failed write; every later append fails with it.
  absl::Status write_error_ ABSL_GUARDED_BY(mu_) = absl::OkStatus();
};

absl::StatusOr<std::vector<Record>> EmbeddedReader::Poll(size_t max_records,
                                                         absl::Duration timeout) {
  std::vector<Record> out;
  const size_t n = next_.size();
  std::vector<int64_t> end = log_->WaitForRecords(next_, timeout, rr_, max_records, &out, &woken_);
  for (size_t i = 0; i < n && out.size() < max_records; ++i) {
    const size_t p = (rr_ + i) % n;
    if (end[p] <= next_[p]) continue;
    log_->ReadRange(static_cast<int32_t>(p), next_[p], end[p], max_records - out.size(), &out);
    if (!out.empty() && out.back().partition == static_cast<int32_t>(p))
      next_[p] = out.back().offset + 1;
  }
  rr_ = (rr_ + 1) % n;
  return out;
}

void EmbeddedReader::Wake() {
  // Set before the wake-up, read under the log's mutex: a Poll that has
  // checked the flag is waiting on the condition variable by the time the
  // wake-up can take the mutex.
  woken_.store(true);
  log_->WakeReaders();
}

int64_t EmbeddedReader::Backlog() const {
  int64_t backlog = 0;
  for (size_t p = 0; p < next_.size(); ++p) {
    auto end = log_->EndOffset(static_cast<int32_t>(p));
    if (end.ok() && *end > next_[p]) backlog += *end - next_[p];
  }
  return backlog;
}

}  // namespace

std::string EncodeStoredRecord(const Record& record) {
  std::string out;
  PutVarint(&out, static_cast<uint64_t>(record.timestamp_ms));
  PutBytes(&out, record.key);
  PutBytes(&out, record.value);
  PutVarint(&out, record.headers.size());
  for (const Header& h : record.headers) {
    PutBytes(&out, h.key);
    PutBytes(&out, h.value);
  }
  return out;
}

bool DecodeStoredRecord(std::string_view data, Record* record) {
  uint64_t ts, nh;
  if (!GetVarint(&data, &ts)) return false;
  record->timestamp_ms = static_cast<int64_t>(ts);
  if (!GetBytes(&data, &record->key) || !GetBytes(&data, &record->value)) return false;
  if (!GetVarint(&data, &nh) || nh > data.size()) return false;
  record->headers.resize(nh);
  for (Header& h : record->headers)
    if (!GetBytes(&data, &h.key) || !GetBytes(&data, &h.value)) return false;
  return data.empty();
}

absl::StatusOr<std::unique_ptr<EventLog>> OpenEmbeddedLog(const EmbeddedLogOptions& options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("embedded log needs a directory");
  std::error_code ec;
  std::filesystem::create_directories(options.dir, ec);
  if (ec)
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create embedded log directory ", options.dir, ": ", ec.message()));
  rocksdb::Options ro;
  ro.create_if_missing = true;
  ro.info_log = eventlog::NewRocksDbLogger();  // no LOG file (see rocksdb_logger.h)
  ro.IncreaseParallelism(2);
  // Record keys are 'r' + partition + offset: each partition's records are
  // appended in key order, so an insert starts where that partition's last
  // one went instead of searching the memtable from the top.
  ro.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(5));
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(ro, options.dir, &raw);
  if (!s.ok())
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open embedded log at ", options.dir, ": ", s.ToString()));
  std::unique_ptr<rocksdb::DB> db(raw);

  int32_t partitions = options.partitions;
  std::string stored;
  s = db->Get(rocksdb::ReadOptions(), kPartitionsKey, &stored);
  if (s.ok()) {
    partitions = std::stoi(stored);
  } else if (s.IsNotFound()) {
    if (partitions < 1) return absl::InvalidArgumentError("partitions must be at least 1");
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = db->Put(wo, kPartitionsKey, std::to_string(partitions));
    if (!s.ok()) return absl::InternalError(s.ToString());
  } else {
    return absl::InternalError(s.ToString());
  }

  // Recover each partition's end offset: one past its last stored record.
  std::vector<int64_t> ends(partitions, 0);
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
  for (int32_t p = 0; p < partitions; ++p) {
    it->SeekForPrev(RecordKey(p, INT64_MAX));
    if (it->Valid() && it->key().size() == 13 && it->key()[0] == 'r' &&
        it->key().starts_with(RecordKey(p, 0).substr(0, 5))) {
      ends[p] = static_cast<int64_t>(GetFixed64BE(std::string_view(it->key().data() + 5, 8))) + 1;
    }
  }
  it.reset();
  return std::unique_ptr<EventLog>(
      new EmbeddedLog(std::move(db), options.dir, partitions, options.sync, std::move(ends)));
}

}  // namespace strata::eventlog
