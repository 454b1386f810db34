#include "cri/stats/cri_metrics.h"

#include <set>

#include "gtest/gtest.h"

namespace flint::stats {
namespace {

const CriMetricSample* Find(const std::vector<CriMetricSample>& samples, const std::string& name,
                            const std::string& interface = "") {
  for (const CriMetricSample& s : samples) {
    if (s.name == name && (interface.empty() || s.label_values.back() == interface)) return &s;
  }
  return nullptr;
}

TEST(CriMetricsTest, DescriptorsAreUniqueWithCadvisorLabels) {
  std::set<std::string> names;
  for (const CriMetricDescriptor& d : CriMetricDescriptors()) {
    EXPECT_TRUE(names.insert(d.name).second) << d.name;
    EXPECT_FALSE(d.help.empty()) << d.name;
    ASSERT_GE(d.label_keys.size(), 6u);
    EXPECT_EQ(std::vector<std::string>(d.label_keys.begin(), d.label_keys.begin() + 6),
              (std::vector<std::string>{"container", "id", "image", "name", "namespace", "pod"}));
    EXPECT_EQ(d.counter, d.name.ends_with("_total")) << d.name;
  }
  for (const char* required : {"container_cpu_usage_seconds_total", "container_memory_working_set_bytes",
                               "container_memory_usage_bytes", "container_memory_rss", "container_spec_memory_limit_bytes",
                               "container_network_receive_bytes_total", "container_network_transmit_bytes_total",
                               "container_processes", "container_fs_usage_bytes"}) {
    EXPECT_TRUE(names.contains(required)) << required;
  }
}

TEST(CriMetricsTest, ContainerSampleMapsEveryKnownField) {
  ContainerStatsSample sample;
  sample.cgroup.timestamp_ns = 42;
  sample.cgroup.cpu_usage_ns = 2'900'000'000;  // 2.9 s -> 2 whole seconds
  sample.cgroup.memory_usage_bytes = 1000;
  sample.cgroup.memory_working_set_bytes = 800;
  sample.cgroup.memory_rss_bytes = 600;
  sample.cgroup.memory_cache_bytes = 400;
  sample.cgroup.pids_current = 3;
  sample.writable_layer = DiskUsageSample{4096, 7, 41};
  CriMetricLabels labels{"app", "cid", "busybox:latest", "ns", "web"};
  std::vector<CriMetricSample> samples = ContainerCriMetrics(sample, labels);

  const CriMetricSample* cpu = Find(samples, "container_cpu_usage_seconds_total");
  ASSERT_NE(cpu, nullptr);
  EXPECT_EQ(cpu->value, 2u);
  EXPECT_TRUE(cpu->counter);
  EXPECT_EQ(cpu->timestamp_ns, 42);
  EXPECT_EQ(cpu->label_values, (std::vector<std::string>{"app", "cid", "busybox:latest", "cid", "ns", "web"}));
  EXPECT_EQ(Find(samples, "container_memory_usage_bytes")->value, 1000u);
  EXPECT_FALSE(Find(samples, "container_memory_usage_bytes")->counter);
  EXPECT_EQ(Find(samples, "container_memory_working_set_bytes")->value, 800u);
  EXPECT_EQ(Find(samples, "container_memory_rss")->value, 600u);
  EXPECT_EQ(Find(samples, "container_memory_cache")->value, 400u);
  EXPECT_EQ(Find(samples, "container_spec_memory_limit_bytes")->value, 0u) << "unlimited";
  EXPECT_EQ(Find(samples, "container_processes")->value, 3u);
  EXPECT_EQ(Find(samples, "container_fs_usage_bytes")->value, 4096u);
  EXPECT_EQ(Find(samples, "container_fs_usage_bytes")->timestamp_ns, 41);
  EXPECT_EQ(Find(samples, "container_fs_inodes_used")->value, 7u);
  // Unset fields give no metric rather than a misleading 0.
  EXPECT_EQ(Find(samples, "container_memory_swap"), nullptr);
  EXPECT_EQ(Find(samples, "container_oom_events_total"), nullptr);

  sample.cgroup.memory_limit_bytes = 1 << 20;
  samples = ContainerCriMetrics(sample, labels);
  EXPECT_EQ(Find(samples, "container_spec_memory_limit_bytes")->value, 1u << 20);
  // Every sample's labels line up with its descriptor's keys.
  for (const CriMetricSample& s : samples) {
    for (const CriMetricDescriptor& d : CriMetricDescriptors()) {
      if (d.name == s.name) {
        EXPECT_EQ(d.label_keys.size(), s.label_values.size()) << s.name;
      }
    }
  }
}

TEST(CriMetricsTest, PodNetworkPerInterface) {
  PodStatsSample pod;
  pod.network_timestamp_ns = 9;
  pod.interfaces = {{"eth0", 100, 1, 200, 2}, {"net1", 5, 0, 6, 0}};
  std::vector<CriMetricSample> samples = PodNetworkCriMetrics(pod, {"POD", "sandbox", "", "ns", "web"});
  EXPECT_EQ(samples.size(), 8u);
  const CriMetricSample* rx = Find(samples, "container_network_receive_bytes_total", "eth0");
  ASSERT_NE(rx, nullptr);
  EXPECT_EQ(rx->value, 100u);
  EXPECT_TRUE(rx->counter);
  EXPECT_EQ(rx->label_values, (std::vector<std::string>{"POD", "sandbox", "", "sandbox", "ns", "web", "eth0"}));
  EXPECT_EQ(Find(samples, "container_network_transmit_bytes_total", "eth0")->value, 200u);
  EXPECT_EQ(Find(samples, "container_network_receive_errors_total", "eth0")->value, 1u);
  EXPECT_EQ(Find(samples, "container_network_transmit_errors_total", "eth0")->value, 2u);
  EXPECT_EQ(Find(samples, "container_network_transmit_bytes_total", "net1")->value, 6u);
  EXPECT_EQ(Find(samples, "container_network_receive_bytes_total", "eth0")->timestamp_ns, 9);
}

}  // namespace
}  // namespace flint::stats
