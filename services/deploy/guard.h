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
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
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
// Says the tables were current `age` ago (call only with a projection that
// had caught up with the log then, after writing what it says).
absl::Status ConfirmGuard(pg::Session& db, absl::Duration age);
// Re-reads where each managed object is in the catalog (renames are
// recognised by it).
absl::Status RefreshGuardAddresses(pg::Session& db);

struct GuardConfirmation {
  double confirmed_unix = 0;  // 0: never
  absl::Duration stale_after;
  absl::Duration age;         // since the confirmation, by the database's clock (0: never confirmed)
  bool fails_closed = false;  // older than stale_after: changes to managed objects are refused
};
absl::StatusOr<GuardConfirmation> ReadGuardConfirmation(pg::Session& db);

// Keeps every guarded environment's tables equal to what the log says,
// checking every `period` and whenever woken: `environments` lists (name, connection URL with
// password), `expected` computes the state from the projection,
// `caught_up` brings the projection up to the log's current end (an error
// when it cannot: then the guards are not confirmed and fail closed once
// stale). Writes only what changed; reconnects after errors (logged once
// per change of error).
class GuardSync {
 public:
  using Environments = std::function<std::vector<std::pair<std::string, std::string>>()>;
  using Expected = std::function<absl::StatusOr<GuardState>()>;
  using CaughtUp = std::function<absl::Status()>;
  GuardSync(Environments environments, Expected expected, CaughtUp caught_up,
            absl::Duration period = absl::Milliseconds(200));
  ~GuardSync();
  void Start();
  void Stop();
  // Something may have changed (the projection committed): run a round now
  // rather than at the end of the period. Any thread; also before Start().
  void Wake();

 private:
  static constexpr absl::Duration kConfirmEvery = absl::Seconds(1);
  static constexpr absl::Duration kReadBackEvery = absl::Seconds(5);
  struct Target {
    std::unique_ptr<pg::Session> session;
    std::optional<GuardState> written;
    absl::Time written_at = absl::InfinitePast();
    absl::Time confirmed_at = absl::InfinitePast();
    std::string last_error;
    absl::Time next_probe = absl::InfinitePast();
  };
  void Round();
  absl::Status Bring(Target& t, const GuardState& expected, absl::Time now);
  static absl::Status UpgradeIfOlder(const std::string& name, pg::Session& db, int version);
  Environments environments_;
  Expected expected_;
  CaughtUp caught_up_;
  const absl::Duration period_;
  std::map<std::string, Target> targets_;
  std::string caught_up_error_;
  std::mutex wake_mu_;
  std::condition_variable wake_cv_;
  bool woken_ = false;  // guarded by wake_mu_
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace strata::deploy
