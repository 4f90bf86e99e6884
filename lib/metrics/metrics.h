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
#include <mutex>
#include <string>
#include <utility>
#include <vector>

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
  void Observe(double value);
  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative;  // per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
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

  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help, const Labels& labels = {},
                          const std::vector<double>& upper_bounds = LatencyBuckets());

  using Collector = std::function<void(GaugeSink&)>;
  // Registers a collector; the returned id removes it again.
  int AddCollector(Collector collector);
  void RemoveCollector(int id);

  // The Prometheus text format of everything registered.
  std::string Render() const;

 private:
  struct Family {
    std::string type;  // "counter" or "histogram"
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
  std::map<int, Collector> collectors_;
  int next_collector_ = 1;
};

// Escapes a label value for the text format.
std::string EscapeLabelValue(const std::string& value);

}  // namespace strata::metrics
