// The guard: enforcement of check-outs inside an environment's database.
//
// `InstallGuard` creates, in one transaction, a schema strata_guard with the
// objects Strata manages and their current check-outs (Strata ids, e.g.
// "table:sales.orders", with the holder's database role), and event
// triggers on ddl_command_end and sql_drop (and ddl_command_start for DROP
// INDEX; ENABLE ALWAYS, so replication mode does not switch them off) that
// abort any CREATE, ALTER, DROP, COMMENT, GRANT or REVOKE touching a managed
// object unless the session's login role
// (session_user) holds its check-out:
//   ERROR: sales.orders is checked out by alice (boston) since 2026-11-25 10:02 UTC
// Sub-objects count as their table (indexes without a check-out of their
// own, constraints, triggers, policies, defaults, owned sequences, columns).
// Objects Strata does not manage pass, and so does the guard's own schema;
// so do Strata's deployments (sessions of the guard's owner role with
// application_name strata-deploy, as the deploy service connects).
// Only the guard's owner (the superuser that installed it) can write its
// tables; the deploy service keeps them equal to the log (GuardSync).
//
// GRANT and REVOKE (which reach event triggers without a target) are judged
// by the catalog rows the transaction wrote; renames by the object's catalog
// address; DROP INDEX by the index's table noted when the command starts.
// The guard fails closed when the deploy service has not confirmed its
// check-outs for `stale_after`: nothing is granted that the log no longer
// grants for longer than that. See docs/guard.md.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "deploy/deploy_projection.h"
#include "pg/pg.h"

namespace strata::deploy {

// One check-out as the guard table holds it.
struct GuardCheckout {
  std::string object;   // Strata id, "table:sales.orders"
  std::string db_role;  // the holder's database role (token file db_role)
  std::string holder;   // user
  std::string site;
  int64_t since_unix = 0;
  bool operator==(const GuardCheckout&) const = default;
};

// What the guard of one environment should hold.
struct GuardState {
  std::vector<std::string> managed;  // sorted
  std::vector<GuardCheckout> checkouts;  // sorted by object
  bool operator==(const GuardState&) const = default;
};

// Installs the guard (FAILED_PRECONDITION naming the role when the
// connection is not a superuser's; nothing is left behind on any error).
// Installing over an installed guard replaces its functions and triggers.
// `stale_after`: how long the guard trusts its check-outs without a
// confirmation (ConfirmGuard) before refusing every change to a managed
// object; zero: forever.
// Without `stale_after` a reinstall keeps the setting it had (new: 60 s).
absl::Status InstallGuard(pg::Session& db, std::optional<absl::Duration> stale_after);
// Removes it completely (a no-op when absent).
absl::Status UninstallGuard(pg::Session& db);
absl::StatusOr<bool> GuardInstalled(pg::Session& db);
// 0: none; 1: the first version, which had no version function.
absl::StatusOr<int> InstalledGuardVersion(pg::Session& db);
int CurrentGuardVersion();
// Replaces the guard's tables with `state`, in one transaction.
absl::Status WriteGuardState(pg::Session& db, const GuardState& state);
absl::StatusOr<GuardState> ReadGuardState(pg::Session& db);
// The rows of objects after `after` ("" : from the first) up to and
// including `last` (none: to the end), sorted.
absl::StatusOr<GuardState> ReadGuardStateRange(pg::Session& db, const std::string& after,
                                               const std::optional<std::string>& last);
// Says the tables were current `age` ago (call only with a projection that
// had caught up with the log then, after writing what it says).
absl::Status ConfirmGuard(pg::Session& db, absl::Duration age);
// Re-reads where each managed object is in the catalog (renames are
// recognised by it); the second form only for the objects of a range, as
// ReadGuardStateRange.
absl::Status RefreshGuardAddresses(pg::Session& db);
absl::Status RefreshGuardAddresses(pg::Session& db, const std::string& after, const std::optional<std::string>& last);

struct GuardConfirmation {
  double confirmed_unix = 0;  // 0: never
  absl::Duration stale_after;
  absl::Duration age;         // since the confirmation, by the database's clock (0: never confirmed)
  bool fails_closed = false;  // older than stale_after: changes to managed objects are refused
};
absl::StatusOr<GuardConfirmation> ReadGuardConfirmation(pg::Session& db);

// The guard rows of some objects as the projection has them now: `ids` are
// the objects concerned, `managed` those of them Strata manages, and
// `checkouts` those of them checked out.
struct GuardDelta {
  std::vector<std::string> ids;          // sorted, unique
  std::vector<std::string> managed;      // a subset of ids, sorted
  std::vector<GuardCheckout> checkouts;  // a subset of ids, sorted by object
  bool operator==(const GuardDelta&) const = default;
};
// Makes the guard's rows of exactly `delta.ids` equal to it, in one
// transaction; every other row stays as it is.
absl::Status ApplyGuardDelta(pg::Session& db, const GuardDelta& delta);
// The objects whose rows differ between `actual` and `expected`, with their
// rows in `expected`: ApplyGuardDelta of it turns `actual` into `expected`.
GuardDelta DeltaBetween(const GuardState& actual, const GuardState& expected);

// Keeps every guarded environment's tables equal to what the log says, at a
// cost that follows the change, not the repository:
//  * without a guarded environment: nothing per commit (the projection's
//    change feed is off and its commits do not wake the sync); reachable
//    environments are asked twice a second whether a guard is there now
//    (one query on a kept connection), unreachable ones every 2 s;
//  * with a guard in sync: each round reads the objects committed since
//    the last one (the change feed) from the projection and writes their
//    rows, and only theirs, in one transaction;
//  * the whole expected state is read and compared with the guard's tables
//    (differences repaired row by row) when a guard is found or reconnected
//    and when the feed overflowed: only then is it confirmed;
//  * the periodic read-back (a guard's tables may have been changed by hand;
//    objects created since need their catalog addresses) goes through the
//    objects a slice of kReadBackSlice at a time, at most one slice per
//    round, spaced so that it takes at most about 1% of the time and a
//    whole pass at least kReadBackEvery: a check-out waits for at most one
//    slice, whatever the size of the repository.
// Rounds run every `period` and whenever woken. Confirmations (ConfirmGuard)
// only follow a catch-up with the log's end (`Feed::caught_up`; an error:
// the guards are not confirmed and fail closed once stale). Reconnects
// after errors (logged once per change of error).
class GuardSync {
 public:
  // What the sync reads, all from the deploy projection.
  struct Feed {
    // (name, connection URL with password) of every environment; read again
    // only when `environments_generation` has changed.
    std::function<std::vector<std::pair<std::string, std::string>>()> environments;
    std::function<uint64_t()> environments_generation;
    // The whole expected state (reads every object).
    std::function<absl::StatusOr<GuardState>()> expected;
    // The expected rows of the first `limit` objects after `after` ("" : from
    // the first), in order; `done` when there are no more after them.
    std::function<absl::StatusOr<GuardState>(const std::string& after, size_t limit, bool* done)> expected_slice;
    // The rows of these objects (point reads).
    std::function<absl::StatusOr<GuardDelta>(const std::vector<std::string>& ids)> rows_of;
    // The projection's change feed (DeployProjection::TrackObjectChanges, TakeObjectChanges).
    std::function<void(bool)> track;
    std::function<ObjectChanges()> take_changes;
    std::function<absl::Status()> caught_up;
  };
  explicit GuardSync(Feed feed, absl::Duration period = absl::Milliseconds(200));
  ~GuardSync();
  void Start();
  void Stop() ABSL_LOCKS_EXCLUDED(wake_mu_);
  // Something may have changed (the projection committed): run a round now
  // rather than at the end of the period. Any thread; also before Start().
  void Wake() ABSL_LOCKS_EXCLUDED(wake_mu_);

  static constexpr absl::Duration kConfirmEvery = absl::Seconds(1);
  static constexpr absl::Duration kReadBackEvery = absl::Seconds(5);
  static constexpr size_t kReadBackSlice = 2'000;

 private:
  struct Target {
    std::unique_ptr<pg::Session> session;
    bool in_sync = false;  // compared in full since connecting, deltas since
    // The periodic read-back: where the pass is, and when the next slice is due.
    std::string read_back_after;
    absl::Time pass_started = absl::InfinitePast();
    absl::Time next_slice = absl::InfinitePast();
    absl::Time confirmed_at = absl::InfinitePast();
    std::string last_error;
    absl::Time next_probe = absl::InfinitePast();
  };
  // All below: the sync's thread only.
  void Round();
  // Connects, finds guards, writes `changes` (or compares in full where
  // needed) and, with `read_back`, a slice of the periodic read-back.
  void Bring(const ObjectChanges& changes, absl::Time now, bool read_back);
  void Fail(const std::string& name, Target& t, const absl::Status& s, absl::Time now);
  void RefreshEnvironments();
  // Compares the guard's tables with `expected` and repairs what differs.
  absl::Status CompareAll(const std::string& name, Target& t, const GuardState& expected);
  // One slice of the periodic read-back, if one is due.
  absl::Status ReadBackSlice(const std::string& name, Target& t, absl::Time now);
  static absl::Status UpgradeIfOlder(const std::string& name, pg::Session& db, int version);
  Feed feed_;
  const absl::Duration period_;
  std::vector<std::pair<std::string, std::string>> environments_;
  std::optional<uint64_t> environments_generation_;
  std::map<std::string, Target> targets_;
  bool tracking_ = false;
  std::string caught_up_error_;

  absl::Mutex wake_mu_;  // guards woken_ (and orders stopping_ with the wait); a leaf lock
  absl::CondVar wake_cv_;
  bool woken_ ABSL_GUARDED_BY(wake_mu_) = false;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace strata::deploy
