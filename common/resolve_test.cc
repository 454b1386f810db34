#include "common/resolve.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>

namespace flint::net {
namespace {

using std::chrono::milliseconds;

int PortOf(const ResolvedAddress& a) {
  if (a.family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&a.addr)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&a.addr)->sin6_port);
}

TEST(ResolveTest, NumericAddressesNeedNoResolver) {
  auto v4 = Resolve("127.0.0.1", "9900", AF_UNSPEC, SOCK_STREAM, milliseconds(1));
  ASSERT_TRUE(v4.ok()) << v4.status();
  ASSERT_EQ(v4->size(), 1u);
  EXPECT_EQ((*v4)[0].family, AF_INET);
  EXPECT_EQ(PortOf((*v4)[0]), 9900);
  auto v6 = Resolve("::1", "53", AF_UNSPEC, SOCK_STREAM, milliseconds(1));
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ((*v6)[0].family, AF_INET6);
  EXPECT_EQ(PortOf((*v6)[0]), 53);
}

TEST(ResolveTest, NamesFromTheHostsFileResolve) {
  auto local = Resolve("localhost", "6379", AF_INET, SOCK_STREAM, milliseconds(5000));
  ASSERT_TRUE(local.ok()) << local.status();
  ASSERT_FALSE(local->empty());
  auto* in = reinterpret_cast<const sockaddr_in*>(&(*local)[0].addr);
  EXPECT_EQ(ntohl(in->sin_addr.s_addr), INADDR_LOOPBACK);
  EXPECT_EQ(PortOf((*local)[0]), 6379);
  auto bad_port = Resolve("localhost", "not-a-port", AF_INET, SOCK_STREAM, milliseconds(5000));
  EXPECT_EQ(bad_port.status().code(), absl::StatusCode::kUnavailable) << bad_port.status();
}

// A child in its own mount and network namespaces whose only nameserver (127.0.0.1:53, a UDP
// socket nobody reads) never answers; resolv.conf lets getaddrinfo itself wait 4 s.
std::string ResolveWithADeadNameserver() {
  if (unshare(CLONE_NEWNS | CLONE_NEWNET) != 0) return std::string("unshare: ") + std::strerror(errno);
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return "make / private";
  int sock = socket(AF_INET, SOCK_DGRAM, 0);
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) return "SIOCGIFFLAGS lo";
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) return "lo up";
  sockaddr_in dns{};
  dns.sin_family = AF_INET;
  dns.sin_port = htons(53);
  dns.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(sock, reinterpret_cast<sockaddr*>(&dns), sizeof(dns)) != 0) return "bind 127.0.0.1:53";
  char conf[] = "/tmp/flint-resolv-XXXXXX";
  int fd = mkstemp(conf);
  const std::string text = "nameserver 127.0.0.1\noptions timeout:4 attempts:1\n";
  if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) return "write resolv.conf";
  close(fd);
  const bool mounted = mount(conf, "/etc/resolv.conf", nullptr, MS_BIND, nullptr) == 0;
  unlink(conf);
  if (!mounted) return "bind resolv.conf";

  std::string problems;
  for (int call = 0; call < 2; ++call) {  // the second waits on the first's lookup
    const auto start = std::chrono::steady_clock::now();
    auto r = Resolve("zdb.flint-resolve-test.example", "9900", AF_UNSPEC, SOCK_STREAM, milliseconds(300));
    const auto took = std::chrono::steady_clock::now() - start;
    if (r.status().code() != absl::StatusCode::kDeadlineExceeded) {
      problems += "call " + std::to_string(call) + ": " + r.status().ToString() + "; ";
    }
    if (took > std::chrono::milliseconds(1500)) {
      problems += "call " + std::to_string(call) + " took " +
                  std::to_string(std::chrono::duration_cast<milliseconds>(took).count()) + " ms; ";
    }
  }
  return problems;
}

TEST(ResolveTest, ADeadNameserverCostsTheCallersTimeoutNotTheResolvers) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for namespaces";
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(out[0]);
    const std::string problems = ResolveWithADeadNameserver();
    (void)!write(out[1], problems.data(), problems.size());
    _exit(problems.empty() ? 0 : 1);
  }
  close(out[1]);
  std::string problems;
  char buf[512];
  for (ssize_t n; (n = read(out[0], buf, sizeof(buf))) > 0;) problems.append(buf, static_cast<size_t>(n));
  close(out[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << problems;
  EXPECT_EQ(problems, "");
}

}  // namespace
}  // namespace flint::net
