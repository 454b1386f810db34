// flintd's own metrics in the Prometheus text exposition format (version 0.0.4).
//
//   MetricsRegistry registry;
//   auto& rpcs = registry.AddHistogram("flint_cri_rpc_duration_seconds", "CRI RPC latency.",
//                                      {"method", "code"}, DefaultLatencyBuckets());
//   rpcs.WithLabels({"RunPodSandbox", "OK"}).Observe(0.012);
//   std::string text = registry.Render();
//
// Families and children live as long as the registry; references to them stay valid, so hot paths
// resolve a child once and then only touch atomics (histograms take a per-child mutex).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace flint::stats {

class Counter {
 public:
  void Increment(double delta = 1.0);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double value) { value_.store(value, std::memory_order_relaxed); }
  void Add(double delta);
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double value);
  // Adds observations counted elsewhere: `per_bucket` (not cumulative, last = +Inf) must use this
  // histogram's bounds; extra entries are ignored.
  void AddObservations(const std::vector<uint64_t>& per_bucket, double sum);
  struct Snapshot {
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& upper_bounds() const { return bounds_; }

 private:
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative), last = +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

// 1 ms .. ~30 s, roughly x2.5 per step: fits CRI RPCs, pulls and fetches.
std::vector<double> DefaultLatencyBuckets();
// `count` bounds doubling from `first` seconds (flist-mount counts fetch latencies this way).
std::vector<double> DoublingBuckets(double first, int count);

template <typename Metric>
class Family {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names, std::vector<double> bounds = {})
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), bounds_(std::move(bounds)) {}
  // Values in the order of the family's label names; missing values are "".
  Metric& WithLabels(const std::vector<std::string>& values);

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  // Snapshot of children, ordered by label values (stable output).
  std::vector<std::pair<std::vector<std::string>, const Metric*>> Children() const;

 private:
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const std::vector<double> bounds_;
  mutable std::mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

class MetricsRegistry {
 public:
  // Adding a name twice returns the existing family (label names must match).
  Family<Counter>& AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>& AddGauge(const std::string& name, const std::string& help, std::vector<std::string> label_names = {});
  Family<Histogram>& AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names, std::vector<double> bounds);

  // Families in registration order, children sorted by labels.
  std::string Render() const;

 private:
  mutable std::mutex mu_;
  std::vector<std::string> order_;
  std::map<std::string, std::unique_ptr<Family<Counter>>> counters_;
  std::map<std::string, std::unique_ptr<Family<Gauge>>> gauges_;
  std::map<std::string, std::unique_ptr<Family<Histogram>>> histograms_;
};

// The metrics flintd exposes, registered in one place so names stay consistent.
struct FlintMetrics {
  explicit FlintMetrics(MetricsRegistry& registry);
  Family<Histogram>& rpc_duration_seconds;    // {method, code}
  Family<Counter>& image_pull_bytes_total;    // {}
  Family<Histogram>& image_pull_duration_seconds;  // {}
  Family<Counter>& flist_cache_hits_total;    // {}
  Family<Counter>& flist_cache_misses_total;  // {}
  Family<Histogram>& flist_fetch_duration_seconds;  // {}
  Family<Counter>& flist_mount_takeovers_total;  // {}
  Family<Counter>& flist_read_errors_total;       // {}
  Family<Counter>& flist_fetch_errors_total;      // {}
  Family<Counter>& flist_cache_write_errors_total;  // {}
  Family<Gauge>& shims;                       // {}
  Family<Gauge>& flist_mounts;                // {state: in_use|idle}
  Family<Counter>& redis_sink_dropped_total;  // {sink}: "logs" | "stats"
  Family<Counter>& redis_sink_published_total;  // {sink}: "logs" | "stats"
};

// Exposed for tests: Prometheus number and label-value formatting.
std::string FormatMetricValue(double value);
std::string EscapeLabelValue(const std::string& value);

}  // namespace flint::stats
