// Definitions prepared on worker threads ahead of a caller that analyzes
// them one by one, in order (the impact projection's replay: parsing needs
// only the text and runs on every core; the analysis needs the objects
// analyzed before it and runs in order on one thread).
//
// Contract:
//  * Take(i) returns what Prepare would give for texts[i]: the prepared
//    definition (PreparedDefinition::Prepare) and its fingerprint
//    (sql::Fingerprint). Calls come from one thread, with i = 0, 1, 2, ...
//    (indexes may be skipped, never revisited).
//  * At most `window` definitions are prepared and not yet taken, so memory
//    stays bounded however many texts there are (a parse tree is tens of
//    kilobytes).
//  * The caller's thread helps: a text no worker has started yet is
//    prepared by Take itself, so nothing waits for a busy core.
//  * Thread-safety: one caller thread; the workers are internal. The texts
//    must outlive the object. The destructor stops and joins the workers;
//    what was not taken is dropped.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "sql/analyze.h"

namespace strata::sql {

struct Prepared {
  absl::StatusOr<PreparedDefinition> definition = absl::UnknownError("not prepared");
  absl::StatusOr<std::string> fingerprint = absl::UnknownError("not prepared");
};

// Prepares one text (what the workers run).
Prepared Prepare(std::string_view text);

class PrepareAhead {
 public:
  // `threads` workers besides the caller (0: Take prepares everything itself).
  PrepareAhead(std::vector<std::string_view> texts, size_t threads, size_t window);
  ~PrepareAhead();
  PrepareAhead(const PrepareAhead&) = delete;
  PrepareAhead& operator=(const PrepareAhead&) = delete;

  Prepared Take(size_t i) ABSL_LOCKS_EXCLUDED(mu_);
  // How many texts the workers prepared (the rest the caller did): for tests.
  size_t prepared_by_workers() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Work() ABSL_LOCKS_EXCLUDED(mu_);

  const std::vector<std::string_view> texts_;
  const size_t window_;
  // Guards everything below; a leaf lock, never held while preparing.
  mutable absl::Mutex mu_;
  absl::CondVar changed_;  // a slot was filled, a text taken, or stop
  std::vector<std::optional<Prepared>> slots_ ABSL_GUARDED_BY(mu_);
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;   // the next text nobody has started
  size_t taken_ ABSL_GUARDED_BY(mu_) = 0;  // texts below this were taken (or skipped)
  size_t by_workers_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> workers_;
};

}  // namespace strata::sql
