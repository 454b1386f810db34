#include "cni/bridge/bridge_config.h"

#include "absl/strings/str_cat.h"
#include "cni/lib/cni_error.h"

namespace flint::cni {
namespace {

using json = nlohmann::json;

absl::Status Invalid(absl::string_view msg) { return CniStatus(ErrorCode::kInvalidNetworkConfig, msg); }

absl::Status ReadBool(const json& c, const char* key, bool* out) {
  if (!c.contains(key) || c[key].is_null()) return absl::OkStatus();
  if (!c[key].is_boolean()) return Invalid(absl::StrCat("\"", key, "\" must be a boolean"));
  *out = c[key].get<bool>();
  return absl::OkStatus();
}

absl::Status ReadInt(const json& c, const char* key, int lo, int hi, int* out) {
  if (!c.contains(key) || c[key].is_null()) return absl::OkStatus();
  if (!c[key].is_number_integer()) return Invalid(absl::StrCat("\"", key, "\" must be an integer"));
  int64_t v = c[key].get<int64_t>();
  if (v < lo || v > hi) return Invalid(absl::StrCat("\"", key, "\" out of range [", lo, ", ", hi, "]: ", v));
  *out = static_cast<int>(v);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BridgeConfig> ParseBridgeConfig(const json& c) {
  BridgeConfig cfg;
  cfg.cni_version = c.value("cniVersion", "");
  cfg.network_name = c.value("name", "");
  if (c.contains("bridge")) {
    if (!c["bridge"].is_string()) return Invalid("\"bridge\" must be a string");
    cfg.bridge = c["bridge"].get<std::string>();
    if (cfg.bridge.empty() || cfg.bridge.size() > 15) return Invalid("\"bridge\" must be 1-15 characters");
  }
  FLINT_CNI_RETURN_IF_ERROR(ReadInt(c, "mtu", 0, 65535, &cfg.mtu), "mtu");
  FLINT_CNI_RETURN_IF_ERROR(ReadInt(c, "vlan", 0, 4094, &cfg.vlan), "vlan");
  FLINT_CNI_RETURN_IF_ERROR(ReadBool(c, "isGateway", &cfg.is_gateway), "isGateway");
  FLINT_CNI_RETURN_IF_ERROR(ReadBool(c, "isDefaultGateway", &cfg.is_default_gateway), "isDefaultGateway");
  FLINT_CNI_RETURN_IF_ERROR(ReadBool(c, "forceAddress", &cfg.force_address), "forceAddress");
  FLINT_CNI_RETURN_IF_ERROR(ReadBool(c, "ipMasq", &cfg.ip_masq), "ipMasq");
  FLINT_CNI_RETURN_IF_ERROR(ReadBool(c, "hairpinMode", &cfg.hairpin_mode), "hairpinMode");
  FLINT_CNI_RETURN_IF_ERROR(ReadBool(c, "promiscMode", &cfg.promisc_mode), "promiscMode");
  if (cfg.is_default_gateway) cfg.is_gateway = true;
  if (cfg.hairpin_mode && cfg.promisc_mode) {
    return Invalid("cannot set hairpin mode and promiscuous mode at the same time");
  }
  // VLAN filtering is not implemented (and this project's CI kernel lacks
  // CONFIG_BRIDGE_VLAN_FILTERING, where the reference plugin fails too).
  if (cfg.vlan != 0) {
    return CniStatus(ErrorCode::kUnsupportedField, absl::StrCat("unsupported field \"vlan\": ", cfg.vlan));
  }

  if (!c.contains("ipam") || !c["ipam"].is_object() || !c["ipam"].contains("type") ||
      !c["ipam"]["type"].is_string() || c["ipam"]["type"].get<std::string>().empty()) {
    return Invalid("\"ipam\" with a \"type\" is required");
  }
  cfg.ipam_type = c["ipam"]["type"].get<std::string>();
  if (c.contains("dns")) {
    absl::StatusOr<ResultDns> dns = ParseDns(c["dns"]);
    if (!dns.ok()) return WithContext(dns.status(), "dns");
    cfg.dns = *dns;
  }
  if (c.contains("prevResult") && !c["prevResult"].is_null()) {
    absl::StatusOr<Result> prev = ParseResult(c["prevResult"]);
    if (!prev.ok()) return WithContext(prev.status(), "prevResult");
    cfg.prev_result = *prev;
  }
  return cfg;
}

}  // namespace flint::cni
