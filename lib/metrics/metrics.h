// strata_metrics: Prometheus metrics for every Strata server.
//
// A Registry holds counters and histograms that code updates as things
// happen, and collectors that report gauges when scraped (log lag, state
// sizes). Render() produces the Prometheus text exposition format (0.0.4).
// Thread-safe; metric objects live as long as their registry, so callers may
// keep references.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace strata::metrics {

// Label name/value pairs, in the order they should be printed.
using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Increment(double by = 1);
  double value() const;

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value) ABSL_LOCKS_EXCLUDED(mu_);
  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::vector<double> bounds_;
  mutable absl::Mutex mu_;  // guards counts_, sum_ and count_; taken after Registry::mu_ (Render)
  std::vector<uint64_t> counts_ ABSL_GUARDED_BY(mu_);  // per bucket (not cumulative), last is +Inf
  double sum_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t count_ ABSL_GUARDED_BY(mu_) = 0;
};

// Latency buckets in seconds, 1 ms to 60 s.
const std::vector<double>& LatencyBuckets();

// What a collector reports at scrape time.
class GaugeSink {
 public:
  virtual ~GaugeSink() = default;
  virtual void Gauge(const std::string& name, const std::string& help, const Labels& labels, double value) = 0;
  virtual void CounterValue(const std::string& name, const std::string& help, const Labels& labels,
                            double value) = 0;
};

class Registry {
 public:
  // The process's registry, which servers expose.
  static Registry& Default();

  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {})
      ABSL_LOCKS_EXCLUDED(mu_);
  Histogram& GetHistogram(const std::string& name, const std::string& help, const Labels& labels = {},
                          const std::vector<double>& upper_bounds = LatencyBuckets()) ABSL_LOCKS_EXCLUDED(mu_);

  using Collector = std::function<void(GaugeSink&)>;
  // Registers a collector; the returned id removes it again.
  int AddCollector(Collector collector) ABSL_LOCKS_EXCLUDED(mu_);
  void RemoveCollector(int id) ABSL_LOCKS_EXCLUDED(mu_);

  // The Prometheus text format of everything registered.
  std::string Render() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Family {
    std::string type;  // "counter" or "histogram"
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  // Guards families_, collectors_ and next_collector_; held while Render takes
  // a Histogram's mu_; never held while a collector runs.
  mutable absl::Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
  std::map<int, Collector> collectors_ ABSL_GUARDED_BY(mu_);
  int next_collector_ ABSL_GUARDED_BY(mu_) = 1;
};

// Escapes a label value for the text format.
std::string EscapeLabelValue(const std::string& value);

}  // namespace strata::metrics
