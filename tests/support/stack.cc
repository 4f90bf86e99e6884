#include "support/stack.h"

#include <grpcpp/grpcpp.h>

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>

#include "eventlog/event_log.h"

namespace strata::testing {

std::string BinaryPath(const std::string& name) {
  return std::string(STRATA_BIN_DIR) + "/" + name;
}

std::string RacerToken(int n) { return "racer-" + std::to_string(n) + "-token"; }

Devbroker::Devbroker(int partitions) {
  proc_ = std::make_unique<Process>(std::vector<std::string>{
      BinaryPath("strata-devbroker"), "--brokers", "3", "--partitions", std::to_string(partitions)});
  auto b = proc_->WaitForLine("^bootstrap: (.*)$", std::chrono::seconds(20));
  if (!b) throw std::runtime_error("strata-devbroker did not start");
  bootstrap_ = *b;
}

bool Devbroker::Control(const std::string& command) {
  proc_->SendLine(command);
  ++answers_;
  // Answers come in order; wait for the answers_-th one.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    int n = 0;
    for (const auto& l : proc_->lines()) {
      if (l.rfind("ok: ", 0) == 0 || l.rfind("error: ", 0) == 0) {
        if (++n == answers_) return l.rfind("ok: ", 0) == 0;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

Stack::Stack(const std::string& backend, std::shared_ptr<Devbroker> broker, bool with_history, bool with_impact,
             bool with_deploy)
    : backend_(backend),
      broker_(std::move(broker)),
      dir_("strata-it"),
      with_history_(with_history),
      with_impact_(with_impact),
      with_deploy_(with_deploy) {
  if (backend_ == "kafka" && !broker_) broker_ = std::make_shared<Devbroker>();
  data_dir_ = dir_.path() + "/data";
  tokens_path_ = dir_.path() + "/tokens.yaml";
  stderr_path_ = dir_.path() + "/service.log";
  std::ofstream tokens(tokens_path_);
  tokens << kTokenFile;
  for (int n = 0; n < kRacers; ++n)
    tokens << "  - {token: " << RacerToken(n) << ", user: racer" << n << ", site: site" << n % 2
           << ", roles: [developer]}\n";
}

Stack::~Stack() { Stop(SIGKILL); }

namespace {

// Starts one service binary and returns its process and port.
std::unique_ptr<Process> StartService(std::vector<std::string> argv, const std::string& data_dir,
                                      const std::string& tokens, const std::string& site,
                                      const std::vector<std::string>& extra,
                                      const std::string& stderr_path, int* port) {
  for (const std::string& a : {std::string("--listen"), std::string("127.0.0.1:0"),
                               std::string("--data-dir"), data_dir, std::string("--tokens"), tokens,
                               std::string("--site"), site})
    argv.push_back(a);
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto proc = std::make_unique<Process>(argv, stderr_path);
  auto found = proc->WaitForLine("listening on 127\\.0\\.0\\.1:([0-9]+)", std::chrono::seconds(60));
  if (!found) {
    std::ifstream in(stderr_path);
    std::string log((std::istreambuf_iterator<char>(in)), {});
    throw std::runtime_error(argv[0] + " did not start: " + log);
  }
  *port = std::stoi(*found);
  return proc;
}

}  // namespace

void Stack::Start(const std::string& site, const std::vector<std::string>& extra) {
  if (backend_ == "kafka") {
    proc_ = StartService({BinaryPath("strata-lock"), "--kafka", broker_->bootstrap(), "--partitions", "4"},
                         data_dir_, tokens_path_, site, extra, stderr_path_, &port_);
    if (with_history_)
      history_proc_ = StartService(
          {BinaryPath("strata-history"), "--kafka", broker_->bootstrap(), "--partitions", "4"},
          data_dir_, tokens_path_, site, extra, stderr_path_ + ".history", &history_port_);
    if (with_impact_)
      impact_proc_ = StartService(
          {BinaryPath("strata-impact"), "--kafka", broker_->bootstrap(), "--partitions", "4"},
          data_dir_, tokens_path_, site, extra, stderr_path_ + ".impact", &impact_port_);
    if (with_deploy_)
      deploy_proc_ = StartService(
          {BinaryPath("strata-deploy"), "--kafka", broker_->bootstrap(), "--partitions", "4"},
          data_dir_, tokens_path_, site, extra, stderr_path_ + ".deploy", &deploy_port_);
  } else {
    proc_ = StartService({BinaryPath("strata-server"), "--partitions", "4"}, data_dir_, tokens_path_,
                         site, extra, stderr_path_, &port_);
    history_port_ = impact_port_ = deploy_port_ = port_;
  }
}

void Stack::Stop(int sig) {
  if (history_proc_) history_proc_->Signal(sig);
  history_proc_.reset();
  if (impact_proc_) impact_proc_->Signal(sig);
  impact_proc_.reset();
  if (deploy_proc_) deploy_proc_->Signal(sig);
  deploy_proc_.reset();
  if (proc_) proc_->Signal(sig);
  proc_.reset();
}

std::vector<pid_t> Stack::pids() const {
  std::vector<pid_t> out;
  for (const auto* p : {&proc_, &history_proc_, &impact_proc_, &deploy_proc_})
    if (*p) out.push_back((*p)->pid());
  return out;
}

std::vector<std::string> Stack::StdoutLines(const std::string& service) const {
  const std::unique_ptr<Process>& p = service == "history" && history_proc_ ? history_proc_
                                      : service == "impact" && impact_proc_   ? impact_proc_
                                      : service == "deploy" && deploy_proc_   ? deploy_proc_
                                                                              : proc_;
  return p ? p->lines() : std::vector<std::string>{};
}

std::string Stack::StderrText() const {
  std::ifstream in(stderr_path_);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

bool Stack::running() { return proc_ && proc_->Running(); }

int MetricsPort(const Stack& stack, const std::string& service) {
  static const std::regex kMetrics("metrics on 127\\.0\\.0\\.1:([0-9]+)");
  for (const std::string& line : stack.StdoutLines(service)) {
    std::smatch m;
    if (std::regex_search(line, m, kMetrics)) return std::stoi(m[1]);
  }
  return 0;
}

double MetricSample(const std::string& text, const std::string& series) {
  const size_t at = text.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + series.size() + 2));
}

void Stack::WipeProjection() {
  if (backend_ == "kafka") {
    std::filesystem::remove_all(data_dir_);
  } else {
    std::filesystem::remove_all(data_dir_ + "/lock");
    std::filesystem::remove_all(data_dir_ + "/history");
    std::filesystem::remove_all(data_dir_ + "/impact");
    std::filesystem::remove_all(data_dir_ + "/deploy");
  }
}

void Stack::AddTokensAndHangUp(const std::string& entries) {
  std::ofstream(tokens_path_, std::ios::app) << entries;
  HangUp();
}

void Stack::HangUp() {
  for (auto* p : {&proc_, &history_proc_, &impact_proc_, &deploy_proc_})
    if (*p) (*p)->Notify(SIGHUP);
}

absl::Status Stack::AppendRaw(const std::string& key, const std::string& value) {
  eventlog::LogConfig c;
  c.partitions = 4;
  if (backend_ == "kafka") {
    c.kafka_bootstrap = broker_->bootstrap();
  } else {
    if (running()) return absl::FailedPreconditionError("stop the server first");
    c.embedded_dir = data_dir_ + "/log";
  }
  auto log = eventlog::OpenEventLog(c);
  if (!log.ok()) return log.status();
  return (*log)->Append(key, value, {}).status();
}

std::unique_ptr<v1::LockService::Stub> Stack::Stub() const {
  return v1::LockService::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port_),
                                                      grpc::InsecureChannelCredentials()));
}

std::unique_ptr<v1::HistoryService::Stub> Stack::HistoryStub() const {
  return v1::HistoryService::NewStub(
      grpc::CreateChannel(history_endpoint(), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<v1::ImpactService::Stub> Stack::ImpactStub() const {
  return v1::ImpactService::NewStub(grpc::CreateChannel(impact_endpoint(), grpc::InsecureChannelCredentials()));
}

std::unique_ptr<v1::DeployService::Stub> Stack::DeployStub() const {
  return v1::DeployService::NewStub(grpc::CreateChannel(deploy_endpoint(), grpc::InsecureChannelCredentials()));
}

std::string Stack::deploy_endpoint() const { return "127.0.0.1:" + std::to_string(deploy_port_); }

std::string Stack::impact_endpoint() const { return "127.0.0.1:" + std::to_string(impact_port_); }

std::string Stack::endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
std::string Stack::history_endpoint() const { return "127.0.0.1:" + std::to_string(history_port_); }

int RunCli(const std::string& endpoint, const std::string& token, const std::string& args,
           std::string* out) {
  // `timeout`: a CLI that hangs fails the test instead of stalling it.
  std::string cmd = "STRATA_ENDPOINT=" + endpoint + " STRATA_TOKEN=" + token + " timeout 60 " +
                    BinaryPath("strata") + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  out->clear();
  if (!p) return -1;
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) *out += buf;
  return WEXITSTATUS(pclose(p));
}

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token, int timeout_s) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(timeout_s));
  return ctx;
}

}  // namespace strata::testing
