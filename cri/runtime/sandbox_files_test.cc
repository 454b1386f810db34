#include "cri/runtime/sandbox_files.h"

#include <gtest/gtest.h>

namespace flint::runtime {
namespace {

TEST(SandboxFilesTest, ResolvConfFromDnsConfig) {
  ::runtime::v1::DNSConfig dns;
  dns.add_servers("10.96.0.10");
  dns.add_searches("default.svc.cluster.local");
  dns.add_searches("svc.cluster.local");
  dns.add_options("ndots:5");
  EXPECT_EQ(ResolvConfText(dns, "nameserver 1.1.1.1\n"),
            "search default.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n");
}

TEST(SandboxFilesTest, EmptyDnsConfigUsesHostFile) {
  EXPECT_EQ(ResolvConfText(::runtime::v1::DNSConfig(), "nameserver 1.1.1.1\n"), "nameserver 1.1.1.1\n");
}

TEST(SandboxFilesTest, HostsNamesThePod) {
  std::string hosts = HostsText("web-0", "10.88.0.7");
  EXPECT_NE(hosts.find("127.0.0.1\tlocalhost\n"), std::string::npos);
  EXPECT_NE(hosts.find("10.88.0.7\tweb-0\n"), std::string::npos);
}

}  // namespace
}  // namespace flint::runtime
