#include "cni/bridge/bridge_config.h"

#include <gtest/gtest.h>

#include "cni/lib/cni_error.h"

namespace flint::cni {
namespace {

using json = nlohmann::json;

TEST(BridgeConfigTest, DefaultsAndFlags) {
  absl::StatusOr<BridgeConfig> cfg = ParseBridgeConfig(json::parse(R"({
    "cniVersion": "1.0.0", "name": "n", "type": "flint-bridge",
    "isDefaultGateway": true, "ipMasq": true, "mtu": 1400, "hairpinMode": true,
    "ipam": {"type": "flint-host-local"}, "dns": {"nameservers": ["10.0.0.10"]}})"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->bridge, "cni0");
  EXPECT_TRUE(cfg->is_gateway);  // implied by isDefaultGateway
  EXPECT_TRUE(cfg->ip_masq);
  EXPECT_TRUE(cfg->hairpin_mode);
  EXPECT_FALSE(cfg->promisc_mode);
  EXPECT_EQ(cfg->mtu, 1400);
  EXPECT_EQ(cfg->ipam_type, "flint-host-local");
  EXPECT_EQ(cfg->dns.nameservers.at(0), "10.0.0.10");
  EXPECT_FALSE(cfg->prev_result.has_value());
}

TEST(BridgeConfigTest, ReadsPrevResult) {
  absl::StatusOr<BridgeConfig> cfg = ParseBridgeConfig(json::parse(R"({
    "cniVersion": "1.0.0", "name": "n", "bridge": "br9", "ipam": {"type": "host-local"},
    "prevResult": {"cniVersion": "1.0.0", "interfaces": [{"name": "br9"}],
                   "ips": [{"address": "10.0.0.2/24", "interface": 0}]}})"));
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  ASSERT_TRUE(cfg->prev_result.has_value());
  EXPECT_EQ(cfg->prev_result->ips.at(0).address.ToString(), "10.0.0.2/24");
}

TEST(BridgeConfigTest, RejectsInvalidFields) {
  const char* bad[] = {
      R"({"name": "n", "ipam": {}})",
      R"({"name": "n", "ipam": {"type": "x"}, "mtu": "big"})",
      R"({"name": "n", "ipam": {"type": "x"}, "mtu": 70000})",
      R"({"name": "n", "ipam": {"type": "x"}, "isGateway": "yes"})",
      R"({"name": "n", "ipam": {"type": "x"}, "bridge": "a-name-longer-than-15"})",
      R"({"name": "n", "ipam": {"type": "x"}, "hairpinMode": true, "promiscMode": true})",
  };
  for (const char* c : bad) {
    absl::StatusOr<BridgeConfig> cfg = ParseBridgeConfig(json::parse(c));
    ASSERT_FALSE(cfg.ok()) << c;
    EXPECT_EQ(CniCodeOf(cfg.status()), 7) << c;
  }
  absl::StatusOr<BridgeConfig> vlan =
      ParseBridgeConfig(json::parse(R"({"name": "n", "ipam": {"type": "x"}, "vlan": 10})"));
  ASSERT_FALSE(vlan.ok());
  EXPECT_EQ(CniCodeOf(vlan.status()), 2);
}

}  // namespace
}  // namespace flint::cni
