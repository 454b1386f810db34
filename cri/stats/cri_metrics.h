// What ListMetricDescriptors / ListPodSandboxMetrics serve (the kubelet's "CRI metrics" mode,
// where it stops running cAdvisor for containers): cAdvisor's metric names and label names, built
// from the same samples as ContainerStats / PodSandboxStats. Plain structs, so the mapping is
// tested without gRPC; cri/server copies them into the CRI messages.
//
// Every metric carries the labels container, id, image, name, namespace, pod (cAdvisor's, with
// id = name = the CRI container id); network metrics add interface and are pod-level
// (container="POD", as cAdvisor labels the sandbox). CRI metric values are unsigned integers, so
// container_cpu_usage_seconds_total is whole seconds (truncated).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cri/stats/stats_collector.h"

namespace flint::stats {

struct CriMetricDescriptor {
  std::string name;
  std::string help;
  std::vector<std::string> label_keys;
  bool counter = false;
};
const std::vector<CriMetricDescriptor>& CriMetricDescriptors();

struct CriMetricLabels {
  std::string container;  // container name ("POD" for pod-level metrics)
  std::string id;         // container id (sandbox id for pod-level metrics)
  std::string image;
  std::string namespace_;
  std::string pod;
};

struct CriMetricSample {
  std::string name;
  bool counter = false;
  int64_t timestamp_ns = 0;
  std::vector<std::string> label_values;  // in the descriptor's label_keys order
  uint64_t value = 0;
};

// Fields missing from the sample produce no metric (as the stats RPCs leave them unset).
std::vector<CriMetricSample> ContainerCriMetrics(const ContainerStatsSample& sample, const CriMetricLabels& labels);
std::vector<CriMetricSample> PodNetworkCriMetrics(const PodStatsSample& sample, const CriMetricLabels& labels);

}  // namespace flint::stats
