// Test support: child processes (strata-devbroker, strata-server, strata-lock)
// started on loopback, with their stdout readable line by line.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

namespace strata::testing {

class Process {
 public:
  // Starts argv[0] with the given arguments; stdout is captured, stderr goes
  // to `stderr_path` (or is inherited when empty). stdin is a pipe. The
  // environment is this process's without libpq's variables (PG*) and
  // STRATA_SHADOW_URL: a service under test reaches PostgreSQL only where
  // the test names a server, as in CI, whatever the developer's shell
  // exports (the deploy service otherwise falls back to libpq's defaults).
  Process(std::vector<std::string> argv, std::string stderr_path = "");
  ~Process();  // SIGKILLs the process if it is still running

  pid_t pid() const { return pid_; }
  // Waits for a stdout line matching `pattern`; returns the first capture
  // group (or the whole line), or nullopt on timeout or exit.
  std::optional<std::string> WaitForLine(const std::string& pattern,
                                         std::chrono::milliseconds timeout);
  // Writes one line to the child's stdin.
  bool SendLine(const std::string& line);
  // Sends `sig` and waits for the process to exit; returns its wait status.
  int Signal(int sig);
  // Sends `sig` and returns at once (for signals the process handles and
  // lives on, such as SIGHUP).
  void Notify(int sig);
  bool Running();
  std::vector<std::string> lines();

 private:
  void ReadLoop(int fd);
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  std::thread reader_;
  std::mutex mu_;
  std::vector<std::string> lines_;
  bool exited_ = false;
  int status_ = 0;
};

// A fresh directory under /tmp, removed by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace strata::testing
