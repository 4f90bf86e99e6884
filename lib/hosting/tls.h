// strata_tls: TLS for Strata's gRPC connections, from PEM files.
//
// Servers: --tls-cert/--tls-key turn TLS on; --tls-client-ca also asks every
// client for a certificate signed by that CA (mTLS) and refuses the handshake
// without one. A verified certificate's subject can stand for a user (see
// auth::TokenStore's cert_subject).
// Clients: a CA file to trust (or the system roots), and optionally their own
// certificate and key.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"

namespace strata::hosting {

struct TlsServerFiles {
  std::string cert;       // PEM certificate chain; empty: plaintext
  std::string key;        // PEM private key
  std::string client_ca;  // PEM CA bundle; non-empty: client certificates required
  bool enabled() const { return !cert.empty() || !key.empty(); }
};

struct TlsClientFiles {
  bool enabled = false;   // TLS at all (implied by any file below)
  std::string ca;         // PEM CA bundle to trust; empty: the system roots
  std::string cert;       // PEM client certificate (mTLS)
  std::string key;        // PEM client key
  std::string server_name;  // name to verify instead of the endpoint's host
};

// Credentials for a server. INVALID_ARGUMENT names a missing or unreadable
// file, or a certificate without its key.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(const TlsServerFiles& files);

// Credentials for a client channel (insecure when TLS is not enabled).
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeChannelCredentials(const TlsClientFiles& files);

// The largest definition (or data script) Strata takes by default
// (--max-definition-bytes): 8 MiB.
inline constexpr int64_t kDefaultMaxDefinitionBytes = int64_t{8} << 20;
// The gRPC message size that lets a request carrying something over
// `max_definition_bytes` reach the handler, which refuses it in words
// (twice the limit plus 1 MiB, at most 1 GiB).
int GrpcMessageLimit(int64_t max_definition_bytes);
// "N bytes; the limit is M bytes (--max-definition-bytes)" when `size` is
// over `limit`, for `what` ("the definition of table:s.t").
absl::Status CheckSize(const std::string& what, size_t size, int64_t limit);

// Channel arguments that go with `files` (the server-name override), and
// gRPC message limits set from `max_definition_bytes`.
grpc::ChannelArguments ChannelArgumentsFor(const TlsClientFiles& files,
                                           int64_t max_definition_bytes = kDefaultMaxDefinitionBytes);

// A channel to `endpoint` with `files`' credentials.
absl::StatusOr<std::shared_ptr<grpc::Channel>> MakeChannel(const std::string& endpoint, const TlsClientFiles& files);

// The subject of the caller's verified client certificate, if any (RFC 2253,
// as gRPC reports it).
std::optional<std::string> PeerCertificateSubject(const grpc::ServerContext& context);

}  // namespace strata::hosting
