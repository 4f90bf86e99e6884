// strata-devbroker: a Kafka-protocol broker on loopback for tests and
// development (librdkafka's mock cluster; in memory only).
//
// Prints "bootstrap: HOST:PORT,..." on stdout once ready, then reads control
// commands from stdin, one per line (see MockKafka::Control), answering each
// with "ok: ..." or "error: ...". Exits on SIGTERM/SIGINT or when stdin closes
// (unless --no-stdin).
#include <csignal>
#include <iostream>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "devbroker/mock_kafka.h"

int main(int argc, char** argv) {
  CLI::App app{"strata-devbroker: librdkafka's mock Kafka cluster on loopback"};
  int brokers = 3, partitions = 8;
  std::string topic = "strata.events";
  bool no_stdin = false;
  app.add_option("--brokers", brokers, "number of brokers")->check(CLI::Range(1, 16));
  app.add_option("--partitions", partitions, "partitions of the topic")->check(CLI::Range(1, 1024));
  app.add_option("--topic", topic, "topic to create");
  app.add_flag("--no-stdin", no_stdin, "ignore stdin; run until SIGTERM");
  CLI11_PARSE(app, argc, argv);

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto mk = strata::devbroker::MockKafka::Start(brokers, topic, partitions);
  if (!mk.ok()) {
    std::cerr << "strata-devbroker: " << mk.status().message() << "\n";
    return 1;
  }
  std::cout << "bootstrap: " << (*mk)->bootstrap() << std::endl;
  std::cout << "topic: " << topic << " partitions: " << partitions << " brokers: " << brokers
            << std::endl;

  if (!no_stdin) {
    std::thread([&] {
      std::string line;
      while (std::getline(std::cin, line)) {
        if (line.empty()) continue;
        auto r = (*mk)->Control(line);
        std::cout << (r.ok() ? "ok: " + *r : "error: " + std::string(r.status().message()))
                  << std::endl;
      }
      kill(getpid(), SIGTERM);  // stdin closed: the owner is gone
    }).detach();
  }
  int sig = 0;
  sigwait(&set, &sig);
  std::cout << "strata-devbroker: stopping" << std::endl;
  return 0;
}
