// What the benchmarks that drive a real strata-server share: starting it on
// an embedded log in a scratch directory, calling it, and giving up with a
// message when something fails (a benchmark has nobody to return errors to).
#pragma once

#include <errno.h>  // program_invocation_short_name
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace strata::bench {

[[noreturn]] inline void Die(const std::string& what) {
  fmt::print(stderr, "{}: {}\n", program_invocation_short_name, what);
  std::exit(1);
}

inline void Check(const grpc::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.error_message());
}
inline void Check(const absl::Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + std::string(s.message()));
}

// A context carrying `token` with a deadline `seconds` away.
inline std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token, int seconds) {
  auto c = std::make_unique<grpc::ClientContext>();
  c->AddMetadata("authorization", "Bearer " + token);
  c->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return c;
}

// `bin` (strata-server) on an embedded log in `dir`, with dir/tokens.yaml
// and dir/secrets.yaml, site "bench", logging to dir/server.log; stopped
// (SIGTERM, waited for) by Stop() or the destructor. `extra` flags are
// passed on (e.g. --console-listen, whose URL console_url() then holds).
class Server {
 public:
  Server(const std::string& bin, const std::string& dir, const std::vector<std::string>& extra = {}) {
    int out[2];
    if (pipe(out) != 0) Die("pipe");
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      if (!freopen((dir + "/server.log").c_str(), "w", stderr)) _exit(126);
      close(out[0]);
      std::vector<std::string> args = {bin, "--listen", "127.0.0.1:0", "--data-dir", dir + "/data", "--tokens",
                                       dir + "/tokens.yaml", "--secrets-file", dir + "/secrets.yaml", "--site", "bench"};
      args.insert(args.end(), extra.begin(), extra.end());
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    // Its stdout says where it listens (the console's line comes first).
    FILE* f = fdopen(out[0], "r");
    char line[512];
    for (;;) {
      if (!fgets(line, sizeof line, f)) Die("strata-server did not start; see " + dir + "/server.log");
      const std::string l(line);
      if (const size_t c = l.find("console on "); c != std::string::npos) {
        console_url_ = l.substr(c + 11, l.find_first_of("/\n", c + 19) - c - 11);
        continue;
      }
      const size_t at = l.find("listening on ");
      if (at == std::string::npos) Die("unexpected: " + l);
      endpoint_ = l.substr(at + 13, l.find(' ', at + 13) - at - 13);
      break;
    }
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() { Stop(); }

  const std::string& endpoint() const { return endpoint_; }
  const std::string& console_url() const { return console_url_; }  // "http://127.0.0.1:PORT"
  pid_t pid() const { return pid_; }
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  std::string endpoint_, console_url_;
};

}  // namespace strata::bench
