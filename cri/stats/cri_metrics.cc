#include "cri/stats/cri_metrics.h"

namespace flint::stats {
namespace {

const std::vector<std::string>& BaseLabelKeys() {
  static const std::vector<std::string> keys = {"container", "id", "image", "name", "namespace", "pod"};
  return keys;
}

std::vector<std::string> BaseLabelValues(const CriMetricLabels& labels) {
  return {labels.container, labels.id, labels.image, labels.id, labels.namespace_, labels.pod};
}

std::vector<std::string> WithInterface(std::vector<std::string> base, const std::string& interface) {
  base.push_back(interface);
  return base;
}

const CriMetricDescriptor* Find(const std::string& name) {
  for (const CriMetricDescriptor& d : CriMetricDescriptors()) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

void Add(std::vector<CriMetricSample>* out, const char* name, int64_t timestamp_ns, std::vector<std::string> labels,
         std::optional<uint64_t> value) {
  if (!value) return;
  const CriMetricDescriptor* d = Find(name);
  out->push_back(CriMetricSample{name, d != nullptr && d->counter, timestamp_ns, std::move(labels), *value});
}

}  // namespace

const std::vector<CriMetricDescriptor>& CriMetricDescriptors() {
  static const std::vector<CriMetricDescriptor> descriptors = [] {
    const std::vector<std::string>& base = BaseLabelKeys();
    std::vector<std::string> per_interface = WithInterface(base, "interface");
    return std::vector<CriMetricDescriptor>{
        {"container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", base, true},
        {"container_memory_usage_bytes", "Current memory usage in bytes, including all memory regardless of when it was accessed.", base, false},
        {"container_memory_working_set_bytes", "Current working set in bytes.", base, false},
        {"container_memory_rss", "Size of RSS in bytes.", base, false},
        {"container_memory_cache", "Number of bytes of page cache memory.", base, false},
        {"container_memory_swap", "Container swap usage in bytes.", base, false},
        {"container_spec_memory_limit_bytes", "Memory limit for the container (0: unlimited).", base, false},
        {"container_oom_events_total", "Count of out of memory events observed for the container.", base, true},
        {"container_processes", "Number of processes running inside the container.", base, false},
        {"container_fs_usage_bytes", "Number of bytes that are consumed by the container's writable layer.", base, false},
        {"container_fs_inodes_used", "Number of inodes used by the container's writable layer.", base, false},
        {"container_network_receive_bytes_total", "Cumulative count of bytes received.", per_interface, true},
        {"container_network_receive_errors_total", "Cumulative count of errors encountered while receiving.", per_interface, true},
        {"container_network_transmit_bytes_total", "Cumulative count of bytes transmitted.", per_interface, true},
        {"container_network_transmit_errors_total", "Cumulative count of errors encountered while transmitting.", per_interface, true},
    };
  }();
  return descriptors;
}

std::vector<CriMetricSample> ContainerCriMetrics(const ContainerStatsSample& sample, const CriMetricLabels& labels) {
  std::vector<CriMetricSample> out;
  const CgroupStats& c = sample.cgroup;
  const std::vector<std::string> values = BaseLabelValues(labels);
  const int64_t ts = c.timestamp_ns;
  std::optional<uint64_t> cpu_seconds;
  if (c.cpu_usage_ns) cpu_seconds = *c.cpu_usage_ns / 1000000000;
  Add(&out, "container_cpu_usage_seconds_total", ts, values, cpu_seconds);
  Add(&out, "container_memory_usage_bytes", ts, values, c.memory_usage_bytes);
  Add(&out, "container_memory_working_set_bytes", ts, values, c.memory_working_set_bytes);
  Add(&out, "container_memory_rss", ts, values, c.memory_rss_bytes);
  Add(&out, "container_memory_cache", ts, values, c.memory_cache_bytes);
  Add(&out, "container_memory_swap", ts, values, c.swap_usage_bytes);
  if (c.memory_usage_bytes) {
    // cAdvisor reports 0 for "no limit"; only when the memory controller was readable at all.
    Add(&out, "container_spec_memory_limit_bytes", ts, values, c.memory_limit_bytes.value_or(0));
  }
  Add(&out, "container_oom_events_total", ts, values, c.oom_kills);
  Add(&out, "container_processes", ts, values, c.pids_current);
  if (sample.writable_layer) {
    const DiskUsageSample& layer = *sample.writable_layer;
    Add(&out, "container_fs_usage_bytes", layer.timestamp_ns, values, layer.bytes);
    Add(&out, "container_fs_inodes_used", layer.timestamp_ns, values, layer.inodes);
  }
  return out;
}

std::vector<CriMetricSample> PodNetworkCriMetrics(const PodStatsSample& sample, const CriMetricLabels& labels) {
  std::vector<CriMetricSample> out;
  const std::vector<std::string> base = BaseLabelValues(labels);
  const int64_t ts = sample.network_timestamp_ns;
  for (const InterfaceStats& iface : sample.interfaces) {
    std::vector<std::string> values = WithInterface(base, iface.name);
    Add(&out, "container_network_receive_bytes_total", ts, values, iface.rx_bytes);
    Add(&out, "container_network_receive_errors_total", ts, values, iface.rx_errors);
    Add(&out, "container_network_transmit_bytes_total", ts, values, iface.tx_bytes);
    Add(&out, "container_network_transmit_errors_total", ts, values, iface.tx_errors);
  }
  return out;
}

}  // namespace flint::stats
