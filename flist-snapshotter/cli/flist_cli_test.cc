#include "flist-snapshotter/cli/flist_cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "flist-snapshotter/block/block_codec.h"
#include "flist-snapshotter/flist/sqlite_db.h"
#include "flist-snapshotter/flist/test_fixtures.h"
#include "flist-snapshotter/flist/v1_reader.h"
#include "flist-snapshotter/flist/v1_test_builder.h"
#include "flist-snapshotter/store/dir_store.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace flint::flist {
namespace {

namespace fs = std::filesystem;
using ::flint::flist::testing::FixturePath;
using ::testing::HasSubstr;

struct Result {
  int code;
  std::string out;
  std::string err;
};

Result RunCli(const std::vector<std::string>& args, FlistCliConfig config = {}) {
  std::ostringstream out, err;
  int code = RunFlistCommand(args, out, err, config);
  return {code, out.str(), err.str()};
}

TEST(FlistCliTest, InspectHubFlistPrintsExactCounts) {
  Result r = RunCli({"inspect", FixturePath("hub-funk-v1.flist")});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("format:      v1"));
  EXPECT_THAT(r.out, HasSubstr("directories: 6881\n"));
  EXPECT_THAT(r.out, HasSubstr("files:       30370\n"));
  EXPECT_THAT(r.out, HasSubstr("symlinks:    830\n"));
  EXPECT_THAT(r.out, HasSubstr("others:      0\n"));
  EXPECT_THAT(r.out, HasSubstr("total size:  956239538 bytes\n"));
  EXPECT_THAT(r.out, HasSubstr("default store zdb://hub.grid.tf:9900"));
}

TEST(FlistCliTest, InspectV2ShowsRoutes) {
  Result r = RunCli({"inspect", FixturePath("alpine-latest.fl")});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("format:      v2"));
  EXPECT_THAT(r.out, HasSubstr("files:       92\n"));
  EXPECT_THAT(r.out, HasSubstr("00-ff dir:///tmp/rfs-e2e-tests/store"));
}

TEST(FlistCliTest, LsListsLikeLsDashL) {
  Result r = RunCli({"ls", FixturePath("alpine-latest.fl"), "/"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("drwxrwxrwt      0      0       4096 "));
  EXPECT_THAT(r.out, HasSubstr(" tmp\n"));
  Result link = RunCli({"ls", FixturePath("alpine-latest.fl"), "/bin/ls"});
  ASSERT_EQ(link.code, 0);
  EXPECT_THAT(link.out, HasSubstr("lrwxrwxrwx"));
  EXPECT_THAT(link.out, HasSubstr("/bin/ls -> /bin/busybox\n"));
  Result su = RunCli({"ls", FixturePath("redis-latest.fl"), "/usr/bin/su"});
  EXPECT_THAT(su.out, HasSubstr("-rwsr-xr-x   1000   1000      72000 "));
  Result missing = RunCli({"ls", FixturePath("alpine-latest.fl"), "/nope"});
  EXPECT_EQ(missing.code, 1);
  EXPECT_THAT(missing.err, HasSubstr("no such file"));
}

TEST(FlistCliTest, ModeString) {
  EXPECT_EQ(ModeString(S_IFDIR | 01777), "drwxrwxrwt");
  EXPECT_EQ(ModeString(S_IFDIR | 01776), "drwxrwxrwT");
  EXPECT_EQ(ModeString(S_IFREG | 04755), "-rwsr-xr-x");
  EXPECT_EQ(ModeString(S_IFREG | 02644), "-rw-r-Sr--");
  EXPECT_EQ(ModeString(S_IFCHR | 0666), "crw-rw-rw-");
  EXPECT_EQ(ModeString(S_IFIFO | 0600), "prw-------");
}

TEST(FlistCliTest, UsageErrors) {
  EXPECT_EQ(RunCli({}).code, 2);
  EXPECT_EQ(RunCli({"frobnicate"}).code, 2);
  EXPECT_EQ(RunCli({"inspect"}).code, 2);
  EXPECT_EQ(RunCli({"cat", "x"}).code, 2);
  EXPECT_EQ(RunCli({"pack", "a", "b"}).code, 2);  // --store is required
  EXPECT_EQ(RunCli({"pack", "a", "b", "--store"}).code, 2);
  EXPECT_EQ(RunCli({"pack", "a", "b", "--store", "dir:///x", "--route", "dir:///y", "--no-route"}).code, 2);
  EXPECT_EQ(RunCli({"ls", "f", "--bogus"}).code, 2);
  EXPECT_EQ(RunCli({"--help"}).code, 0);
  Result bad = RunCli({"inspect", "/nonexistent.fl"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_THAT(bad.err, HasSubstr("/nonexistent.fl"));
}

class FlistCliPackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = fs::temp_directory_path().string() + "/flist-cli-XXXXXX";
    root_ = mkdtemp(tmpl.data());
    fs::create_directories(root_ + "/src/etc");
    big_ = std::string(1300000, '\0');
    std::mt19937 rng(7);
    for (char& c : big_) c = static_cast<char>(rng());
    std::ofstream(root_ + "/src/big.bin", std::ios::binary) << big_;
    std::ofstream(root_ + "/src/etc/hostname") << "flint\n";
    store_ = "dir://" + root_ + "/store";
    fl_ = root_ + "/img.fl";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  // A hub-style v1 flist (gzip'd tar holding ./flistdb.sqlite3) with `files`
  // in its root and, unless empty, `backend` as the backend metadata.
  std::string MakeV1Flist(const std::string& name, const std::vector<testing::V1Inode>& files,
                          const std::string& backend = "") {
    const std::string dir = root_ + "/" + name + ".d";
    fs::create_directories(dir);
    {
      auto db = SqliteDb::Create(dir + "/flistdb.sqlite3");
      EXPECT_TRUE(db.ok()) << db.status();
      if (!db.ok()) return "";
      testing::CreateV1Database(*db);
      testing::PutV1Entry(*db, "acl", testing::V1AciMessage("root", "root", 0644, 0, 0));
      testing::PutV1Entry(*db, V1DirectoryKey(""), testing::V1DirMessage("", "", "acl", files));
      if (!backend.empty()) {
        auto stmt = db->Prepare("INSERT INTO metadata (key, value) VALUES ('backend', ?)");
        EXPECT_TRUE(stmt.ok());
        stmt->BindText(1, backend);
        EXPECT_TRUE(stmt->Run().ok());
      }
    }
    const std::string flist = root_ + "/" + name + ".flist";
    EXPECT_EQ(system(("tar -C " + dir + " -czf " + flist + " ./flistdb.sqlite3").c_str()), 0);
    return flist;
  }
  std::string root_, store_, fl_, big_;
};

TEST_F(FlistCliPackTest, PackCatVerify) {
  Result pack = RunCli({"pack", root_ + "/src", fl_, "--store", store_, "--tag", "version=1.0"});
  ASSERT_EQ(pack.code, 0) << pack.err;
  EXPECT_THAT(pack.out, HasSubstr("2 files (1300006 bytes)"));
  EXPECT_THAT(pack.out, HasSubstr("4 blocks, 4 uploaded"));

  Result inspect = RunCli({"inspect", fl_});
  ASSERT_EQ(inspect.code, 0);
  EXPECT_THAT(inspect.out, HasSubstr("version=1.0"));
  EXPECT_THAT(inspect.out, HasSubstr("00-ff " + store_));

  // The route recorded at pack time is enough to find the blocks.
  Result cat = RunCli({"cat", fl_, "/big.bin"});
  ASSERT_EQ(cat.code, 0) << cat.err;
  EXPECT_TRUE(cat.out == big_);
  Result host = RunCli({"cat", fl_, "etc/hostname", "--store=" + store_});
  ASSERT_EQ(host.code, 0) << host.err;
  EXPECT_EQ(host.out, "flint\n");
  EXPECT_EQ(RunCli({"cat", fl_, "/etc"}).code, 1);

  Result verify = RunCli({"verify", fl_, "--store", store_});
  EXPECT_EQ(verify.code, 0) << verify.out << verify.err;
  EXPECT_THAT(verify.out, HasSubstr("OK\n"));

  // Remove one block from the store: verify names it and fails.
  fs::path victim;
  for (const auto& e : fs::recursive_directory_iterator(root_ + "/store")) {
    if (e.is_regular_file()) victim = e.path();
  }
  ASSERT_FALSE(victim.empty());
  fs::remove(victim);
  Result broken = RunCli({"verify", fl_, "--store", store_});
  EXPECT_EQ(broken.code, 1);
  EXPECT_THAT(broken.out, HasSubstr("missing " + victim.filename().string()));
  EXPECT_THAT(broken.out, HasSubstr("missing:    1\n"));
  EXPECT_THAT(broken.out, HasSubstr("FAILED"));
}

// Blocks uploaded through one URL and served from another (or from whatever store readers are
// configured with): the flist records --route, or no route at all.
TEST_F(FlistCliPackTest, RouteOtherThanTheUploadStoreOrNone) {
  const std::string served = "dir://" + root_ + "/served";
  Result pack = RunCli({"pack", root_ + "/src", fl_, "--store", store_, "--route", served});
  ASSERT_EQ(pack.code, 0) << pack.err;
  Result inspect = RunCli({"inspect", fl_});
  EXPECT_THAT(inspect.out, HasSubstr("00-ff " + served));
  EXPECT_THAT(inspect.out, ::testing::Not(HasSubstr(store_)));
  EXPECT_NE(RunCli({"cat", fl_, "/etc/hostname"}).code, 0) << "nothing is served from the route yet";
  fs::rename(root_ + "/store", root_ + "/served");
  Result cat = RunCli({"cat", fl_, "/etc/hostname"});
  ASSERT_EQ(cat.code, 0) << cat.err;
  EXPECT_EQ(cat.out, "flint\n");

  Result bad = RunCli({"pack", root_ + "/src", fl_, "--store", served, "--route", "ftp://x"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_THAT(bad.err, HasSubstr("--route"));

  Result none = RunCli({"pack", root_ + "/src", fl_, "--store", served, "--no-route"});
  ASSERT_EQ(none.code, 0) << none.err;
  FlistCliConfig empty_default;
  empty_default.default_store = "dir://" + root_ + "/empty";
  EXPECT_THAT(RunCli({"inspect", fl_}, empty_default).out, HasSubstr("(none; default store " + empty_default.default_store));
  EXPECT_NE(RunCli({"cat", fl_, "/etc/hostname"}, empty_default).code, 0) << "the default store does not have it";
  FlistCliConfig served_default;
  served_default.default_store = served;
  Result by_default = RunCli({"cat", fl_, "/etc/hostname"}, served_default);
  ASSERT_EQ(by_default.code, 0) << by_default.err;
  EXPECT_EQ(by_default.out, "flint\n");
  Result with_store = RunCli({"cat", fl_, "/etc/hostname", "--store", served});
  ASSERT_EQ(with_store.code, 0) << with_store.err;
  EXPECT_EQ(with_store.out, "flint\n");
}

TEST_F(FlistCliPackTest, PacksTarballs) {
  // A tarball made by the system tar packs to the same content as the tree.
  if (system("command -v tar >/dev/null 2>&1") != 0) GTEST_SKIP() << "no tar binary";
  const std::string tarball = root_ + "/src.tar.gz";
  ASSERT_EQ(system(("tar -C " + root_ + "/src -czf " + tarball + " .").c_str()), 0);
  Result pack = RunCli({"pack", tarball, fl_, "--store", store_});
  ASSERT_EQ(pack.code, 0) << pack.err;
  EXPECT_THAT(pack.out, HasSubstr("2 files (1300006 bytes)"));
  Result cat = RunCli({"cat", fl_, "/etc/hostname"});
  ASSERT_EQ(cat.code, 0) << cat.err;
  EXPECT_EQ(cat.out, "flint\n");
  EXPECT_EQ(RunCli({"verify", fl_}).code, 0);
}

// v1 content path end to end: a hand-built v1 database whose file blocks are
// v1-encoded (XXTEA) and stored in a dir store; `cat` and `verify` decode them.
TEST_F(FlistCliPackTest, CatAndVerifyV1Flist) {
  using testing::V1Inode;
  DirStore store(root_ + "/store");
  V1Inode file(V1Inode::kFile, "big.bin", "acl", big_.size());
  for (size_t off = 0; off < big_.size(); off += kBlockSize) {
    auto b = EncodeBlock(BlockFormat::kV1, std::string_view(big_).substr(off, kBlockSize));
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE(store.Put(b->id, b->data).ok());
    file.blocks.emplace_back(b->id, b->key);
  }
  const std::string db_path = root_ + "/flistdb.sqlite3";
  {
    auto db = SqliteDb::Create(db_path);
    ASSERT_TRUE(db.ok());
    testing::CreateV1Database(*db);
    testing::PutV1Entry(*db, "acl", testing::V1AciMessage("root", "root", 0644, 0, 0));
    testing::PutV1Entry(*db, V1DirectoryKey(""), testing::V1DirMessage("", "", "acl", {file}));
  }
  // Wrap it the way the hub does: a gzip'd tar holding ./flistdb.sqlite3.
  const std::string flist = root_ + "/img.flist";
  ASSERT_EQ(system(("tar -C " + root_ + " -czf " + flist + " ./flistdb.sqlite3").c_str()), 0);

  Result cat = RunCli({"cat", flist, "/big.bin", "--store", store_});
  ASSERT_EQ(cat.code, 0) << cat.err;
  EXPECT_TRUE(cat.out == big_);
  Result verify = RunCli({"verify", flist, "--store", store_});
  EXPECT_EQ(verify.code, 0) << verify.out;
  EXPECT_THAT(verify.out, HasSubstr("blocks:     3 unique"));
  // Without --store, a v1 flist with no backend metadata uses the default.
  FlistCliConfig config;
  config.default_store = store_;
  EXPECT_EQ(RunCli({"cat", flist, "/big.bin"}, config).code, 0);
}

// The spec fixes v1 blocks at 512 KiB too (blockSize is always 128 x 4 KiB;
// rfs and our mount use a fixed stride): blocks cut elsewhere fail cat and verify.
TEST_F(FlistCliPackTest, CatAndVerifyRejectV1BlocksOffTheStride) {
  using testing::V1Inode;
  DirStore store(root_ + "/store");
  V1Inode file(V1Inode::kFile, "big.bin", "acl", big_.size());
  // Cut 1000 bytes early, then back on the stride: the count and total still match.
  const size_t cuts[] = {0, kBlockSize - 1000, 2 * kBlockSize, big_.size()};
  for (size_t i = 0; i + 1 < std::size(cuts); ++i) {
    auto b = EncodeBlock(BlockFormat::kV1, std::string_view(big_).substr(cuts[i], cuts[i + 1] - cuts[i]));
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE(store.Put(b->id, b->data).ok());
    file.blocks.emplace_back(b->id, b->key);
  }
  ASSERT_EQ(file.blocks.size(), 3u);  // as many as ceil(size / 512 KiB): only the sizes are off
  const std::string flist = MakeV1Flist("shifted", {file});

  Result cat = RunCli({"cat", flist, "/big.bin", "--store", store_});
  EXPECT_EQ(cat.code, 1);
  EXPECT_THAT(cat.err, HasSubstr("/big.bin: block 0: decodes to 523288 bytes, expected 524288"));
  Result verify = RunCli({"verify", flist, "--store", store_});
  EXPECT_EQ(verify.code, 1) << verify.out;
  EXPECT_THAT(verify.out, HasSubstr("misaligned /big.bin: block 0 decodes to 523288 bytes, expected 524288\n"));
  EXPECT_THAT(verify.out, HasSubstr("misaligned: 1 files\n"));
  EXPECT_THAT(verify.out, HasSubstr("FAILED"));
}

TEST_F(FlistCliPackTest, InspectRedactsV1BackendPassword) {
  const std::string plain = MakeV1Flist(
      "plain", {}, R"({"host":"zdb.example","port":9900,"namespace":"default","password":"s3cret","token":"t0ken"})");
  Result r = RunCli({"inspect", plain});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("s3cret")));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("t0ken")));
  EXPECT_THAT(r.out, HasSubstr("00-ff zdb://zdb.example:9900\n"));
  EXPECT_THAT(r.out, HasSubstr(R"(  backend={"host":"zdb.example","namespace":"default","password":"***",)"
                               R"("port":9900,"token":"***"})"));

  // The v1 reader percent-encodes this password in the route, which then parses and is shown without it.
  const std::string slash = MakeV1Flist("slash", {}, R"({"host":"h","port":9900,"password":"pa/ss@w0rd"})");
  Result s = RunCli({"inspect", slash});
  ASSERT_EQ(s.code, 0) << s.err;
  EXPECT_THAT(s.out, ::testing::Not(HasSubstr("pa/ss")));
  EXPECT_THAT(s.out, ::testing::Not(HasSubstr("w0rd")));
  EXPECT_THAT(s.out, HasSubstr("00-ff zdb://h:9900\n"));
  EXPECT_THAT(s.out, HasSubstr(R"(  backend={"host":"h","password":"***","port":9900})"));

  // No password: nothing to hide, nothing marked hidden.
  const std::string open = MakeV1Flist("open", {}, R"({"host":"h","port":9900,"password":""})");
  Result o = RunCli({"inspect", open});
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr(R"(  backend={"host":"h","password":"","port":9900})"));
}

TEST_F(FlistCliPackTest, VerifyFixtureAgainstEmptyStoreReportsMissing) {
  Result r = RunCli({"verify", FixturePath("hello.fl"), "--store", store_});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.out, HasSubstr("missing:    2\n"));
}

}  // namespace
}  // namespace flint::flist
