// Shared by the strata CLI's commands: connection, output, error reporting.
#pragma once

#include <grpcpp/grpcpp.h>
#include <google/protobuf/util/json_util.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "hosting/tls.h"
#include "strata/v1/deploy.grpc.pb.h"
#include "strata/v1/history.grpc.pb.h"
#include "strata/v1/impact.grpc.pb.h"
#include "strata/v1/lock.grpc.pb.h"

namespace strata::cli {

using strata::v1::DeployService;
using strata::v1::HistoryService;
using strata::v1::ImpactService;
using strata::v1::LockService;


// The contents of a file, or of stdin for "-"; nullopt when it cannot be read.
inline std::optional<std::string> ReadFile(const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  ss << in.rdbuf();
  return ss.str();
}

struct Globals {
  std::string endpoint;
  std::string history_endpoint;  // empty: same as endpoint
  std::string impact_endpoint;   // empty: same as endpoint
  std::string deploy_endpoint;   // empty: same as endpoint
  std::string token;
  hosting::TlsClientFiles tls;
  // Made from `tls` once, by main(), before any call.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  bool json = false;
  int timeout_s = 30;
  // Definitions and data scripts over this are refused before they are sent
  // (the servers refuse them too); gRPC's message limits follow from it.
  int64_t max_definition_bytes = hosting::kDefaultMaxDefinitionBytes;
};

inline int ExitCodeFor(grpc::StatusCode code) {
  switch (code) {
    // Input the server refused: a definition its parser or PostgreSQL
    // refuses, a missing message, a malformed name.
    case grpc::StatusCode::INVALID_ARGUMENT: return 2;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED: return 3;
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::OUT_OF_RANGE: return 4;
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::ALREADY_EXISTS: return 5;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED: return 6;
    default: return 1;
  }
}

inline int Report(const grpc::Status& s, const Globals& g) {
  std::string msg = s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE && msg.find("event log") == std::string::npos)
    msg = fmt::format("cannot reach Strata at {} ({})", g.endpoint, msg);
  std::cerr << "error: " << msg << std::endl;
  return ExitCodeFor(s.error_code());
}

inline std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = true;
  o.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(m, &out, o);
  return out;
}

// How a check-in was validated, and what could not be proven (stderr).
inline void PrintValidation(const v1::CheckInResponse& resp) {
  for (const auto& w : resp.warnings()) std::cerr << "warning: " << w << "\n";
  if (!resp.validation().empty()) std::cerr << "validation: " << resp.validation() << "\n";
}

inline std::string When(const google::protobuf::Timestamp& ts) {
  std::time_t t = ts.seconds();
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::gmtime(&t));
  return buf;
}

inline std::string Age(const google::protobuf::Timestamp& ts) {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  int64_t s = std::max<int64_t>(0, now - ts.seconds());
  if (s < 60) return fmt::format("{}s", s);
  if (s < 3600) return fmt::format("{}m", s / 60);
  if (s < 86400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
  return fmt::format("{}d{}h", s / 86400, (s % 86400) / 3600);
}

inline void PrintTable(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> w(header.size());
  for (size_t i = 0; i < header.size(); ++i) w[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) w[i] = std::max(w[i], r[i].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t i = 0; i < r.size(); ++i) s += fmt::format("{:<{}}", r[i], i + 1 < r.size() ? w[i] + 2 : 0);
    std::cout << s << "\n";
  };
  line(header);
  for (const auto& r : rows) line(r);
}

inline std::string HolderText(const strata::v1::ObjectHead& h) {
  if (!h.has_lock()) return "-";
  return fmt::format("{} ({}) since {}", h.lock().user(), h.lock().site(), When(h.lock().since()));
}

class Client {
 public:
  // Channels use g.credentials (never plaintext in place of TLS).
  explicit Client(const Globals& g) : g_(g) {
    auto channel = Channel(g.endpoint);
    auto same_or = [&](const std::string& e) { return e.empty() || e == g.endpoint ? channel : Channel(e); };
    stub_ = LockService::NewStub(channel);
    history_ = HistoryService::NewStub(same_or(g.history_endpoint));
    impact_ = ImpactService::NewStub(same_or(g.impact_endpoint));
    deploy_ = DeployService::NewStub(same_or(g.deploy_endpoint));
  }
  // A call context with the token; `min_timeout_s` for calls that do real
  // work on databases (plans, deployments), which may take minutes.
  std::unique_ptr<grpc::ClientContext> Context(int min_timeout_s = 0) const {
    auto ctx = std::make_unique<grpc::ClientContext>();
    if (!g_.token.empty()) ctx->AddMetadata("authorization", "Bearer " + g_.token);
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(std::max(g_.timeout_s, min_timeout_s)));
    return ctx;
  }
  LockService::Stub& stub() { return *stub_; }
  HistoryService::Stub& history() { return *history_; }
  ImpactService::Stub& impact() { return *impact_; }
  DeployService::Stub& deploy() { return *deploy_; }

 private:
  std::shared_ptr<grpc::Channel> Channel(const std::string& endpoint) const {
    return grpc::CreateCustomChannel(endpoint, g_.credentials,
                                     hosting::ChannelArgumentsFor(g_.tls, g_.max_definition_bytes));
  }
  const Globals& g_;
  std::unique_ptr<LockService::Stub> stub_;
  std::unique_ptr<HistoryService::Stub> history_;
  std::unique_ptr<ImpactService::Stub> impact_;
  std::unique_ptr<DeployService::Stub> deploy_;
};

}  // namespace strata::cli
