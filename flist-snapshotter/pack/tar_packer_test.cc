#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

#include "flist-snapshotter/flist/flist_reader.h"
#include "flist-snapshotter/pack/file_content.h"
#include "flist-snapshotter/pack/v2_writer.h"
#include "flist-snapshotter/store/dir_store.h"
#include "gtest/gtest.h"

namespace flint::flist {
namespace {

namespace fs = std::filesystem;

struct Member {
  std::string path;
  mode_t type;  // AE_IF*
  mode_t perm;
  std::string data = {};  // file content or symlink target
  std::string hardlink = {};
  dev_t rdev = 0;
  int64_t uid = 1234;
  int64_t gid = 5678;
};

// Writes a gzip'd pax tar with libarchive.
void WriteTar(const std::string& path, const std::vector<Member>& members) {
  archive* a = archive_write_new();
  archive_write_add_filter_gzip(a);
  archive_write_set_format_pax_restricted(a);
  ASSERT_EQ(archive_write_open_filename(a, path.c_str()), ARCHIVE_OK);
  for (const Member& m : members) {
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, m.path.c_str());
    archive_entry_set_uid(e, m.uid);
    archive_entry_set_gid(e, m.gid);
    archive_entry_set_mtime(e, 1700000000, 0);
    if (!m.hardlink.empty()) {
      archive_entry_set_hardlink(e, m.hardlink.c_str());
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, m.perm);
      archive_entry_set_size(e, 0);
    } else {
      archive_entry_set_filetype(e, m.type);
      archive_entry_set_perm(e, m.perm);
      if (m.type == AE_IFLNK) archive_entry_set_symlink(e, m.data.c_str());
      if (m.type == AE_IFCHR) archive_entry_set_rdev(e, m.rdev);
      archive_entry_set_size(e, m.type == AE_IFREG ? static_cast<la_int64_t>(m.data.size()) : 0);
    }
    ASSERT_EQ(archive_write_header(a, e), ARCHIVE_OK) << archive_error_string(a);
    if (m.type == AE_IFREG && m.hardlink.empty() && !m.data.empty()) {
      ASSERT_EQ(archive_write_data(a, m.data.data(), m.data.size()), static_cast<la_ssize_t>(m.data.size()));
    }
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
}

class TarPackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = fs::temp_directory_path().string() + "/flist-tar-XXXXXX";
    root_ = mkdtemp(tmpl.data());
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  std::string root_;
};

TEST_F(TarPackTest, PacksMembersWithoutExtracting) {
  std::string busybox(600000, '\0');
  std::mt19937 rng(3);
  for (char& c : busybox) c = static_cast<char>(rng());
  WriteTar(root_ + "/img.tar.gz",
           {
               {"./", AE_IFDIR, 0755, ""},
               {"./bin/", AE_IFDIR, 0755, ""},
               {"./bin/busybox", AE_IFREG, 0755, busybox},
               {"./bin/sh", AE_IFLNK, 0777, "busybox"},
               {"./bin/ls", AE_IFREG, 0755, "", "./bin/busybox"},
               {"usr/local/bin/tool", AE_IFREG, 04750, "tool\n"},  // parents implicit
               {"dev/null", AE_IFCHR, 0666, "", "", makedev(1, 3)},
               {"etc/passwd", AE_IFREG, 0644, "old\n"},
               {"etc/passwd", AE_IFREG, 0600, "root:x:0:0::/root:/bin/sh\n"},  // later wins
               {"tmp/", AE_IFDIR, 01777, ""},
               {"empty", AE_IFREG, 0644, ""},
           });
  DirStore store(root_ + "/store");
  auto stats = PackTarball(root_ + "/img.tar.gz", root_ + "/img.fl", store, {});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->regular_files, 5u);  // busybox, ls, tool, passwd, empty
  EXPECT_EQ(stats->symlinks, 1u);
  EXPECT_EQ(stats->others, 1u);
  EXPECT_EQ(stats->directories, 8u);  // /, bin, usr, usr/local, usr/local/bin, dev, etc, tmp

  auto f = ReadFlistFile(root_ + "/img.fl");
  ASSERT_TRUE(f.ok()) << f.status();
  const Entry* bb = f->Find("/bin/busybox");
  ASSERT_NE(bb, nullptr);
  EXPECT_EQ(bb->uid, 1234u);
  EXPECT_EQ(bb->gid, 5678u);
  EXPECT_EQ(bb->mtime, 1700000000);
  EXPECT_EQ(bb->blocks.size(), 2u);
  EXPECT_TRUE(*ReadFileContent(*f, *bb, store) == busybox);
  const Entry* ls = f->Find("/bin/ls");
  ASSERT_NE(ls, nullptr);
  EXPECT_EQ(ls->size, busybox.size());
  EXPECT_TRUE(*ReadFileContent(*f, *ls, store) == busybox);
  EXPECT_EQ(f->Find("/bin/sh")->link_target, "busybox");
  EXPECT_EQ(f->Find("/usr/local/bin/tool")->st_mode(), 0104750u);
  EXPECT_EQ(f->Find("/usr/local")->st_mode(), 040755u);
  EXPECT_EQ(f->Find("/dev/null")->type, EntryType::kCharDevice);
  EXPECT_EQ(f->Find("/dev/null")->rdev, makedev(1, 3));
  EXPECT_EQ(*ReadFileContent(*f, *f->Find("/etc/passwd"), store), "root:x:0:0::/root:/bin/sh\n");
  EXPECT_EQ(f->Find("/etc/passwd")->mode, 0600u);
  EXPECT_EQ(f->Find("/tmp")->st_mode(), 041777u);
  EXPECT_EQ(f->Find("/empty")->size, 0u);
  EXPECT_EQ(f->root().uid, 1234u);
  auto report = VerifyFlistBlocks(*f, store);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
}

TEST_F(TarPackTest, RejectsEscapingMembers) {
  WriteTar(root_ + "/evil.tar.gz", {{"a/../../etc/shadow", AE_IFREG, 0644, "x"}});
  DirStore store(root_ + "/store");
  auto stats = PackTarball(root_ + "/evil.tar.gz", root_ + "/evil.fl", store, {});
  EXPECT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("escapes"), std::string::npos) << stats.status();
  EXPECT_FALSE(fs::exists(root_ + "/evil.fl"));
}

TEST_F(TarPackTest, RejectsFileUsedAsDirectory) {
  WriteTar(root_ + "/bad.tar.gz", {{"a", AE_IFREG, 0644, "x"}, {"a/b", AE_IFREG, 0644, "y"}});
  DirStore store(root_ + "/store");
  EXPECT_FALSE(PackTarball(root_ + "/bad.tar.gz", root_ + "/bad.fl", store, {}).ok());
}

// A layer's whiteouts only hide paths in the layers below it; a packed tarball
// has none, so the markers are dropped and hide nothing of their own layer.
TEST_F(TarPackTest, DropsWhiteouts) {
  WriteTar(root_ + "/layer.tar.gz",
           {
               {"etc/", AE_IFDIR, 0755, ""},
               {"etc/foo", AE_IFREG, 0644, "kept\n"},
               {"etc/.wh.foo", AE_IFREG, 0644, ""},
               {"etc/.wh.gone", AE_IFREG, 0644, "whiteouts are empty, but skip data anyway"},
               {"opaque/", AE_IFDIR, 0700, ""},
               {"opaque/.wh..wh..opq", AE_IFREG, 0644, ""},
               {"opaque/inside", AE_IFREG, 0644, "in\n"},
               {"only-whiteouts/.wh.x", AE_IFREG, 0644, ""},
               {"./.wh..wh.plnk/", AE_IFDIR, 0700, ""},  // aufs metadata uses the same prefix
               {"after", AE_IFREG, 0644, "after\n"},
           });
  DirStore store(root_ + "/store");
  auto stats = PackTarball(root_ + "/layer.tar.gz", root_ + "/layer.fl", store, {});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->regular_files, 3u);  // etc/foo, opaque/inside, after
  EXPECT_EQ(stats->directories, 3u);    // /, etc, opaque

  auto f = ReadFlistFile(root_ + "/layer.fl");
  ASSERT_TRUE(f.ok()) << f.status();
  for (const Entry& e : f->entries()) EXPECT_EQ(e.path.find(".wh."), std::string::npos) << e.path;
  EXPECT_EQ(f->Find("/only-whiteouts"), nullptr) << "a whiteout does not create its parent";
  ASSERT_NE(f->Find("/etc/foo"), nullptr);
  EXPECT_EQ(*ReadFileContent(*f, *f->Find("/etc/foo"), store), "kept\n");
  ASSERT_NE(f->Find("/opaque/inside"), nullptr);
  EXPECT_EQ(f->Find("/opaque")->mode, 0700u);
  ASSERT_NE(f->Find("/after"), nullptr);
  EXPECT_EQ(*ReadFileContent(*f, *f->Find("/after"), store), "after\n");
}

// Only a name that starts with ".wh." is a whiteout.
TEST_F(TarPackTest, KeepsNamesThatOnlyContainWh) {
  WriteTar(root_ + "/names.tar.gz", {{"a.wh.b", AE_IFREG, 0644, "x"}, {"wh.c", AE_IFREG, 0644, "y"},
                                     {".whx", AE_IFREG, 0644, "z"}});
  DirStore store(root_ + "/store");
  auto stats = PackTarball(root_ + "/names.tar.gz", root_ + "/names.fl", store, {});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->regular_files, 3u);
}

// Member paths are capped at PATH_MAX like an flist entry's; below the cap a
// deep tree (parents implicit) still packs.
TEST_F(TarPackTest, RejectsMemberPathsLongerThanPathMax) {
  std::string deep;
  for (int i = 0; i < 2000; ++i) deep += "d/";
  deep += "f";  // 4001 bytes, 2000 implicit directories
  WriteTar(root_ + "/deep.tar.gz", {{deep, AE_IFREG, 0644, "x"}});
  DirStore store(root_ + "/store");
  auto stats = PackTarball(root_ + "/deep.tar.gz", root_ + "/deep.fl", store, {});
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->directories, 2001u);
  EXPECT_EQ(stats->regular_files, 1u);

  std::string too_long;
  for (int i = 0; i < 2049; ++i) too_long += "a/";
  too_long += "f";  // 4099 bytes
  WriteTar(root_ + "/long.tar.gz", {{"ok", AE_IFREG, 0644, "x"}, {too_long, AE_IFREG, 0644, "y"}});
  stats = PackTarball(root_ + "/long.tar.gz", root_ + "/long.fl", store, {});
  ASSERT_FALSE(stats.ok());
  EXPECT_EQ(stats.status().code(), absl::StatusCode::kInvalidArgument) << stats.status();
  EXPECT_NE(stats.status().message().find("member path is 4099 bytes, longer than 4096"), std::string::npos)
      << stats.status().message().substr(stats.status().message().size() - 200);
  EXPECT_FALSE(fs::exists(root_ + "/long.fl"));
}

TEST_F(TarPackTest, NotATarball) {
  DirStore store(root_ + "/store");
  EXPECT_FALSE(PackTarball(root_ + "/missing.tar", root_ + "/x.fl", store, {}).ok());
}

}  // namespace
}  // namespace flint::flist
