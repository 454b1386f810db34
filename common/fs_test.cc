#include "common/fs.h"

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace flint::fs {
namespace {

class FsTest : public testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flint-fs-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { ASSERT_TRUE(RemoveAll(dir_).ok()); }
  std::string dir_;
};

TEST_F(FsTest, MakeDirsCreatesNestedAndIsIdempotent) {
  ASSERT_TRUE(MakeDirs(dir_ + "/a/b/c").ok());
  ASSERT_TRUE(MakeDirs(dir_ + "/a/b/c").ok());
  EXPECT_EQ(access((dir_ + "/a/b/c").c_str(), F_OK), 0);
  std::ofstream(dir_ + "/file") << "x";
  EXPECT_EQ(MakeDirs(dir_ + "/file").code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(FsTest, WriteFileAtomicReplacesContent) {
  std::string path = dir_ + "/state.json";
  ASSERT_TRUE(WriteFileAtomic(path, "one").ok());
  ASSERT_TRUE(WriteFileAtomic(path, "two-two").ok());
  absl::StatusOr<std::string> content = ReadFile(path);
  ASSERT_TRUE(content.ok());
  EXPECT_EQ(*content, "two-two");
  EXPECT_EQ(ReadFile(dir_ + "/missing").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FsTest, MeasureDiskUsageCountsInodesOnceAndBytes) {
  ASSERT_TRUE(MakeDirs(dir_ + "/d").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/d/big", std::string(1 << 20, 'x')).ok());
  ASSERT_EQ(link((dir_ + "/d/big").c_str(), (dir_ + "/d/hardlink").c_str()), 0);
  ASSERT_EQ(symlink("big", (dir_ + "/d/sym").c_str()), 0);
  absl::StatusOr<DiskUsage> usage = MeasureDiskUsage(dir_);
  ASSERT_TRUE(usage.ok()) << usage.status();
  EXPECT_EQ(usage->inodes, 4u);  // dir_, d, big(=hardlink), sym
  EXPECT_GE(usage->bytes, 1u << 20);
  EXPECT_LT(usage->bytes, 2u << 20);  // the hard link is not counted twice
  absl::StatusOr<DiskUsage> missing = MeasureDiskUsage(dir_ + "/nope");
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->inodes, 0u);
}

TEST_F(FsTest, RemoveAllDoesNotEnterMountsOrFollowSymlinks) {
  std::string outside = dir_ + "-outside";
  ASSERT_TRUE(MakeDirs(outside).ok());
  ASSERT_TRUE(WriteFileAtomic(outside + "/keep", "x").ok());
  ASSERT_TRUE(MakeDirs(dir_ + "/tree/mnt").ok());
  ASSERT_EQ(symlink(outside.c_str(), (dir_ + "/tree/link").c_str()), 0);
  ASSERT_EQ(mount(outside.c_str(), (dir_ + "/tree/mnt").c_str(), nullptr, MS_BIND, nullptr), 0);
  absl::Status s = RemoveAll(dir_ + "/tree");
  EXPECT_FALSE(s.ok()) << "a mount point below must stop the removal";
  EXPECT_EQ(access((outside + "/keep").c_str(), F_OK), 0) << "content behind a mount was deleted";
  ASSERT_EQ(umount(( dir_ + "/tree/mnt").c_str()), 0);
  EXPECT_TRUE(RemoveAll(dir_ + "/tree").ok());
  EXPECT_EQ(access((outside + "/keep").c_str(), F_OK), 0) << "symlink target was deleted";
  EXPECT_TRUE(RemoveAll(outside).ok());
  EXPECT_TRUE(RemoveAll(dir_ + "/missing").ok());
}

}  // namespace
}  // namespace flint::fs
