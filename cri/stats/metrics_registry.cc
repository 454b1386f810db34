#include "cri/stats/metrics_registry.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"

namespace flint::stats {
namespace {

template <typename T>
void AtomicAdd(std::atomic<T>& target, T delta) {
  T current = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(current, current + delta, std::memory_order_relaxed)) {
  }
}

std::string EscapeHelp(const std::string& help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string LabelSet(const std::vector<std::string>& names, const std::vector<std::string>& values,
                     const std::string& extra_name = "", const std::string& extra_value = "") {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    absl::StrAppend(&out, out.empty() ? "" : ",", names[i], "=\"", EscapeLabelValue(values[i]), "\"");
  }
  if (!extra_name.empty()) absl::StrAppend(&out, out.empty() ? "" : ",", extra_name, "=\"", extra_value, "\"");
  return out.empty() ? "" : absl::StrCat("{", out, "}");
}

void RenderHeader(std::string& out, const std::string& name, const std::string& help, const char* type) {
  absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(help), "\n# TYPE ", name, " ", type, "\n");
}

}  // namespace

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  if (value == std::floor(value) && std::fabs(value) < 1e15) return absl::StrCat(static_cast<int64_t>(value));
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.17g", value);
  return buf;
}

std::string EscapeLabelValue(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void Counter::Increment(double delta) {
  if (delta < 0) return;  // counters only go up
  AtomicAdd(value_, delta);
}

void Gauge::Add(double delta) { AtomicAdd(value_, delta); }

Histogram::Histogram(std::vector<double> upper_bounds) : bounds_(std::move(upper_bounds)), counts_(bounds_.size() + 1) {}

void Histogram::Observe(double value) {
  size_t bucket = std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin();
  std::lock_guard<std::mutex> lock(mu_);
  ++counts_[bucket];
  sum_ += value;
  ++count_;
}

void Histogram::AddObservations(const std::vector<uint64_t>& per_bucket, double sum) {
  std::lock_guard<std::mutex> lock(mu_);
  for (size_t i = 0; i < per_bucket.size() && i < counts_.size(); ++i) {
    counts_[i] += per_bucket[i];
    count_ += per_bucket[i];
  }
  sum_ += sum;
}

std::vector<double> DoublingBuckets(double first, int count) {
  std::vector<double> bounds;
  for (int i = 0; i < count; ++i) bounds.push_back(first * static_cast<double>(uint64_t{1} << i));
  return bounds;
}

Histogram::Snapshot Histogram::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  Snapshot snap;
  uint64_t running = 0;
  for (uint64_t c : counts_) {
    running += c;
    snap.cumulative_counts.push_back(running);
  }
  snap.sum = sum_;
  snap.count = count_;
  return snap;
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
}

template <typename Metric>
Metric& Family<Metric>::WithLabels(const std::vector<std::string>& values) {
  std::vector<std::string> key = values;
  key.resize(label_names_.size());
  std::lock_guard<std::mutex> lock(mu_);
  std::unique_ptr<Metric>& slot = children_[key];
  if (!slot) {
    if constexpr (std::is_same_v<Metric, Histogram>) {
      slot = std::make_unique<Histogram>(bounds_);
    } else {
      slot = std::make_unique<Metric>();
    }
  }
  return *slot;
}

template <typename Metric>
std::vector<std::pair<std::vector<std::string>, const Metric*>> Family<Metric>::Children() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::pair<std::vector<std::string>, const Metric*>> out;
  for (const auto& [labels, metric] : children_) out.emplace_back(labels, metric.get());
  return out;
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

Family<Counter>& MetricsRegistry::AddCounter(const std::string& name, const std::string& help,
                                             std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = counters_[name];
  if (!slot) {
    slot = std::make_unique<Family<Counter>>(name, help, std::move(label_names));
    order_.push_back(name);
  }
  return *slot;
}

Family<Gauge>& MetricsRegistry::AddGauge(const std::string& name, const std::string& help,
                                         std::vector<std::string> label_names) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = gauges_[name];
  if (!slot) {
    slot = std::make_unique<Family<Gauge>>(name, help, std::move(label_names));
    order_.push_back(name);
  }
  return *slot;
}

Family<Histogram>& MetricsRegistry::AddHistogram(const std::string& name, const std::string& help,
                                                 std::vector<std::string> label_names, std::vector<double> bounds) {
  std::sort(bounds.begin(), bounds.end());
  std::lock_guard<std::mutex> lock(mu_);
  auto& slot = histograms_[name];
  if (!slot) {
    slot = std::make_unique<Family<Histogram>>(name, help, std::move(label_names), std::move(bounds));
    order_.push_back(name);
  }
  return *slot;
}

std::string MetricsRegistry::Render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const std::string& name : order_) {
    if (auto it = counters_.find(name); it != counters_.end()) {
      const auto& family = *it->second;
      RenderHeader(out, name, family.help(), "counter");
      for (const auto& [labels, counter] : family.Children()) {
        absl::StrAppend(&out, name, LabelSet(family.label_names(), labels), " ", FormatMetricValue(counter->value()), "\n");
      }
    } else if (auto it = gauges_.find(name); it != gauges_.end()) {
      const auto& family = *it->second;
      RenderHeader(out, name, family.help(), "gauge");
      for (const auto& [labels, gauge] : family.Children()) {
        absl::StrAppend(&out, name, LabelSet(family.label_names(), labels), " ", FormatMetricValue(gauge->value()), "\n");
      }
    } else if (auto it = histograms_.find(name); it != histograms_.end()) {
      const auto& family = *it->second;
      RenderHeader(out, name, family.help(), "histogram");
      for (const auto& [labels, histogram] : family.Children()) {
        Histogram::Snapshot snap = histogram->snapshot();
        const std::vector<double>& bounds = histogram->upper_bounds();
        for (size_t i = 0; i <= bounds.size(); ++i) {
          std::string le = i < bounds.size() ? FormatMetricValue(bounds[i]) : "+Inf";
          absl::StrAppend(&out, name, "_bucket", LabelSet(family.label_names(), labels, "le", le), " ",
                          snap.cumulative_counts[i], "\n");
        }
        absl::StrAppend(&out, name, "_sum", LabelSet(family.label_names(), labels), " ", FormatMetricValue(snap.sum), "\n");
        absl::StrAppend(&out, name, "_count", LabelSet(family.label_names(), labels), " ", snap.count, "\n");
      }
    }
  }
  return out;
}

FlintMetrics::FlintMetrics(MetricsRegistry& registry)
    : rpc_duration_seconds(registry.AddHistogram("flint_cri_rpc_duration_seconds",
                                                 "Latency of CRI RPCs handled by flintd.", {"method", "code"},
                                                 DefaultLatencyBuckets())),
      image_pull_bytes_total(registry.AddCounter("flint_image_pull_bytes_total",
                                                 "Bytes downloaded from registries by image pulls.")),
      image_pull_duration_seconds(registry.AddHistogram("flint_image_pull_duration_seconds",
                                                        "Duration of successful image pulls.", {},
                                                        DefaultLatencyBuckets())),
      flist_cache_hits_total(registry.AddCounter("flint_flist_cache_hits_total",
                                                 "Flist chunk reads served from the local cache.")),
      flist_cache_misses_total(registry.AddCounter("flint_flist_cache_misses_total",
                                                   "Flist chunk reads that had to be fetched.")),
      flist_fetch_duration_seconds(registry.AddHistogram("flint_flist_fetch_duration_seconds",
                                                         "Latency of fetching one flist chunk from its backend.", {},
                                                         DoublingBuckets(128e-6, 20))),
      flist_mount_takeovers_total(registry.AddCounter(
          "flint_flist_mount_takeovers_total",
          "Times a flist mount's server died and its keeper started another on the same mount.")),
      flist_read_errors_total(registry.AddCounter(
          "flint_flist_read_errors_total",
          "Reads from flist mounts that failed with EIO: a chunk could not be fetched or verified.")),
      flist_fetch_errors_total(registry.AddCounter(
          "flint_flist_fetch_errors_total",
          "Flist chunk fetches that failed (store down or slow, chunk missing or corrupt), prefetches included.")),
      flist_cache_write_errors_total(registry.AddCounter(
          "flint_flist_cache_write_errors_total",
          "Fetched flist chunks the cache could not keep (disk full or failing); they were served anyway.")),
      shims(registry.AddGauge("flint_shims", "Running flint-shim processes.")),
      flist_mounts(registry.AddGauge("flint_flist_mounts",
                                     "Flist image mounts: in_use by containers, or idle (kept for the image's next pod "
                                     "for flist.mount_idle_seconds).",
                                     {"state"})),
      redis_sink_dropped_total(registry.AddCounter("flint_redis_sink_dropped_total",
                                                   "Messages dropped by Redis log/stats sinks.", {"sink"})),
      redis_sink_published_total(registry.AddCounter("flint_redis_sink_published_total",
                                                     "Messages published by Redis log/stats sinks.", {"sink"})) {}

}  // namespace flint::stats
