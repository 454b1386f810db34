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

}  // namespace
}  // namespace flint::flist
