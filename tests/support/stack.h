// Test support: a running Strata lock endpoint on one of the two log
// backends, started as real processes on loopback:
//   "embedded": strata-server with its embedded log;
//   "kafka":    strata-devbroker plus strata-lock.
#pragma once

#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "strata/v1/deploy.grpc.pb.h"
#include "strata/v1/history.grpc.pb.h"
#include "strata/v1/impact.grpc.pb.h"
#include "strata/v1/lock.grpc.pb.h"
#include "support/process.h"

namespace strata::testing {

// Tokens every integration test uses.
inline constexpr char kTokenFile[] = R"(tokens:
  - {token: alice-token, user: alice, site: boston, roles: [developer]}
  - {token: bob-token, user: bob, site: london, roles: [developer]}
  - {token: dana-token, user: dana, site: hq, roles: [dba]}
  - {token: vera-token, user: vera, site: hq, roles: [viewer]}
  - {token: rita-token, user: rita, site: hq, roles: [release-manager]}
  - {token: carol-token, user: carol, site: vendor, roles: [developer], schemas: ["billing.*"], environments: [dev]}
)";

// Token of racer N (user "racer<N>", site "site<N % 2>"), also in the token
// file, for tests that need many distinct users.
std::string RacerToken(int n);
inline constexpr int kRacers = 32;

// The path of a binary built by this project (set by CMake).
std::string BinaryPath(const std::string& name);

class Devbroker {
 public:
  // Starts strata-devbroker with `partitions` partitions on 3 brokers.
  explicit Devbroker(int partitions = 4);
  const std::string& bootstrap() const { return bootstrap_; }
  // Sends a control command ("down 1", "errors produce 3 NOT_ENOUGH_REPLICAS")
  // and waits for its "ok:" answer.
  bool Control(const std::string& command);

 private:
  std::unique_ptr<Process> proc_;
  std::string bootstrap_;
  int answers_ = 0;
};

class Stack {
 public:
  // backend: "embedded" or "kafka". With kafka, `broker` may be shared by
  // several stacks (several instances on one log); null starts a new one,
  // and `with_history` / `with_impact` / `with_deploy` start strata-history /
  // strata-impact / strata-deploy beside strata-lock (strata-server always
  // hosts them all).
  explicit Stack(const std::string& backend, std::shared_ptr<Devbroker> broker = nullptr,
                 bool with_history = false, bool with_impact = false, bool with_deploy = false);
  ~Stack();

  // Starts the service process (again) on the same data directory.
  void Start(const std::string& site = "boston", const std::vector<std::string>& extra = {});
  // Stops it with `sig` (SIGTERM: clean shutdown; SIGKILL: crash).
  void Stop(int sig = SIGTERM);
  bool running();
  // The process ids of the stack's service processes (empty when stopped),
  // for signals that do not end them (SIGSTOP/SIGCONT).
  std::vector<pid_t> pids() const;

  // Removes the service's local state (its projection). The embedded log
  // stays: it is the source of truth, like the Kafka topic.
  void WipeProjection();
  // Appends `entries` (YAML list items) to the token file and sends SIGHUP
  // to every service process, which reload it without restarting.
  void AddTokensAndHangUp(const std::string& entries);
  // Sends SIGHUP to every service process (they reload the token file).
  void HangUp();
  const std::string& tokens_path() const { return tokens_path_; }
  // Appends raw bytes to the log as a record with `key` (embedded: only
  // while the service is stopped, since one process owns the log).
  absl::Status AppendRaw(const std::string& key, const std::string& value);

  std::unique_ptr<v1::LockService::Stub> Stub() const;
  std::unique_ptr<v1::HistoryService::Stub> HistoryStub() const;
  std::unique_ptr<v1::ImpactService::Stub> ImpactStub() const;
  std::unique_ptr<v1::DeployService::Stub> DeployStub() const;
  // host:port of the lock, history and impact services.
  std::string endpoint() const;
  std::string history_endpoint() const;
  std::string impact_endpoint() const;
  std::string deploy_endpoint() const;
  const std::string& backend() const { return backend_; }
  const std::string& data_dir() const { return data_dir_; }
  const std::string& stderr_path() const { return stderr_path_; }
  std::shared_ptr<Devbroker> broker() const { return broker_; }
  int port() const { return port_; }
  // What a service process printed on stdout so far: "lock" (or the
  // all-in-one strata-server), "history", "impact" or "deploy".
  std::vector<std::string> StdoutLines(const std::string& service = "lock") const;
  // Its stderr (logs).
  std::string StderrText() const;

 private:
  std::string backend_;
  std::shared_ptr<Devbroker> broker_;
  TempDir dir_;
  std::string data_dir_, tokens_path_, stderr_path_;
  std::unique_ptr<Process> proc_, history_proc_, impact_proc_, deploy_proc_;
  bool with_history_ = false, with_impact_ = false, with_deploy_ = false;
  int port_ = 0, history_port_ = 0, impact_port_ = 0, deploy_port_ = 0;
};

// The metrics port a service process of `stack` announced ("... metrics on
// 127.0.0.1:PORT"; started with --metrics-listen 127.0.0.1:0), or 0.
int MetricsPort(const Stack& stack, const std::string& service = "lock");
// The value of the sample `series` (its name with labels, as printed) in a
// Prometheus text page, or -1 when it is not there.
double MetricSample(const std::string& text, const std::string& series);

// Runs the strata CLI against `endpoint` with `token`; returns its exit code
// and puts stdout and stderr into *out.
int RunCli(const std::string& endpoint, const std::string& token, const std::string& args,
           std::string* out);

// A context carrying `token` (empty: no credentials) and a deadline.
std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token, int timeout_s = 20);

}  // namespace strata::testing
