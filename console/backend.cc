#include "console/backend.h"

#include <chrono>

namespace strata::console {

const char* ServiceName(Service s) {
  switch (s) {
    case Service::kLock: return "lock";
    case Service::kHistory: return "history";
    case Service::kImpact: return "impact";
    case Service::kDeploy: return "deploy";
  }
  return "?";
}

Backend::Backend(ServiceChannels c)
    : lock_(v1::LockService::NewStub(c.lock)),
      history_(v1::HistoryService::NewStub(c.history)),
      impact_(v1::ImpactService::NewStub(c.impact)),
      deploy_(v1::DeployService::NewStub(c.deploy)),
      names_{c.lock_name, c.history_name, c.impact_name, c.deploy_name} {
  for (auto& t : last_reached_ns_) t = 0;
}

std::unique_ptr<grpc::ClientContext> Backend::Context(const Credential& who, absl::Duration deadline) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!who.token.empty()) ctx->AddMetadata("authorization", "Bearer " + who.token);
  if (!who.on_behalf_of.empty()) ctx->AddMetadata("strata-on-behalf-of", who.on_behalf_of);
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(deadline));
  return ctx;
}

grpc::Status Backend::Track(Service service, grpc::Status status) {
  if (status.error_code() != grpc::StatusCode::UNAVAILABLE ||
      status.error_message().find("event log") != std::string::npos)  // reached; its log is not
    last_reached_ns_[static_cast<int>(service)] = absl::ToUnixNanos(absl::Now());
  return status;
}

absl::Time Backend::LastReached(Service service) const {
  const int64_t ns = last_reached_ns_[static_cast<int>(service)];
  return ns == 0 ? absl::InfinitePast() : absl::FromUnixNanos(ns);
}

}  // namespace strata::console
