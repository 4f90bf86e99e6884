#include "history/audit_feed.h"

namespace strata::history {

void AuditFeed::Publish(std::vector<v1::AuditRecord> records) {
  if (records.empty()) return;
  {
    absl::MutexLock lock(&mu_);
    for (auto& r : records) records_.push_back(std::move(r));
    while (records_.size() > capacity_) {
      records_.pop_front();
      ++first_seq_;
    }
  }
  cv_.SignalAll();
}

void AuditFeed::WakeAll() { cv_.SignalAll(); }

AuditFeed::Watch::Watch(AuditFeed& feed) : feed_(feed) {
  absl::MutexLock lock(&feed_.mu_);
  cursor_ = feed_.EndSeq();
  feed_.watchers_.fetch_add(1);
}

AuditFeed::Watch::~Watch() { feed_.watchers_.fetch_sub(1); }

std::vector<v1::AuditRecord> AuditFeed::Watch::Next(absl::Duration wait, bool* missed) {
  *missed = false;
  absl::MutexLock lock(&feed_.mu_);
  const absl::Time deadline = absl::Now() + wait;
  while (feed_.EndSeq() <= cursor_)
    if (feed_.cv_.WaitWithDeadline(&feed_.mu_, deadline)) break;  // timed out
  std::vector<v1::AuditRecord> out;
  if (cursor_ < feed_.first_seq_) {
    *missed = true;
    cursor_ = feed_.first_seq_;
  }
  for (uint64_t seq = cursor_; seq < feed_.EndSeq(); ++seq) out.push_back(feed_.records_[seq - feed_.first_seq_]);
  cursor_ = feed_.EndSeq();
  return out;
}

}  // namespace strata::history
