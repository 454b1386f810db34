#include "cri/image/layer_unpacker.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "common/fs.h"
#include "cri/image/digest.h"
#include "cri/image/test_tar.h"

namespace flint::image {
namespace {

using testing::Dir;
using testing::File;
using testing::Hardlink;
using testing::Symlink;
using testing::TarCompression;
using testing::TarEntry;

class LayerUnpackerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/var/tmp/flint-unpack-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dest_ = root_ + "/layer/fs";
    outside_ = root_ + "/outside";
    ASSERT_TRUE(fs::MakeDirs(dest_).ok());
    ASSERT_TRUE(fs::MakeDirs(outside_).ok());
  }
  void TearDown() override { ASSERT_TRUE(fs::RemoveAll(root_).ok()); }

  absl::StatusOr<UnpackResult> Unpack(const std::vector<TarEntry>& entries, TarCompression c = TarCompression::kGzip) {
    std::string blob = root_ + "/blob";
    EXPECT_TRUE(testing::WriteTar(blob, entries, c));
    return UnpackLayer(blob, dest_);
  }

  struct stat Lstat(const std::string& rel) {
    struct stat st {};
    EXPECT_EQ(lstat((dest_ + "/" + rel).c_str(), &st), 0) << rel;
    return st;
  }
  bool Exists(const std::string& abs) {
    struct stat st;
    return lstat(abs.c_str(), &st) == 0;
  }
  std::string Xattr(const std::string& rel, const char* name) {
    char buf[256];
    ssize_t n = lgetxattr((dest_ + "/" + rel).c_str(), name, buf, sizeof(buf));
    return n < 0 ? std::string() : std::string(buf, static_cast<size_t>(n));
  }

  std::string root_, dest_, outside_;
};

TEST_F(LayerUnpackerTest, KeepsTypesOwnershipModesXattrsAndTimes) {
  TarEntry suid = File("bin/su", "#!/bin/true\n", 04755);
  suid.uid = 1000;
  suid.gid = 1000;
  TarEntry sgid_dir = Dir("srv", 02775);
  sgid_dir.gid = 50;
  sgid_dir.mtime = 1600000000;
  TarEntry capped = File("bin/ping", "ping", 0755);
  // VFS_CAP_REVISION_2 capability blob granting cap_net_raw (bit 13) permitted+effective.
  std::string cap("\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 20);
  capped.xattrs = {{"security.capability", cap}, {"user.note", "hello"}, {"trusted.overlay.redirect", "/etc"}};
  TarEntry tty;
  tty.path = "dev/tty0";
  tty.type = AE_IFCHR;
  tty.mode = 0620;
  tty.rdev_major = 4;
  tty.rdev_minor = 0;
  TarEntry fifo;
  fifo.path = "run/fifo";
  fifo.type = AE_IFIFO;
  fifo.mode = 0600;
  std::string big(3 * 1024 * 1024 + 17, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);

  auto result =
      Unpack({Dir("bin"), suid, capped, sgid_dir, Dir("tmp", 01777), Symlink("bin/sh", "/bin/busybox"),
              File("bin/busybox", "bb"), Hardlink("bin/ls", "bin/busybox"), tty, fifo, File("data/big", big)});
  ASSERT_TRUE(result.ok()) << result.status();

  struct stat st = Lstat("bin/su");
  EXPECT_EQ(st.st_mode & 07777, 04755u);
  EXPECT_EQ(st.st_uid, 1000u);
  EXPECT_EQ(st.st_gid, 1000u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1700000000);
  st = Lstat("srv");
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 02775u);
  EXPECT_EQ(st.st_gid, 50u);
  EXPECT_EQ(st.st_mtim.tv_sec, 1600000000);
  EXPECT_EQ(Lstat("tmp").st_mode & 07777, 01777u);
  EXPECT_EQ(Xattr("bin/ping", "security.capability"), cap);
  EXPECT_EQ(Xattr("bin/ping", "user.note"), "hello");
  EXPECT_EQ(Xattr("bin/ping", "trusted.overlay.redirect"), "");  // never taken from a tarball
  st = Lstat("bin/sh");
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  char target[64] = {};
  ASSERT_GT(readlink((dest_ + "/bin/sh").c_str(), target, sizeof(target) - 1), 0);
  EXPECT_STREQ(target, "/bin/busybox");
  EXPECT_EQ(Lstat("bin/ls").st_ino, Lstat("bin/busybox").st_ino);
  EXPECT_EQ(Lstat("bin/ls").st_nlink, 2u);
  st = Lstat("dev/tty0");
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(major(st.st_rdev), 4u);
  EXPECT_EQ(st.st_mode & 07777, 0620u);
  EXPECT_TRUE(S_ISFIFO(Lstat("run/fifo").st_mode));
  auto content = fs::ReadFile(dest_ + "/data/big");
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, big);
  EXPECT_GE(result->unpacked_bytes, big.size());
}

TEST_F(LayerUnpackerTest, WhiteoutsBecomeOverlayWhiteouts) {
  auto result = Unpack({Dir("etc"), File("etc/.wh.passwd", ""), Dir("var/cache"), File("var/cache/.wh..wh..opq", ""),
                        File("var/cache/new", "n"), File(".wh.gone", "")});
  ASSERT_TRUE(result.ok()) << result.status();
  struct stat st = Lstat("etc/passwd");
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(st.st_rdev, makedev(0, 0));
  EXPECT_TRUE(S_ISCHR(Lstat("gone").st_mode));
  EXPECT_FALSE(Exists(dest_ + "/etc/.wh.passwd"));
  EXPECT_FALSE(Exists(dest_ + "/var/cache/.wh..wh..opq"));
  EXPECT_EQ(Xattr("var/cache", "trusted.overlay.opaque"), "y");
  EXPECT_TRUE(Exists(dest_ + "/var/cache/new"));
}

TEST_F(LayerUnpackerTest, CompressionsGiveTheSameDiffId) {
  std::vector<TarEntry> entries = {Dir("a"), File("a/b", std::string(100000, 'q')), File("c", "c")};
  std::string plain = testing::TarBytes(entries, TarCompression::kNone);
  ASSERT_FALSE(plain.empty());
  std::string want = Sha256Digest(plain);
  for (TarCompression c : {TarCompression::kNone, TarCompression::kGzip, TarCompression::kZstd}) {
    ASSERT_TRUE(fs::RemoveAll(dest_).ok());
    ASSERT_TRUE(fs::MakeDirs(dest_).ok());
    auto result = Unpack(entries, c);
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->diff_id, want) << static_cast<int>(c);
    EXPECT_EQ(fs::ReadFile(dest_ + "/a/b").value_or(""), std::string(100000, 'q'));
  }
}

TEST_F(LayerUnpackerTest, RejectsEntriesEscapingTheLayer) {
  const std::vector<std::vector<TarEntry>> attacks = {
      {File("../outside/evil", "x")},
      {File("a/../../outside/evil", "x")},
      {File("/tmp/evil", "x")},
      {Symlink("link", outside_), File("link/evil", "x")},
      {Symlink("link", "../outside"), Dir("link/sub")},
      {Dir("d"), Symlink("d/up", "../../outside"), File("d/up/evil", "x")},
      {Hardlink("evil", "../outside/sentinel")},
      {Hardlink("evil", outside_ + "/sentinel")},
      {Symlink("sl", outside_), Hardlink("evil", "sl/sentinel")},
      {Symlink("sl", outside_), File("sl/.wh.sentinel", "")},
      {Symlink("sl", outside_), Dir("sl/x"), File("sl/x/.wh..wh..opq", "")},
  };
  ASSERT_TRUE(fs::WriteFileAtomic(outside_ + "/sentinel", "keep").ok());
  for (size_t i = 0; i < attacks.size(); ++i) {
    ASSERT_TRUE(fs::RemoveAll(dest_).ok());
    ASSERT_TRUE(fs::MakeDirs(dest_).ok());
    auto result = Unpack(attacks[i]);
    ASSERT_FALSE(result.ok()) << "attack " << i << " was accepted";
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument) << i << ": " << result.status();
    EXPECT_FALSE(Exists(outside_ + "/evil")) << i;
    EXPECT_FALSE(Exists(outside_ + "/sub")) << i;
    EXPECT_FALSE(Exists(outside_ + "/x")) << i;
    EXPECT_FALSE(Exists(root_ + "/tmp/evil")) << i;
    struct stat st;
    ASSERT_EQ(lstat((outside_ + "/sentinel").c_str(), &st), 0) << i;
    EXPECT_TRUE(S_ISREG(st.st_mode)) << i;
    EXPECT_EQ(st.st_nlink, 1u) << i;
    EXPECT_EQ(fs::ReadFile(outside_ + "/sentinel").value_or(""), "keep") << i;
  }
}

TEST_F(LayerUnpackerTest, SymlinksInsideTheLayerAreKeptNotFollowed) {
  // An absolute symlink target is fine as data; only writing *through* it is refused.
  auto result = Unpack({Symlink("etc-link", "/etc"), Dir("etc"), Hardlink("etc/link-to-link", "etc-link")});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(S_ISLNK(Lstat("etc/link-to-link").st_mode));
}

TEST_F(LayerUnpackerTest, CorruptGzipIsDataLoss) {
  std::string tar = testing::TarBytes({File("a", std::string(50000, 'z'))}, TarCompression::kGzip);
  ASSERT_GT(tar.size(), 40u);
  tar.resize(tar.size() / 2);
  std::string blob = root_ + "/blob";
  ASSERT_TRUE(fs::WriteFileAtomic(blob, tar).ok());
  auto result = UnpackLayer(blob, dest_);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), absl::StatusCode::kDataLoss) << result.status();
}

TEST_F(LayerUnpackerTest, SparseFilesKeepTheirHoles) {
  constexpr size_t kSize = 16 << 20;
  std::string logical(kSize, '\0');
  std::fill(logical.begin(), logical.begin() + 4096, 'a');
  std::fill(logical.end() - 4096, logical.end(), 'b');
  TarEntry sparse = File("sparse.img", logical);
  sparse.sparse = {{0, 4096}, {static_cast<int64_t>(kSize) - 4096, 4096}};
  std::string blob = root_ + "/blob";
  ASSERT_TRUE(testing::WriteTar(blob, {sparse}, TarCompression::kNone));
  struct stat blob_st;
  ASSERT_EQ(stat(blob.c_str(), &blob_st), 0);
  ASSERT_LT(blob_st.st_size, 1 << 20) << "the test tar is not sparse";
  auto result = UnpackLayer(blob, dest_);
  ASSERT_TRUE(result.ok()) << result.status();
  struct stat st = Lstat("sparse.img");
  EXPECT_EQ(st.st_size, static_cast<off_t>(kSize));
  EXPECT_LT(st.st_blocks * 512, 1 << 20);  // holes stay holes
  auto content = fs::ReadFile(dest_ + "/sparse.img");
  ASSERT_TRUE(content.ok());
  EXPECT_TRUE(*content == logical);
}

TEST_F(LayerUnpackerTest, EmptyLayersAreValidGarbageIsNot) {
  auto empty_tar = Unpack({}, TarCompression::kGzip);
  ASSERT_TRUE(empty_tar.ok()) << empty_tar.status();
  EXPECT_EQ(empty_tar->diff_id, Sha256Digest(std::string(1024, '\0')));
  std::string blob = root_ + "/blob";
  ASSERT_TRUE(fs::WriteFileAtomic(blob, "").ok());
  auto zero_bytes = UnpackLayer(blob, dest_);
  ASSERT_TRUE(zero_bytes.ok()) << zero_bytes.status();
  EXPECT_EQ(zero_bytes->diff_id, Sha256Digest(""));
  ASSERT_TRUE(fs::WriteFileAtomic(blob, std::string(3000, 'G')).ok());
  auto garbage = UnpackLayer(blob, dest_);
  ASSERT_FALSE(garbage.ok());
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kDataLoss) << garbage.status();
}

TEST_F(LayerUnpackerTest, LaterEntriesReplaceEarlierOnes) {
  auto result = Unpack({File("x", "first"), File("x", "second"), Dir("d"), File("d/f", "f"), File("d", "now a file")});
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(fs::ReadFile(dest_ + "/x").value_or(""), "second");
  EXPECT_EQ(fs::ReadFile(dest_ + "/d").value_or(""), "now a file");
}

}  // namespace
}  // namespace flint::image
