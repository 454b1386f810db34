#include "cri/cni/capability_args.h"

#include <gtest/gtest.h>

namespace flint::cni {
namespace {

TEST(ParseQuantityTest, DecimalBinaryAndExponentSuffixes) {
  EXPECT_EQ(*ParseQuantity("1M"), 1000000u);
  EXPECT_EQ(*ParseQuantity("10Mi"), 10u * 1024 * 1024);
  EXPECT_EQ(*ParseQuantity("500k"), 500000u);
  EXPECT_EQ(*ParseQuantity("2.5G"), 2500000000u);
  EXPECT_EQ(*ParseQuantity("1e6"), 1000000u);
  EXPECT_EQ(*ParseQuantity("1Ki"), 1024u);
  EXPECT_EQ(*ParseQuantity("123"), 123u);
  EXPECT_EQ(*ParseQuantity("1500m"), 2u);  // rounded up, as Quantity.Value() does
  EXPECT_FALSE(ParseQuantity("").ok());
  EXPECT_FALSE(ParseQuantity("M").ok());
  EXPECT_FALSE(ParseQuantity("10X").ok());
  EXPECT_FALSE(ParseQuantity("1..5M").ok());
}

TEST(CapabilityArgsTest, PortMappingsSkipUnmappedPortsAndLowercaseProtocol) {
  PodNetworkRequest request;
  request.port_mappings = {{8080, 80, "TCP", "127.0.0.1"}, {0, 9090, "TCP", ""}, {5353, 53, "UDP", ""}};
  absl::StatusOr<nlohmann::json> args = BuildCapabilityArgs(request, "");
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ((*args)["portMappings"],
            nlohmann::json::parse(R"([{"hostPort":8080,"containerPort":80,"protocol":"tcp","hostIP":"127.0.0.1"},
                                      {"hostPort":5353,"containerPort":53,"protocol":"udp","hostIP":""}])"));
  EXPECT_FALSE(args->contains("bandwidth"));
  EXPECT_FALSE(args->contains("ipRanges"));
  EXPECT_FALSE(args->contains("dns"));
}

TEST(CapabilityArgsTest, BandwidthFromAnnotationsInBitsPerSecond) {
  PodNetworkRequest request;
  request.annotations = {{"kubernetes.io/ingress-bandwidth", "10M"}, {"kubernetes.io/egress-bandwidth", "1Mi"}};
  absl::StatusOr<nlohmann::json> args = BuildCapabilityArgs(request, "");
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ((*args)["bandwidth"]["ingressRate"], 10000000u);
  EXPECT_EQ((*args)["bandwidth"]["egressRate"], 1048576u);
  EXPECT_EQ((*args)["bandwidth"]["ingressBurst"], 4294967295u);
  EXPECT_EQ((*args)["io.kubernetes.cri.pod-annotations"]["kubernetes.io/ingress-bandwidth"], "10M");

  request.annotations = {{"kubernetes.io/egress-bandwidth", "5M"}};
  args = BuildCapabilityArgs(request, "");
  ASSERT_TRUE(args.ok());
  EXPECT_FALSE((*args)["bandwidth"].contains("ingressRate"));
  EXPECT_EQ((*args)["bandwidth"]["egressRate"], 5000000u);
}

TEST(CapabilityArgsTest, BadOrUnreasonableBandwidthIsAnErrorNamingTheAnnotation) {
  PodNetworkRequest request;
  request.annotations = {{"kubernetes.io/ingress-bandwidth", "fast"}};
  absl::StatusOr<nlohmann::json> args = BuildCapabilityArgs(request, "");
  EXPECT_EQ(args.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(args.status().message().find("kubernetes.io/ingress-bandwidth"), std::string::npos);
  request.annotations = {{"kubernetes.io/egress-bandwidth", "10"}};  // below 1k
  EXPECT_FALSE(BuildCapabilityArgs(request, "").ok());
}

TEST(CapabilityArgsTest, IpRangesDnsAndCgroupPath) {
  PodNetworkRequest request;
  request.dns.servers = {"10.96.0.10"};
  request.dns.searches = {"svc.cluster.local"};
  request.cgroup_parent = "/kubepods/pod1";
  absl::StatusOr<nlohmann::json> args = BuildCapabilityArgs(request, "10.244.1.0/24, fd00:1::/64");
  ASSERT_TRUE(args.ok());
  EXPECT_EQ((*args)["ipRanges"],
            nlohmann::json::parse(R"([[{"subnet":"10.244.1.0/24"}],[{"subnet":"fd00:1::/64"}]])"));
  EXPECT_EQ((*args)["dns"]["servers"][0], "10.96.0.10");
  EXPECT_EQ((*args)["dns"]["searches"][0], "svc.cluster.local");
  EXPECT_EQ((*args)["cgroupPath"], "/kubepods/pod1");
}

TEST(CapabilityArgsTest, RuntimeConfigHasOnlyDeclaredAndOfferedCapabilities) {
  nlohmann::json offered = {{"portMappings", nlohmann::json::array({{{"hostPort", 1}}})},
                            {"bandwidth", {{"ingressRate", 1000}}}};
  nlohmann::json plugin = nlohmann::json::parse(
      R"({"type":"portmap","capabilities":{"portMappings":true,"bandwidth":false,"ipRanges":true}})");
  nlohmann::json rc = RuntimeConfigFor(plugin, offered);
  EXPECT_EQ(rc, (nlohmann::json{{"portMappings", offered["portMappings"]}}));
  EXPECT_TRUE(RuntimeConfigFor(nlohmann::json{{"type", "bridge"}}, offered).empty());
}

TEST(CapabilityArgsTest, CniArgsCarryPodIdentity) {
  PodNetworkRequest request;
  request.sandbox_id = "abc";
  request.pod_name = "web";
  request.pod_namespace = "default";
  request.pod_uid = "u-1";
  EXPECT_EQ(BuildCniArgs(request),
            "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1");
}

}  // namespace
}  // namespace flint::cni
