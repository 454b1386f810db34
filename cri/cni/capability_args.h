// Turning a pod request into CNI capability arguments (the `runtimeConfig` a plugin may ask for).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "cri/cni/pod_network.h"

namespace flint::cni {

inline constexpr char kIngressBandwidthAnnotation[] = "kubernetes.io/ingress-bandwidth";
inline constexpr char kEgressBandwidthAnnotation[] = "kubernetes.io/egress-bandwidth";

// A Kubernetes resource quantity ("10M", "1Mi", "2.5G", "1e6", "500k") as an integer, rounded up.
absl::StatusOr<uint64_t> ParseQuantity(const std::string& text);

// All capability args this pod offers, keyed by capability name. Keys with nothing to offer are absent.
// `pod_cidrs` is the comma-separated pod CIDR list from UpdateRuntimeConfig (may be empty).
// Bad bandwidth annotations are an InvalidArgument error naming the annotation.
absl::StatusOr<nlohmann::json> BuildCapabilityArgs(const PodNetworkRequest& request, const std::string& pod_cidrs);

// The subset of `capability_args` for the capabilities `plugin` declares true in its `capabilities` map.
nlohmann::json RuntimeConfigFor(const nlohmann::json& plugin, const nlohmann::json& capability_args);

// CNI_ARGS for a pod, as kubelet-era runtimes send it.
std::string BuildCniArgs(const PodNetworkRequest& request);

}  // namespace flint::cni
