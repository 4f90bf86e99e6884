#include "hosting/tls.h"

#include <grpc/grpc_security_constants.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "fmt/format.h"

namespace strata::hosting {
namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(fmt::format("cannot read {} file {}", what, path));
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN") == std::string::npos)
    return absl::InvalidArgumentError(fmt::format("{} file {} is not PEM", what, path));
  return ss.str();
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsServerFiles& files) {
  if (!files.enabled()) {
    if (!files.client_ca.empty())
      return absl::InvalidArgumentError("--tls-client-ca needs --tls-cert and --tls-key (mTLS is TLS first)");
    return grpc::InsecureServerCredentials();
  }
  if (files.cert.empty() || files.key.empty())
    return absl::InvalidArgumentError("TLS needs both --tls-cert and --tls-key");
  auto cert = ReadPem(files.cert, "TLS certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadPem(files.key, "TLS key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back({*key, *cert});
  if (!files.client_ca.empty()) {
    auto ca = ReadPem(files.client_ca, "client CA");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
    options.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const TlsClientFiles& files) {
  const bool tls = files.enabled || !files.ca.empty() || !files.cert.empty() || !files.key.empty();
  if (!tls) return grpc::InsecureChannelCredentials();
  if (files.cert.empty() != files.key.empty())
    return absl::InvalidArgumentError("a client certificate needs its key (--tls-cert with --tls-key)");
  grpc::SslCredentialsOptions options;
  if (!files.ca.empty()) {
    auto ca = ReadPem(files.ca, "CA");
    if (!ca.ok()) return ca.status();
    options.pem_root_certs = *ca;
  }
  if (!files.cert.empty()) {
    auto cert = ReadPem(files.cert, "client certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(files.key, "client key");
    if (!key.ok()) return key.status();
    options.pem_cert_chain = *cert;
    options.pem_private_key = *key;
  }
  return grpc::SslCredentials(options);
}

int GrpcMessageLimit(int64_t max_definition_bytes) {
  const int64_t limit = 2 * std::max<int64_t>(max_definition_bytes, 0) + (int64_t{1} << 20);
  return static_cast<int>(std::min<int64_t>(limit, int64_t{1} << 30));
}

absl::Status CheckSize(const std::string& what, size_t size, int64_t limit) {
  if (limit <= 0 || static_cast<int64_t>(size) <= limit) return absl::OkStatus();
  return absl::InvalidArgumentError(fmt::format("{} is {} bytes; the limit is {} bytes (--max-definition-bytes)",
                                                what, size, limit));
}

grpc::ChannelArguments ChannelArgumentsFor(const TlsClientFiles& files, int64_t max_definition_bytes) {
  grpc::ChannelArguments args;
  if (!files.server_name.empty()) args.SetSslTargetNameOverride(files.server_name);
  args.SetMaxSendMessageSize(GrpcMessageLimit(max_definition_bytes));
  args.SetMaxReceiveMessageSize(GrpcMessageLimit(max_definition_bytes));
  return args;
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& endpoint, const TlsClientFiles& files) {
  auto credentials = MakeChannelCredentials(files);
  if (!credentials.ok()) return credentials.status();
  return grpc::CreateCustomChannel(endpoint, *credentials, ChannelArgumentsFor(files));
}

std::optional<std::string> PeerCertificateSubject(const grpc::ServerContext& context) {
  auto auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return std::nullopt;
  auto values = auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME);
  if (values.empty()) return std::nullopt;
  return std::string(values.front().data(), values.front().size());
}

}  // namespace strata::hosting
