// strata-chaos: randomized fault runs against real Strata processes on
// loopback, checked afterwards (see chaos.h). Exit 0: every check passed;
// 1: a check failed (the summary says which); 2: the run could not be made.
//
// A long run is a sequence of epochs (--epoch-seconds each, seeds SEED,
// SEED+1, ...), each on fresh processes and fully checked: strata-devbroker
// (librdkafka's mock cluster) keeps only about 5 MB per partition, and an
// instance restarted after kill -9 may need records from the start of its
// epoch.
#include <algorithm>
#include <iostream>
#include <map>

#include "CLI/CLI.hpp"
#include "chaos/chaos.h"

int main(int argc, char** argv) {
  CLI::App app{"strata-chaos: lock service under randomized faults, checked against a model"};
  strata::chaos::Options o;
  int epoch_seconds = 60;
  app.add_option("--backend", o.backend, "kafka (strata-devbroker, several instances) or embedded")
      ->check(CLI::IsMember({"kafka", "embedded"}));
  app.add_option("--seconds", o.seconds, "length of the faulty phase, in all")->check(CLI::Range(1, 86400));
  app.add_option("--epoch-seconds", epoch_seconds, "longest epoch (fresh processes, checked on its own)")
      ->check(CLI::Range(10, 3600));
  app.add_option("--seed", o.seed, "seed of the clients' and the nemesis' choices (epoch i: SEED+i)");
  app.add_option("--clients", o.clients, "concurrent clients (1-32)")->check(CLI::Range(1, 32));
  app.add_option("--objects", o.objects, "objects they race on")->check(CLI::Range(1, 100));
  app.add_option("--instances", o.instances, "lock instances on Kafka (1-3)")->check(CLI::Range(1, 3));
  app.add_option("--op-timeout-ms", o.op_timeout_ms, "each call's deadline")->check(CLI::Range(100, 60000));
  app.add_option("--out", o.out_dir, "directory for each epoch's history.jsonl and summary.txt");
  app.add_flag("-v,--verbose", o.verbose, "print each fault as it is injected");
  CLI11_PARSE(app, argc, argv);

  const int total = o.seconds;
  const std::string out = o.out_dir;
  const uint32_t seed = o.seed;
  strata::chaos::Result all;
  all.linearizable = all.audit_ok = true;
  int epochs = 0;
  bool passed = true;
  for (int done = 0; done < total; ++epochs) {
    strata::chaos::Options e = o;
    e.seconds = std::min(epoch_seconds, total - done);
    e.seed = seed + static_cast<uint32_t>(epochs);
    if (!out.empty()) e.out_dir = out + "/epoch-" + std::to_string(epochs);
    auto r = strata::chaos::Run(e);
    if (!r.ok()) {
      std::cerr << "strata-chaos: epoch " << epochs << " (seed " << e.seed << "): " << r.status().message() << "\n";
      return 2;
    }
    std::cout << "epoch " << epochs << ": " << e.seconds << " s, seed " << e.seed << "\n" << r->Summary() << "\n";
    if (!r->linearizable) std::cout << r->verdict << "\n";
    std::cout.flush();
    passed = passed && r->passed();
    done += e.seconds;
    all.operations += r->operations;
    all.ok += r->ok;
    all.refused += r->refused;
    all.unknown += r->unknown;
    all.discarded += r->discarded;
    all.unexpected += r->unexpected;
    for (const auto& [k, n] : r->faults) all.faults[k] += n;
    all.linearizable = all.linearizable && r->linearizable;
    all.double_grants += r->double_grants;
    all.lost_acknowledged += r->lost_acknowledged;
    all.stale_reads += r->stale_reads;
    all.other_anomalies += r->other_anomalies;
    all.inconclusive += r->inconclusive;
    all.audit_ok = all.audit_ok && r->audit_ok;
    all.audit_records += r->audit_records;
    all.stores_compared += r->stores_compared;
    all.projection_mismatches += r->projection_mismatches;
    all.check_seconds += r->check_seconds;
  }
  std::cout << "strata-chaos --backend " << o.backend << " --seconds " << total << " --seed " << seed
            << " --clients " << o.clients << " --objects " << o.objects << ": " << epochs << " epoch(s)\n"
            << all.Summary() << "\n";
  return passed && all.passed() ? 0 : 1;
}
