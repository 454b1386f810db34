#include "flist-snapshotter/flist/v1_reader.h"

#include <sys/resource.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

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
  // Everything outside RFC 3986 "unreserved" is percent-encoded (see ParseStoreUrl).
  EXPECT_EQ(*V1BackendUrl(R"({"host":"h","port":1,"namespace":"n s/1","password":"a/b@c:d%e-._~"})"),
            "zdb://:a%2Fb%40c%3Ad%25e-._~@h:1/n%20s%2F1");
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
  EXPECT_EQ(f->Find("/null")->rdev, makedev(1, 3));
  EXPECT_EQ(f->Find("/sda")->type, EntryType::kBlockDevice);
  EXPECT_EQ(f->Find("/sock")->type, EntryType::kSocket);
  EXPECT_NE(f->Find("/etc/passwd"), nullptr);
  ASSERT_EQ(f->routes().size(), 1u);
  EXPECT_EQ(f->routes()[0].url, "zdb://zdb.example:9900");
  EXPECT_EQ(f->tags().at("entrypoint"), "/bin/sh");
}

// st_rdev encoding, as the v2 formats, the CLI and FUSE use: a minor past 255
// must not spill into the major.
TEST_F(V1SyntheticTest, DeviceNumbersUseTheStRdevEncoding) {
  V1Inode tty{V1Inode::kSpecial, "tty300", "acl-root"};
  tty.special_type = 2;
  tty.special_data = "4,300";
  V1Inode disk{V1Inode::kSpecial, "nvme", "acl-root"};
  disk.special_data = "259,65537";
  Put(V1DirectoryKey(""), V1DirMessage("", "", "acl-root", {tty, disk}));
  auto f = ReadFlistFile(path_);
  ASSERT_TRUE(f.ok()) << f.status();
  const Entry* t = f->Find("/tty300");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->type, EntryType::kCharDevice);
  EXPECT_EQ(major(t->rdev), 4u);
  EXPECT_EQ(minor(t->rdev), 300u);
  EXPECT_EQ(major(f->Find("/nvme")->rdev), 259u);
  EXPECT_EQ(minor(f->Find("/nvme")->rdev), 65537u);
}

// A v1 metadata table that is in fact a view (in any letter case) is refused,
// as is a generated column in the entries table.
TEST_F(V1SyntheticTest, RejectsViewsAndGeneratedColumns) {
  Put(V1DirectoryKey(""), V1DirMessage("", "", "acl-root", {}));
  {
    auto db = SqliteDb::Create(path_);
    ASSERT_TRUE(db->Exec("DROP TABLE metadata;"
                         "CREATE VIEW Metadata AS SELECT 'entrypoint' AS key, '/bin/sh' AS value").ok());
  }
  auto f = ReadFlistFile(path_);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
  EXPECT_NE(f.status().message().find("table \"metadata\" is not an ordinary table"), std::string::npos)
      << f.status();

  {
    auto db = SqliteDb::Create(path_);
    ASSERT_TRUE(db->Exec("DROP VIEW Metadata; DROP TABLE entries;"
                         "CREATE TABLE entries (key VARCHAR(64) PRIMARY KEY, value BLOB AS (zeroblob(100000)));"
                         "INSERT INTO entries (key) VALUES ('acl-root')").ok());
  }
  f = ReadFlistFile(path_);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("table \"entries\" has a generated or hidden column \"value\""),
            std::string::npos)
      << f.status();
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

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

// Writes a v1 archive as 0-flist does: flistdb.sqlite3 in a gzip'd ustar
// tar. With `claimed_size` the header claims that size instead and the tar
// ends right after `db`, as a truncated download would.
void WriteV1Archive(const std::string& path, const std::string& db,
                    std::optional<uint64_t> claimed_size = std::nullopt) {
  char header[512] = {};
  std::snprintf(header, 100, "flistdb.sqlite3");
  std::snprintf(header + 100, 8, "%07o", 0644);
  std::snprintf(header + 108, 8, "%07o", 0);
  std::snprintf(header + 116, 8, "%07o", 0);
  std::snprintf(header + 124, 12, "%011llo", static_cast<unsigned long long>(claimed_size.value_or(db.size())));
  std::snprintf(header + 136, 12, "%011o", 0);
  header[156] = '0';
  std::memcpy(header + 257, "ustar", 6);
  std::memcpy(header + 263, "00", 2);
  std::memset(header + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char c : header) sum += c;
  std::snprintf(header + 148, 7, "%06o", sum);
  std::string tar(header, sizeof(header));
  tar += db;
  if (!claimed_size.has_value()) tar.resize((tar.size() + 511) / 512 * 512 + 1024, '\0');
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, tar.data(), static_cast<unsigned>(tar.size())), static_cast<int>(tar.size()));
  ASSERT_EQ(gzclose(gz), Z_OK);
}

class V1ArchiveTest : public V1SyntheticTest {
 protected:
  void SetUp() override {
    V1SyntheticTest::SetUp();
    archive_ = path_ + ".flist";
  }
  void TearDown() override {
    unlink(archive_.c_str());
    V1SyntheticTest::TearDown();
  }
  std::string archive_;
};

TEST_F(V1ArchiveTest, ReadsADatabaseLargerThanOneReadChunk) {
  V1Inode file{V1Inode::kFile, "f", "acl-root", 1};
  Put(V1DirectoryKey(""), V1DirMessage("", "", "acl-root", {file}));
  Put("padding", std::string(300000, 'p'));
  const std::string db = ReadWholeFile(path_);
  ASSERT_GT(db.size(), 300000u);
  WriteV1Archive(archive_, db);
  auto f = ReadFlistFile(archive_);
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->version(), FlistVersion::kV1);
  ASSERT_NE(f->Find("/f"), nullptr);
  EXPECT_EQ(f->Find("/f")->size, 1u);
}

// The header's size is not trusted to be backed by data: a short archive
// claiming 1 GiB fails, saying how much of it actually arrived.
TEST_F(V1ArchiveTest, TruncatedDatabaseIsAClearError) {
  Put("padding", std::string(300000, 'p'));
  const std::string db = ReadWholeFile(path_);
  ASSERT_GT(db.size(), 200000u);
  WriteV1Archive(archive_, db.substr(0, 200000), uint64_t{1} << 30);
  auto f = ReadFlistFile(archive_);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss) << f.status();
  const std::string message(f.status().message());
  const size_t at = message.find("read flistdb.sqlite3 (");
  ASSERT_NE(at, std::string::npos) << message;
  unsigned long long got = 0;
  char rest[32] = {};
  ASSERT_EQ(std::sscanf(message.c_str() + at, "read flistdb.sqlite3 (%llu of 1073741824 bytes read%31s", &got, rest), 2)
      << message;
  // libarchive hands over what it has in 64 KiB pieces before noticing the end.
  EXPECT_GT(got, 0u) << message;
  EXPECT_LE(got, 200000u) << message;
}

// The archive path reads `entries` without the sniffing's table lookup, so
// the reader itself must refuse a view there. The real attack recurses
// without end; this one stops after 1000 rows so that a missing check fails
// the test instead of hanging it.
TEST_F(V1ArchiveTest, RejectsAnEntriesView) {
  {
    auto db = SqliteDb::Create(path_);
    ASSERT_TRUE(db->Exec("DROP TABLE entries;"
                         "CREATE VIEW entries AS WITH RECURSIVE c(x) AS "
                         "(SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x < 1000) "
                         "SELECT printf('%032x', x) AS key, zeroblob(4096) AS value FROM c").ok());
  }
  WriteV1Archive(archive_, ReadWholeFile(path_));
  auto f = ReadFlistFile(archive_);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
  EXPECT_NE(f.status().message().find("table \"entries\" is not an ordinary table"), std::string::npos)
      << f.status();
}

}  // namespace
}  // namespace flint::flist
