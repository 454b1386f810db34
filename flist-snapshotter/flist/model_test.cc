#include "flist-snapshotter/flist/model.h"

#include "gtest/gtest.h"

namespace flint::flist {
namespace {

TEST(ValidateNameTest, RejectsEscapes) {
  EXPECT_TRUE(ValidateName("ok.txt").ok());
  EXPECT_TRUE(ValidateName("...").ok());
  EXPECT_FALSE(ValidateName("").ok());
  EXPECT_FALSE(ValidateName(".").ok());
  EXPECT_FALSE(ValidateName("..").ok());
  EXPECT_FALSE(ValidateName("a/b").ok());
  EXPECT_FALSE(ValidateName("/etc").ok());
  EXPECT_FALSE(ValidateName(std::string_view("a\0b", 3)).ok());
  EXPECT_FALSE(ValidateName(std::string(256, 'x')).ok());
}

TEST(FlistBuilderTest, BuildsTreeAndFindsPaths) {
  FlistBuilder b(FlistVersion::kV2);
  Entry dir;
  dir.type = EntryType::kDirectory;
  auto etc = b.Add(0, "etc", dir);
  ASSERT_TRUE(etc.ok());
  Entry file;
  file.type = EntryType::kRegular;
  file.size = 3;
  file.mode = 04755;
  ASSERT_TRUE(b.Add(*etc, "passwd", file).ok());
  ASSERT_TRUE(b.Add(0, "bin", dir).ok());
  EXPECT_EQ(b.Add(*etc, "passwd", file).status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(b.Add(*etc, "..", file).ok());
  EXPECT_FALSE(b.Add(2, "x", file).ok());  // parent is a file
  Flist f = std::move(b).Finish();

  const Entry* passwd = f.Find("/etc/passwd");
  ASSERT_NE(passwd, nullptr);
  EXPECT_EQ(passwd->name(), "passwd");
  EXPECT_EQ(passwd->st_mode(), 0104755u);
  EXPECT_EQ(f.Find("etc/./passwd"), passwd);
  EXPECT_EQ(f.Find("//etc/passwd/"), passwd);
  EXPECT_EQ(f.Find("/"), &f.root());
  EXPECT_EQ(f.Find(""), &f.root());
  EXPECT_EQ(f.Find("/nope"), nullptr);
  // Children are sorted by name.
  ASSERT_EQ(f.root().children.size(), 2u);
  EXPECT_EQ(f.entries()[f.root().children[0]].path, "/bin");
  EXPECT_EQ(f.entries()[f.root().children[1]].path, "/etc");
  FlistStats s = f.Stats();
  EXPECT_EQ(s.directories, 3u);
  EXPECT_EQ(s.regular_files, 1u);
  EXPECT_EQ(s.regular_bytes, 3u);
}

TEST(FlistBuilderTest, RejectsPathsLongerThanPathMax) {
  FlistBuilder b(FlistVersion::kV2);
  Entry dir;
  dir.type = EntryType::kDirectory;
  const std::string name(255, 'x');
  uint32_t parent = 0;
  for (int depth = 1; depth <= 16; ++depth) {  // 16 * "/" + 255 bytes: exactly 4096
    auto added = b.Add(parent, name, dir);
    ASSERT_TRUE(added.ok()) << "depth " << depth << ": " << added.status();
    parent = *added;
  }
  EXPECT_EQ(b.path(parent).size(), kMaxPathLength);
  auto too_long = b.Add(parent, "y", dir);
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_long.status().message().find("\"y\" at depth 17 is 4098 bytes, longer than 4096"), std::string::npos)
      << too_long.status();
}

// /bin/sh -> busybox (relative), /usr/bin -> /bin (absolute), /etc/shadow -> ../../../etc/passwd
// (climbs past the root), /loop -> /loop, /etc/passwd a file.
TEST(FlistResolveTest, FollowsLinksInsideTheRootOnly) {
  FlistBuilder b(FlistVersion::kV2);
  Entry dir;
  dir.type = EntryType::kDirectory;
  Entry file;
  file.type = EntryType::kRegular;
  auto link = [](std::string target) {
    Entry e;
    e.type = EntryType::kSymlink;
    e.link_target = std::move(target);
    return e;
  };
  auto bin = b.Add(0, "bin", dir);
  auto etc = b.Add(0, "etc", dir);
  auto usr = b.Add(0, "usr", dir);
  ASSERT_TRUE(bin.ok() && etc.ok() && usr.ok());
  ASSERT_TRUE(b.Add(*bin, "busybox", file).ok());
  ASSERT_TRUE(b.Add(*bin, "sh", link("busybox")).ok());
  ASSERT_TRUE(b.Add(*usr, "bin", link("/bin")).ok());
  ASSERT_TRUE(b.Add(*etc, "passwd", file).ok());
  ASSERT_TRUE(b.Add(*etc, "shadow", link("../../../etc/passwd")).ok());
  ASSERT_TRUE(b.Add(0, "loop", link("/loop")).ok());
  ASSERT_TRUE(b.Add(0, "dangling", link("/nope")).ok());
  Flist f = std::move(b).Finish();

  const Entry* busybox = f.Find("/bin/busybox");
  ASSERT_NE(busybox, nullptr);
  EXPECT_EQ(f.Resolve("/bin/sh"), busybox);
  EXPECT_EQ(f.Resolve("/usr/bin/sh"), busybox);
  EXPECT_EQ(f.Resolve("usr/bin/../bin/./sh"), busybox);
  EXPECT_EQ(f.Resolve("/etc/shadow"), f.Find("/etc/passwd"));
  EXPECT_EQ(f.Resolve("/../../etc/passwd"), f.Find("/etc/passwd"));
  EXPECT_EQ(f.Resolve("/usr/bin"), f.Find("/bin"));
  EXPECT_EQ(f.Resolve("/"), &f.root());
  EXPECT_EQ(f.Resolve("/loop"), nullptr);
  EXPECT_EQ(f.Resolve("/dangling"), nullptr);
  EXPECT_EQ(f.Resolve("/etc/passwd/x"), nullptr);  // through a file
  EXPECT_EQ(f.Resolve("/bin/missing"), nullptr);
  EXPECT_EQ(f.Resolve("/bin/sh", /*max_links=*/0), nullptr);
}

}  // namespace
}  // namespace flint::flist
