#include "flist-snapshotter/flist/v1_reader.h"

#include <sys/resource.h>

#include <unistd.h>

#include <chrono>

#include "flist-snapshotter/flist/flist_reader.h"
#include "flist-snapshotter/flist/test_fixtures.h"
#include "flist-snapshotter/flist/v1_test_builder.h"
#include "gtest/gtest.h"

namespace flint::flist {
namespace {

using ::flint::flist::testing::FixturePath;

TEST(V1ReaderTest, DirectoryKeys) {
  EXPECT_EQ(V1DirectoryKey(""), "cae66941d9efbd404e4d88758ea67670");
}

TEST(V1ReaderTest, BackendUrl) {
  EXPECT_EQ(*V1BackendUrl(R"({"host":"hub.grid.tf","port":9900,"namespace":"default"})"),
            "zdb://hub.grid.tf:9900");
  EXPECT_EQ(*V1BackendUrl(R"({"host":"h","port":"9901","namespace":"ns","password":"pw"})"),
            "zdb://:pw@h:9901/ns");
  EXPECT_FALSE(V1BackendUrl("{").ok());
  EXPECT_FALSE(V1BackendUrl(R"({"port":1})").ok());
}

TEST(V1ReaderTest, HubFunkFlistExactCounts) {
  auto start = std::chrono::steady_clock::now();
  auto f = ReadFlistFile(FixturePath("hub-funk-v1.flist"));
  auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(f.ok()) << f.status();
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  RecordProperty("parse_seconds", std::to_string(elapsed));
  std::printf("hub-funk-v1.flist parsed in %.3f s, peak RSS %ld KiB\n", elapsed, ru.ru_maxrss);

  EXPECT_EQ(f->version(), FlistVersion::kV1);
  FlistStats s = f->Stats();
  EXPECT_EQ(s.directories, 6881u);
  EXPECT_EQ(s.regular_files, 30370u);
  EXPECT_EQ(s.regular_bytes, 956239538u);
  EXPECT_EQ(s.symlinks, 830u);
  EXPECT_EQ(s.others, 0u);
  EXPECT_EQ(s.blocks, 30851u);
  EXPECT_TRUE(f->routes().empty());  // no backend metadata: default hub zdb

  uint64_t files_checked = 0;
  for (const Entry& e : f->entries()) {
    if (e.type != EntryType::kRegular) continue;
    ASSERT_EQ(e.blocks.size(), (e.size + 512 * 1024 - 1) / (512 * 1024)) << e.path;
    for (const BlockRef& b : e.blocks) {
      ASSERT_EQ(b.id.size(), 16u);
      ASSERT_EQ(b.key.size(), 16u);
    }
    ++files_checked;
  }
  EXPECT_EQ(files_checked, 30370u);
}

using ::flint::flist::testing::CreateV1Database;
using ::flint::flist::testing::PutV1Entry;
using ::flint::flist::testing::V1AciMessage;
using ::flint::flist::testing::V1DirMessage;
using ::flint::flist::testing::V1Inode;

// Bare flistdb.sqlite3 files built by hand, read through the magic sniffing.
class V1SyntheticTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/flistdb-" + std::to_string(getpid()) + ".sqlite3";
    unlink(path_.c_str());
    auto db = SqliteDb::Create(path_);
    ASSERT_TRUE(db.ok());
    CreateV1Database(*db);
    PutV1Entry(*db, "acl-root", V1AciMessage("root", "root", 0755, 0, 0));
    PutV1Entry(*db, "acl-suid", V1AciMessage("x", "y", 04755, 5, 6));
    PutV1Entry(*db, "acl-named", V1AciMessage("1234", "nobody", 0640, -1, -1));
  }
  void TearDown() override { unlink(path_.c_str()); }
  void Put(const std::string& key, const std::string& value) {
    auto db = SqliteDb::Create(path_);
    ASSERT_TRUE(db.ok());
    PutV1Entry(*db, key, value);
  }
  std::string path_;
};

TEST_F(V1SyntheticTest, DecodesAllInodeKinds) {
  const std::string hash(16, '\x11'), key(16, '\x22');
  V1Inode etc{V1Inode::kDir, "etc", "acl-root"};
  etc.subdir_key = V1DirectoryKey("etc");
  V1Inode file{V1Inode::kFile, "su", "acl-suid", 100, 1600000000};
  file.blocks = {{hash, key}};
  V1Inode empty{V1Inode::kFile, "empty", "acl-named"};
  V1Inode link{V1Inode::kLink, "sh", "acl-root", 12};
  link.target = "/bin/busybox";
  V1Inode null{V1Inode::kSpecial, "null", "acl-root"};
  null.special_data = "1,3";
  V1Inode sda{V1Inode::kSpecial, "sda", "acl-root"};
  sda.special_type = 1;
  sda.special_data = "8,0";
  V1Inode sock{V1Inode::kSpecial, "sock", "acl-root"};
  sock.special_data = "(nothing)";
  Put(V1DirectoryKey(""), V1DirMessage("", "", "acl-root", {etc, file, empty, link, null, sda, sock}));
  V1Inode passwd{V1Inode::kFile, "passwd", "acl-root", 0};
  Put(V1DirectoryKey("etc"), V1DirMessage("etc", "etc", "acl-root", {passwd}));
  {
    auto db = SqliteDb::Create(path_);
    ASSERT_TRUE(db->Exec("INSERT INTO metadata VALUES ('backend', '{\"host\":\"zdb.example\",\"port\":9900,\"namespace\":\"default\"}'), ('entrypoint', '/bin/sh')").ok());
  }

  auto f = ReadFlistFile(path_);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->version(), FlistVersion::kV1);
  EXPECT_EQ(f->Stats().directories, 2u);
  EXPECT_EQ(f->Stats().regular_files, 3u);
  const Entry* su = f->Find("/su");
  ASSERT_NE(su, nullptr);
  EXPECT_EQ(su->st_mode(), 0104755u);
  EXPECT_EQ(su->uid, 5u);
  EXPECT_EQ(su->gid, 6u);
  EXPECT_EQ(su->size, 100u);
  EXPECT_EQ(su->mtime, 1600000000);
  ASSERT_EQ(su->blocks.size(), 1u);
  EXPECT_EQ(su->blocks[0].id, hash);
  EXPECT_EQ(su->blocks[0].key, key);
  // uid/gid -1: numeric names are used, others fall back to 1000.
  EXPECT_EQ(f->Find("/empty")->uid, 1234u);
  EXPECT_EQ(f->Find("/empty")->gid, 1000u);
  EXPECT_TRUE(f->Find("/empty")->blocks.empty());
  EXPECT_EQ(f->Find("/sh")->link_target, "/bin/busybox");
  EXPECT_EQ(f->Find("/null")->type, EntryType::kCharDevice);
  EXPECT_EQ(f->Find("/null")->rdev, (1u << 8) | 3u);
  EXPECT_EQ(f->Find("/sda")->type, EntryType::kBlockDevice);
  EXPECT_EQ(f->Find("/sock")->type, EntryType::kSocket);
  EXPECT_NE(f->Find("/etc/passwd"), nullptr);
  ASSERT_EQ(f->routes().size(), 1u);
  EXPECT_EQ(f->routes()[0].url, "zdb://zdb.example:9900");
  EXPECT_EQ(f->tags().at("entrypoint"), "/bin/sh");
}

TEST_F(V1SyntheticTest, RejectsDotDotNames) {
  V1Inode evil{V1Inode::kFile, "..", "acl-root"};
  Put(V1DirectoryKey(""), V1DirMessage("", "", "acl-root", {evil}));
  auto f = ReadFlistFile(path_);
  EXPECT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("illegal file name"), std::string::npos) << f.status();
}

TEST_F(V1SyntheticTest, RejectsSlashInNames) {
  V1Inode evil{V1Inode::kLink, "../../etc/shadow", "acl-root"};
  evil.target = "x";
  Put(V1DirectoryKey(""), V1DirMessage("", "", "acl-root", {evil}));
  EXPECT_FALSE(ReadFlistFile(path_).ok());
}

TEST_F(V1SyntheticTest, RejectsDirectoryCycles) {
  V1Inode loop{V1Inode::kDir, "loop", "acl-root"};
  loop.subdir_key = V1DirectoryKey("");  // points back at the root
  Put(V1DirectoryKey(""), V1DirMessage("", "", "acl-root", {loop}));
  auto f = ReadFlistFile(path_);
  EXPECT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("referenced twice"), std::string::npos) << f.status();
}

TEST_F(V1SyntheticTest, RejectsMissingAciAndSubdir) {
  V1Inode orphan{V1Inode::kFile, "f", "acl-missing"};
  Put(V1DirectoryKey(""), V1DirMessage("", "", "acl-root", {orphan}));
  EXPECT_FALSE(ReadFlistFile(path_).ok());
  V1Inode dir{V1Inode::kDir, "d", "acl-root"};
  dir.subdir_key = "0000";
  Put(V1DirectoryKey(""), V1DirMessage("", "", "acl-root", {dir}));
  auto f = ReadFlistFile(path_);
  EXPECT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("missing"), std::string::npos) << f.status();
}

TEST_F(V1SyntheticTest, RejectsTruncatedMessages) {
  std::string msg = V1DirMessage("", "", "acl-root", {V1Inode{V1Inode::kFile, "f", "acl-root"}});
  msg.resize(msg.size() - 16);
  Put(V1DirectoryKey(""), msg);
  EXPECT_FALSE(ReadFlistFile(path_).ok());
}

}  // namespace
}  // namespace flint::flist
