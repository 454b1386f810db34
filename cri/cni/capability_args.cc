#include "cri/cni/capability_args.h"

#include <cmath>
#include <cstdlib>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace flint::cni {
namespace {

struct Suffix {
  const char* text;
  long double factor;
};
// Longest first so that "Mi" wins over "M".
constexpr Suffix kSuffixes[] = {
    {"Ki", 1024.0L}, {"Mi", 1048576.0L}, {"Gi", 1073741824.0L}, {"Ti", 1099511627776.0L},
    {"Pi", 1125899906842624.0L}, {"Ei", 1152921504606846976.0L}, {"n", 1e-9L}, {"u", 1e-6L}, {"m", 1e-3L},
    {"k", 1e3L}, {"M", 1e6L}, {"G", 1e9L}, {"T", 1e12L}, {"P", 1e15L}, {"E", 1e18L},
};

// Kubelet refuses limits outside [1k, 1P] bits/s; so do we, rather than hand the plugin nonsense.
constexpr long double kMinBandwidth = 1e3L;
constexpr long double kMaxBandwidth = 1e15L;
// containerd offers the largest burst the plugin accepts, leaving shaping to the rate.
constexpr uint64_t kBurstBits = std::numeric_limits<uint32_t>::max();

absl::StatusOr<long double> ParseQuantityValue(const std::string& text) {
  std::string s(absl::StripAsciiWhitespace(text));
  if (s.empty()) return absl::InvalidArgumentError("empty quantity");
  size_t number_end = 0;
  while (number_end < s.size() && (absl::ascii_isdigit(s[number_end]) || s[number_end] == '.' ||
                                   ((s[number_end] == '+' || s[number_end] == '-') && number_end == 0)))
    ++number_end;
  std::string number = s.substr(0, number_end);
  std::string suffix = s.substr(number_end);
  if (number.empty() || number == "+" || number == "-" || number == ".")
    return absl::InvalidArgumentError(absl::StrCat("quantity \"", s, "\" has no number"));
  char* end = nullptr;
  long double value = std::strtold(number.c_str(), &end);
  if (end != number.c_str() + number.size()) return absl::InvalidArgumentError(absl::StrCat("bad quantity \"", s, "\""));
  if (suffix.empty()) return value;
  if (suffix[0] == 'e' || suffix[0] == 'E') {
    std::string exponent(suffix.substr(1));
    char* exp_end = nullptr;
    long exp = exponent.empty() ? 0 : std::strtol(exponent.c_str(), &exp_end, 10);
    if (exponent.empty() || exp_end != exponent.c_str() + exponent.size() || exp > 18 || exp < -9)
      return absl::InvalidArgumentError(absl::StrCat("bad quantity exponent in \"", s, "\""));
    return value * std::pow(10.0L, static_cast<long double>(exp));
  }
  for (const Suffix& candidate : kSuffixes)
    if (suffix == candidate.text) return value * candidate.factor;
  return absl::InvalidArgumentError(absl::StrCat("unknown quantity suffix \"", suffix, "\" in \"", s, "\""));
}

absl::StatusOr<uint64_t> BandwidthFromAnnotation(const std::map<std::string, std::string>& annotations,
                                                 const char* key) {
  auto it = annotations.find(key);
  if (it == annotations.end()) return 0;
  absl::StatusOr<long double> value = ParseQuantityValue(it->second);
  if (!value.ok()) return absl::InvalidArgumentError(absl::StrCat("annotation ", key, ": ", value.status().message()));
  if (*value < kMinBandwidth || *value > kMaxBandwidth)
    return absl::InvalidArgumentError(
        absl::StrCat("annotation ", key, "=", it->second, ": bandwidth must be between 1k and 1P bits/s"));
  return static_cast<uint64_t>(std::ceil(*value));
}

}  // namespace

absl::StatusOr<uint64_t> ParseQuantity(const std::string& text) {
  absl::StatusOr<long double> value = ParseQuantityValue(text);
  if (!value.ok()) return value.status();
  if (*value < 0 || *value > static_cast<long double>(std::numeric_limits<uint64_t>::max()))
    return absl::OutOfRangeError(absl::StrCat("quantity \"", text, "\" out of range"));
  return static_cast<uint64_t>(std::ceil(*value));
}

absl::StatusOr<nlohmann::json> BuildCapabilityArgs(const PodNetworkRequest& request, const std::string& pod_cidrs) {
  nlohmann::json args = nlohmann::json::object();

  nlohmann::json ports = nlohmann::json::array();
  for (const PortMapping& mapping : request.port_mappings) {
    if (mapping.host_port <= 0) continue;  // kubelet lists every containerPort; only host ports are mapped
    std::string protocol = absl::AsciiStrToLower(mapping.protocol.empty() ? "tcp" : mapping.protocol);
    ports.push_back({{"hostPort", mapping.host_port},
                     {"containerPort", mapping.container_port},
                     {"protocol", protocol},
                     {"hostIP", mapping.host_ip}});
  }
  if (!ports.empty()) args["portMappings"] = std::move(ports);

  absl::StatusOr<uint64_t> ingress = BandwidthFromAnnotation(request.annotations, kIngressBandwidthAnnotation);
  if (!ingress.ok()) return ingress.status();
  absl::StatusOr<uint64_t> egress = BandwidthFromAnnotation(request.annotations, kEgressBandwidthAnnotation);
  if (!egress.ok()) return egress.status();
  if (*ingress > 0 || *egress > 0) {
    nlohmann::json bandwidth = nlohmann::json::object();
    if (*ingress > 0) {
      bandwidth["ingressRate"] = *ingress;
      bandwidth["ingressBurst"] = kBurstBits;
    }
    if (*egress > 0) {
      bandwidth["egressRate"] = *egress;
      bandwidth["egressBurst"] = kBurstBits;
    }
    args["bandwidth"] = std::move(bandwidth);
  }

  nlohmann::json ranges = nlohmann::json::array();
  for (absl::string_view cidr : absl::StrSplit(pod_cidrs, ',', absl::SkipWhitespace())) {
    ranges.push_back(nlohmann::json::array({{{"subnet", std::string(absl::StripAsciiWhitespace(cidr))}}}));
  }
  if (!ranges.empty()) args["ipRanges"] = std::move(ranges);

  if (!request.dns.servers.empty() || !request.dns.searches.empty() || !request.dns.options.empty())
    args["dns"] = {{"servers", request.dns.servers},
                   {"searches", request.dns.searches},
                   {"options", request.dns.options}};

  if (!request.annotations.empty()) args["io.kubernetes.cri.pod-annotations"] = request.annotations;
  if (!request.cgroup_parent.empty()) args["cgroupPath"] = request.cgroup_parent;
  return args;
}

nlohmann::json RuntimeConfigFor(const nlohmann::json& plugin, const nlohmann::json& capability_args) {
  nlohmann::json runtime_config = nlohmann::json::object();
  auto caps = plugin.find("capabilities");
  if (caps == plugin.end() || !caps->is_object()) return runtime_config;
  for (const auto& [name, enabled] : caps->items()) {
    if (!enabled.is_boolean() || !enabled.get<bool>()) continue;
    auto arg = capability_args.find(name);
    if (arg != capability_args.end()) runtime_config[name] = *arg;
  }
  return runtime_config;
}

std::string BuildCniArgs(const PodNetworkRequest& request) {
  return absl::StrCat("IgnoreUnknown=1;K8S_POD_NAMESPACE=", request.pod_namespace, ";K8S_POD_NAME=", request.pod_name,
                      ";K8S_POD_INFRA_CONTAINER_ID=", request.sandbox_id, ";K8S_POD_UID=", request.pod_uid);
}

}  // namespace flint::cni
