// strata_console: the supervisor's web console (issue 19). A read side of
// the four services over HTTP(S): who holds what, activity (live), objects
// with their versions and impact, the pipeline, the audit trail, and a
// summary. It decides nothing itself: every page is made of gRPC calls to the
// services with the signed-in user's own token, so roles and schema scopes
// are checked by the services exactly as for the CLI; the one action
// (force release) is the CLI's ForceRelease call.
//
// Identity: POST /signin with a token from the token file starts a session
// (cookie `strata_session`: HttpOnly, SameSite=Strict, Secure under TLS;
// ends after `session_ttl` or at sign-out; the console keeps the token in
// memory only). Scripts send `Authorization: Bearer TOKEN` instead and get
// the same pages' data as JSON under /api/. Every state-changing request
// made with a session cookie must carry the session's CSRF token.
//
// Thread-safety: Start() and Stop() from one thread; requests are served by
// the console's own threads. Failures: Start() returns INVALID_ARGUMENT for
// bad TLS files, UNAVAILABLE when the address cannot be bound.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "hosting/tls.h"

namespace strata::console {

// Where the four services are: a channel each (the same one for all four in
// strata-server) and a name for messages ("127.0.0.1:7300").
struct ServiceChannels {
  std::shared_ptr<grpc::Channel> lock, history, impact, deploy;
  std::string lock_name, history_name, impact_name, deploy_name;
};

struct ConsoleOptions {
  std::string listen = "127.0.0.1:7380";  // port 0: any free port
  // HTTPS when a certificate is given (the cookie is then Secure).
  std::string tls_cert, tls_key;
  // mTLS sign-in: with HTTPS and a CA bundle here, a browser that presents a
  // client certificate this CA signed is signed in as the token file's
  // cert_subject entry for it (others still sign in with a token). The
  // console then calls the services with its own delegate credentials
  // (delegate_token, or its gRPC client certificate when empty; the token
  // file's entry for it says `delegate: true`) and the user's subject.
  std::string tls_client_ca;
  std::string delegate_token;
  // Mark the cookie Secure although this process serves HTTP: the browser
  // reaches it through a proxy that ends TLS (an ingress).
  bool secure_cookies = false;
  absl::Duration session_ttl = absl::Hours(8);
  // A check-out held longer than this stands out on "who holds what".
  absl::Duration long_held = absl::Hours(24);
  // HTTP worker threads: each live feed holds one while connected.
  int threads = 256;
};

class Console {
 public:
  static absl::StatusOr<std::unique_ptr<Console>> Start(ConsoleOptions options, ServiceChannels services);
  ~Console();
  int port() const;
  bool tls() const;
  // Stops serving (live feeds end); idempotent.
  void Stop();

  class Impl;

 private:
  explicit Console(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata::console
