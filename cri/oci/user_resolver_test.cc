#include "cri/oci/user_resolver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cri/oci/test_util.h"

namespace flint::oci {
namespace {

using ::testing::ElementsAre;
using testing::TempDir;
using testing::WriteFile;

class UserResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(root_.Sub("etc/passwd"),
              "root:x:0:0:root:/root:/bin/sh\n"
              "# comment\n"
              "nginx:x:101:101:nginx:/var/cache/nginx:/sbin/nologin\n"
              "app:x:1000:1000::/home/app:/bin/sh\n");
    WriteFile(root_.Sub("etc/group"),
              "root:x:0:\n"
              "nginx:x:101:\n"
              "app:x:1000:\n"
              "audio:x:29:app,nginx\n"
              "video:x:44:app\n");
  }
  absl::StatusOr<ResolvedUser> Resolve(const UserRequest& r) { return ResolveUser(root_.path(), r); }
  TempDir root_;
};

TEST_F(UserResolverTest, DefaultsToRoot) {
  auto u = Resolve({});
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->uid, 0u);
  EXPECT_EQ(u->gid, 0u);
  EXPECT_THAT(u->additional_gids, ElementsAre(0u));
}

TEST_F(UserResolverTest, ImageUserForms) {
  UserRequest r;
  r.image_user = "nginx";
  auto u = Resolve(r);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->uid, 101u);
  EXPECT_EQ(u->gid, 101u);
  EXPECT_THAT(u->additional_gids, ElementsAre(101u, 29u));

  r.image_user = "app:video";
  u = Resolve(r);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->uid, 1000u);
  EXPECT_EQ(u->gid, 44u);

  r.image_user = "4242:4343";  // numeric ids need no entries
  u = Resolve(r);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->uid, 4242u);
  EXPECT_EQ(u->gid, 4343u);

  r.image_user = "1000:nginx";
  u = Resolve(r);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->gid, 101u);

  r.image_user = "ghost";
  EXPECT_EQ(Resolve(r).status().code(), absl::StatusCode::kInvalidArgument);
  r.image_user = "app:nogroup";
  EXPECT_EQ(Resolve(r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(UserResolverTest, CriPrecedence) {
  UserRequest r;
  r.image_user = "nginx";
  r.run_as_user = 1000;
  auto u = Resolve(r);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->uid, 1000u);
  EXPECT_EQ(u->gid, 1000u);  // primary group from passwd
  EXPECT_THAT(u->additional_gids, ElementsAre(1000u, 29u, 44u));

  r.run_as_username = "nginx";  // beats run_as_user
  u = Resolve(r);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->uid, 101u);

  r.run_as_username.clear();
  r.run_as_user = 5000;  // no passwd entry: gid 0, no membership lookup
  r.run_as_group = 6000;
  r.supplemental_groups = {7000, 6000};
  u = Resolve(r);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->uid, 5000u);
  EXPECT_EQ(u->gid, 6000u);
  EXPECT_THAT(u->additional_gids, ElementsAre(6000u, 7000u));

  r.run_as_username = "ghost";
  EXPECT_EQ(Resolve(r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(UserResolverTest, GroupWithoutUserIsInvalid) {
  UserRequest r;
  r.run_as_group = 10;
  EXPECT_EQ(Resolve(r).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(UserResolverTest, StrictPolicySkipsEtcGroup) {
  UserRequest r;
  r.run_as_user = 1000;
  r.supplemental_groups = {500};
  r.strict_supplemental_groups = true;
  auto u = Resolve(r);
  ASSERT_TRUE(u.ok());
  EXPECT_THAT(u->additional_gids, ElementsAre(1000u, 500u));
}

TEST(UserResolverRootTest, SymlinkedPasswdStaysInsideRootfs) {
  TempDir host;
  // A "host" passwd that must never be read through the image.
  WriteFile(host.Sub("outside/etc/passwd"), "evil:x:0:0::/:/bin/sh\n");
  WriteFile(host.Sub("rootfs/etc/real-passwd"), "good:x:77:77::/:/bin/sh\n");
  ASSERT_EQ(symlink((host.path() + "/outside/etc/passwd").c_str(), host.Sub("rootfs/etc/passwd").c_str()), 0);
  UserRequest r;
  r.run_as_username = "evil";
  // The absolute link target is resolved inside the rootfs, where it does not exist.
  auto u = ResolveUser(host.Sub("rootfs"), r);
  EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument) << u.status();

  // Relative escapes are clamped at the rootfs too.
  ASSERT_EQ(unlink(host.Sub("rootfs/etc/passwd").c_str()), 0);
  ASSERT_EQ(symlink("../../../../../../etc/real-passwd", host.Sub("rootfs/etc/passwd").c_str()), 0);
  r.run_as_username = "good";
  u = ResolveUser(host.Sub("rootfs"), r);
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->uid, 77u);
}

// flintd reads image files as root on the host: a FIFO would block it, a device node would be
// the host's device. Neither is opened; a file over the cap is not read.
TEST(ReadFileInRootTest, ReadsOnlyRegularFilesUpToTheCap) {
  TempDir root;
  WriteFile(root.Sub("etc/small"), "0123456789");
  ASSERT_EQ(mkfifo(root.Sub("etc/fifo").c_str(), 0600), 0);
  ASSERT_EQ(mknod(root.Sub("etc/zero").c_str(), S_IFCHR | 0600, makedev(1, 5)), 0);
  ASSERT_EQ(symlink("/etc/fifo", root.Sub("etc/link-to-fifo").c_str()), 0);

  absl::StatusOr<std::string> read = ReadFileInRoot(root.path(), "etc/small");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "0123456789");
  read = ReadFileInRoot(root.path(), "etc/small", 9);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument) << read.status();
  EXPECT_THAT(std::string(read.status().message()), ::testing::HasSubstr("larger than 9 bytes"));
  EXPECT_TRUE(ReadFileInRoot(root.path(), "etc/small", 10).ok());
  for (const char* special : {"etc/fifo", "etc/zero", "etc/link-to-fifo"}) {
    read = ReadFileInRoot(root.path(), special);
    EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument) << special << ": " << read.status();
    EXPECT_THAT(std::string(read.status().message()), ::testing::HasSubstr("not a regular file")) << special;
  }
  EXPECT_EQ(ReadFileInRoot(root.path(), "etc/missing").status().code(), absl::StatusCode::kNotFound);
}

TEST(UserResolverRootTest, NoPasswdFile) {
  TempDir root;
  UserRequest r;
  r.run_as_user = 1234;
  auto u = ResolveUser(root.path(), r);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->uid, 1234u);
  r.run_as_user.reset();
  r.image_user = "someone";
  EXPECT_FALSE(ResolveUser(root.path(), r).ok());
}

}  // namespace
}  // namespace flint::oci
