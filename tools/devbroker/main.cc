// strata-devbroker: a Kafka-protocol broker on loopback for tests and
// development (librdkafka's mock cluster; in memory only).
//
// Prints "bootstrap: HOST:PORT,..." on stdout once ready, then reads control
// commands from stdin, one per line (see MockKafka::Control), answering each
// with "ok: ..." or "error: ...". Exits on SIGTERM/SIGINT, or when a pipe on
// stdin closes (its owner, a test or a script, is gone). Stdin is read only
// when it is a pipe, a socket, a file, or a terminal this process is in the
// foreground of: started in the background (`strata-devbroker &`), under
// nohup or with stdin at /dev/null, it runs until SIGTERM/SIGINT instead of
// being stopped by the terminal or ending at once. --no-stdin never reads it.
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <iostream>
#include <string>
#include <thread>

#include "CLI/CLI.hpp"
#include "devbroker/mock_kafka.h"

namespace {

enum class Control { kNone, kUntilEof, kKeepRunning };

// Where control commands come from (see the header comment).
Control ControlSource() {
  struct stat st {};
  if (fstat(STDIN_FILENO, &st) != 0) return Control::kNone;
  if (isatty(STDIN_FILENO)) return tcgetpgrp(STDIN_FILENO) == getpgrp() ? Control::kUntilEof : Control::kNone;
  if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) return Control::kUntilEof;
  if (S_ISREG(st.st_mode)) return Control::kKeepRunning;  // commands from a file; its end stops nothing
  return Control::kNone;  // /dev/null, nohup's unreadable stdin, other devices
}

}  // namespace

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

  const Control control = no_stdin ? Control::kNone : ControlSource();
  if (control == Control::kNone) {
    std::cout << "control: none (stdin is not a pipe or a terminal in the foreground); stop with SIGTERM or SIGINT"
              << std::endl;
  } else {
    std::thread([&, control] {
      std::string line;
      while (std::getline(std::cin, line)) {
        if (line.empty()) continue;
        auto r = (*mk)->Control(line);
        std::cout << (r.ok() ? "ok: " + *r : "error: " + std::string(r.status().message()))
                  << std::endl;
      }
      if (control == Control::kUntilEof) kill(getpid(), SIGTERM);  // stdin closed: the owner is gone
    }).detach();
  }
  int sig = 0;
  sigwait(&set, &sig);
  std::cout << "strata-devbroker: stopping" << std::endl;
  return 0;
}
