// strata-console: the web console as its own process (Kubernetes), talking
// gRPC to the regional service endpoints like the CLI does.
#include <fstream>
#include <iostream>

#include "CLI/CLI.hpp"
#include "console/console.h"
#include "fmt/format.h"
#include "hosting/hosting.h"
#include "hosting/tls.h"
#include "spdlog/spdlog.h"

int main(int argc, char** argv) {
  using namespace strata;
  hosting::BlockTerminationSignals();
  hosting::InitProcess("strata-console");
  CLI::App app{"strata-console: Strata's web console (who holds what, activity, objects, pipeline, audit)"};
  console::ConsoleOptions options;
  std::string endpoint = "127.0.0.1:7300", history, impact, deploy;
  hosting::TlsClientFiles grpc_tls;
  double long_held_hours = 24, session_hours = 8;
  app.add_option("--listen", options.listen, "HTTP(S) address (port 0: any free port)")->capture_default_str();
  app.add_option("--endpoint", endpoint, "the services' gRPC endpoint (strata-server, or the lock service)")
      ->capture_default_str();
  app.add_option("--history-endpoint", history, "the history service (default: --endpoint)");
  app.add_option("--impact-endpoint", impact, "the impact service (default: --endpoint)");
  app.add_option("--deploy-endpoint", deploy, "the deploy service (default: --endpoint)");
  app.add_option("--tls-cert", options.tls_cert, "serve HTTPS with this PEM certificate chain");
  app.add_option("--tls-key", options.tls_key, "the certificate's PEM private key");
  app.add_option("--tls-client-ca", options.tls_client_ca,
                 "sign in browsers that present a client certificate signed by this PEM CA bundle (mTLS; "
                 "needs --tls-cert and a delegate identity: --delegate-token-file or --grpc-cert)");
  std::string delegate_token_file;
  app.add_option("--delegate-token-file", delegate_token_file,
                 "file holding the console's own token (an entry with delegate: true), sent with certificate "
                 "users' calls");
  app.add_flag("--grpc-tls", grpc_tls.enabled, "reach the services over TLS");
  app.add_option("--grpc-ca", grpc_tls.ca, "PEM CA bundle to trust for the services (implies --grpc-tls)");
  app.add_option("--grpc-cert", grpc_tls.cert, "client certificate for the services (mTLS)");
  app.add_option("--grpc-key", grpc_tls.key, "client key for the services (mTLS)");
  app.add_option("--grpc-server-name", grpc_tls.server_name, "the name to verify in the services' certificate");
  app.add_flag("--secure-cookies", options.secure_cookies,
               "mark the session cookie Secure although this process serves HTTP (behind a TLS ingress)");
  hosting::ServerFlags log_flags;
  app.add_option("--log-format", log_flags.log_format, "text or json")->capture_default_str();
  app.add_option("--log-level", log_flags.log_level, "trace, debug, info, warn, error")->capture_default_str();
  app.add_option("--long-held", long_held_hours, "hours after which a check-out stands out")->capture_default_str();
  app.add_option("--session-hours", session_hours, "hours a sign-in lasts")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (absl::Status s = hosting::ConfigureLogging(log_flags); !s.ok()) return hosting::Fail("strata-console", s);
  if (!grpc_tls.ca.empty() || !grpc_tls.cert.empty()) grpc_tls.enabled = true;
  if (!delegate_token_file.empty()) {
    std::ifstream in(delegate_token_file);
    if (!in || !std::getline(in, options.delegate_token) || options.delegate_token.empty())
      return hosting::Fail("strata-console", absl::InvalidArgumentError(fmt::format(
                                                 "cannot read a token from {}", delegate_token_file)));
  }
  if (!options.tls_client_ca.empty() && options.delegate_token.empty() && grpc_tls.cert.empty())
    return hosting::Fail("strata-console",
                         absl::InvalidArgumentError("--tls-client-ca needs the console's delegate identity: "
                                                    "--delegate-token-file or --grpc-cert/--grpc-key"));
  options.long_held = absl::Hours(long_held_hours);
  options.session_ttl = absl::Hours(session_hours);

  console::ServiceChannels channels;
  auto open = [&](const std::string& where, std::shared_ptr<grpc::Channel>* channel, std::string* name) -> absl::Status {
    *name = where.empty() ? endpoint : where;
    auto c = hosting::MakeChannel(*name, grpc_tls);
    if (!c.ok()) return c.status();
    *channel = *c;
    return absl::OkStatus();
  };
  for (auto [where, channel, name] : {std::tuple{std::string(), &channels.lock, &channels.lock_name},
                                      {history, &channels.history, &channels.history_name},
                                      {impact, &channels.impact, &channels.impact_name},
                                      {deploy, &channels.deploy, &channels.deploy_name}})
    if (absl::Status s = open(where, channel, name); !s.ok()) return hosting::Fail("strata-console", s);
  auto web = console::Console::Start(options, channels);
  if (!web.ok()) return hosting::Fail("strata-console", web.status());
  std::cout << fmt::format("strata-console listening on {}://{}:{}/ (services at {})", (*web)->tls() ? "https" : "http",
                           options.listen.substr(0, options.listen.rfind(':')), (*web)->port(), endpoint)
            << std::endl;
  const int sig = hosting::WaitForTerminationSignal();
  spdlog::info("strata-console: signal {}, shutting down", sig);
  (*web)->Stop();
  return 0;
}
