#include "cri/cni/netns.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <thread>

#include "common/fs.h"

namespace flint::cni {
namespace {

class NetnsTest : public testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    char tmpl[] = "/tmp/flint-netns-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (dir_.empty()) return;
    (void)RemoveNetns(dir_ + "/pod");
    ASSERT_TRUE(fs::RemoveAll(dir_).ok());
  }
  std::string dir_;
};

ino_t NetnsInode(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// Flags of `ifname` as seen from inside the namespace pinned at `path`.
int InterfaceFlagsIn(const std::string& path, const char* ifname) {
  int flags = -1;
  std::thread t([&] {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) return;
    close(fd);
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {};
    strncpy(ifr.ifr_name, ifname, IFNAMSIZ - 1);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) == 0) flags = ifr.ifr_flags;
    close(sock);
    // This thread's netns dies with it; nothing to restore.
  });
  t.join();
  return flags;
}

TEST_F(NetnsTest, CreatePinsAFreshNamespaceWithLoopbackUp) {
  absl::StatusOr<std::string> path = CreateNetns(dir_, "pod");
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, dir_ + "/pod");
  EXPECT_TRUE(IsNetnsPinned(*path));
  EXPECT_NE(NetnsInode(*path), NetnsInode("/proc/self/ns/net"));
  int flags = InterfaceFlagsIn(*path, "lo");
  ASSERT_GE(flags, 0);
  EXPECT_TRUE(flags & IFF_UP);
  EXPECT_EQ(InterfaceFlagsIn(*path, "eth0"), -1) << "a new netns has only lo";

  // Idempotent: the same namespace comes back.
  ino_t inode = NetnsInode(*path);
  absl::StatusOr<std::string> again = CreateNetns(dir_, "pod");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(NetnsInode(*again), inode);
}

TEST_F(NetnsTest, RemoveUnpinsAndIsIdempotent) {
  absl::StatusOr<std::string> path = CreateNetns(dir_, "pod");
  ASSERT_TRUE(path.ok()) << path.status();
  ASSERT_TRUE(RemoveNetns(*path).ok());
  EXPECT_FALSE(IsNetnsPinned(*path));
  EXPECT_NE(access(path->c_str(), F_OK), 0);
  EXPECT_TRUE(RemoveNetns(*path).ok());
  // A leftover empty file (crash between create and mount) is reused.
  ASSERT_TRUE(fs::WriteFileAtomic(*path, "").ok());
  EXPECT_TRUE(CreateNetns(dir_, "pod").ok());
  EXPECT_TRUE(IsNetnsPinned(*path));
}

TEST_F(NetnsTest, RejectsBadNames) {
  EXPECT_FALSE(CreateNetns(dir_, "../x").ok());
  EXPECT_FALSE(CreateNetns(dir_, "").ok());
}

}  // namespace
}  // namespace flint::cni
