#include "cri/stats/network_stats.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace flint::stats {
namespace {

// Recorded from a pod netns (kernel 6.x).
constexpr char kProcNetDev[] =
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls "
    "carrier compressed\n"
    "    lo:    2240      28    0    0    0     0          0         0     2240      28    0    0    0     0 "
    "      0          0\n"
    "  eth0: 1839478    1290    3    0    0     0          0         0   100733    1137    5    0    0     0 "
    "      0          0\n"
    "veth-long-name0:12345678901234 99 1 2 3 4 5 6 98765432109876 77 8 9 10 11 12 13\n";

TEST(ParseProcNetDevTest, ParsesRecordedContent) {
  absl::StatusOr<std::vector<InterfaceStats>> ifaces = ParseProcNetDev(kProcNetDev);
  ASSERT_TRUE(ifaces.ok()) << ifaces.status();
  ASSERT_EQ(ifaces->size(), 3u);
  EXPECT_EQ((*ifaces)[0].name, "lo");
  EXPECT_EQ((*ifaces)[0].rx_bytes, 2240u);
  EXPECT_EQ((*ifaces)[1].name, "eth0");
  EXPECT_EQ((*ifaces)[1].rx_bytes, 1839478u);
  EXPECT_EQ((*ifaces)[1].rx_errors, 3u);
  EXPECT_EQ((*ifaces)[1].tx_bytes, 100733u);
  EXPECT_EQ((*ifaces)[1].tx_errors, 5u);
  // Large counters glue to the colon.
  EXPECT_EQ((*ifaces)[2].name, "veth-long-name0");
  EXPECT_EQ((*ifaces)[2].rx_bytes, 12345678901234u);
  EXPECT_EQ((*ifaces)[2].rx_errors, 1u);
  EXPECT_EQ((*ifaces)[2].tx_bytes, 98765432109876u);
  EXPECT_EQ((*ifaces)[2].tx_errors, 8u);
}

TEST(ParseProcNetDevTest, RejectsTruncatedLine) {
  EXPECT_FALSE(ParseProcNetDev("h1\nh2\n eth0: 1 2 3\n").ok());
  EXPECT_FALSE(ParseProcNetDev("h1\nh2\n eth0 1 2 3\n").ok());
}

TEST(ReadNetnsInterfaceStatsTest, MissingNetnsIsNotFound) {
  EXPECT_EQ(ReadNetnsInterfaceStats("/var/run/netns/flint-does-not-exist").status().code(),
            absl::StatusCode::kNotFound);
}

int Shell(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()); }

ino_t CurrentNetnsInode() {
  struct stat st {};
  ::stat("/proc/thread-self/ns/net", &st);
  return st.st_ino;
}

// A real namespace with a veth pair: host side sends UDP into the pod side; the pod's eth0 must
// count it, and the reader must see only the pod's interfaces.
class RealNetnsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root";
    std::random_device rd;
    unsigned r = rd() % 200 + 20;
    suffix_ = absl::StrCat(::getpid() % 100000, "x", r);
    ns_ = "flint-st-" + suffix_;
    host_if_ = "flsh" + suffix_.substr(0, 10);
    subnet_ = absl::StrCat("198.18.", r, ".");
    ASSERT_EQ(Shell("ip netns add " + ns_), 0);
    created_ = true;
    ASSERT_EQ(Shell(absl::StrCat("ip link add ", host_if_, " type veth peer name eth0 netns ", ns_)), 0);
    ASSERT_EQ(Shell(absl::StrCat("ip addr add ", subnet_, "1/30 dev ", host_if_)), 0);
    ASSERT_EQ(Shell("ip link set " + host_if_ + " up"), 0);
    ASSERT_EQ(Shell(absl::StrCat("ip -n ", ns_, " addr add ", subnet_, "2/30 dev eth0")), 0);
    ASSERT_EQ(Shell("ip -n " + ns_ + " link set eth0 up"), 0);
    ASSERT_EQ(Shell("ip -n " + ns_ + " link set lo up"), 0);
  }
  void TearDown() override {
    if (!created_) return;
    Shell("ip link del " + host_if_);
    Shell("ip netns del " + ns_);
  }

  std::string suffix_, ns_, host_if_, subnet_;
  bool created_ = false;
};

TEST_F(RealNetnsTest, CountsTrafficInsidePodNamespace) {
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in dst{};
  dst.sin_family = AF_INET;
  dst.sin_port = htons(9);
  ASSERT_EQ(::inet_pton(AF_INET, (subnet_ + "2").c_str(), &dst.sin_addr), 1);
  std::string payload(1000, 'x');
  // The first packet triggers ARP; wait for the neighbour to resolve (veth links come up async).
  for (int i = 0; i < 20; ++i) {
    ::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof(dst));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(::sendto(fd, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&dst), sizeof(dst)),
              static_cast<ssize_t>(payload.size()));
  }
  ::close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));

  ino_t before = CurrentNetnsInode();
  absl::StatusOr<std::vector<InterfaceStats>> ifaces = ReadNetnsInterfaceStats("/var/run/netns/" + ns_);
  ASSERT_TRUE(ifaces.ok()) << ifaces.status();
  EXPECT_EQ(CurrentNetnsInode(), before);  // the caller's thread never switched
  ASSERT_EQ(ifaces->size(), 2u);  // lo and eth0 only: we really read the pod's namespace
  const InterfaceStats* eth0 = nullptr;
  for (const auto& i : *ifaces) {
    if (i.name == "eth0") eth0 = &i;
    EXPECT_NE(i.name, host_if_);
  }
  ASSERT_NE(eth0, nullptr);
  EXPECT_GE(eth0->rx_bytes, 50u * 1000u);
  EXPECT_GT(eth0->tx_bytes, 0u);  // ARP replies and ICMP port unreachables
  EXPECT_EQ(eth0->rx_errors, 0u);
}

}  // namespace
}  // namespace flint::stats
