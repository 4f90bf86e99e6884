// GuardSync: keeps each environment's guard in step with the lock
// projection (see guard.h).
#include <algorithm>
#include <set>

#include <pthread.h>

#include "deploy/guard.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace strata::deploy {

GuardSync::GuardSync(Feed feed, absl::Duration period) : feed_(std::move(feed)), period_(period) {}

GuardSync::~GuardSync() { Stop(); }

void GuardSync::Start() {
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "guard-sync");
    while (!stopping_.load()) {
      Round();
      absl::MutexLock lock(&wake_mu_);
      const absl::Time deadline = absl::Now() + period_;
      while (!woken_ && !stopping_.load())
        if (wake_cv_.WaitWithDeadline(&wake_mu_, deadline)) break;  // timed out
      woken_ = false;
    }
    if (tracking_) feed_.track(false);
  });
}

void GuardSync::Wake() {
  {
    absl::MutexLock lock(&wake_mu_);
    woken_ = true;
  }
  wake_cv_.Signal();
}

void GuardSync::Stop() {
  {
    absl::MutexLock lock(&wake_mu_);
    stopping_ = true;
  }
  wake_cv_.Signal();
  if (thread_.joinable()) thread_.join();
}

void GuardSync::RefreshEnvironments() {
  // The generation first: a change while reading is read again next round.
  const uint64_t generation = feed_.environments_generation();
  if (environments_generation_ == generation) return;
  environments_ = feed_.environments();
  environments_generation_ = generation;
  std::set<std::string> names;
  for (const auto& [name, url] : environments_) names.insert(name);
  for (auto it = targets_.begin(); it != targets_.end();) it = names.count(it->first) ? std::next(it) : targets_.erase(it);
}

void GuardSync::Round() {
  const absl::Time now = absl::Now();
  RefreshEnvironments();
  // What was committed since the last round (tracked only while a guard
  // is in sync: without one this is nothing) goes to the guards first.
  Bring(tracking_ ? feed_.take_changes() : ObjectChanges{}, now, /*read_back=*/true);
  // A confirmation tells a guard "these check-outs are the log's as of
  // then", so the projection must have caught up with the log's end first,
  // and what it brought in be written; what is confirmed is the log as of
  // the start of the catch-up. (A catch-up can take a while, on Kafka a
  // round trip per partition: check-outs are written before it, not after.)
  bool confirm_due = false;
  for (const auto& [name, t] : targets_) confirm_due |= t.in_sync && now - t.confirmed_at >= kConfirmEvery;
  if (confirm_due) {
    const absl::Time as_of = absl::Now();
    const absl::Status caught_up = feed_.caught_up();
    const std::string error = caught_up.ok() ? "" : std::string(caught_up.message());
    if (error != caught_up_error_) {
      if (caught_up.ok()) spdlog::info("guard sync: caught up with the log again, confirming the guards");
      else spdlog::warn("guard sync: not confirming the guards while behind the log: {}", error);
      caught_up_error_ = error;
    }
    if (caught_up.ok()) {
      if (tracking_) Bring(feed_.take_changes(), now, /*read_back=*/false);
      for (auto& [name, t] : targets_) {
        if (!t.in_sync || now - t.confirmed_at < kConfirmEvery) continue;
        if (absl::Status s = ConfirmGuard(*t.session, absl::Now() - as_of); !s.ok()) {
          Fail(name, t, s, now);
          continue;
        }
        t.confirmed_at = now;
      }
    }
  }
  // No guard in sync: nothing to follow until one is found.
  bool any_in_sync = false;
  for (const auto& [name, t] : targets_) any_in_sync |= t.in_sync;
  if (tracking_ && !any_in_sync) {
    feed_.track(false);
    tracking_ = false;
  }
}

void GuardSync::Fail(const std::string& name, Target& t, const absl::Status& s, absl::Time now) {
  const std::string error(s.message());
  if (error != t.last_error) spdlog::warn("guard sync {}: {}", name, error);
  t.last_error = error;
  t.session.reset();
  t.in_sync = false;
  t.next_probe = now + absl::Seconds(2);
}

void GuardSync::Bring(const ObjectChanges& changes, absl::Time now, bool read_back) {
  // Each read at most once a round, and only when a guard needs it.
  std::optional<GuardState> full;
  std::optional<GuardDelta> rows;
  for (const auto& [name, url] : environments_) {
    Target& t = targets_[name];
    if (now < t.next_probe) continue;
    if (!t.session) {
      auto session = pg::Session::Connect(url);
      if (!session.ok()) {
        Fail(name, t, session.status(), now);
        continue;
      }
      t.session = std::move(*session);
      // One environment that hangs must not hold up the others for long.
      (void)t.session->Exec("SET statement_timeout = '10s'; SET application_name = 'strata-guard-sync'");
    }
    if (!t.in_sync) {
      auto version = InstalledGuardVersion(*t.session);
      if (!version.ok()) {
        Fail(name, t, version.status(), now);
        continue;
      }
      if (*version == 0) {
        t.next_probe = now + absl::Milliseconds(500);
        continue;
      }
      if (absl::Status s = UpgradeIfOlder(name, *t.session, *version); !s.ok()) {
        Fail(name, t, s, now);
        continue;
      }
    }
    if (!t.in_sync || changes.overflow) {
      // The feed goes on before the state it completes is read.
      if (!tracking_) {
        feed_.track(true);
        tracking_ = true;
      }
      if (!full) {
        auto expected = feed_.expected();
        if (!expected.ok()) {
          spdlog::warn("guard sync: cannot read the expected state: {}", expected.status().ToString());
          return;
        }
        full = std::move(*expected);
      }
      if (absl::Status s = CompareAll(name, t, *full); !s.ok()) {
        Fail(name, t, s, now);
        continue;
      }
      if (!t.in_sync) t.next_slice = now + kReadBackEvery;  // just compared: the read-back starts later
      t.in_sync = true;
    } else if (!changes.ids.empty()) {
      if (!rows) {
        auto r = feed_.rows_of(changes.ids);
        if (!r.ok()) {
          spdlog::warn("guard sync: cannot read the changed objects: {}", r.status().ToString());
          return;
        }
        rows = std::move(*r);
      }
      if (absl::Status s = ApplyGuardDelta(*t.session, *rows); !s.ok()) {
        Fail(name, t, s, now);
        continue;
      }
    }
    if (read_back) {
      if (absl::Status s = ReadBackSlice(name, t, now); !s.ok()) {
        Fail(name, t, s, now);
        continue;
      }
    }
    if (!t.last_error.empty()) spdlog::info("guard sync {}: in sync again", name);
    t.last_error.clear();
  }
}

absl::Status GuardSync::UpgradeIfOlder(const std::string& name, pg::Session& db, int version) {
  if (version >= CurrentGuardVersion()) return absl::OkStatus();
  if (absl::Status s = InstallGuard(db, std::nullopt); !s.ok())
    return absl::Status(s.code(), fmt::format("the guard is from an older Strata (version {}) and could not be "
                                              "upgraded; run `strata guard install --env {}`: {}",
                                              version, name, std::string(s.message())));
  spdlog::info("guard sync {}: upgraded the guard from version {} to {}", name, version, CurrentGuardVersion());
  return absl::OkStatus();
}

absl::Status GuardSync::CompareAll(const std::string& name, Target& t, const GuardState& expected) {
  // A guard found (installed, reconnected), or a feed that overflowed: its
  // tables may be anything. Only rows that differ are written.
  auto actual = ReadGuardState(*t.session);
  if (!actual.ok()) return actual.status();
  const GuardDelta delta = DeltaBetween(*actual, expected);
  if (delta.ids.empty()) return absl::OkStatus();
  if (t.in_sync)
    spdlog::info("guard sync {}: {} object(s) brought up to date after the change feed overflowed", name,
                 delta.ids.size());
  return ApplyGuardDelta(*t.session, delta);
}

absl::Status GuardSync::ReadBackSlice(const std::string& name, Target& t, absl::Time now) {
  if (!t.in_sync || now < t.next_slice) return absl::OkStatus();
  const absl::Time started = absl::Now();
  if (t.read_back_after.empty()) t.pass_started = started;
  bool done = false;
  auto expected = feed_.expected_slice(t.read_back_after, kReadBackSlice, &done);
  if (!expected.ok()) return expected.status();
  // The slice's range in the guard's tables: up to its last object, or to
  // the end when it is the last slice (rows of objects Strata no longer has).
  std::optional<std::string> last;
  if (!done) {
    last = expected->managed.empty() ? std::string() : expected->managed.back();
    if (!expected->checkouts.empty() && expected->checkouts.back().object > *last)
      last = expected->checkouts.back().object;
  }
  auto actual = ReadGuardStateRange(*t.session, t.read_back_after, last);
  if (!actual.ok()) return actual.status();
  const GuardDelta delta = DeltaBetween(*actual, *expected);
  if (!delta.ids.empty()) {
    // The change feed may have moved some of these since the slice was read:
    // what is written is read again now.
    auto rows = feed_.rows_of(delta.ids);
    if (!rows.ok()) return rows.status();
    if (!(*rows == delta))
      spdlog::debug("guard sync {}: read-back found {} object(s) in flight", name, delta.ids.size());
    const GuardState current{rows->managed, rows->checkouts};
    const GuardState found = [&] {
      GuardState f;
      for (const auto& m : actual->managed)
        if (std::binary_search(delta.ids.begin(), delta.ids.end(), m)) f.managed.push_back(m);
      for (const auto& c : actual->checkouts)
        if (std::binary_search(delta.ids.begin(), delta.ids.end(), c.object)) f.checkouts.push_back(c);
      return f;
    }();
    const GuardDelta repair = DeltaBetween(found, current);
    if (!repair.ids.empty()) {
      spdlog::warn("guard sync {}: {} object(s) differed from the log in the guard's tables (changed by hand?); "
                   "repaired",
                   name, repair.ids.size());
      if (absl::Status s = ApplyGuardDelta(*t.session, repair); !s.ok()) return s;
    }
  }
  if (absl::Status s = RefreshGuardAddresses(*t.session, t.read_back_after, last); !s.ok()) return s;
  // Spaced so that the read-back takes about 1% of the time, and a pass at
  // least kReadBackEvery.
  const absl::Duration took = absl::Now() - started;
  t.next_slice = absl::Now() + std::max(period_, 100 * took);
  if (done) {
    t.read_back_after.clear();
    t.next_slice = std::max(t.next_slice, t.pass_started + kReadBackEvery);
  } else {
    t.read_back_after = *last;
  }
  return absl::OkStatus();
}

}  // namespace strata::deploy
