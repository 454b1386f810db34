// The bridge plugin's network configuration.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "cni/lib/result.h"
#include "nlohmann/json.hpp"

namespace flint::cni {

struct BridgeConfig {
  std::string cni_version;
  std::string network_name;
  std::string bridge = "cni0";
  int mtu = 0;  // 0 = kernel default
  bool is_gateway = false;
  bool is_default_gateway = false;  // implies is_gateway
  bool force_address = false;
  bool ip_masq = false;
  bool hairpin_mode = false;
  bool promisc_mode = false;
  int vlan = 0;
  std::string ipam_type;
  ResultDns dns;  // passed through into the result
  std::optional<Result> prev_result;
};

absl::StatusOr<BridgeConfig> ParseBridgeConfig(const nlohmann::json& config);

}  // namespace flint::cni
