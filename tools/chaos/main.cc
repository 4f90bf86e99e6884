// strata-chaos: a randomized fault run against real Strata processes on
// loopback, checked afterwards (see chaos.h). Exit 0: every check passed;
// 1: a check failed (the summary says which); 2: the run could not be made.
#include <iostream>

#include "CLI/CLI.hpp"
#include "chaos/chaos.h"

int main(int argc, char** argv) {
  CLI::App app{"strata-chaos: lock service under randomized faults, checked against a model"};
  strata::chaos::Options o;
  app.add_option("--backend", o.backend, "kafka (strata-devbroker, several instances) or embedded")
      ->check(CLI::IsMember({"kafka", "embedded"}));
  app.add_option("--seconds", o.seconds, "length of the faulty phase")->check(CLI::Range(1, 86400));
  app.add_option("--seed", o.seed, "seed of the clients' and the nemesis' choices");
  app.add_option("--clients", o.clients, "concurrent clients (1-32)")->check(CLI::Range(1, 32));
  app.add_option("--objects", o.objects, "objects they race on")->check(CLI::Range(1, 100));
  app.add_option("--instances", o.instances, "lock instances on Kafka (1-3)")->check(CLI::Range(1, 3));
  app.add_option("--op-timeout-ms", o.op_timeout_ms, "each call's deadline")->check(CLI::Range(100, 60000));
  app.add_option("--out", o.out_dir, "directory for history.jsonl and summary.txt");
  app.add_flag("-v,--verbose", o.verbose, "print each fault as it is injected");
  CLI11_PARSE(app, argc, argv);
  auto r = strata::chaos::Run(o);
  if (!r.ok()) {
    std::cerr << "strata-chaos: " << r.status().message() << "\n";
    return 2;
  }
  std::cout << "strata-chaos --backend " << o.backend << " --seconds " << o.seconds << " --seed " << o.seed
            << " --clients " << o.clients << " --objects " << o.objects << "\n"
            << r->Summary() << "\n";
  if (!r->linearizable) std::cout << r->verdict << "\n";
  return r->passed() ? 0 : 1;
}
