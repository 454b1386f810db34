#include "cri/cni/cni_protocol.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace flint::cni {
namespace {

std::string ErrorCodeName(int code) {
  switch (code) {
    case 1: return "incompatible CNI version";
    case 2: return "unsupported field in network configuration";
    case 3: return "container unknown or does not exist";
    case 4: return "invalid necessary environment variables";
    case 5: return "I/O failure";
    case 6: return "failed to decode content";
    case 7: return "invalid network config";
    case 11: return "try again later";
    case 50: return "plugin not available";
    case 51: return "plugin not available; limited connectivity";
    default: return code >= 100 ? "plugin-specific error" : "unknown error code";
  }
}

std::string Tail(const std::string& s, size_t n) {
  std::string t(absl::StripAsciiWhitespace(s));
  return t.size() <= n ? t : absl::StrCat("...", t.substr(t.size() - n));
}

}  // namespace

const std::vector<std::string>& SupportedCniVersions() {
  static const std::vector<std::string> versions = {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
  return versions;
}

int CompareVersions(const std::string& a, const std::string& b) {
  std::vector<std::string> pa = absl::StrSplit(a, '.'), pb = absl::StrSplit(b, '.');
  for (size_t i = 0; i < std::max(pa.size(), pb.size()); ++i) {
    int va = 0, vb = 0;
    if (i < pa.size() && !absl::SimpleAtoi(pa[i], &va)) va = 0;
    if (i < pb.size() && !absl::SimpleAtoi(pb[i], &vb)) vb = 0;
    if (va != vb) return va < vb ? -1 : 1;
  }
  return 0;
}

absl::StatusOr<std::string> SelectCniVersion(const nlohmann::json& conflist) {
  const auto& supported = SupportedCniVersions();
  auto is_supported = [&](const std::string& v) {
    return std::find(supported.begin(), supported.end(), v) != supported.end();
  };
  auto listed = conflist.find("cniVersions");
  if (listed != conflist.end() && listed->is_array()) {
    std::string best;
    for (const auto& v : *listed)
      if (v.is_string() && is_supported(v.get<std::string>()) && (best.empty() || CompareVersions(v, best) > 0))
        best = v.get<std::string>();
    if (!best.empty()) return best;
  }
  std::string version = conflist.value("cniVersion", "");
  if (version.empty()) return absl::InvalidArgumentError("network config has no cniVersion");
  if (!is_supported(version))
    return absl::InvalidArgumentError(absl::StrCat("unsupported cniVersion ", version, " (supported: ",
                                                   absl::StrJoin(supported, ", "), ")"));
  return version;
}

std::string BuildPluginStdin(const nlohmann::json& plugin, const std::string& network_name,
                             const std::string& cni_version, const nlohmann::json* prev_result,
                             const nlohmann::json& runtime_config) {
  nlohmann::json config = plugin;
  config["name"] = network_name;
  config["cniVersion"] = cni_version;
  config.erase("prevResult");
  config.erase("runtimeConfig");
  if (prev_result != nullptr && !prev_result->is_null()) config["prevResult"] = *prev_result;
  if (!runtime_config.empty()) config["runtimeConfig"] = runtime_config;
  return config.dump();
}

absl::Status PluginFailure(const std::string& plugin_type, const std::string& command, const PluginOutput& output) {
  std::string how = output.term_signal != 0 ? absl::StrCat("killed by signal ", output.term_signal)
                                            : absl::StrCat("exit code ", output.exit_code);
  std::string prefix = absl::StrCat("plugin ", plugin_type, " ", command, " failed (", how, ")");
  nlohmann::json error = nlohmann::json::parse(output.stdout_data, nullptr, /*allow_exceptions=*/false);
  if (error.is_object() && error.contains("code") && error["code"].is_number_integer()) {
    int code = error["code"];
    std::string message = absl::StrCat(prefix, ": CNI error ", code, " (", ErrorCodeName(code), ")");
    if (error.contains("msg") && error["msg"].is_string()) absl::StrAppend(&message, ": ", error["msg"].get<std::string>());
    if (error.contains("details") && error["details"].is_string() && !error["details"].get<std::string>().empty())
      absl::StrAppend(&message, " (details: ", error["details"].get<std::string>(), ")");
    if (code == 11) return absl::UnavailableError(message);
    if (code == 50 || code == 51) return absl::FailedPreconditionError(message);
    return absl::InternalError(message);
  }
  std::string detail = !output.stderr_data.empty() ? output.stderr_data : output.stdout_data;
  if (detail.empty()) return absl::InternalError(prefix);
  return absl::InternalError(absl::StrCat(prefix, ": ", Tail(detail, 1024)));
}

absl::StatusOr<nlohmann::json> ParsePluginResult(const std::string& plugin_type, const std::string& stdout_data) {
  nlohmann::json result = nlohmann::json::parse(stdout_data, nullptr, /*allow_exceptions=*/false);
  if (!result.is_object())
    return absl::InternalError(
        absl::StrCat("plugin ", plugin_type, " ADD printed no result object: \"", Tail(stdout_data, 256), "\""));
  return result;
}

std::vector<std::string> SelectPodIps(const nlohmann::json& result, const std::string& ifname) {
  auto ips_it = result.find("ips");
  if (ips_it == result.end() || !ips_it->is_array()) return {};
  std::optional<int> pod_interface;
  auto interfaces = result.find("interfaces");
  if (interfaces != result.end() && interfaces->is_array()) {
    for (size_t i = 0; i < interfaces->size(); ++i) {
      const nlohmann::json& iface = (*interfaces)[i];
      if (iface.is_object() && iface.value("name", "") == ifname && !iface.value("sandbox", "").empty()) {
        pod_interface = static_cast<int>(i);
        break;
      }
    }
  }
  auto collect = [&](bool only_pod_interface) {
    std::vector<std::string> v4, v6;
    for (const nlohmann::json& ip : *ips_it) {
      if (!ip.is_object() || !ip.contains("address") || !ip["address"].is_string()) continue;
      if (only_pod_interface &&
          !(ip.contains("interface") && ip["interface"].is_number_integer() && ip["interface"] == *pod_interface))
        continue;
      std::string address = ip["address"];
      address = address.substr(0, address.find('/'));
      auto& bucket = address.find(':') == std::string::npos ? v4 : v6;
      if (std::find(v4.begin(), v4.end(), address) == v4.end() &&
          std::find(v6.begin(), v6.end(), address) == v6.end())
        bucket.push_back(address);
    }
    v4.insert(v4.end(), v6.begin(), v6.end());
    return v4;
  };
  if (pod_interface) {
    std::vector<std::string> ips = collect(true);
    if (!ips.empty()) return ips;
  }
  return collect(false);
}

}  // namespace flint::cni
