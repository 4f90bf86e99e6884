// The console's HTTP side: routes, sign-in and sessions, CSRF, the mapping of
// service errors to pages, the live feed (Server-Sent Events) and the audit
// export. The pages themselves are in pages_*.cc.
#include "console/console.h"

#include <httplib.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <set>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "console/assets.h"
#include "console/backend.h"
#include "console/html.h"
#include "console/pages.h"
#include "console/session.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace strata::console {
namespace {

constexpr const char* kCookie = "strata_session";

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    default: return "INTERNAL";
  }
}

int HttpStatusOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::NOT_FOUND: return 404;
    case grpc::StatusCode::PERMISSION_DENIED: return 403;
    case grpc::StatusCode::UNAUTHENTICATED: return 401;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE: return 400;
    case grpc::StatusCode::FAILED_PRECONDITION:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::ABORTED: return 409;
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED: return 503;
    default: return 502;
  }
}

bool ConsumePrefix(std::string_view* text, std::string_view prefix) {
  if (text->substr(0, prefix.size()) != prefix) return false;
  text->remove_prefix(prefix.size());
  return true;
}

std::string CookieValue(const httplib::Request& req, std::string_view name) {
  const std::string header = req.get_header_value("Cookie");
  std::string_view rest = header;
  while (!rest.empty()) {
    const size_t semi = rest.find(';');
    std::string_view part = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (ConsumePrefix(&part, name) && ConsumePrefix(&part, "=")) return std::string(part);
  }
  return "";
}

std::map<std::string, std::string> ParamsOf(const httplib::Request& req) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : req.params) out.emplace(k, v);  // the first of repeated keys
  return out;
}

// Only paths on this site: "/locks?x=1", never "//evil" or "https://...".
std::string SafeNext(const std::string& next) {
  if (next.size() < 1 || next[0] != '/' || (next.size() > 1 && (next[1] == '/' || next[1] == '\\'))) return "/";
  return next;
}

}  // namespace

class Console::Impl {
 public:
  Impl(ConsoleOptions options, ServiceChannels channels)
      : options_(std::move(options)), backend_(std::move(channels)), sessions_(options_.session_ttl) {}

  ~Impl() { Stop(); }

  absl::Status Start() {
    tls_ = !options_.tls_cert.empty();
    if (!options_.tls_client_ca.empty() && !tls_)
      return absl::InvalidArgumentError("console: a client CA (mTLS sign-in) needs HTTPS: give a certificate too");
    if (tls_) {
      const bool mtls = !options_.tls_client_ca.empty();
      auto ssl = std::make_unique<httplib::SSLServer>(options_.tls_cert.c_str(), options_.tls_key.c_str(),
                                                      mtls ? options_.tls_client_ca.c_str() : nullptr);
      if (!ssl->is_valid())
        return absl::InvalidArgumentError(fmt::format(
            "console TLS: cannot use certificate {} with key {}{}", options_.tls_cert, options_.tls_key,
            mtls ? fmt::format(" and client CA {}", options_.tls_client_ca) : ""));
      // A client certificate is asked for and verified when one is sent, not
      // required: users without one sign in with a token.
      if (mtls) SSL_CTX_set_verify(ssl->ssl_context(), SSL_VERIFY_PEER, nullptr);
      http_ = std::move(ssl);
    } else {
      http_ = std::make_unique<httplib::Server>();
    }
    const int threads = options_.threads;
    http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http_->set_payload_max_length(1 << 20);
    // Pages go out in several writes: without this, the last one waits for
    // the browser's delayed ACK (40 ms on Linux).
    http_->set_tcp_nodelay(true);
    http_->set_default_headers({{"X-Content-Type-Options", "nosniff"},
                                {"X-Frame-Options", "DENY"},
                                {"Referrer-Policy", "same-origin"},
                                {"Content-Security-Policy",
                                 "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                                 "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}});
    Routes();
    const size_t colon = options_.listen.rfind(':');
    if (colon == std::string::npos)
      return absl::InvalidArgumentError(fmt::format("--console-listen {}: expected HOST:PORT", options_.listen));
    const std::string host = options_.listen.substr(0, colon);
    const int want = std::atoi(options_.listen.c_str() + colon + 1);
    port_ = want == 0 ? http_->bind_to_any_port(host) : (http_->bind_to_port(host, want) ? want : -1);
    if (port_ <= 0) return absl::UnavailableError(fmt::format("the console cannot listen on {}", options_.listen));
    thread_ = std::thread([this] { http_->listen_after_bind(); });
    return absl::OkStatus();
  }

  void Stop() ABSL_LOCKS_EXCLUDED(live_mu_) {
    if (!http_ || stopped_.exchange(true)) return;
    {
      absl::MutexLock lock(&live_mu_);
      for (grpc::ClientContext* ctx : live_) ctx->TryCancel();
    }
    http_->stop();
    if (thread_.joinable()) thread_.join();
  }

  int port() const { return port_; }
  bool tls() const { return tls_; }

 private:
  // Who asks: a session (cookie) or a bearer token (scripts).
  struct Caller {
    Identity who;
    Credential credential;
    std::string csrf;  // the session's; empty for bearer requests
    std::string session_id;
  };

  static bool IsApi(const httplib::Request& req) { return req.path.rfind("/api/", 0) == 0; }

  void Routes() {
    httplib::Server& s = *http_;
    s.Get("/assets/console.css", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "max-age=300");
      res.set_content(std::string(kConsoleCss), "text/css; charset=utf-8");
    });
    s.Get("/assets/console.js", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "max-age=300");
      res.set_content(std::string(kConsoleJs), "text/javascript; charset=utf-8");
    });
    s.Get("/signin", [this](const httplib::Request& req, httplib::Response& res) { SignInPage(req, res, 200, ""); });
    s.Post("/signin", [this](const httplib::Request& req, httplib::Response& res) { SignIn(req, res); });
    s.Post("/signout", [this](const httplib::Request& req, httplib::Response& res) { SignOut(req, res); });

    const std::pair<const char*, Page (*)(Backend&, const PageRequest&)> pages[] = {
        {"/", SummaryPage},          {"/locks", LocksPage},       {"/activity", ActivityPage},
        {"/pipeline", PipelinePage}, {"/audit", AuditPage}};
    for (const auto& [path, fn] : pages) {
      auto handler = [this, fn = fn](const httplib::Request& req, httplib::Response& res) { Serve(req, res, fn, ""); };
      s.Get(path, handler);
      s.Get(std::string("/api") + (std::string_view(path) == "/" ? "/summary" : path), handler);
    }
    const std::pair<const char*, Page (*)(Backend&, const PageRequest&)> with_arg[] = {
        {"objects", ObjectPage}, {"releases", ReleasePage}, {"environments", EnvironmentPage}};
    for (const auto& [prefix, fn] : with_arg) {
      auto handler = [this, fn = fn](const httplib::Request& req, httplib::Response& res) {
        Serve(req, res, fn, req.matches[1]);
      };
      s.Get(fmt::format("/{}/(.+)", prefix), handler);
      s.Get(fmt::format("/api/{}/(.+)", prefix), handler);
    }
    s.Get("/objects", [this](const httplib::Request& req, httplib::Response& res) { FindObject(req, res); });
    s.Post("/locks/force-release", [this](const httplib::Request& req, httplib::Response& res) { ForceRelease(req, res); });
    s.Post("/api/force-release", [this](const httplib::Request& req, httplib::Response& res) { ForceRelease(req, res); });
    s.Get("/live", [this](const httplib::Request& req, httplib::Response& res) { Live(req, res); });
    s.Get("/api/live", [this](const httplib::Request& req, httplib::Response& res) { Live(req, res); });
    s.Get("/audit/export", [this](const httplib::Request& req, httplib::Response& res) { Export(req, res); });
    s.Get("/api/audit/export", [this](const httplib::Request& req, httplib::Response& res) { Export(req, res); });
    s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (res.status != 404 || !res.body.empty()) return;
      // An unknown path: anonymous visitors go to the sign-in; others see
      // a page that names what was asked for.
      auto caller = Authenticate(req, res);
      if (!caller) return;
      Error(req, res, *caller, 404, "NOT_FOUND", fmt::format("There is no page {} in the console.", req.path));
    });
  }

  // The caller, or nullopt with the response already made (a redirect to
  // the sign-in, or 401 for /api/).
  std::optional<Caller> Authenticate(const httplib::Request& req, httplib::Response& res) {
    const std::string authorization = req.get_header_value("Authorization");
    if (!authorization.empty()) {
      std::string_view token = authorization;
      if (!ConsumePrefix(&token, "Bearer ")) {
        Refuse(req, res, "the Authorization header must be \"Bearer TOKEN\"");
        return std::nullopt;
      }
      Credential credential{std::string(token), ""};
      auto who = WhoAmI(credential);
      if (!who.ok()) {
        if (who.status().code() == absl::StatusCode::kUnavailable) {
          ServiceDown(req, res, Service::kLock, std::string(who.status().message()));
        } else {
          Refuse(req, res, "that token is not known to Strata");
        }
        return std::nullopt;
      }
      return Caller{std::move(*who), std::move(credential), "", ""};
    }
    const std::string id = CookieValue(req, kCookie);
    auto session = id.empty() ? std::nullopt : sessions_.Find(id);
    if (!session) {
      if (std::optional<std::string> subject = VerifiedCertificate(req))
        return CertificateSession(req, res, *subject);
      if (IsApi(req) || req.method != "GET") {
        Refuse(req, res, id.empty() ? "sign in first (or send Authorization: Bearer TOKEN)"
                                    : "your session has ended; sign in again");
      } else {
        res.status = 303;
        res.set_header("Location", fmt::format("/signin?next={}{}", Url(req.target), id.empty() ? "" : "&expired=1"));
      }
      return std::nullopt;
    }
    return Caller{std::move(session->who), std::move(session->credential), std::move(session->csrf), id};
  }

  // Under mTLS: the subject of the client certificate the browser sent and
  // OpenSSL verified against --tls-client-ca, in RFC 2253 form (as gRPC and
  // the token file's cert_subject write it).
  std::optional<std::string> VerifiedCertificate(const httplib::Request& req) const {
    if (options_.tls_client_ca.empty() || req.ssl == nullptr) return std::nullopt;
    if (SSL_get_verify_result(req.ssl) != X509_V_OK) return std::nullopt;
    X509* cert = SSL_get1_peer_certificate(req.ssl);
    if (cert == nullptr) return std::nullopt;
    std::string subject;
    if (BIO* bio = BIO_new(BIO_s_mem())) {
      if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
        char* data = nullptr;
        const long n = BIO_get_mem_data(bio, &data);
        if (n > 0) subject.assign(data, static_cast<size_t>(n));
      }
      BIO_free(bio);
    }
    X509_free(cert);
    if (subject.empty()) return std::nullopt;
    return subject;
  }

  // A browser that proved a client certificate and has no session: a
  // session for the certificate's user, whom the services resolve from the
  // subject the console passes on with its delegate credentials.
  std::optional<Caller> CertificateSession(const httplib::Request& req, httplib::Response& res,
                                           const std::string& subject) {
    Credential credential{options_.delegate_token, subject};
    auto who = WhoAmI(credential);
    if (!who.ok()) {
      if (who.status().code() == absl::StatusCode::kUnavailable) {
        ServiceDown(req, res, Service::kLock, std::string(who.status().message()));
      } else {
        spdlog::info("console: client certificate '{}' from {} refused: {}", subject, req.remote_addr,
                     std::string(who.status().message()));
        Refuse(req, res, fmt::format("Your client certificate ({}) is not accepted: {}. Sign in with a token instead.",
                                     subject, std::string(who.status().message())));
      }
      return std::nullopt;
    }
    spdlog::info("console: {} ({}) signed in with client certificate '{}' from {}", who->user, who->site, subject,
                 req.remote_addr);
    Identity identity = *who;
    const std::string id = sessions_.Create(credential, std::move(*who));
    auto session = sessions_.Find(id);
    if (!session) return std::nullopt;  // a TTL of zero: nothing to keep
    res.set_header("Set-Cookie", SessionCookie(id));
    return Caller{std::move(identity), std::move(credential), std::move(session->csrf), id};
  }

  std::string SessionCookie(const std::string& id) const {
    // A browser-session cookie: the console ends the session itself after
    // session_ttl, and then says so (a cookie that vanished could not).
    return fmt::format("{}={}; Path=/; HttpOnly; SameSite=Strict{}", kCookie, id,
                       tls_ || options_.secure_cookies ? "; Secure" : "");
  }

  void Refuse(const httplib::Request& req, httplib::Response& res, const std::string& why) {
    res.status = 401;
    if (IsApi(req) || req.get_header_value("Accept").find("text/html") == std::string::npos) {
      res.set_content(nlohmann::json{{"error", {{"code", "UNAUTHENTICATED"}, {"message", why}}}}.dump() + "\n",
                      "application/json");
    } else {
      SignInPage(req, res, 401, why);
    }
  }

  absl::StatusOr<Identity> WhoAmI(const Credential& credential) {
    v1::WhoAmIResponse me;
    auto ctx = Backend::Context(credential, absl::Seconds(5));
    grpc::Status s = backend_.Track(Service::kLock, backend_.lock().WhoAmI(ctx.get(), v1::WhoAmIRequest(), &me));
    if (!s.ok())
      return absl::Status(static_cast<absl::StatusCode>(s.error_code()), s.error_message());
    Identity who{me.user(), me.site(), me.server_site(), {me.roles().begin(), me.roles().end()},
                 {me.schemas().begin(), me.schemas().end()}, {me.environments().begin(), me.environments().end()}};
    return who;
  }

  // A state-changing request made with a cookie must carry the session's
  // CSRF token (form field or X-CSRF-Token header) and, when the browser
  // says where it comes from, come from this site.
  bool CsrfOk(const httplib::Request& req, const Caller& caller) {
    if (caller.session_id.empty()) return true;  // bearer: no ambient credential to abuse
    const std::string origin = req.get_header_value("Origin");
    if (!origin.empty() && origin != "null") {
      std::string_view host = origin;
      if (!ConsumePrefix(&host, "https://")) ConsumePrefix(&host, "http://");
      if (host != req.get_header_value("Host")) return false;
    }
    std::string sent = req.get_param_value("csrf");
    if (sent.empty()) sent = req.get_header_value("X-CSRF-Token");
    return !sent.empty() && SecretsEqual(sent, caller.csrf);
  }

  void SignInPage(const httplib::Request& req, httplib::Response& res, int status, const std::string& problem) {
    const std::string next = SafeNext(req.get_param_value("next"));
    std::string body = "<section class=\"signin\"><h1>Sign in to Strata</h1>";
    if (req.get_param_value("expired") == "1" && problem.empty())
      body += "<p class=\"notice bad\" role=\"alert\">Your session has ended. Sign in again.</p>";
    if (!problem.empty()) body += fmt::format("<p class=\"notice bad\" role=\"alert\" id=\"problem\">{}</p>", Esc(problem));
    body += fmt::format(
        "<form method=\"post\" action=\"/signin\"><input type=\"hidden\" name=\"next\" value=\"{}\">"
        "<label for=\"token\">Token</label><input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"off\" "
        "required autofocus><button type=\"submit\" id=\"signin\">Sign in</button></form>"
        "<p><small>The token from Strata's token file, the one the CLI uses (<code>--token</code>).</small></p>",
        Esc(next));
    if (problem.empty())
      if (std::optional<std::string> subject = VerifiedCertificate(req))
        body += fmt::format("<p id=\"certificate\">Your browser presented the client certificate <code>{}</code>: "
                            "<a href=\"{}\">continue with it</a>.</p>",
                            Esc(*subject), Esc(next));
    body += "</section>";
    res.status = status;
    res.set_header("Cache-Control", "no-store");
    res.set_content(Document(Frame{.title = "Sign in", .tab = "", .csrf = "", .who = nullptr, .live = ""}, body), "text/html; charset=utf-8");
  }

  void SignIn(const httplib::Request& req, httplib::Response& res) {
    const std::string token = req.get_param_value("token");
    const Credential credential{token, ""};
    auto who = token.empty() ? absl::UnauthenticatedError("empty") : WhoAmI(credential);
    if (!who.ok()) {
      if (who.status().code() == absl::StatusCode::kUnavailable)
        return SignInPage(req, res, 503, fmt::format("Strata's lock service ({}) is not reachable: {}",
                                                     backend_.Endpoint(Service::kLock), std::string(who.status().message())));
      spdlog::info("console: refused a sign-in from {} (unknown token)", req.remote_addr);
      return SignInPage(req, res, 401, "That token is not known to Strata.");
    }
    spdlog::info("console: {} ({}) signed in from {}", who->user, who->site, req.remote_addr);
    const std::string id = sessions_.Create(credential, std::move(*who));
    res.set_header("Set-Cookie", SessionCookie(id));
    res.status = 303;
    res.set_header("Location", SafeNext(req.get_param_value("next")));
  }

  void SignOut(const httplib::Request& req, httplib::Response& res) {
    auto caller = Authenticate(req, res);
    if (!caller) return;
    if (!CsrfOk(req, *caller)) return Error(req, res, *caller, 403, "PERMISSION_DENIED", "The request's CSRF token is missing or wrong.");
    sessions_.Remove(caller->session_id);
    res.set_header("Set-Cookie", fmt::format("{}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{}", kCookie,
                                             tls_ || options_.secure_cookies ? "; Secure" : ""));
    res.status = 303;
    res.set_header("Location", "/signin");
  }

  PageRequest RequestFor(const httplib::Request& req, const Caller& caller, std::string arg) {
    return PageRequest{caller.who, caller.credential, caller.csrf, ParamsOf(req), std::move(arg), options_};
  }

  void Serve(const httplib::Request& req, httplib::Response& res, Page (*fn)(Backend&, const PageRequest&),
             std::string arg) {
    const absl::Time start = absl::Now();
    auto caller = Authenticate(req, res);
    if (!caller) return;
    Page page = fn(backend_, RequestFor(req, *caller, std::move(arg)));
    if (page.error) return CallFailed(req, res, *caller, *page.error);
    res.set_header("Cache-Control", "no-store");
    // How long the page took here, services' calls included (browsers'
    // developer tools and the benchmark read it).
    const absl::Time made = absl::Now();
    struct Timing {
      httplib::Response& res;
      absl::Time start, made;
      ~Timing() {
        res.set_header("Server-Timing", fmt::format("page;dur={:.3f}, render;dur={:.3f}",
                                                    absl::ToDoubleMilliseconds(absl::Now() - start),
                                                    absl::ToDoubleMilliseconds(absl::Now() - made)));
      }
    } timing{res, start, made};
    if (IsApi(req)) {
      res.set_content(page.data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                      "application/json");
      return;
    }
    res.set_content(Document(Frame{page.title, page.tab, caller->csrf, &caller->who, page.live}, page.body),
                    "text/html; charset=utf-8");
  }

  void CallFailed(const httplib::Request& req, httplib::Response& res, const Caller& caller, const CallError& e) {
    const grpc::StatusCode code = e.status.error_code();
    if (code == grpc::StatusCode::UNAUTHENTICATED && !caller.session_id.empty()) {
      // The token was taken out of the token file: the session ends.
      sessions_.Remove(caller.session_id);
    }
    if (code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED)
      return ServiceDown(req, res, e.service, e.status.error_message());
    Error(req, res, caller, HttpStatusOf(code), CodeName(code), e.status.error_message(), e.service);
  }

  void ServiceDown(const httplib::Request& req, httplib::Response& res, Service service, const std::string& detail) {
    const absl::Time last = backend_.LastReached(service);
    const std::string when =
        last == absl::InfinitePast()
            ? "It has not answered since the console started."
            : fmt::format("It last answered at {} ({} ago).", TimeText(last), AgeText(absl::Now() - last));
    const std::string message = fmt::format("The {} service ({}) is not reachable: {}. {}", ServiceName(service),
                                            backend_.Endpoint(service), detail, when);
    res.status = 503;
    res.set_header("Retry-After", "5");
    if (IsApi(req)) {
      res.set_content(nlohmann::json{{"error",
                                      {{"code", "UNAVAILABLE"},
                                       {"message", message},
                                       {"service", ServiceName(service)},
                                       {"last_reached", last == absl::InfinitePast() ? "" : absl::FormatTime(last)}}}}
                              .dump() + "\n",
                      "application/json");
      return;
    }
    res.set_content(Document(Frame{.title = "Service unavailable", .tab = "", .csrf = "", .who = nullptr, .live = ""},
                             fmt::format("<h1>{} service unavailable</h1><p class=\"notice bad\" id=\"error\">{}</p>"
                                         "<p>Reload the page to try again.</p>",
                                         ServiceName(service), Esc(message))),
                    "text/html; charset=utf-8");
  }

  void Error(const httplib::Request& req, httplib::Response& res, const Caller& caller, int status,
             const char* code, const std::string& message, std::optional<Service> service = std::nullopt) {
    res.status = status;
    if (IsApi(req)) {
      nlohmann::json j = {{"error", {{"code", code}, {"message", message}}}};
      if (service) j["error"]["service"] = ServiceName(*service);
      res.set_content(j.dump() + "\n", "application/json");
      return;
    }
    static const std::map<int, const char*> kTitles = {{400, "Bad request"}, {401, "Signed out"},  {403, "Not allowed"},
                                                       {404, "Not found"},   {409, "Refused"},     {502, "Error"}};
    const auto title = kTitles.count(status) ? kTitles.at(status) : "Error";
    res.set_content(Document(Frame{.title = title, .tab = "", .csrf = caller.csrf, .who = &caller.who, .live = ""},
                             fmt::format("<h1>{}</h1><p class=\"notice bad\" id=\"error\">{}</p>"
                                         "<p><a href=\"/\">Back to the summary</a></p>",
                                         title, Esc(message))),
                    "text/html; charset=utf-8");
  }

  // /objects?q=sales.orders: the object page of what the text names.
  void FindObject(const httplib::Request& req, httplib::Response& res) {
    auto caller = Authenticate(req, res);
    if (!caller) return;
    const std::string q = req.get_param_value("q");
    if (q.empty()) return Error(req, res, *caller, 400, "INVALID_ARGUMENT", "Type an object's name, e.g. sales.orders.");
    v1::GetObjectRequest oreq;
    oreq.set_object(q);
    v1::ObjectHead head;
    auto ctx = Backend::Context(caller->credential);
    grpc::Status s = backend_.Track(Service::kLock, backend_.lock().GetObject(ctx.get(), oreq, &head));
    if (!s.ok()) return CallFailed(req, res, *caller, CallError{Service::kLock, s});
    res.status = 303;
    res.set_header("Location", "/objects/" + Url(head.object()));
  }

  void ForceRelease(const httplib::Request& req, httplib::Response& res) {
    auto caller = Authenticate(req, res);
    if (!caller) return;
    if (!CsrfOk(req, *caller))
      return Error(req, res, *caller, 403, "PERMISSION_DENIED", "The request's CSRF token is missing or wrong.");
    v1::ForceReleaseRequest freq;
    freq.set_object(req.get_param_value("object"));
    freq.set_reason(req.get_param_value("reason"));
    if (req.get_header_value("Content-Type").find("application/json") != std::string::npos) {
      auto body = nlohmann::json::parse(req.body, nullptr, false);
      if (body.is_object()) {
        freq.set_object(Str(body, "object"));
        freq.set_reason(Str(body, "reason"));
      }
    }
    v1::ForceReleaseResponse resp;
    auto ctx = Backend::Context(caller->credential);
    grpc::Status s = backend_.Track(Service::kLock, backend_.lock().ForceRelease(ctx.get(), freq, &resp));
    if (!s.ok()) return CallFailed(req, res, *caller, CallError{Service::kLock, s});
    spdlog::info("console: {} force-released {} ({})", caller->who.user, resp.object().object(), freq.reason());
    if (IsApi(req)) {
      res.set_content(ProtoJson(resp).dump() + "\n", "application/json");
      return;
    }
    res.status = 303;
    res.set_header("Location", "/locks?released=" + Url(resp.object().object()));
  }

  // The live feed: the history service's WatchAudit, in the caller's
  // scope, as Server-Sent Events (one "data:" line of JSON per record;
  // "event: ready" once the watch is in place; "event: down" when the
  // history service went away; comments as heartbeats).
  void Live(const httplib::Request& req, httplib::Response& res) ABSL_LOCKS_EXCLUDED(live_mu_) {
    auto caller = Authenticate(req, res);
    if (!caller) return;
    struct Stream {
      std::unique_ptr<grpc::ClientContext> ctx;
      std::unique_ptr<grpc::ClientReader<v1::AuditFeed>> reader;
      bool started = false;
    };
    auto stream = std::make_shared<Stream>();
    stream->ctx = std::make_unique<grpc::ClientContext>();
    if (!caller->credential.token.empty())
      stream->ctx->AddMetadata("authorization", "Bearer " + caller->credential.token);
    if (!caller->credential.on_behalf_of.empty())
      stream->ctx->AddMetadata("strata-on-behalf-of", caller->credential.on_behalf_of);
    {
      absl::MutexLock lock(&live_mu_);
      if (stopped_) return;
      live_.insert(stream->ctx.get());
    }
    stream->reader = backend_.history().WatchAudit(stream->ctx.get(), v1::WatchAuditRequest());
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no");  // proxies: do not hold events back
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, stream](size_t, httplib::DataSink& sink) {
          v1::AuditFeed feed;
          if (!stream->reader->Read(&feed)) {
            grpc::Status s = backend_.Track(Service::kHistory, stream->reader->Finish());
            const std::string why =
                stopped_ ? "the console is stopping"
                         : fmt::format("the history service ({}) ended the live feed: {}",
                                       backend_.Endpoint(Service::kHistory),
                                       s.ok() ? "it is shutting down" : s.error_message());
            const std::string out = fmt::format("retry: 2000\nevent: down\ndata: {}\n\n",
                                                nlohmann::json{{"message", why}, {"code", CodeName(s.error_code())}}.dump());
            sink.write(out.data(), out.size());
            sink.done();
            return true;
          }
          backend_.Track(Service::kHistory, grpc::Status::OK);
          std::string out;
          if (!stream->started) {
            stream->started = true;
            out += "retry: 2000\nevent: ready\ndata: {}\n\n";
          }
          if (feed.missed()) out += "event: missed\ndata: {}\n\n";
          for (const auto& r : feed.records()) out += "data: " + LiveItem(r).dump() + "\n\n";
          if (out.empty()) out = ": heartbeat\n\n";
          return sink.write(out.data(), out.size());
        },
        [this, stream](bool) {
          stream->ctx->TryCancel();
          absl::MutexLock lock(&live_mu_);
          live_.erase(stream->ctx.get());
        });
  }

  // The whole trail as JSON Lines, the CLI's `strata audit --export` format,
  // streamed from the history service.
  void Export(const httplib::Request& req, httplib::Response& res) {
    auto caller = Authenticate(req, res);
    if (!caller) return;
    struct Stream {
      std::unique_ptr<grpc::ClientContext> ctx;
      std::unique_ptr<grpc::ClientReader<v1::AuditChunk>> reader;
    };
    auto stream = std::make_shared<Stream>();
    stream->ctx = Backend::Context(caller->credential, absl::Hours(1));
    stream->reader = backend_.history().ExportAudit(stream->ctx.get(), v1::ExportAuditRequest());
    // The first chunk tells whether the export can start at all.
    auto first = std::make_shared<v1::AuditChunk>();
    if (!stream->reader->Read(first.get())) {
      grpc::Status s = backend_.Track(Service::kHistory, stream->reader->Finish());
      if (!s.ok()) return CallFailed(req, res, *caller, CallError{Service::kHistory, s});
      first.reset();
    }
    res.set_header("Content-Disposition", "attachment; filename=\"strata-audit.jsonl\"");
    res.set_header("Cache-Control", "no-store");
    res.set_chunked_content_provider(
        "application/x-ndjson",
        [this, stream, first](size_t, httplib::DataSink& sink) mutable {
          v1::AuditChunk chunk;
          if (first) {
            chunk = std::move(*first);
            first.reset();
          } else if (!stream->reader->Read(&chunk)) {
            grpc::Status s = backend_.Track(Service::kHistory, stream->reader->Finish());
            if (!s.ok()) return false;  // cut short: the download fails rather than look complete
            sink.done();
            return true;
          }
          std::string out;
          for (const auto& e : chunk.entries())
            out += fmt::format("{{\"hash\":\"{}\",\"prev_hash\":\"{}\",\"record\":{}}}\n", e.hash(), e.prev_hash(),
                               e.canonical());
          return sink.write(out.data(), out.size());
        },
        [stream](bool) { stream->ctx->TryCancel(); });
  }

  ConsoleOptions options_;
  Backend backend_;
  SessionStore sessions_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
  bool tls_ = false;
  std::atomic<bool> stopped_{false};
  // The contexts of the open live feeds, cancelled on Stop() so their
  // threads end.
  absl::Mutex live_mu_;  // guards live_ (stopped_ is atomic: no lock)
  std::set<grpc::ClientContext*> live_ ABSL_GUARDED_BY(live_mu_);
};

Console::Console(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Console::~Console() = default;
int Console::port() const { return impl_->port(); }
bool Console::tls() const { return impl_->tls(); }
void Console::Stop() { impl_->Stop(); }

absl::StatusOr<std::unique_ptr<Console>> Console::Start(ConsoleOptions options, ServiceChannels services) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(services));
  if (absl::Status s = impl->Start(); !s.ok()) return s;
  return std::unique_ptr<Console>(new Console(std::move(impl)));
}

}  // namespace strata::console
