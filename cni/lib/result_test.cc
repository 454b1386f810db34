#include "cni/lib/result.h"

#include <gtest/gtest.h>

#include "cni/lib/cni_error.h"

namespace flint::cni {
namespace {

using json = nlohmann::json;

TEST(ResultTest, ReadsV031AndWritesV100WithoutVersionField) {
  json in = json::parse(R"({
    "cniVersion": "0.3.1",
    "ips": [{"version": "4", "address": "10.1.0.5/24", "gateway": "10.1.0.1"},
            {"version": "6", "address": "fd00::5/64"}],
    "routes": [{"dst": "0.0.0.0/0"}, {"dst": "10.9.0.0/16", "gw": "10.1.0.254"}],
    "dns": {"nameservers": ["10.1.0.1"], "search": ["svc.local"]}
  })");
  absl::StatusOr<Result> r = ParseResult(in);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->ips.size(), 2u);
  EXPECT_EQ(r->ips[0].gateway->ToString(), "10.1.0.1");
  EXPECT_FALSE(r->ips[1].gateway.has_value());

  json out = ResultToJson(*r, "1.0.0");
  EXPECT_EQ(out["cniVersion"], "1.0.0");
  EXPECT_FALSE(out["ips"][0].contains("version"));
  EXPECT_EQ(out["ips"][0]["address"], "10.1.0.5/24");
  EXPECT_EQ(out["routes"][1]["gw"], "10.1.0.254");
  EXPECT_EQ(out["dns"]["search"][0], "svc.local");
  EXPECT_FALSE(out.contains("interfaces"));
}

TEST(ResultTest, WritesIpVersionForPre1Results) {
  Result r;
  r.interfaces = {{"eth0", "aa:bb:cc:dd:ee:ff", "/var/run/netns/x"}};
  r.ips.push_back({*IpPrefix::Parse("fd00::2/64"), std::nullopt, 0});
  json out = ResultToJson(r, "0.4.0");
  EXPECT_EQ(out["ips"][0]["version"], "6");
  EXPECT_EQ(out["ips"][0]["interface"], 0);
  EXPECT_EQ(out["interfaces"][0]["sandbox"], "/var/run/netns/x");
  EXPECT_TRUE(out["dns"].is_object());
}

TEST(ResultTest, RoundTripsInterfacesAndIndexes) {
  Result r;
  r.interfaces = {{"br0", "02:00:00:00:00:01", ""}, {"eth0", "02:00:00:00:00:02", "/run/netns/p"}};
  r.ips.push_back({*IpPrefix::Parse("10.0.0.2/24"), *IpAddress::Parse("10.0.0.1"), 1});
  r.routes.push_back({*IpPrefix::Parse("0.0.0.0/0"), std::nullopt});
  absl::StatusOr<Result> back = ParseResult(ResultToJson(r, "1.0.0"));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->interfaces[1].sandbox, "/run/netns/p");
  EXPECT_EQ(back->ips[0].interface, 1);
  EXPECT_EQ(back->routes[0].dst.ToString(), "0.0.0.0/0");
}

TEST(ResultTest, RejectsBadAddressesWithDecodeError) {
  absl::StatusOr<Result> r = ParseResult(json::parse(R"({"ips": [{"address": "10.0.0.300/24"}]})"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(CniCodeOf(r.status()), 6);
  EXPECT_FALSE(ParseResult(json::parse(R"({"routes": [{"gw": "10.0.0.1"}]})")).ok());
}

}  // namespace
}  // namespace flint::cni
