#include "cni/lib/ip_math.h"

#include <gtest/gtest.h>

namespace flint::cni {
namespace {

IpAddress Ip(const char* s) { return *IpAddress::Parse(s); }
IpPrefix Cidr(const char* s) { return *IpPrefix::Parse(s); }

TEST(IpAddressTest, ParsesAndPrintsBothFamilies) {
  EXPECT_EQ(Ip("10.1.2.3").ToString(), "10.1.2.3");
  EXPECT_TRUE(Ip("10.1.2.3").is_v4());
  EXPECT_EQ(Ip("fd00:0:0::0001").ToString(), "fd00::1");
  EXPECT_FALSE(Ip("fd00::1").is_v4());
  EXPECT_FALSE(IpAddress::Parse("10.1.2").ok());
  EXPECT_FALSE(IpAddress::Parse("").ok());
  EXPECT_FALSE(IpAddress::Parse("hello").ok());
}

TEST(IpAddressTest, NextAndPrevCarryAcrossBytes) {
  EXPECT_EQ(Ip("10.0.0.255").Next(), Ip("10.0.1.0"));
  EXPECT_EQ(Ip("10.0.1.0").Prev(), Ip("10.0.0.255"));
  EXPECT_EQ(Ip("255.255.255.255").Next(), Ip("0.0.0.0"));
  EXPECT_EQ(Ip("fd00::ffff").Next(), Ip("fd00::1:0"));
  EXPECT_EQ(Ip("fd00::1:0").Prev(), Ip("fd00::ffff"));
}

TEST(IpAddressTest, OrdersWithinFamilyAndV4BeforeV6) {
  EXPECT_LT(Ip("10.0.0.2"), Ip("10.0.0.10"));
  EXPECT_LT(Ip("255.255.255.255"), Ip("::1"));
  EXPECT_LT(Ip("fd00::2"), Ip("fd00::1:0"));
}

TEST(IpPrefixTest, NetworkLastAndContains) {
  IpPrefix p = Cidr("10.1.2.77/24");
  EXPECT_EQ(p.Network().ToString(), "10.1.2.0/24");
  EXPECT_EQ(p.LastAddress(), Ip("10.1.2.255"));
  EXPECT_TRUE(p.Contains(Ip("10.1.2.200")));
  EXPECT_FALSE(p.Contains(Ip("10.1.3.1")));
  EXPECT_FALSE(p.Contains(Ip("fd00::1")));
  EXPECT_EQ(Cidr("10.1.0.0/20").LastAddress(), Ip("10.1.15.255"));
  EXPECT_EQ(Cidr("fd00:1::/64").LastAddress(), Ip("fd00:1::ffff:ffff:ffff:ffff"));
  EXPECT_EQ(Cidr("0.0.0.0/0").LastAddress(), Ip("255.255.255.255"));
}

TEST(IpPrefixTest, OverlapsAndRejectsBadInput) {
  EXPECT_TRUE(Cidr("10.0.0.0/16").Overlaps(Cidr("10.0.5.0/24")));
  EXPECT_FALSE(Cidr("10.0.0.0/24").Overlaps(Cidr("10.0.1.0/24")));
  EXPECT_FALSE(IpPrefix::Parse("10.0.0.0").ok());
  EXPECT_FALSE(IpPrefix::Parse("10.0.0.0/33").ok());
  EXPECT_FALSE(IpPrefix::Parse("10.0.0.0/x").ok());
  EXPECT_TRUE(IpPrefix::Parse("fd00::/128").ok());
}

}  // namespace
}  // namespace flint::cni
