// Production shape, end to end with real processes on loopback: gRPC over
// TLS and mTLS (certificates made by openssl for each run, a certificate's
// subject standing for a user), Prometheus metrics scraped while requests
// are made, readiness following the log, and JSON logs without secrets.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdlib>
#include <fstream>
#include <future>
#include <grpcpp/generic/generic_stub.h>
#include <regex>

#include "hosting/tls.h"
#include "nlohmann/json.hpp"
#include "support/pki.h"
#include "support/stack.h"

namespace strata::testing {
namespace {

using ::testing::HasSubstr;

grpc::Status WhoAmI(const std::shared_ptr<grpc::Channel>& channel, const std::string& token, v1::WhoAmIResponse* who) {
  auto stub = v1::LockService::NewStub(channel);
  return stub->WhoAmI(Ctx(token, 10).get(), v1::WhoAmIRequest(), who);
}

// TLS settings trusting `ca` (empty: the system's CAs), with a client certificate `cert` (PKI name) if given.
hosting::TlsClientFiles Tls(const Pki& pki, const std::string& ca, const std::string& cert = "") {
  hosting::TlsClientFiles files;
  files.enabled = true;
  if (!ca.empty()) files.ca = pki.path(ca + ".crt");
  if (!cert.empty()) {
    files.cert = pki.path(cert + ".crt");
    files.key = pki.path(cert + ".key");
  }
  return files;
}

std::shared_ptr<grpc::Channel> TlsChannel(int port, const hosting::TlsClientFiles& files) {
  auto channel = hosting::MakeChannel("localhost:" + std::to_string(port), files);
  EXPECT_TRUE(channel.ok()) << channel.status();
  return *channel;
}

class TlsTest : public ::testing::TestWithParam<std::string> {};

TEST_P(TlsTest, ServerTlsRefusesPlaintextAndClientsWithoutTheCa) {
  Pki pki;
  Stack stack(GetParam());
  stack.Start("boston", {"--tls-cert", pki.path("server.crt"), "--tls-key", pki.path("server.key")});
  v1::WhoAmIResponse who;

  auto plaintext = grpc::CreateChannel("127.0.0.1:" + std::to_string(stack.port()), grpc::InsecureChannelCredentials());
  EXPECT_EQ(WhoAmI(plaintext, "alice-token", &who).error_code(), grpc::StatusCode::UNAVAILABLE);

  // TLS, but trusting only the system's CAs: the server's certificate does not verify.
  EXPECT_EQ(WhoAmI(TlsChannel(stack.port(), Tls(pki, "")), "alice-token", &who).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // Trusting another CA of the same name does not help either.
  EXPECT_EQ(WhoAmI(TlsChannel(stack.port(), Tls(pki, "rogue-ca")), "alice-token", &who).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  auto trusted = TlsChannel(stack.port(), Tls(pki, "ca"));
  ASSERT_TRUE(WhoAmI(trusted, "alice-token", &who).ok());
  EXPECT_EQ(who.user(), "alice");
  // TLS does not replace authentication: no token, no identity.
  EXPECT_EQ(WhoAmI(trusted, "", &who).error_code(), grpc::StatusCode::UNAUTHENTICATED);

  // The CLI: --tls-ca works, without it the connection is refused (exit 6).
  const std::string endpoint = "localhost:" + std::to_string(stack.port());
  std::string out;
  EXPECT_EQ(RunCli(endpoint, "alice-token", "--tls-ca " + pki.path("ca.crt") + " whoami", &out), 0) << out;
  EXPECT_THAT(out, HasSubstr("alice"));
  EXPECT_EQ(RunCli(endpoint, "alice-token", "--tls whoami", &out), 6) << out;
  EXPECT_EQ(RunCli(endpoint, "alice-token", "whoami", &out), 6) << out;
}

TEST_P(TlsTest, MutualTlsRefusesUnknownCertificatesAndMapsSubjectsToUsers) {
  Pki pki;
  Stack stack(GetParam());
  stack.Start("boston", {"--tls-cert", pki.path("server.crt"), "--tls-key", pki.path("server.key"), "--tls-client-ca",
                         pki.path("ca.crt")});
  stack.AddTokensAndHangUp("  - {cert_subject: \"CN=alice-laptop,O=Acme\", user: alice, site: boston, roles: [developer]}\n");
  v1::WhoAmIResponse who;

  // No client certificate: the handshake fails, whatever the token.
  EXPECT_EQ(WhoAmI(TlsChannel(stack.port(), Tls(pki, "ca")), "alice-token", &who).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  // A certificate with alice's subject from another CA: refused.
  EXPECT_EQ(WhoAmI(TlsChannel(stack.port(), Tls(pki, "ca", "mallory")), "", &who).error_code(),
            grpc::StatusCode::UNAVAILABLE);

  // alice's certificate is her identity; no token needed. (The token file is
  // reloaded by SIGHUP: poll until the new entry is in force.)
  auto alice_channel = TlsChannel(stack.port(), Tls(pki, "ca", "alice"));
  grpc::Status s;
  for (int i = 0; i < 100; ++i) {
    s = WhoAmI(alice_channel, "", &who);
    if (s.ok()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(who.user(), "alice");
  EXPECT_EQ(who.site(), "boston");

  // A valid certificate nobody mapped: UNAUTHENTICATED naming its subject;
  // with a token, the token says who it is.
  auto stranger_channel = TlsChannel(stack.port(), Tls(pki, "ca", "stranger"));
  s = WhoAmI(stranger_channel, "", &who);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(s.error_message(), HasSubstr("CN=stranger,O=Acme"));
  ASSERT_TRUE(WhoAmI(stranger_channel, "bob-token", &who).ok());
  EXPECT_EQ(who.user(), "bob");

  // The CLI with a client certificate.
  std::string out;
  const std::string endpoint = "localhost:" + std::to_string(stack.port());
  EXPECT_EQ(RunCli(endpoint, "",
                   "--tls-ca " + pki.path("ca.crt") + " --tls-cert " + pki.path("alice.crt") + " --tls-key " +
                       pki.path("alice.key") + " whoami",
                   &out),
            0)
      << out;
  EXPECT_THAT(out, HasSubstr("alice"));
}

INSTANTIATE_TEST_SUITE_P(Backends, TlsTest, ::testing::Values("embedded", "kafka"));

// The gRPC health status of `service` ("" = the whole server), asked with a
// generic call (grpc.health.v1.Health/Check: request field 1 = service name,
// response field 1 = status; 1 SERVING, 2 NOT_SERVING), or -1 on error.
int HealthStatus(int port, const std::string& service) {
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  std::string request = {'\x0a', static_cast<char>(service.size())};
  request += service;
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1), out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &in, &out,
                 [&](grpc::Status s) { done.set_value(s); });
  if (!done.get_future().get().ok()) return -1;
  std::vector<grpc::Slice> slices;
  if (!out.Dump(&slices).ok()) return -1;
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return bytes.size() == 2 && bytes[0] == 0x08 ? bytes[1] : 0;
}

class ObservabilityTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ObservabilityTest, MetricsMoveWithRequestsAndReadinessFollowsTheLog) {
  Stack stack(GetParam());
  stack.Start("boston", {"--metrics-listen", "127.0.0.1:0", "--log-format", "json"});
  const int port = MetricsPort(stack);
  ASSERT_GT(port, 0) << "no metrics port announced";
  httplib::Client http("127.0.0.1", port);
  http.set_read_timeout(30, 0);
  auto scrape = [&] {
    auto res = http.Get("/metrics");
    EXPECT_TRUE(res && res->status == 200);
    return res ? res->body : std::string();
  };
  auto health = http.Get("/healthz");
  ASSERT_TRUE(health && health->status == 200);
  auto ready = http.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  EXPECT_THAT(ready->body, HasSubstr("lock: caught up"));
  EXPECT_EQ(HealthStatus(stack.port(), "strata.v1.LockService"), 1);
  EXPECT_EQ(HealthStatus(stack.port(), ""), 1);

  const std::string ok_checkouts = R"(strata_grpc_requests_total{service="strata.v1.LockService",method="CheckOut",code="OK"})";
  const std::string refused =
      R"(strata_grpc_requests_total{service="strata.v1.LockService",method="CheckOut",code="FAILED_PRECONDITION"})";
  const std::string latency_count = R"(strata_grpc_request_duration_seconds_count{service="strata.v1.LockService",method="CheckOut"})";
  const std::string applied = R"(strata_projection_events_applied_total{projection="lock"})";
  const std::string before = scrape();
  const double applied_before = MetricSample(before, applied);
  EXPECT_GE(applied_before, 0) << before;

  auto lock = stack.Stub();
  for (const char* object : {"table:sales.a", "table:sales.b", "table:sales.c"}) {
    v1::CheckOutRequest req;
    req.add_objects(object);
    v1::CheckOutResponse resp;
    ASSERT_TRUE(lock->CheckOut(Ctx("alice-token").get(), req, &resp).ok());
  }
  v1::CheckOutRequest taken;
  taken.add_objects("table:sales.a");
  v1::CheckOutResponse resp;
  EXPECT_FALSE(lock->CheckOut(Ctx("bob-token").get(), taken, &resp).ok());

  std::string after = scrape();
  EXPECT_EQ(MetricSample(after, ok_checkouts), std::max(0.0, MetricSample(before, ok_checkouts)) + 3) << after;
  EXPECT_EQ(MetricSample(after, refused), std::max(0.0, MetricSample(before, refused)) + 1) << after;
  EXPECT_GE(MetricSample(after, latency_count), 4) << after;
  // The projection applied the three check-outs (and the refusal's audit record).
  for (int i = 0; i < 50 && MetricSample(after, applied) < applied_before + 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    after = scrape();
  }
  EXPECT_GE(MetricSample(after, applied), applied_before + 3) << after;
  EXPECT_THAT(after, HasSubstr("strata_projection_lag_records{projection=\"lock\",partition=\"0\"}"));
  EXPECT_THAT(after, HasSubstr("strata_log_end_offset{partition=\"3\"}"));
  EXPECT_EQ(after.find("strata_log_end_offset{partition=\"3\"}"), after.rfind("strata_log_end_offset{partition=\"3\"}"))
      << "each series once";
  EXPECT_EQ(MetricSample(after, R"(strata_projection_healthy{projection="lock"})"), 1);

  // Logs are one JSON object per line, and no token appears in them.
  const std::string logs = stack.StderrText();
  std::istringstream lines(logs);
  int parsed = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(j.is_discarded()) << "not JSON: " << line;
    EXPECT_TRUE(j.contains("time") && j.contains("level") && j.contains("message")) << line;
    ++parsed;
  }
  EXPECT_GT(parsed, 0);
  EXPECT_THAT(logs, ::testing::Not(HasSubstr("alice-token")));
  EXPECT_THAT(logs, ::testing::Not(HasSubstr("bob-token")));

  if (GetParam() == "kafka") {
    // With the brokers down the service cannot know the log's end: it reports
    // itself not ready (HTTP and gRPC health), and ready again once they are back.
    ASSERT_TRUE(stack.broker()->Control("down -1"));
    bool unready = false;
    for (int i = 0; i < 60 && !unready; ++i) {
      auto r = http.Get("/readyz");
      unready = r && r->status == 503;
      if (!unready) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    EXPECT_TRUE(unready);
    bool not_serving = false;  // gRPC health follows within a second or so
    for (int i = 0; i < 40 && !not_serving; ++i) {
      not_serving = HealthStatus(stack.port(), "strata.v1.LockService") == 2 && HealthStatus(stack.port(), "") == 2;
      if (!not_serving) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    EXPECT_TRUE(not_serving);
    ASSERT_TRUE(stack.broker()->Control("up -1"));
    bool back = false;
    for (int i = 0; i < 60 && !back; ++i) {
      auto r = http.Get("/readyz");
      back = r && r->status == 200;
      if (!back) std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    EXPECT_TRUE(back);
    bool serving = false;
    for (int i = 0; i < 40 && !serving; ++i) {
      serving = HealthStatus(stack.port(), "strata.v1.LockService") == 1;
      if (!serving) std::this_thread::sleep_for(std::chrono::milliseconds(250));
    }
    EXPECT_TRUE(serving);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ObservabilityTest, ::testing::Values("embedded", "kafka"));

}  // namespace
}  // namespace strata::testing
