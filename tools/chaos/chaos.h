// strata-chaos: randomized fault runs of the lock service against real
// processes on loopback, checked against a model afterwards.
//
// What a run does:
//  * starts the services: on Kafka (strata-devbroker, 3 brokers), 2-3
//    regional strata-lock instances at different sites, the first with
//    strata-history beside it; on the embedded log, one strata-server;
//  * creates a few objects (version 1, nobody holding them), then lets 10-30
//    clients (users racer0..N, spread over the instances) race on them with
//    check-out, check-in, undo, force-release (as a dba) and show, each call
//    with a deadline, recording every operation in a checker::Recorder;
//  * meanwhile a nemesis injects, at random (seeded): broker down/up (one
//    broker or all), produce and fetch errors, high round-trip times, kill -9
//    and restart of an instance, SIGSTOP/SIGCONT of an instance for longer
//    than the clients' deadline; on the embedded log, kill -9 of the server
//    while clients are checking in (its group commit) and SIGSTOP/SIGCONT;
//  * heals everything, stops the clients, and then reports:
//      - the checker's verdict on the history (linearizable or the smallest
//        failing sub-history, per object);
//      - the audit trail's verification (VerifyAudit);
//      - every projection compared byte for byte with one rebuilt from the
//        log (each instance's stores are copied after a clean stop, wiped,
//        rebuilt, and compared key by key; on Kafka the instances' lock
//        stores are also compared with each other).
//
// Thread-safety: Run() is called once; it owns every thread it starts and
// joins them before returning. Failures are values: Run() returns a Result
// whose ok() says whether every check passed; an infrastructure failure
// (a process that will not start) is an error status.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace strata::chaos {

struct Options {
  std::string backend = "kafka";  // "kafka" or "embedded"
  int seconds = 60;               // length of the faulty phase
  uint32_t seed = 1;
  int clients = 12;               // 1..32 (racer tokens)
  int objects = 4;
  int instances = 3;              // Kafka only: 1..3 lock instances
  int op_timeout_ms = 1500;       // each client call's deadline
  std::string out_dir;            // history.jsonl and summary.txt ("" : none)
  bool verbose = false;           // print each fault as it is injected
};

struct Result {
  int64_t operations = 0, ok = 0, refused = 0, unknown = 0, discarded = 0;
  int64_t unexpected = 0;  // answers no client should get (INVALID_ARGUMENT, ...)
  std::map<std::string, int> faults;  // kind -> times injected
  bool linearizable = false;
  std::string verdict;               // the checker's summary
  int64_t double_grants = 0, lost_acknowledged = 0, stale_reads = 0, other_anomalies = 0, inconclusive = 0;
  bool audit_ok = false;
  uint64_t audit_records = 0;
  std::string audit_problem;
  int stores_compared = 0;
  int projection_mismatches = 0;
  std::string mismatch_detail;
  double check_seconds = 0;  // the checker's wall time
  bool passed() const {
    return linearizable && audit_ok && projection_mismatches == 0 && unexpected == 0 && stores_compared > 0;
  }
  std::string Summary() const;
};

absl::StatusOr<Result> Run(const Options& options);

}  // namespace strata::chaos
