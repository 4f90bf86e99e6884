// AuditFeed: the audit records the history projection committed last, kept
// in memory for the live feed (HistoryService.WatchAudit).
//
// The projection publishes a commit's records after the commit, and only
// while someone watches (a rebuild of a million records copies none). A
// watcher holds a cursor (the sequence number after the last record it saw)
// and waits for newer records; the feed keeps the latest `capacity` records,
// so a watcher that falls further behind is told it missed some.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "strata/v1/history.pb.h"

namespace strata::history {

class AuditFeed {
 public:
  explicit AuditFeed(size_t capacity = 10'000) : capacity_(capacity) {}

  // Whether anybody watches: the projection collects records only then.
  bool watched() const { return watchers_.load(std::memory_order_relaxed) > 0; }

  // Appends a commit's records (log order) and wakes the watchers.
  void Publish(std::vector<v1::AuditRecord> records) ABSL_LOCKS_EXCLUDED(mu_);

  // A watcher's registration; its cursor starts at the feed's end (only
  // records published from now on).
  class Watch {
   public:
    explicit Watch(AuditFeed& feed);
    ~Watch();
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    // Waits up to `wait` for records after the cursor, moves the cursor past
    // them and returns them (empty on timeout). `*missed` is set when records
    // between the cursor and the oldest kept one were dropped.
    std::vector<v1::AuditRecord> Next(absl::Duration wait, bool* missed);

   private:
    AuditFeed& feed_;
    uint64_t cursor_;
  };

  // Wakes every waiting watcher (on shutdown).
  void WakeAll();

 private:
  // The sequence number the next published record gets.
  uint64_t EndSeq() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return first_seq_ + records_.size(); }

  const size_t capacity_;
  std::atomic<int> watchers_{0};
  absl::Mutex mu_;  // guards records_ and first_seq_ (Watch takes it too); a leaf lock
  absl::CondVar cv_;
  // records_[i] has sequence number first_seq_ + i; the next published
  // record gets first_seq_ + records_.size().
  std::deque<v1::AuditRecord> records_ ABSL_GUARDED_BY(mu_);
  uint64_t first_seq_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace strata::history
