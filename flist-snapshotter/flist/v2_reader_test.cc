#include "flist-snapshotter/flist/v2_reader.h"

#include <unistd.h>

#include <fstream>
#include <string>

#include "flist-snapshotter/block/blake2b.h"
#include "flist-snapshotter/flist/flist_reader.h"
#include "flist-snapshotter/flist/sqlite_db.h"
#include "flist-snapshotter/flist/test_fixtures.h"
#include "gtest/gtest.h"

namespace flint::flist {
namespace {

using ::flint::flist::testing::FixturePath;

TEST(V2ReaderTest, HelloFixture) {
  auto f = ReadFlistFile(FixturePath("hello.fl"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->version(), FlistVersion::kV2);
  FlistStats s = f->Stats();
  EXPECT_EQ(s.directories, 7u);
  EXPECT_EQ(s.regular_files, 7u);
  EXPECT_EQ(s.symlinks, 1u);
  EXPECT_EQ(s.others, 0u);
  EXPECT_EQ(s.regular_bytes, 13441u);
  EXPECT_EQ(s.blocks, 2u);
  EXPECT_EQ(f->root().mode, 0775u);
  EXPECT_EQ(f->root().uid, 1000u);

  const Entry* hello = f->Find("/hello");
  ASSERT_NE(hello, nullptr);
  EXPECT_EQ(hello->type, EntryType::kRegular);
  EXPECT_EQ(hello->size, 13256u);
  EXPECT_EQ(hello->mode, 0755u);
  EXPECT_EQ(hello->mtime, 1702677884);
  ASSERT_EQ(hello->blocks.size(), 1u);
  EXPECT_EQ(HexEncode(hello->blocks[0].id),
            "1562992024d3ca03023b024ca90c93c35a1777cfcdd08fb184f2bef34e688de0");
  EXPECT_EQ(HexEncode(hello->blocks[0].key),
            "565b988a17de521c1489523210a53fa18fb1818a7cf0dab40c7d91139106aed3");

  const Entry* mtab = f->Find("/etc/mtab");
  ASSERT_NE(mtab, nullptr);
  EXPECT_EQ(mtab->type, EntryType::kSymlink);
  EXPECT_EQ(mtab->link_target, "/proc/mounts");

  const Entry* startup = f->Find("/.startup.toml");
  ASSERT_NE(startup, nullptr);
  EXPECT_EQ(startup->size, 185u);
  EXPECT_EQ(startup->mode, 0664u);
  EXPECT_EQ(startup->blocks.size(), 1u);

  ASSERT_EQ(f->routes().size(), 1u);
  EXPECT_EQ(f->routes()[0].start, 0);
  EXPECT_EQ(f->routes()[0].end, 255);
  EXPECT_EQ(f->routes()[0].url, "dir:///tmp/store0");
  EXPECT_TRUE(f->tags().empty());
}

TEST(V2ReaderTest, AlpineFixture) {
  auto f = ReadFlistFile(FixturePath("alpine-latest.fl"));
  ASSERT_TRUE(f.ok()) << f.status();
  FlistStats s = f->Stats();
  EXPECT_EQ(s.directories + s.regular_files + s.symlinks + s.others, 527u);
  EXPECT_EQ(s.directories, 100u);
  EXPECT_EQ(s.regular_files, 92u);
  EXPECT_EQ(s.symlinks, 335u);
  EXPECT_EQ(s.regular_bytes, 7829519u);
  EXPECT_EQ(s.blocks, 97u);

  const Entry* busybox = f->Find("/bin/busybox");
  ASSERT_NE(busybox, nullptr);
  EXPECT_EQ(busybox->size, 808712u);
  EXPECT_EQ(busybox->blocks.size(), 2u);  // ceil(808712 / 512 KiB)
  const Entry* ls = f->Find("/bin/ls");
  ASSERT_NE(ls, nullptr);
  EXPECT_EQ(ls->type, EntryType::kSymlink);
  EXPECT_EQ(ls->link_target, "/bin/busybox");
  EXPECT_EQ(ls->size, 12u);
  const Entry* tmp = f->Find("/tmp");
  ASSERT_NE(tmp, nullptr);
  EXPECT_EQ(tmp->st_mode(), 041777u);  // sticky bit kept
  EXPECT_EQ(f->Find("/usr/lib/libcrypto.so.3")->blocks.size(), 9u);
  EXPECT_EQ(f->Find("/etc/passwd")->size, 702u);
  EXPECT_NE(f->Find("/.startup.toml"), nullptr);
  ASSERT_EQ(f->routes().size(), 1u);
  EXPECT_EQ(f->routes()[0].url, "dir:///tmp/rfs-e2e-tests/store");
}

TEST(V2ReaderTest, RedisFixtureKeepsSetuidSetgidAndGid) {
  auto f = ReadFlistFile(FixturePath("redis-latest.fl"));
  ASSERT_TRUE(f.ok()) << f.status();
  FlistStats s = f->Stats();
  EXPECT_EQ(s.directories, 178u);
  EXPECT_EQ(s.regular_files, 1626u);
  EXPECT_EQ(s.symlinks, 340u);
  EXPECT_EQ(s.regular_bytes, 63385227u);
  EXPECT_EQ(s.blocks, 1678u);
  EXPECT_EQ(f->Find("/usr/bin/su")->st_mode(), 0104755u);
  EXPECT_EQ(f->Find("/usr/bin/chage")->st_mode(), 0102755u);
  EXPECT_EQ(f->Find("/var/local")->st_mode(), 042775u);
  EXPECT_EQ(f->Find("/var/local")->gid, 1000u);
  EXPECT_EQ(f->Find("/usr/local/bin/redis-server")->blocks.size(), 32u);
  EXPECT_EQ(f->Find("/sbin")->link_target, "usr/sbin");
  const Entry* startup = f->Find("/.startup.toml");
  ASSERT_NE(startup, nullptr);
  EXPECT_EQ(startup->size, 421u);
  // The fixture is truncated: its last file lost its blocks.
  const Entry* sydney = f->Find("/usr/share/zoneinfo/right/Australia/Sydney");
  ASSERT_NE(sydney, nullptr);
  EXPECT_EQ(sydney->size, 2352u);
  EXPECT_TRUE(sydney->blocks.empty());
}

class V2ReaderBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = ::testing::TempDir() + "/bad-" + std::to_string(getpid()) + ".fl";
    unlink(path_.c_str());
    auto db = SqliteDb::Create(path_);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec(R"sql(
      CREATE TABLE inode (ino INTEGER PRIMARY KEY AUTOINCREMENT, parent INTEGER, name VARCHAR(255),
        size INTEGER, uid INTEGER, gid INTEGER, mode INTEGER, rdev INTEGER, ctime INTEGER, mtime INTEGER);
      CREATE TABLE extra (ino INTEGER PRIMARY KEY, data VARCHAR(4096));
      CREATE TABLE block (ino INTEGER, id VARCHAR(32), key VARCHAR(32));
      CREATE TABLE tag (key VARCHAR(10) PRIMARY KEY, value VARCHAR(255));
      CREATE TABLE route (start integer, end integer, url VARCHAR(2048));
      INSERT INTO inode VALUES (1, 0, '/', 4096, 0, 0, 16877, 0, 0, 0);
    )sql").ok());
  }
  void TearDown() override { unlink(path_.c_str()); }
  void Insert(const std::string& sql) {
    auto db = SqliteDb::Create(path_);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(db->Exec(sql).ok()) << sql;
  }
  std::string path_;
};

TEST_F(V2ReaderBadInput, RejectsDotDotName) {
  Insert("INSERT INTO inode VALUES (2, 1, '..', 0, 0, 0, 33188, 0, 0, 0)");
  auto f = ReadFlistFile(path_);
  EXPECT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("illegal file name"), std::string::npos) << f.status();
}

TEST_F(V2ReaderBadInput, RejectsSlashInName) {
  Insert("INSERT INTO inode VALUES (2, 1, 'a/../../etc', 0, 0, 0, 33188, 0, 0, 0)");
  EXPECT_FALSE(ReadFlistFile(path_).ok());
}

TEST_F(V2ReaderBadInput, RejectsOrphansAndCycles) {
  Insert("INSERT INTO inode VALUES (2, 3, 'a', 0, 0, 0, 16877, 0, 0, 0);"
         "INSERT INTO inode VALUES (3, 2, 'b', 0, 0, 0, 16877, 0, 0, 0)");
  auto f = ReadFlistFile(path_);
  EXPECT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("not reachable"), std::string::npos) << f.status();
}

TEST_F(V2ReaderBadInput, RejectsSymlinkWithoutTarget) {
  Insert("INSERT INTO inode VALUES (2, 1, 'l', 0, 0, 0, 41471, 0, 0, 0)");
  EXPECT_FALSE(ReadFlistFile(path_).ok());
}

TEST_F(V2ReaderBadInput, ReadsDeviceNodesAndTags) {
  Insert("INSERT INTO inode VALUES (2, 1, 'null', 0, 0, 0, 8630, 259, 0, 0);"  // 020666, 1:3
         "INSERT INTO inode VALUES (3, 1, 'fifo', 0, 0, 0, 4516, 0, 0, 0);"
         "INSERT INTO tag VALUES ('version', 'v1'), ('author', 'me');"
         "INSERT INTO route VALUES (0, 127, 'zdb://a:9900'), (128, 255, 'zdb://b:9900');");
  auto f = ReadFlistFile(path_);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->Find("/null")->type, EntryType::kCharDevice);
  EXPECT_EQ(f->Find("/null")->rdev, 259u);
  EXPECT_EQ(f->Find("/fifo")->type, EntryType::kFifo);
  EXPECT_EQ(f->tags().at("version"), "v1");
  EXPECT_EQ(f->tags().at("author"), "me");
  ASSERT_EQ(f->routes().size(), 2u);
  EXPECT_EQ(f->routes()[1].start, 128);
  EXPECT_EQ(f->Stats().others, 2u);
}

// Each table the reader selects from, replaced by a view over its rows. The
// views are finite so that, were the check missing, the test would fail
// rather than run without end as an endless recursive view would.
TEST_F(V2ReaderBadInput, RejectsViewsInPlaceOfTables) {
  Insert("INSERT INTO inode VALUES (2, 1, 'l', 0, 0, 0, 41471, 0, 0, 0);"
         "INSERT INTO extra VALUES (2, 'target');"
         "INSERT INTO route VALUES (0, 255, 'zdb://a:9900');");
  for (const std::string table : {"inode", "extra", "block", "tag", "route"}) {
    SCOPED_TRACE(table);
    Insert("ALTER TABLE " + table + " RENAME TO " + table + "_data;"
           "CREATE VIEW " + table + " AS SELECT * FROM " + table + "_data");
    {
      auto db = SqliteDb::OpenReadOnly(path_);
      ASSERT_TRUE(db.ok()) << db.status();
      auto f = ReadV2(*db);
      ASSERT_FALSE(f.ok());
      EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
      EXPECT_NE(f.status().message().find("table \"" + table + "\" is not an ordinary table"), std::string::npos)
          << f.status();
    }
    Insert("DROP VIEW " + table + "; ALTER TABLE " + table + "_data RENAME TO " + table);
  }
  auto f = ReadFlistFile(path_);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->Find("/l")->link_target, "target");
}

// SQL matches table names in any case, and so do the readers: the v1/v2 sniff must too.
TEST_F(V2ReaderBadInput, TablesNamedInAnotherCaseAreReadAsV2) {
  Insert("INSERT INTO inode VALUES (2, 1, 'f', 3, 0, 0, 33188, 0, 0, 0);"
         "ALTER TABLE inode RENAME TO inode_old;"
         "CREATE TABLE INODE (ino INTEGER PRIMARY KEY AUTOINCREMENT, parent INTEGER, name VARCHAR(255),"
         "  size INTEGER, uid INTEGER, gid INTEGER, mode INTEGER, rdev INTEGER, ctime INTEGER, mtime INTEGER);"
         "INSERT INTO INODE SELECT * FROM inode_old; DROP TABLE inode_old;"
         "DROP TABLE route; CREATE TABLE Route (start integer, end integer, url VARCHAR(2048))");
  auto f = ReadFlistFile(path_);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->version(), FlistVersion::kV2);
  ASSERT_NE(f->Find("/f"), nullptr);
  EXPECT_EQ(f->Find("/f")->size, 3u);

  // A view in its place is refused as ReadV2 refuses it, not taken for "no inode table".
  Insert("ALTER TABLE INODE RENAME TO inode_data; CREATE VIEW Inode AS SELECT * FROM inode_data");
  f = ReadFlistFile(path_);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
  EXPECT_NE(f.status().message().find("table \"inode\" is not an ordinary table"), std::string::npos) << f.status();
}

TEST_F(V2ReaderBadInput, RejectsARecursiveViewWhateverItsCase) {
  Insert("DROP TABLE tag;"
         "CREATE VIEW TAG AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1000) "
         "SELECT printf('%032x', x) AS key, zeroblob(4096) AS value FROM c");
  auto f = ReadFlistFile(path_);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
  EXPECT_NE(f.status().message().find("table \"tag\" is not an ordinary table"), std::string::npos) << f.status();
}

TEST_F(V2ReaderBadInput, RejectsGeneratedColumns) {
  // A generated column is computed on every read: 100 kB per row here, any size in an attack.
  Insert("DROP TABLE extra;"
         "CREATE TABLE extra (ino INTEGER PRIMARY KEY, data BLOB AS (zeroblob(100000)));"
         "INSERT INTO inode VALUES (2, 1, 'l', 0, 0, 0, 41471, 0, 0, 0);"
         "INSERT INTO extra (ino) VALUES (2);");
  auto f = ReadFlistFile(path_);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
  EXPECT_NE(f.status().message().find("table \"extra\" has a generated or hidden column \"data\""),
            std::string::npos)
      << f.status();

  Insert("DROP TABLE extra; CREATE TABLE extra (ino INTEGER PRIMARY KEY, data VARCHAR(4096));"
         "INSERT INTO extra VALUES (2, 't');"
         "DROP TABLE block; CREATE TABLE block (ino INTEGER, id VARCHAR(32), key BLOB AS (id) STORED)");
  f = ReadFlistFile(path_);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("table \"block\" has a generated or hidden column \"key\""),
            std::string::npos)
      << f.status();
}

TEST_F(V2ReaderBadInput, RejectsPathsLongerThanPathMax) {
  // /d/d/.../d: inode i is at depth i-1, so inode 2049's path is exactly 4096 bytes.
  Insert("WITH RECURSIVE c(i) AS (SELECT 2 UNION ALL SELECT i+1 FROM c WHERE i < 2049) "
         "INSERT INTO inode SELECT i, i-1, 'd', 0, 0, 0, 16877, 0, 0, 0 FROM c");
  auto f = ReadFlistFile(path_);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->Stats().directories, 2049u);

  Insert("INSERT INTO inode VALUES (2050, 2049, 'd', 0, 0, 0, 16877, 0, 0, 0)");
  f = ReadFlistFile(path_);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
  EXPECT_NE(f.status().message().find("inode 2050: path of \"d\" at depth 2049 is 4098 bytes"), std::string::npos)
      << f.status();
}

TEST(FlistReaderTest, UnknownMagicIsRejected) {
  std::string path = ::testing::TempDir() + "/not-a-flist-" + std::to_string(getpid());
  FILE* fp = fopen(path.c_str(), "w");
  ASSERT_NE(fp, nullptr);
  fputs("hello", fp);
  fclose(fp);
  auto f = ReadFlistFile(path);
  EXPECT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("magic"), std::string::npos);
  unlink(path.c_str());
  EXPECT_EQ(ReadFlistFile(path).status().code(), absl::StatusCode::kNotFound);
}

// A takeover reads the flist through a descriptor after RemoveImage deleted the file.
TEST(FlistReaderTest, ReadsBothGenerationsFromADescriptorOfADeletedFile) {
  for (const std::string name : {"hello.fl", "hub-funk-v1.flist"}) {
    SCOPED_TRACE(name);
    auto from_path = ReadFlistFile(FixturePath(name));
    ASSERT_TRUE(from_path.ok()) << from_path.status();
    char copy[] = "/tmp/flist-fd-test-XXXXXX";
    const int fd = mkstemp(copy);
    ASSERT_GE(fd, 0);
    {
      std::ifstream in(FixturePath(name), std::ios::binary);
      std::ofstream out(copy, std::ios::binary);
      out << in.rdbuf();
    }
    ASSERT_EQ(unlink(copy), 0);
    auto from_fd = ReadFlistFd(fd);
    close(fd);
    ASSERT_TRUE(from_fd.ok()) << from_fd.status();
    EXPECT_EQ(from_fd->version(), from_path->version());
    const FlistStats a = from_fd->Stats(), b = from_path->Stats();
    EXPECT_EQ(a.directories, b.directories);
    EXPECT_EQ(a.regular_files, b.regular_files);
    EXPECT_EQ(a.symlinks, b.symlinks);
    EXPECT_EQ(a.regular_bytes, b.regular_bytes);
    EXPECT_EQ(a.blocks, b.blocks);
    EXPECT_EQ(from_fd->routes().size(), from_path->routes().size());
  }
}

TEST(FlistReaderTest, DescriptorOfSomethingElseIsAClearError) {
  char junk[] = "/tmp/flist-fd-junk-XXXXXX";
  const int fd = mkstemp(junk);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "not a flist at all", 18), 18);
  unlink(junk);
  auto f = ReadFlistFd(fd);
  close(fd);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(f.status().message().find("magic"), std::string::npos) << f.status();
}

}  // namespace
}  // namespace flint::flist
