#include "chaos/chaos.h"

#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "checker/checker.h"
#include "fmt/format.h"
#include "httplib.h"
#include "rocksdb/db.h"
#include "support/stack.h"

namespace strata::chaos {
namespace {

namespace fs = std::filesystem;
using checker::OpKind;
using checker::Outcome;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string Obj(int i) { return "table:chaos.t" + std::to_string(i); }
std::string User(int c) { return "racer" + std::to_string(c); }
constexpr char kDbaToken[] = "dana-token";
const char* const kSites[] = {"boston", "london", "tokyo"};

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token, milliseconds timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

// One lock instance (with strata-history beside the first on Kafka). The
// nemesis thread starts, kills and pauses it; clients read its endpoint,
// which changes when it restarts (a new port) and is empty while it is down.
class Instance {
 public:
  Instance(std::unique_ptr<testing::Stack> stack, std::string site) : stack_(std::move(stack)), site_(std::move(site)) {}

  // Nemesis thread (or the main thread while no other runs) only.
  void Start() {
    stack_->Start(site_, {"--metrics-listen", "127.0.0.1:0"});
    absl::MutexLock lock(&mu_);
    endpoint_ = stack_->endpoint();
  }
  void Stop(int sig) {
    {
      absl::MutexLock lock(&mu_);
      endpoint_.clear();
    }
    stack_->Stop(sig);
  }
  void Signal(int sig) {
    for (pid_t pid : stack_->pids()) kill(pid, sig);
  }
  testing::Stack& stack() { return *stack_; }

  std::string endpoint() const {
    absl::MutexLock lock(&mu_);
    return endpoint_;
  }

 private:
  std::unique_ptr<testing::Stack> stack_;
  const std::string site_;
  mutable absl::Mutex mu_;  // guards endpoint_ (clients read it, the nemesis writes it)
  std::string endpoint_ ABSL_GUARDED_BY(mu_);
};

// What happened to one call, for the recorder.
enum class Answer { kOk, kRefused, kNotApplied, kUnknown, kUnexpected };

Answer Classify(const grpc::Status& s) {
  if (s.ok()) return Answer::kOk;
  const std::string& m = s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::FAILED_PRECONDITION:
      return Answer::kRefused;
    case grpc::StatusCode::UNAVAILABLE:
      // The service said so, or the call never left the client. If either is
      // untrue, the checker sees an effect nobody may have caused.
      if (m.find("nothing was changed") != std::string::npos || m.find("failed to connect") != std::string::npos ||
          m.find("Connection refused") != std::string::npos)
        return Answer::kNotApplied;
      return Answer::kUnknown;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::ABORTED:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::UNKNOWN:
      return Answer::kUnknown;
    default:
      return Answer::kUnexpected;
  }
}

struct Shared {
  explicit Shared(const Options& o) : options(o) {}
  const Options& options;
  checker::Recorder recorder;
  std::vector<std::unique_ptr<Instance>> instances;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> unexpected{0}, discarded{0};
  absl::Mutex mu;  // guards faults and unexpected_examples
  std::map<std::string, int> faults ABSL_GUARDED_BY(mu);
  std::vector<std::string> unexpected_examples ABSL_GUARDED_BY(mu);
  void Fault(const std::string& kind) {
    absl::MutexLock lock(&mu);
    faults[kind]++;
  }
};

// One operation by client `c` through `stub`, recorded.
void RunOp(Shared& sh, v1::LockService::Stub& stub, int c, int object, OpKind kind, std::mt19937& rng) {
  const milliseconds timeout(sh.options.op_timeout_ms);
  const std::string token = testing::RacerToken(c);
  const int64_t id = sh.recorder.Invoke(User(c), Obj(object), kind);
  grpc::Status s;
  uint64_t version = 0;
  std::string holder;
  switch (kind) {
    case OpKind::kCheckOut: {
      v1::CheckOutRequest req;
      req.add_objects(Obj(object));
      v1::CheckOutResponse resp;
      s = stub.CheckOut(Ctx(token, timeout).get(), req, &resp);
      break;
    }
    case OpKind::kCheckIn: {
      v1::CheckInRequest req;
      req.set_object(Obj(object));
      req.set_definition(fmt::format("CREATE TABLE chaos.t{} (id int PRIMARY KEY, v int DEFAULT {});", object,
                                     rng() % 1000000));
      req.set_message("chaos");
      v1::CheckInResponse resp;
      s = stub.CheckIn(Ctx(token, timeout).get(), req, &resp);
      version = resp.object().latest_version();
      break;
    }
    case OpKind::kUndo: {
      v1::UndoCheckOutRequest req;
      req.add_objects(Obj(object));
      v1::UndoCheckOutResponse resp;
      s = stub.UndoCheckOut(Ctx(token, timeout).get(), req, &resp);
      break;
    }
    case OpKind::kForceRelease: {
      v1::ForceReleaseRequest req;
      req.set_object(Obj(object));
      req.set_reason("chaos");
      v1::ForceReleaseResponse resp;
      s = stub.ForceRelease(Ctx(kDbaToken, timeout).get(), req, &resp);
      break;
    }
    case OpKind::kShow: {
      v1::GetObjectRequest req;
      req.set_object(Obj(object));
      v1::ObjectHead resp;
      s = stub.GetObject(Ctx(token, timeout).get(), req, &resp);
      version = resp.latest_version();
      holder = resp.has_lock() ? resp.lock().user() : "";
      break;
    }
  }
  switch (Classify(s)) {
    case Answer::kOk:
      sh.recorder.Complete(id, Outcome::kOk, version, holder);
      break;
    case Answer::kRefused:
      sh.recorder.Complete(id, Outcome::kRefused);
      break;
    case Answer::kNotApplied:
      sh.recorder.Discard(id);
      sh.discarded++;
      break;
    case Answer::kUnknown:
      sh.recorder.Complete(id, Outcome::kUnknown);
      break;
    case Answer::kUnexpected: {
      sh.recorder.Complete(id, Outcome::kUnknown);
      sh.unexpected++;
      absl::MutexLock lock(&sh.mu);
      if (sh.unexpected_examples.size() < 5)
        sh.unexpected_examples.push_back(fmt::format("{} {} by {}: code {}: {}", checker::KindName(kind), Obj(object),
                                                     User(c), static_cast<int>(s.error_code()), s.error_message()));
      break;
    }
  }
}

void ClientLoop(Shared& sh, int c) {
  std::mt19937 rng(sh.options.seed * 1000003u + static_cast<uint32_t>(c));
  Instance& inst = *sh.instances[c % sh.instances.size()];
  std::string endpoint;
  std::unique_ptr<v1::LockService::Stub> stub;
  // Weights: check-out 30, check-in 20, undo 12, force-release 6, show 32.
  const std::pair<OpKind, int> kinds[] = {{OpKind::kCheckOut, 30},
                                          {OpKind::kCheckIn, 20},
                                          {OpKind::kUndo, 12},
                                          {OpKind::kForceRelease, 6},
                                          {OpKind::kShow, 32}};
  while (!sh.stop) {
    const std::string e = inst.endpoint();
    if (e.empty()) {
      std::this_thread::sleep_for(milliseconds(50));
      continue;
    }
    if (e != endpoint) {
      stub = v1::LockService::NewStub(grpc::CreateChannel(e, grpc::InsecureChannelCredentials()));
      endpoint = e;
    }
    int pick = static_cast<int>(rng() % 100);
    OpKind kind = OpKind::kShow;
    for (const auto& [k, w] : kinds) {
      if (pick < w) {
        kind = k;
        break;
      }
      pick -= w;
    }
    RunOp(sh, *stub, c, static_cast<int>(rng() % sh.options.objects), kind, rng);
    std::this_thread::sleep_for(milliseconds(2 + rng() % 40));
  }
}

// Injects one fault at a time and heals it before the next, until `end`.
void Nemesis(Shared& sh, Clock::time_point end, testing::Devbroker* broker) {
  std::mt19937 rng(sh.options.seed * 7919u + 17u);
  auto between = [&](int lo, int hi) { return milliseconds(lo + static_cast<int>(rng() % (hi - lo + 1))); };
  auto say = [&](const std::string& what) {
    if (sh.options.verbose) fmt::print("chaos: {}\n", what);
    std::fflush(stdout);
  };
  const bool kafka = broker != nullptr;
  while (Clock::now() < end) {
    std::this_thread::sleep_for(between(500, 2000));
    if (Clock::now() >= end) break;
    const int kind = static_cast<int>(rng() % (kafka ? 6 : 3));
    Instance& inst = *sh.instances[rng() % sh.instances.size()];
    if (!kafka) {
      if (kind == 0 || kind == 1) {
        // Kill -9 while clients are checking in: the embedded log is in the
        // middle of a group commit most of the time under this load.
        say("kill -9 strata-server");
        inst.Stop(SIGKILL);
        sh.Fault("kill -9 (embedded, during writes)");
        std::this_thread::sleep_for(between(100, 1500));
        inst.Start();
      } else {
        const milliseconds hold = milliseconds(sh.options.op_timeout_ms) + between(500, 2500);
        say(fmt::format("SIGSTOP strata-server for {} ms", hold.count()));
        inst.Signal(SIGSTOP);
        sh.Fault("SIGSTOP/SIGCONT");
        std::this_thread::sleep_for(hold);
        inst.Signal(SIGCONT);
      }
      continue;
    }
    switch (kind) {
      case 0: {
        const int id = rng() % 4 == 0 ? -1 : 1 + static_cast<int>(rng() % 3);
        const milliseconds hold = between(1000, 4000);
        say(fmt::format("broker {} down for {} ms", id, hold.count()));
        broker->Control(fmt::format("down {}", id));
        sh.Fault(id == -1 ? "all brokers down" : "one broker down");
        std::this_thread::sleep_for(hold);
        broker->Control(fmt::format("up {}", id));
        break;
      }
      case 1: {
        const char* const errors[] = {"NOT_ENOUGH_REPLICAS", "REQUEST_TIMED_OUT", "NOT_LEADER_FOR_PARTITION",
                                      "LEADER_NOT_AVAILABLE"};
        const std::string cmd = fmt::format("errors produce {} {}", 1 + rng() % 8, errors[rng() % 4]);
        say(cmd);
        broker->Control(cmd);
        sh.Fault("produce errors");
        break;
      }
      case 2: {
        const char* const errors[] = {"NOT_LEADER_FOR_PARTITION", "REQUEST_TIMED_OUT", "LEADER_NOT_AVAILABLE"};
        const std::string cmd = fmt::format("errors fetch {} {}", 1 + rng() % 8, errors[rng() % 3]);
        say(cmd);
        broker->Control(cmd);
        sh.Fault("fetch errors");
        break;
      }
      case 3: {
        const int rtt = 100 + static_cast<int>(rng() % 500);
        const milliseconds hold = between(2000, 5000);
        say(fmt::format("round trip {} ms for {} ms", rtt, hold.count()));
        for (int b = 1; b <= 3; ++b) broker->Control(fmt::format("rtt {} {}", b, rtt));
        sh.Fault("high round-trip time");
        std::this_thread::sleep_for(hold);
        for (int b = 1; b <= 3; ++b) broker->Control(fmt::format("rtt {} 0", b));
        break;
      }
      case 4: {
        say("kill -9 an instance");
        inst.Stop(SIGKILL);
        sh.Fault("kill -9 of an instance");
        std::this_thread::sleep_for(between(100, 2000));
        inst.Start();
        break;
      }
      case 5: {
        const milliseconds hold = milliseconds(sh.options.op_timeout_ms) + between(500, 2500);
        say(fmt::format("SIGSTOP an instance for {} ms", hold.count()));
        inst.Signal(SIGSTOP);
        sh.Fault("SIGSTOP/SIGCONT of an instance");
        std::this_thread::sleep_for(hold);
        inst.Signal(SIGCONT);
        break;
      }
    }
  }
}

// Waits until every projection a service process of `stack` reports has
// applied the whole log (its metrics say lag 0).
absl::Status WaitCaughtUp(testing::Stack& stack, const std::string& service, std::chrono::seconds timeout) {
  const auto until = Clock::now() + timeout;
  std::string last;
  while (Clock::now() < until) {
    const int port = testing::MetricsPort(stack, service);
    if (port > 0) {
      httplib::Client http("127.0.0.1", port);
      auto res = http.Get("/metrics");
      if (res && res->status == 200) {
        int series = 0, behind = 0;
        std::istringstream in(res->body);
        for (std::string line; std::getline(in, line);) {
          if (line.rfind("strata_projection_lag{", 0) != 0) continue;
          ++series;
          if (std::stod(line.substr(line.rfind(' ') + 1)) != 0) ++behind;
          last = line;
        }
        if (series > 0 && behind == 0) return absl::OkStatus();
      }
    }
    std::this_thread::sleep_for(milliseconds(100));
  }
  return absl::DeadlineExceededError(fmt::format("{} did not catch up with the log (last: {})", service, last));
}

// Every key and value of every column family of the RocksDB store at `path`.
absl::StatusOr<std::map<std::string, std::map<std::string, std::string>>> ReadStore(const std::string& path) {
  std::vector<std::string> families;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), path, &families);
  if (!s.ok()) return absl::InternalError(path + ": " + s.ToString());
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& f : families) descriptors.emplace_back(f, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), path, descriptors, &handles, &raw);
  if (!s.ok()) return absl::InternalError(path + ": " + s.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::map<std::string, std::map<std::string, std::string>> out;
  for (auto* h : handles) {
    auto& m = out[h->GetName()];
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), h));
    for (it->SeekToFirst(); it->Valid(); it->Next()) m.emplace(it->key().ToString(), it->value().ToString());
    db->DestroyColumnFamilyHandle(h);
  }
  return out;
}

std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char ch : s.substr(0, 80)) out += (ch >= 32 && ch < 127) ? std::string(1, ch) : fmt::format("\\x{:02x}", ch);
  return out;
}

// "" when the stores at `a` and `b` hold the same bytes, else the first
// difference.
std::string CompareStores(const std::string& a, const std::string& b) {
  auto x = ReadStore(a);
  auto y = ReadStore(b);
  if (!x.ok()) return std::string(x.status().message());
  if (!y.ok()) return std::string(y.status().message());
  int differing = 0;
  std::string first;
  for (const auto* pair : {&*x, &*y})
    for (const auto& [family, _] : *pair)
      if (!x->count(family) || !y->count(family)) return "column family " + family + " is in one store only";
  for (const auto& [family, keys] : *x) {
    const auto& other = y->at(family);
    auto i = keys.begin();
    auto j = other.begin();
    while (i != keys.end() || j != other.end()) {
      std::string what;
      if (j == other.end() || (i != keys.end() && i->first < j->first)) {
        what = fmt::format("key {} only in {}", Printable(i->first), a);
        ++i;
      } else if (i == keys.end() || j->first < i->first) {
        what = fmt::format("key {} only in {}", Printable(j->first), b);
        ++j;
      } else {
        if (i->second != j->second) what = fmt::format("key {} has different values", Printable(i->first));
        ++i;
        ++j;
      }
      if (!what.empty() && differing++ == 0) first = family + ": " + what;
    }
  }
  if (differing == 0) return "";
  return fmt::format("{} differing keys; first: {}", differing, first);
}

const char* const kStores[] = {"lock", "history", "impact", "deploy"};

}  // namespace

std::string Result::Summary() const {
  std::string faults_text;
  int total = 0;
  for (const auto& [k, n] : faults) {
    faults_text += fmt::format("\n  {:>5}  {}", n, k);
    total += n;
  }
  return fmt::format(
      "operations: {} ({} ok, {} refused, {} unknown; {} not applied and left out)\n"
      "faults injected: {}{}\n"
      "history: {} (checked in {:.2f} s)\n"
      "  double grants: {}, lost acknowledged check-ins: {}, stale reads: {}, other anomalies: {}, "
      "inconclusive: {}\n"
      "audit trail: {} ({} records){}\n"
      "projections: {} stores compared with a rebuild from the log, {} mismatches{}\n"
      "unexpected answers: {}\n"
      "verdict: {}",
      operations, ok, refused, unknown, discarded, total, faults_text, linearizable ? "linearizable" : "NOT linearizable",
      check_seconds, double_grants, lost_acknowledged, stale_reads, other_anomalies, inconclusive,
      audit_ok ? "verified" : "FAILED verification", audit_records, audit_problem.empty() ? "" : ": " + audit_problem,
      stores_compared, projection_mismatches, mismatch_detail.empty() ? "" : ": " + mismatch_detail, unexpected,
      passed() ? "PASS" : "FAIL");
}

absl::StatusOr<Result> Run(const Options& options) {
  if (options.clients < 1 || options.clients > testing::kRacers)
    return absl::InvalidArgumentError(fmt::format("--clients must be 1..{}", testing::kRacers));
  if (options.objects < 1) return absl::InvalidArgumentError("--objects must be at least 1");
  const bool kafka = options.backend == "kafka";
  if (!kafka && options.backend != "embedded") return absl::InvalidArgumentError("--backend is kafka or embedded");
  if (kafka && (options.instances < 1 || options.instances > 3))
    return absl::InvalidArgumentError("--instances must be 1..3");

  Shared sh(options);
  std::shared_ptr<testing::Devbroker> broker;
  try {
    if (kafka) broker = std::make_shared<testing::Devbroker>(4);
    const int n = kafka ? options.instances : 1;
    for (int i = 0; i < n; ++i) {
      sh.instances.push_back(std::make_unique<Instance>(
          std::make_unique<testing::Stack>(options.backend, broker, /*with_history=*/i == 0), kSites[i]));
      sh.instances.back()->Start();
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(std::string("could not start the services: ") + e.what());
  }

  // Objects at version 1, nobody holding them.
  {
    auto stub = sh.instances[0]->stack().Stub();
    for (int i = 0; i < options.objects; ++i) {
      v1::CheckOutRequest out;
      out.add_objects(Obj(i));
      v1::CheckOutResponse out_resp;
      grpc::Status s = stub->CheckOut(Ctx(testing::RacerToken(0), milliseconds(20000)).get(), out, &out_resp);
      if (!s.ok()) return absl::InternalError("setup check-out: " + s.error_message());
      v1::CheckInRequest in;
      in.set_object(Obj(i));
      in.set_definition(fmt::format("CREATE TABLE chaos.t{} (id int PRIMARY KEY, v int);", i));
      in.set_message("first");
      v1::CheckInResponse in_resp;
      s = stub->CheckIn(Ctx(testing::RacerToken(0), milliseconds(20000)).get(), in, &in_resp);
      if (!s.ok()) return absl::InternalError("setup check-in: " + s.error_message());
    }
  }

  const auto end = Clock::now() + std::chrono::seconds(options.seconds);
  std::vector<std::thread> clients;
  for (int c = 0; c < options.clients; ++c) clients.emplace_back([&sh, c] { ClientLoop(sh, c); });
  try {
    Nemesis(sh, end, broker.get());
    // Heal: every broker up at no delay, every instance running.
    if (broker) {
      broker->Control("up -1");
      for (int b = 1; b <= 3; ++b) broker->Control(fmt::format("rtt {} 0", b));
    }
    for (auto& inst : sh.instances) inst->Signal(SIGCONT);
  } catch (const std::exception& e) {
    sh.stop = true;
    for (auto& t : clients) t.join();
    return absl::UnavailableError(std::string("a service did not restart: ") + e.what());
  }
  // Let the clients run a little on the healed system, then stop them.
  std::this_thread::sleep_for(std::chrono::seconds(2));
  sh.stop = true;
  for (auto& t : clients) t.join();

  Result result;
  {
    absl::MutexLock lock(&sh.mu);
    result.faults = sh.faults;
    for (const auto& e : sh.unexpected_examples) fmt::print(stderr, "unexpected answer: {}\n", e);
  }
  result.unexpected = sh.unexpected;
  result.discarded = sh.discarded;

  // Every instance catches up; then a final show of every object at every
  // instance joins the history (the last word on what was acknowledged).
  for (auto& inst : sh.instances)
    if (absl::Status s = WaitCaughtUp(inst->stack(), "lock", std::chrono::seconds(120)); !s.ok()) return s;
  for (size_t i = 0; i < sh.instances.size(); ++i) {
    auto stub = sh.instances[i]->stack().Stub();
    for (int o = 0; o < options.objects; ++o) {
      const int64_t id = sh.recorder.Invoke("final" + std::to_string(i), Obj(o), OpKind::kShow);
      v1::GetObjectRequest req;
      req.set_object(Obj(o));
      v1::ObjectHead head;
      grpc::Status s = stub->GetObject(Ctx(testing::RacerToken(0), milliseconds(20000)).get(), req, &head);
      if (!s.ok()) return absl::UnavailableError("final show: " + s.error_message());
      sh.recorder.Complete(id, Outcome::kOk, head.latest_version(), head.has_lock() ? head.lock().user() : "");
    }
  }

  const std::vector<checker::Op> history = sh.recorder.ops();
  if (!options.out_dir.empty()) {
    fs::create_directories(options.out_dir);
    std::ofstream out(options.out_dir + "/history.jsonl");
    for (const auto& op : history) out << checker::ToJsonLine(op) << "\n";
  }
  checker::Options check;
  for (int o = 0; o < options.objects; ++o) check.initial_versions.emplace_back(Obj(o), 1);
  const auto started = Clock::now();
  const checker::Report report = checker::Check(history, check);
  result.check_seconds = std::chrono::duration<double>(Clock::now() - started).count();
  result.operations = report.operations;
  result.ok = report.ok;
  result.refused = report.refused;
  result.unknown = report.unknown;
  result.linearizable = report.valid();
  result.verdict = report.Summary();
  for (const auto& f : report.failures) {
    if (f.inconclusive) result.inconclusive++;
    else if (f.anomaly == "double grant") result.double_grants++;
    else if (f.anomaly == "lost acknowledged check-in") result.lost_acknowledged++;
    else if (f.anomaly == "stale read") result.stale_reads++;
    else result.other_anomalies++;
  }

  // The audit trail verifies.
  {
    auto history_stub = sh.instances[0]->stack().HistoryStub();
    if (absl::Status s = WaitCaughtUp(sh.instances[0]->stack(), "history", std::chrono::seconds(120)); !s.ok())
      return s;
    v1::VerifyAuditResponse v;
    grpc::Status s = history_stub->VerifyAudit(Ctx(kDbaToken, milliseconds(60000)).get(), {}, &v);
    if (!s.ok()) return absl::UnavailableError("VerifyAudit: " + s.error_message());
    result.audit_ok = v.ok();
    result.audit_records = v.records_checked();
    result.audit_problem = v.problem();
  }

  // Every projection against one rebuilt from the log.
  const std::string saved = fs::temp_directory_path() / fmt::format("strata-chaos-{}", getpid());
  fs::remove_all(saved);
  try {
    for (size_t i = 0; i < sh.instances.size(); ++i) {
      Instance& inst = *sh.instances[i];
      const std::string data = inst.stack().data_dir();
      inst.Stop(SIGTERM);
      std::vector<std::string> stores;
      for (const char* store : kStores)
        if (fs::exists(data + "/" + store)) {
          fs::create_directories(fmt::format("{}/{}", saved, i));
          fs::copy(data + "/" + store, fmt::format("{}/{}/{}", saved, i, store), fs::copy_options::recursive);
          stores.push_back(store);
        }
      inst.stack().WipeProjection();
      inst.Start();
      for (const char* service : {"lock", "history"})
        if (i == 0 || std::string(service) == "lock")
          if (absl::Status s = WaitCaughtUp(inst.stack(), service, std::chrono::seconds(120)); !s.ok()) return s;
      inst.Stop(SIGTERM);
      for (const auto& store : stores) {
        const std::string diff = CompareStores(fmt::format("{}/{}/{}", saved, i, store), data + "/" + store);
        result.stores_compared++;
        if (!diff.empty()) {
          result.projection_mismatches++;
          if (result.mismatch_detail.empty())
            result.mismatch_detail = fmt::format("instance {} {}: {}", i, store, diff);
        }
      }
      // On Kafka every instance's lock store is the same function of the log.
      if (i > 0) {
        const std::string diff = CompareStores(fmt::format("{}/0/lock", saved), fmt::format("{}/{}/lock", saved, i));
        result.stores_compared++;
        if (!diff.empty()) {
          result.projection_mismatches++;
          if (result.mismatch_detail.empty())
            result.mismatch_detail = fmt::format("instance 0 and {} lock: {}", i, diff);
        }
      }
    }
  } catch (const std::exception& e) {
    return absl::UnavailableError(std::string("projection comparison: ") + e.what());
  }
  fs::remove_all(saved);

  if (!options.out_dir.empty()) {
    std::ofstream(options.out_dir + "/summary.txt") << result.Summary() << "\n\n" << result.verdict << "\n";
  }
  return result;
}

}  // namespace strata::chaos
