// The web console against real processes on loopback, on both logs: a
// strata-server hosting the console (embedded log, or Kafka through
// strata-devbroker), and strata-console as its own process. HTTP-level
// checks; tests/console_browser_test.py drives the same pages in Chromium.
#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <regex>
#include <thread>

#include "nlohmann/json.hpp"
#include "support/pki.h"
#include "support/process.h"
#include "support/stack.h"

namespace strata::testing {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

// Runs the strata CLI; returns its exit code, its output in *out.
int Cli(const std::string& endpoint, const std::string& token, const std::string& args, std::string* out = nullptr) {
  const std::string cmd = BinaryPath("strata") + " --endpoint " + endpoint + " --token " + token + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) text.append(buf, n);
  const int status = pclose(p);
  if (out) *out = text;
  return WEXITSTATUS(status);
}

std::string WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

// A signed-in browser: the session cookie and the page's CSRF token.
struct Browser {
  std::string cookie, csrf;
  httplib::Headers headers() const { return {{"Cookie", cookie}, {"Accept", "text/html"}}; }
};

class ConsoleTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("strata-console-test");
    tokens_ = WriteFile(dir_->path() + "/tokens.yaml", kTokenFile);
    StartServer();
  }

  void StartServer(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {BinaryPath("strata-server"), "--listen", "127.0.0.1:0", "--data-dir",
                                     dir_->path() + "/data", "--tokens", tokens_, "--site", "boston",
                                     "--partitions", "4", "--console-listen", "127.0.0.1:0"};
    if (GetParam() == "kafka") {
      if (!broker_) broker_ = std::make_shared<Devbroker>(4);
      argv.push_back("--kafka");
      argv.push_back(broker_->bootstrap());
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    server_ = std::make_unique<Process>(argv, dir_->path() + "/server.err");
    auto port = server_->WaitForLine("listening on 127\\.0\\.0\\.1:([0-9]+)", 60s);
    ASSERT_TRUE(port) << "strata-server did not start";
    endpoint_ = "127.0.0.1:" + *port;
    for (const std::string& line : server_->lines()) {
      std::smatch m;
      if (std::regex_search(line, m, std::regex("console on https?://127\\.0\\.0\\.1:([0-9]+)/")))
        console_port_ = std::stoi(m[1]);
    }
    ASSERT_GT(console_port_, 0) << "no console line on stdout";
  }

  httplib::Client Http(int port = 0) {
    httplib::Client c("127.0.0.1", port ? port : console_port_);
    c.set_read_timeout(20, 0);
    return c;
  }

  Browser SignIn(const std::string& token, int port = 0) {
    auto c = Http(port);
    auto res = c.Post("/signin", httplib::Params{{"token", token}, {"next", "/locks"}});
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, 303) << res->body;
    Browser b;
    const std::string set = res->get_header_value("Set-Cookie");
    b.cookie = set.substr(0, set.find(';'));
    auto page = c.Get("/locks", b.headers());
    EXPECT_TRUE(page && page->status == 200);
    std::smatch m;
    if (page && std::regex_search(page->body, m, std::regex("name=\"csrf\" value=\"([0-9a-f]+)\""))) b.csrf = m[1];
    EXPECT_FALSE(b.csrf.empty());
    return b;
  }

  Json Api(const std::string& token, const std::string& path, int* status = nullptr) {
    auto res = Http().Get(path, {{"Authorization", "Bearer " + token}});
    if (!res) return Json();
    if (status) *status = res->status;
    return Json::parse(res->body, nullptr, false);
  }

  std::string Page(const Browser& b, const std::string& path, int* status = nullptr) {
    auto res = Http().Get(path, b.headers());
    if (!res) return "";
    if (status) *status = res->status;
    return res->body;
  }

  void CheckOut(const std::string& token, const std::string& object) {
    std::string out;
    ASSERT_EQ(Cli(endpoint_, token, "checkout " + object + " --reason 'console test'", &out), 0) << out;
  }

  std::unique_ptr<TempDir> dir_;
  std::string tokens_, endpoint_;
  std::shared_ptr<Devbroker> broker_;
  std::unique_ptr<Process> server_;
  int console_port_ = 0;
};

// Reads /api/live as `token` until `until` says stop (or 10 s pass); every
// event's text goes to `seen` with the time it arrived.
class LiveReader {
 public:
  LiveReader(int port, const std::string& token) : client_("127.0.0.1", port) {
    client_.set_read_timeout(15, 0);
    thread_ = std::thread([this, token] {
      client_.Get("/api/live", {{"Authorization", "Bearer " + token}}, [&](const char* data, size_t n) {
        std::lock_guard lock(mu_);
        text_.append(data, n);
        arrivals_.emplace_back(std::chrono::steady_clock::now(), text_.size());
        return !stop_;
      });
    });
  }
  ~LiveReader() {
    stop_ = true;
    client_.stop();
    thread_.join();
  }
  // Waits until the text contains `needle`; returns when it arrived.
  std::optional<std::chrono::steady_clock::time_point> WaitFor(const std::string& needle,
                                                               std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      {
        std::lock_guard lock(mu_);
        const size_t at = text_.find(needle);
        if (at != std::string::npos)
          for (const auto& [when, size] : arrivals_)
            if (size > at) return when;
      }
      std::this_thread::sleep_for(5ms);
    }
    return std::nullopt;
  }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_;
  }

 private:
  httplib::Client client_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string text_;
  std::vector<std::pair<std::chrono::steady_clock::time_point, size_t>> arrivals_;
};

TEST_P(ConsoleTest, OnlyTheSignInIsServedToAnonymousVisitors) {
  auto c = Http();
  for (const char* path : {"/", "/locks", "/activity", "/pipeline", "/audit", "/objects/table:sales.orders", "/nope"}) {
    auto res = c.Get(path, {{"Accept", "text/html"}});
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 303) << path;
    EXPECT_EQ(res->get_header_value("Location").rfind("/signin?next=", 0), 0u) << path;
  }
  auto api = c.Get("/api/locks");
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 401);
  auto signin = c.Get("/signin");
  ASSERT_TRUE(signin);
  EXPECT_EQ(signin->status, 200);
  EXPECT_NE(signin->body.find("name=\"token\""), std::string::npos);
}

TEST_P(ConsoleTest, SignInSetsAProtectedCookieAndAWrongTokenIsRefused) {
  auto c = Http();
  auto wrong = c.Post("/signin", httplib::Params{{"token", "not-a-token"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 401);
  EXPECT_TRUE(wrong->get_header_value("Set-Cookie").empty());
  EXPECT_NE(wrong->body.find("not known"), std::string::npos);
  auto bearer = c.Get("/api/locks", {{"Authorization", "Bearer not-a-token"}});
  ASSERT_TRUE(bearer);
  EXPECT_EQ(bearer->status, 401);

  auto ok = c.Post("/signin", httplib::Params{{"token", "alice-token"}, {"next", "//evil.example/"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 303);
  EXPECT_EQ(ok->get_header_value("Location"), "/");  // never off-site
  const std::string cookie = ok->get_header_value("Set-Cookie");
  EXPECT_NE(cookie.find("strata_session="), std::string::npos);
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  auto page = c.Get("/", {{"Cookie", cookie.substr(0, cookie.find(';'))}});
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("alice"), std::string::npos);
  // A made-up session id is an ended session.
  auto forged = c.Get("/locks", {{"Cookie", "strata_session=" + std::string(64, 'a')}, {"Accept", "text/html"}});
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 303);
  EXPECT_NE(forged->get_header_value("Location").find("expired=1"), std::string::npos);
}

TEST_P(ConsoleTest, ACheckOutReachesTheLiveFeedWithinOneSecondAndBobSeesAliceAsHolder) {
  LiveReader live(console_port_, "bob-token");
  ASSERT_TRUE(live.WaitFor("event: ready")) << live.text();
  CheckOut("alice-token", "table:sales.orders");
  const auto acknowledged = std::chrono::steady_clock::now();
  auto arrived = live.WaitFor("table:sales.orders");
  ASSERT_TRUE(arrived) << live.text();
  EXPECT_LT(*arrived - acknowledged, 1s);
  Json locks = Api("bob-token", "/api/locks");
  ASSERT_EQ(locks["locks"].size(), 1u) << locks.dump();
  EXPECT_EQ(locks["locks"][0]["user"], "alice");
  EXPECT_EQ(locks["locks"][0]["site"], "boston");
  Browser bob = SignIn("bob-token");
  const std::string page = Page(bob, "/locks");
  EXPECT_NE(page.find("table:sales.orders"), std::string::npos);
  EXPECT_NE(page.find("alice (boston)"), std::string::npos);
}

TEST_P(ConsoleTest, AScopedUserSeesNothingOutsideTheScopeAnywhere) {
  LiveReader live(console_port_, "carol-token");
  ASSERT_TRUE(live.WaitFor("event: ready"));
  CheckOut("alice-token", "table:sales.orders");
  CheckOut("alice-token", "table:billing.invoices");
  ASSERT_TRUE(live.WaitFor("table:billing.invoices")) << live.text();
  EXPECT_EQ(live.text().find("sales.orders"), std::string::npos) << live.text();

  Json locks = Api("carol-token", "/api/locks");
  ASSERT_EQ(locks["locks"].size(), 1u) << locks.dump();
  EXPECT_EQ(locks["locks"][0]["object"], "table:billing.invoices");
  Json summary = Api("carol-token", "/api/summary");
  EXPECT_EQ(summary["check_outs"], 1) << summary.dump();
  EXPECT_EQ(summary["per_user"][0]["check_outs"], 1);
  Browser carol = SignIn("carol-token");
  for (const char* path : {"/", "/locks", "/activity", "/audit", "/pipeline", "/api/summary", "/api/activity", "/api/audit"})
    EXPECT_EQ(Page(carol, path).find("sales.orders"), std::string::npos) << path;
  int status = 0;
  Page(carol, "/objects/table:sales.orders", &status);
  EXPECT_EQ(status, 403);
  EXPECT_NE(Page(carol, "/locks").find("table:billing.invoices"), std::string::npos);
}

TEST_P(ConsoleTest, ADeveloperCannotForceReleaseAndADbaCanWithAReasonThatTheAuditShows) {
  CheckOut("alice-token", "table:sales.orders");
  Browser bob = SignIn("bob-token");
  EXPECT_EQ(Page(bob, "/locks").find("Force release"), std::string::npos);
  auto refused = Http().Post("/locks/force-release", bob.headers(),
                             httplib::Params{{"csrf", bob.csrf}, {"object", "table:sales.orders"}, {"reason", "mine"}});
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_EQ(Api("bob-token", "/api/locks")["locks"].size(), 1u);

  Browser dana = SignIn("dana-token");
  EXPECT_NE(Page(dana, "/locks").find("Force release"), std::string::npos);
  auto no_reason = Http().Post("/locks/force-release", dana.headers(),
                               httplib::Params{{"csrf", dana.csrf}, {"object", "table:sales.orders"}, {"reason", ""}});
  ASSERT_TRUE(no_reason);
  EXPECT_EQ(no_reason->status, 400);
  auto released = Http().Post("/locks/force-release", dana.headers(),
                              httplib::Params{{"csrf", dana.csrf}, {"object", "table:sales.orders"},
                                              {"reason", "alice is on leave"}});
  ASSERT_TRUE(released);
  EXPECT_EQ(released->status, 303) << released->body;
  EXPECT_EQ(Api("bob-token", "/api/locks")["locks"].size(), 0u);
  const std::string audit = Page(dana, "/audit?action=force_release");
  EXPECT_NE(audit.find("alice is on leave"), std::string::npos) << audit;
  EXPECT_NE(audit.find("dana"), std::string::npos);
}

TEST_P(ConsoleTest, AForgedOrMissingCsrfTokenIsRefused) {
  CheckOut("alice-token", "table:sales.orders");
  Browser dana = SignIn("dana-token");
  const httplib::Params forged = {{"csrf", std::string(64, 'f')}, {"object", "table:sales.orders"}, {"reason", "x"}};
  const httplib::Params missing = {{"object", "table:sales.orders"}, {"reason", "x"}};
  for (const auto& params : {forged, missing}) {
    auto res = Http().Post("/locks/force-release", dana.headers(), params);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 403);
  }
  auto headers = dana.headers();
  headers.emplace("Origin", "http://evil.example");
  auto cross = Http().Post("/locks/force-release", headers,
                           httplib::Params{{"csrf", dana.csrf}, {"object", "table:sales.orders"}, {"reason", "x"}});
  ASSERT_TRUE(cross);
  EXPECT_EQ(cross->status, 403);
  auto signout = Http().Post("/signout", dana.headers(), httplib::Params{{"csrf", "nope"}});
  ASSERT_TRUE(signout);
  EXPECT_EQ(signout->status, 403);
  EXPECT_EQ(Api("dana-token", "/api/locks")["locks"].size(), 1u);  // still held
}

TEST_P(ConsoleTest, TheObjectPageShowsTwoVersionsAndTheirDiff) {
  CheckOut("alice-token", "table:sales.orders");
  const std::string v1 = WriteFile(dir_->path() + "/v1.sql", "CREATE TABLE sales.orders (id integer PRIMARY KEY);\n");
  const std::string v2 =
      WriteFile(dir_->path() + "/v2.sql", "CREATE TABLE sales.orders (id integer PRIMARY KEY, status text);\n");
  std::string out;
  ASSERT_EQ(Cli(endpoint_, "alice-token", "checkin table:sales.orders -f " + v1 + " -m first --keep", &out), 0) << out;
  ASSERT_EQ(Cli(endpoint_, "alice-token", "checkin table:sales.orders -f " + v2 + " -m 'add status'", &out), 0) << out;
  Json o = Api("bob-token", "/api/objects/table:sales.orders");
  ASSERT_EQ(o["versions"].size(), 2u) << o.dump();
  EXPECT_EQ(o["versions"][1]["message"], "add status");
  EXPECT_EQ(o["diff"]["lines_added"], 1);
  EXPECT_NE(o["diff"]["unified_diff"].get<std::string>().find("+CREATE TABLE sales.orders (id integer PRIMARY KEY, status text);"),
            std::string::npos);
  Browser bob = SignIn("bob-token");
  const std::string page = Page(bob, "/objects/table:sales.orders");
  EXPECT_NE(page.find("class=\"diff split\""), std::string::npos);
  EXPECT_NE(page.find("status text"), std::string::npos);
  EXPECT_NE(Page(bob, "/objects/table:sales.orders?view=unified&from=1&to=2").find("class=\"diff unified\""),
            std::string::npos);
  // The search box finds it by its short name.
  auto found = Http().Get("/objects?q=sales.orders", bob.headers());
  ASSERT_TRUE(found);
  EXPECT_EQ(found->status, 303);
  EXPECT_EQ(found->get_header_value("Location"), "/objects/table:sales.orders");
}

TEST_P(ConsoleTest, ThePipelinePageHoldsWhatStrataPipelineJsonPrints) {
  std::string out;
  ASSERT_EQ(Cli(endpoint_, "dana-token", "env add dev --url postgres://nobody@127.0.0.1:1/dev", &out), 0) << out;
  ASSERT_EQ(Cli(endpoint_, "dana-token", "env add prod --protected --url postgres://nobody@127.0.0.1:1/prod", &out), 0)
      << out;
  CheckOut("alice-token", "table:sales.orders");
  const std::string v1 = WriteFile(dir_->path() + "/v1.sql", "CREATE TABLE sales.orders (id integer PRIMARY KEY);\n");
  ASSERT_EQ(Cli(endpoint_, "alice-token", "checkin table:sales.orders -f " + v1 + " -m first", &out), 0) << out;
  ASSERT_EQ(Cli(endpoint_, "rita-token", "release create r1", &out), 0) << out;
  ASSERT_EQ(Cli(endpoint_, "vera-token", "--json pipeline", &out), 0) << out;
  const Json cli = Json::parse(out);
  const Json page = Api("vera-token", "/api/pipeline");
  EXPECT_EQ(page["pipeline"], cli) << page.dump() << "\n" << cli.dump();
  ASSERT_EQ(page["pending_approvals"].size(), 1u) << page.dump();
  EXPECT_EQ(page["pending_approvals"][0]["environment"], "prod");
  Browser vera = SignIn("vera-token");
  const std::string html = Page(vera, "/pipeline");
  EXPECT_NE(html.find(">r1<"), std::string::npos);
  EXPECT_NE(html.find(">prod<"), std::string::npos);
  EXPECT_NE(Page(vera, "/releases/r1").find("table:sales.orders"), std::string::npos);
}

TEST_P(ConsoleTest, UnknownObjectsReleasesAndEnvironmentsGiveA404ThatNamesThem) {
  Browser bob = SignIn("bob-token");
  for (const auto& [path, name] : {std::pair{"/objects/table:sales.nope", "table:sales.nope"},
                                   {"/releases/r404", "r404"}, {"/environments/qa404", "qa404"},
                                   {"/no/such/page", "/no/such/page"}}) {
    int status = 0;
    const std::string page = Page(bob, path, &status);
    EXPECT_EQ(status, 404) << path;
    EXPECT_NE(page.find(name), std::string::npos) << path << ": " << page;
    EXPECT_NE(page.find("<main"), std::string::npos) << path;  // a page, not a bare error
  }
  int status = 0;
  Json j = Api("bob-token", "/api/releases/r404", &status);
  EXPECT_EQ(status, 404);
  EXPECT_EQ(j["error"]["code"], "NOT_FOUND");
}

TEST_P(ConsoleTest, TheAuditExportIsTheClisJsonLines) {
  CheckOut("alice-token", "table:sales.orders");
  auto res = Http().Get("/api/audit/export", {{"Authorization", "Bearer vera-token"}});
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  std::string cli;
  const std::string path = dir_->path() + "/export.jsonl";
  ASSERT_EQ(Cli(endpoint_, "vera-token", "audit --export " + path, &cli), 0) << cli;
  std::ifstream in(path);
  const std::string expected((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(res->body, expected);
  Json verify = Api("vera-token", "/api/audit?verify=1");
  EXPECT_EQ(verify["verification"]["ok"], true) << verify.dump();
}

INSTANTIATE_TEST_SUITE_P(Logs, ConsoleTest, ::testing::Values("embedded", "kafka"),
                         [](const auto& info) { return info.param; });

// strata-console as its own process (Kubernetes), against strata-server's
// gRPC endpoint.
class StandaloneConsoleTest : public ConsoleTest {
 protected:
  int StartConsole(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv = {BinaryPath("strata-console"), "--listen", "127.0.0.1:0", "--endpoint", endpoint_};
    argv.insert(argv.end(), extra.begin(), extra.end());
    console_ = std::make_unique<Process>(argv, dir_->path() + "/console.err");
    auto port = console_->WaitForLine("listening on https?://127\\.0\\.0\\.1:([0-9]+)/", 30s);
    EXPECT_TRUE(port);
    return port ? std::stoi(*port) : 0;
  }
  std::unique_ptr<Process> console_;
};

TEST_P(StandaloneConsoleTest, AnExpiredSessionIsRefused) {
  const int port = StartConsole({"--session-hours", "0.0005"});  // 1.8 s
  Browser alice = SignIn("alice-token", port);
  auto fresh = Http(port).Get("/locks", alice.headers());
  ASSERT_TRUE(fresh);
  EXPECT_EQ(fresh->status, 200);
  std::this_thread::sleep_for(2500ms);
  auto page = Http(port).Get("/locks", alice.headers());
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 303);
  EXPECT_NE(page->get_header_value("Location").find("expired=1"), std::string::npos);
  auto api = Http(port).Get("/api/locks", {{"Cookie", alice.cookie}});
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 401);
  auto post = Http(port).Post("/locks/force-release", alice.headers(), httplib::Params{{"csrf", alice.csrf}});
  ASSERT_TRUE(post);
  EXPECT_EQ(post->status, 401);
}

TEST_P(StandaloneConsoleTest, AServiceThatIsDownGetsAPageNamingItAndWhenItLastAnswered) {
  const int port = StartConsole();
  Browser alice = SignIn("alice-token", port);
  server_->Signal(SIGKILL);
  server_.reset();
  auto page = Http(port).Get("/locks", alice.headers());
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 503);
  EXPECT_NE(page->body.find("lock service (" + endpoint_ + ") is not reachable"), std::string::npos) << page->body;
  EXPECT_NE(page->body.find("last answered at"), std::string::npos) << page->body;
  auto api = Http(port).Get("/api/pipeline", {{"Cookie", alice.cookie}});
  ASSERT_TRUE(api);
  EXPECT_EQ(api->status, 503);
  EXPECT_EQ(Json::parse(api->body)["error"]["service"], "deploy");
}

INSTANTIATE_TEST_SUITE_P(Logs, StandaloneConsoleTest, ::testing::Values("embedded"),
                         [](const auto& info) { return info.param; });

// Sign-in with a client certificate (mTLS): the console verifies the
// browser's certificate against --tls-client-ca and acts for its user with
// a delegate identity; the services resolve the user from the subject.
constexpr char kAliceSubject[] = "CN=alice-laptop,O=Acme";

class CertificateConsoleTest : public StandaloneConsoleTest {
 protected:
  CertificateConsoleTest() {
    pki_.Issue("dba", "/O=Acme/CN=dba-laptop", "ca", "client.ext");
    signal(SIGPIPE, SIG_IGN);  // a refused handshake closes the socket under the client's write
  }
  void SetUp() override {
    dir_ = std::make_unique<TempDir>("strata-console-test");
    tokens_ = WriteFile(dir_->path() + "/tokens.yaml",
                        std::string(kTokenFile) +
                            "  - {cert_subject: \"" + kAliceSubject + "\", user: alice, site: boston, roles: [developer]}\n"
                            "  - {cert_subject: \"CN=dba-laptop,O=Acme\", user: dina, site: boston, roles: [dba]}\n"
                            "  - {token: console-token, user: console, roles: [viewer], delegate: true}\n");
  }
  // A browser over HTTPS presenting the PKI certificate `cert` ("" for none).
  std::unique_ptr<httplib::SSLClient> Https(int port, const std::string& cert) {
    auto c = cert.empty() ? std::make_unique<httplib::SSLClient>("127.0.0.1", port)
                          : std::make_unique<httplib::SSLClient>("127.0.0.1", port, pki_.path(cert + ".crt"),
                                                                 pki_.path(cert + ".key"));
    c->set_ca_cert_path(pki_.path("ca.crt"));
    c->enable_server_certificate_verification(true);
    c->set_read_timeout(20, 0);
    return c;
  }
  // What the console makes of each certificate: alice's signs her in (and
  // her session then works without it); no certificate is sent to the
  // sign-in; an unmapped one gets a page naming it; one from another CA
  // does not get through the handshake.
  void ExpectCertificateSignIn(int port) {
    auto alice = Https(port, "alice")->Get("/locks", {{"Accept", "text/html"}});
    ASSERT_TRUE(alice) << httplib::to_string(alice.error());
    EXPECT_EQ(alice->status, 200) << alice->body;
    EXPECT_NE(alice->body.find("alice"), std::string::npos);
    const std::string cookie = alice->get_header_value("Set-Cookie");
    EXPECT_NE(cookie.find("strata_session="), std::string::npos);
    EXPECT_NE(cookie.find("Secure"), std::string::npos);
    EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
    auto again = Https(port, "")->Get("/api/locks", {{"Cookie", cookie.substr(0, cookie.find(';'))}});
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 200) << again->body;

    auto none = Https(port, "")->Get("/locks", {{"Accept", "text/html"}});
    ASSERT_TRUE(none);
    EXPECT_EQ(none->status, 303);
    EXPECT_EQ(none->get_header_value("Location").rfind("/signin", 0), 0u);

    auto stranger = Https(port, "stranger")->Get("/locks", {{"Accept", "text/html"}});
    ASSERT_TRUE(stranger);
    EXPECT_EQ(stranger->status, 401);
    EXPECT_NE(stranger->body.find("CN=stranger,O=Acme"), std::string::npos) << stranger->body;

    auto mallory = Https(port, "mallory")->Get("/locks", {{"Accept", "text/html"}});
    EXPECT_TRUE(!mallory || mallory->status == 303) << mallory->status << " " << mallory->body;
    if (mallory) EXPECT_EQ(mallory->body.find("alice"), std::string::npos);
  }
  Pki pki_;
};

TEST_P(CertificateConsoleTest, StrataServerUnderMutualTlsSignsInTheCertificatesUser) {
  StartServer({"--tls-cert", pki_.path("server.crt"), "--tls-key", pki_.path("server.key"), "--tls-client-ca",
               pki_.path("ca.crt")});
  ExpectCertificateSignIn(console_port_);
  // A token still signs in (users without a certificate).
  auto bob = Https(console_port_, "")->Post("/signin", httplib::Params{{"token", "bob-token"}, {"next", "/"}});
  ASSERT_TRUE(bob);
  EXPECT_EQ(bob->status, 303);
}

TEST_P(CertificateConsoleTest, StrataConsoleActsForTheCertificatesUserWithItsDelegateToken) {
  StartServer();
  const int port = StartConsole({"--tls-cert", pki_.path("server.crt"), "--tls-key", pki_.path("server.key"),
                                 "--tls-client-ca", pki_.path("ca.crt"), "--delegate-token-file",
                                 WriteFile(dir_->path() + "/delegate", "console-token\n")});
  ExpectCertificateSignIn(port);
  // What a certificate's user does through the console is theirs in the
  // audit trail: the dba on the "dba-laptop" certificate force-releases.
  CheckOut("alice-token", "table:sales.orders");
  auto dba = Https(port, "dba");
  auto page = dba->Get("/locks", {{"Accept", "text/html"}});
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200) << page->body;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(page->body, m, std::regex("name=\"csrf\" value=\"([0-9a-f]+)\"")));
  const std::string cookie = page->get_header_value("Set-Cookie");
  const httplib::Headers session = {{"Cookie", cookie.substr(0, cookie.find(';'))}, {"Accept", "text/html"}};
  auto released = dba->Post("/locks/force-release", session,
                            httplib::Params{{"csrf", m[1]}, {"object", "table:sales.orders"}, {"reason", "on leave"}});
  ASSERT_TRUE(released);
  EXPECT_EQ(released->status, 303) << released->body;
  int status = 0;
  Json audit = Api("alice-token", "/api/audit?action=force_release", &status);
  EXPECT_EQ(status, 200) << audit.dump();
  EXPECT_NE(audit.dump().find("\"user\":\"dina\""), std::string::npos) << audit.dump();
}

TEST_P(CertificateConsoleTest, OnlyADelegateMayActForACertificateUser) {
  StartServer();
  auto channel = grpc::CreateChannel(endpoint_, grpc::InsecureChannelCredentials());
  auto lock = v1::LockService::NewStub(channel);
  auto call = [&](const std::string& token, const std::string& subject, v1::WhoAmIResponse* who) {
    auto ctx = Ctx(token, 10);
    ctx->AddMetadata("strata-on-behalf-of", subject);
    return lock->WhoAmI(ctx.get(), v1::WhoAmIRequest(), who);
  };
  v1::WhoAmIResponse who;
  grpc::Status s = call("bob-token", kAliceSubject, &who);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(s.error_message().find("bob may not act on behalf of another user"), std::string::npos) << s.error_message();
  EXPECT_EQ(call("console-token", "CN=stranger,O=Acme", &who).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(call("console-token", kAliceSubject, &who).ok());
  EXPECT_EQ(who.user(), "alice");
  EXPECT_EQ(who.roles(0), "developer");
}

INSTANTIATE_TEST_SUITE_P(Logs, CertificateConsoleTest, ::testing::Values("embedded", "kafka"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace strata::testing
