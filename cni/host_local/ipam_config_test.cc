#include "cni/host_local/ipam_config.h"

#include <gtest/gtest.h>

#include "cni/lib/cni_error.h"

namespace flint::cni {
namespace {

using json = nlohmann::json;

absl::StatusOr<HostLocalConfig> Parse(const char* ipam) {
  json c = {{"cniVersion", "1.0.0"}, {"name", "net"}, {"ipam", json::parse(ipam)}};
  return ParseHostLocalConfig(c);
}

TEST(IpamConfigTest, RangeDefaultsSkipNetworkBroadcastAndUseDotOneGateway) {
  absl::StatusOr<HostLocalConfig> cfg = Parse(R"({"ranges": [[{"subnet": "10.5.0.77/24"}]]})");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  const IpRange& r = cfg->range_sets.at(0).at(0);
  EXPECT_EQ(r.subnet.ToString(), "10.5.0.0/24");
  EXPECT_EQ(r.ToString(), "10.5.0.1-10.5.0.254");
  EXPECT_EQ(r.gateway.ToString(), "10.5.0.1");
  EXPECT_EQ(cfg->data_dir, "/var/lib/cni/networks");
}

TEST(IpamConfigTest, Ipv6RangeEndsAtLastAddress) {
  absl::StatusOr<HostLocalConfig> cfg = Parse(R"({"ranges": [[{"subnet": "fd00:5::/120", "gateway": "fd00:5::fe"}]]})");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EXPECT_EQ(cfg->range_sets[0][0].ToString(), "fd00:5::1-fd00:5::ff");
  EXPECT_EQ(cfg->range_sets[0][0].gateway.ToString(), "fd00:5::fe");
}

TEST(IpamConfigTest, LegacySubnetComesFirstThenRangesAndRoutes) {
  absl::StatusOr<HostLocalConfig> cfg = Parse(R"({
    "subnet": "10.6.0.0/16", "rangeStart": "10.6.1.10", "rangeEnd": "10.6.1.20", "gateway": "10.6.0.254",
    "ranges": [[{"subnet": "fd00:6::/64"}]],
    "routes": [{"dst": "0.0.0.0/0"}, {"dst": "192.168.0.0/16", "gw": "10.6.0.1"}],
    "dataDir": "/tmp/x"})");
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  ASSERT_EQ(cfg->range_sets.size(), 2u);
  EXPECT_EQ(cfg->range_sets[0][0].ToString(), "10.6.1.10-10.6.1.20");
  EXPECT_EQ(cfg->range_sets[0][0].gateway.ToString(), "10.6.0.254");
  EXPECT_FALSE(cfg->range_sets[1][0].start.is_v4());
  EXPECT_EQ(cfg->routes.size(), 2u);
  EXPECT_EQ(cfg->data_dir, "/tmp/x");
}

TEST(IpamConfigTest, RuntimeIpRangesReplaceConfiguredRanges) {
  json c = json::parse(R"({"name": "net", "ipam": {"ranges": [[{"subnet": "10.7.0.0/24"}]]},
                           "runtimeConfig": {"ipRanges": [[{"subnet": "10.8.0.0/24"}]]}})");
  absl::StatusOr<HostLocalConfig> cfg = ParseHostLocalConfig(c);
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  ASSERT_EQ(cfg->range_sets.size(), 1u);
  EXPECT_EQ(cfg->range_sets[0][0].subnet.ToString(), "10.8.0.0/24");
}

TEST(IpamConfigTest, RejectsInvalidRanges) {
  const char* bad[] = {
      R"({})",
      R"({"ranges": []})",
      R"({"ranges": [[]]})",
      R"({"ranges": [[{"subnet": "10.0.0.0/33"}]]})",
      R"({"ranges": [[{"subnet": "10.0.0.0/31"}]]})",
      R"({"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.1.5"}]]})",
      R"({"ranges": [[{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.9", "rangeEnd": "10.0.0.5"}]]})",
      R"({"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "fd00::/64"}]]})",
      R"({"ranges": [[{"subnet": "10.0.0.0/24"}], [{"subnet": "10.0.0.0/16"}]]})",
      R"({"ranges": [[{"subnet": "10.0.0.0/24"}, {"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.100"}]]})",
      R"({"ranges": [[{"subnet": "10.0.0.0/24"}]], "routes": [{"dst": "nope"}]})",
  };
  for (const char* ipam : bad) {
    absl::StatusOr<HostLocalConfig> cfg = Parse(ipam);
    ASSERT_FALSE(cfg.ok()) << ipam;
    EXPECT_EQ(CniCodeOf(cfg.status()), 7) << ipam << ": " << cfg.status();
  }
}

}  // namespace
}  // namespace flint::cni
