#include "sql/prepare_ahead.h"

#include "sql/fingerprint.h"

namespace strata::sql {

Prepared Prepare(std::string_view text) {
  Prepared out;
  out.definition = PreparedDefinition::Prepare(text);
  out.fingerprint = Fingerprint(text);
  return out;
}

PrepareAhead::PrepareAhead(std::vector<std::string_view> texts, size_t threads, size_t window)
    : texts_(std::move(texts)), window_(std::max<size_t>(window, 1)) {
  {
    absl::MutexLock lock(&mu_);
    slots_.resize(texts_.size());
  }
  // Fewer texts than workers: the extra ones would find nothing to do.
  threads = std::min(threads, texts_.size() > 1 ? texts_.size() - 1 : 0);
  for (size_t t = 0; t < threads; ++t) workers_.emplace_back([this] { Work(); });
}

PrepareAhead::~PrepareAhead() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  changed_.SignalAll();
  for (auto& w : workers_) w.join();
}

void PrepareAhead::Work() {
  while (true) {
    size_t i;
    {
      absl::MutexLock lock(&mu_);
      while (!stop_ && !(next_ < texts_.size() && next_ < taken_ + window_)) changed_.Wait(&mu_);
      if (stop_ || next_ >= texts_.size()) return;
      i = next_++;
    }
    Prepared prepared = Prepare(texts_[i]);
    absl::MutexLock lock(&mu_);
    if (i >= taken_) {  // not skipped meanwhile
      slots_[i] = std::move(prepared);
      ++by_workers_;
    }
    changed_.SignalAll();
  }
}

Prepared PrepareAhead::Take(size_t i) {
  bool mine = false;
  std::optional<Prepared> out;
  {
    absl::MutexLock lock(&mu_);
    // Skipped texts are dropped (or never prepared).
    for (size_t k = taken_; k < i && k < slots_.size(); ++k) slots_[k].reset();
    taken_ = std::max(taken_, i);  // a worker preparing i still delivers it
    if (next_ <= i) {
      next_ = i + 1;
      mine = true;
    } else {
      while (!slots_[i].has_value()) changed_.Wait(&mu_);
      out = std::move(slots_[i]);
      slots_[i].reset();
    }
    taken_ = i + 1;
  }
  changed_.SignalAll();  // the window moved
  if (mine) return Prepare(texts_[i]);
  return std::move(*out);
}

size_t PrepareAhead::prepared_by_workers() const {
  absl::MutexLock lock(&mu_);
  return by_workers_;
}

}  // namespace strata::sql
