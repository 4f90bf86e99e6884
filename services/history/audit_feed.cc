#include "history/audit_feed.h"

namespace strata::history {

void AuditFeed::Publish(std::vector<v1::AuditRecord> records) {
  if (records.empty()) return;
  {
    std::lock_guard lock(mu_);
    for (auto& r : records) records_.push_back(std::move(r));
    while (records_.size() > capacity_) {
      records_.pop_front();
      ++first_seq_;
    }
  }
  cv_.notify_all();
}

void AuditFeed::WakeAll() { cv_.notify_all(); }

AuditFeed::Watch::Watch(AuditFeed& feed) : feed_(feed) {
  std::lock_guard lock(feed_.mu_);
  cursor_ = feed_.first_seq_ + feed_.records_.size();
  feed_.watchers_.fetch_add(1);
}

AuditFeed::Watch::~Watch() { feed_.watchers_.fetch_sub(1); }

std::vector<v1::AuditRecord> AuditFeed::Watch::Next(absl::Duration wait, bool* missed) {
  *missed = false;
  std::unique_lock lock(feed_.mu_);
  auto end = [&] { return feed_.first_seq_ + feed_.records_.size(); };
  feed_.cv_.wait_for(lock, absl::ToChronoNanoseconds(wait), [&] { return end() > cursor_; });
  std::vector<v1::AuditRecord> out;
  if (cursor_ < feed_.first_seq_) {
    *missed = true;
    cursor_ = feed_.first_seq_;
  }
  for (uint64_t seq = cursor_; seq < end(); ++seq) out.push_back(feed_.records_[seq - feed_.first_seq_]);
  cursor_ = end();
  return out;
}

}  // namespace strata::history
