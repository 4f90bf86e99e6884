#include "metrics/metrics.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"

namespace strata::metrics {

void Counter::Increment(double by) {
  double current = value_.load(std::memory_order_relaxed);
  while (!value_.compare_exchange_weak(current, current + by, std::memory_order_relaxed)) {
  }
}

double Counter::value() const { return value_.load(std::memory_order_relaxed); }

Histogram::Histogram(std::vector<double> upper_bounds)
    : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::Observe(double value) {
  const size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  absl::MutexLock lock(&mu_);
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.upper_bounds = bounds_;
  absl::MutexLock lock(&mu_);
  uint64_t running = 0;
  for (uint64_t c : counts_) s.cumulative.push_back(running += c);
  s.sum = sum_;
  s.count = count_;
  return s;
}

const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                               0.25,  0.5,    1,     2.5,  5,     10,   30, 60};
  return kBuckets;
}

Registry& Registry::Default() {
  static Registry* registry = new Registry();  // never destroyed: used until exit
  return *registry;
}

Counter& Registry::GetCounter(const std::string& name, const std::string& help, const Labels& labels) {
  absl::MutexLock lock(&mu_);
  Family& f = families_[name];
  f.type = "counter";
  f.help = help;
  auto& slot = f.counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help, const Labels& labels,
                                  const std::vector<double>& upper_bounds) {
  absl::MutexLock lock(&mu_);
  Family& f = families_[name];
  f.type = "histogram";
  f.help = help;
  auto& slot = f.histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(upper_bounds);
  return *slot;
}

int Registry::AddCollector(Collector collector) {
  absl::MutexLock lock(&mu_);
  collectors_[next_collector_] = std::move(collector);
  return next_collector_++;
}

void Registry::RemoveCollector(int id) {
  absl::MutexLock lock(&mu_);
  collectors_.erase(id);
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

std::string LabelText(const Labels& labels, const std::string& extra_name = "", const std::string& extra_value = "") {
  std::vector<std::string> parts;
  for (const auto& [k, v] : labels) parts.push_back(fmt::format("{}=\"{}\"", k, EscapeLabelValue(v)));
  if (!extra_name.empty()) parts.push_back(fmt::format("{}=\"{}\"", extra_name, extra_value));
  if (parts.empty()) return "";
  return "{" + fmt::format("{}", fmt::join(parts, ",")) + "}";
}

std::string Number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<int64_t>(v));
  return fmt::format("{}", v);
}

// Collects gauge samples grouped by metric name, so HELP/TYPE print once.
class TextSink : public GaugeSink {
 public:
  struct Metric {
    std::string type, help;
    std::vector<std::pair<Labels, double>> samples;
  };
  void Gauge(const std::string& name, const std::string& help, const Labels& labels, double value) override {
    Add(name, "gauge", help, labels, value);
  }
  void CounterValue(const std::string& name, const std::string& help, const Labels& labels,
                    double value) override {
    Add(name, "counter", help, labels, value);
  }
  std::map<std::string, Metric> metrics;

 private:
  void Add(const std::string& name, const char* type, const std::string& help, const Labels& labels, double v) {
    Metric& m = metrics[name];
    m.type = type;
    m.help = help;
    m.samples.emplace_back(labels, v);
  }
};

void Header(std::string& out, const std::string& name, const std::string& type, const std::string& help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string Registry::Render() const {
  std::vector<Collector> collectors;
  std::string out;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, c] : collectors_) collectors.push_back(c);
    for (const auto& [name, f] : families_) {
      Header(out, name, f.type, f.help);
      for (const auto& [labels, c] : f.counters)
        out += fmt::format("{}{} {}\n", name, LabelText(labels), Number(c->value()));
      for (const auto& [labels, h] : f.histograms) {
        const Histogram::Snapshot s = h->snapshot();
        for (size_t i = 0; i < s.upper_bounds.size(); ++i)
          out += fmt::format("{}_bucket{} {}\n", name, LabelText(labels, "le", Number(s.upper_bounds[i])),
                             s.cumulative[i]);
        out += fmt::format("{}_bucket{} {}\n", name, LabelText(labels, "le", "+Inf"), s.count);
        out += fmt::format("{}_sum{} {}\n", name, LabelText(labels), Number(s.sum));
        out += fmt::format("{}_count{} {}\n", name, LabelText(labels), s.count);
      }
    }
  }
  // Collectors run without the lock: they may take their time (log offsets).
  TextSink sink;
  for (const auto& c : collectors) c(sink);
  for (const auto& [name, m] : sink.metrics) {
    Header(out, name, m.type, m.help);
    for (const auto& [labels, v] : m.samples) out += fmt::format("{}{} {}\n", name, LabelText(labels), Number(v));
  }
  return out;
}

}  // namespace strata::metrics
