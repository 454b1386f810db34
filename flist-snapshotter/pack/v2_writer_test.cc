#include "flist-snapshotter/pack/v2_writer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "flist-snapshotter/block/blake2b.h"
#include "flist-snapshotter/block/block_codec.h"
#include "flist-snapshotter/flist/flist_reader.h"
#include "flist-snapshotter/pack/file_content.h"
#include "flist-snapshotter/store/dir_store.h"
#include "gtest/gtest.h"

namespace flint::flist {
namespace {

namespace fs = std::filesystem;

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

void WriteFile(const std::string& path, const std::string& data, mode_t mode = 0644) {
  std::ofstream(path, std::ios::binary) << data;
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

std::string ReadLocal(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class PackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = fs::temp_directory_path().string() + "/flist-pack-XXXXXX";
    root_ = mkdtemp(tmpl.data());
    src_ = root_ + "/src";
    store_dir_ = root_ + "/store";
    out_ = root_ + "/out.fl";
    fs::create_directories(src_ + "/usr/bin");
    fs::create_directories(src_ + "/empty-dir");
    fs::create_directories(src_ + "/a/b/c");
    WriteFile(src_ + "/multi.bin", RandomBytes(2 * kBlockSize + 12345, 1));
    WriteFile(src_ + "/exact.bin", RandomBytes(kBlockSize, 2));
    WriteFile(src_ + "/empty", "");
    WriteFile(src_ + "/usr/bin/su", "#!/bin/true\n", 04755);
    WriteFile(src_ + "/usr/bin/wall", "sgid\n", 02755);
    WriteFile(src_ + "/a/b/c/deep.txt", "deep\n", 0600);
    WriteFile(src_ + "/dup1", std::string(100000, 'z'));
    WriteFile(src_ + "/dup2", std::string(100000, 'z'));  // same content: one block
    ASSERT_EQ(chmod((src_ + "/empty-dir").c_str(), 01777), 0);
    ASSERT_EQ(symlink("usr/bin/su", (src_ + "/rel-link").c_str()), 0);
    ASSERT_EQ(symlink("/no/such/target", (src_ + "/usr/abs-link").c_str()), 0);
    ASSERT_EQ(mkfifo((src_ + "/a/fifo").c_str(), 0640), 0);
    if (geteuid() == 0) {
      ASSERT_EQ(lchown((src_ + "/a/b/c/deep.txt").c_str(), 1234, 5678), 0);
    }
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  // Compares every entry of the flist with the source tree, including content.
  void ExpectMatchesSource(const Flist& flist, BlockStore& store) {
    size_t seen = 0;
    for (const auto& it : fs::recursive_directory_iterator(src_)) {
      const std::string rel = it.path().string().substr(src_.size());
      SCOPED_TRACE(rel);
      const Entry* e = flist.Find(rel);
      ASSERT_NE(e, nullptr);
      struct stat st {};
      ASSERT_EQ(lstat(it.path().c_str(), &st), 0);
      EXPECT_EQ(e->st_mode(), st.st_mode);
      EXPECT_EQ(e->uid, st.st_uid);
      EXPECT_EQ(e->gid, st.st_gid);
      EXPECT_EQ(e->mtime, st.st_mtime);
      if (S_ISREG(st.st_mode)) {
        EXPECT_EQ(e->size, static_cast<uint64_t>(st.st_size));
        auto content = ReadFileContent(flist, *e, store);
        ASSERT_TRUE(content.ok()) << content.status();
        EXPECT_TRUE(*content == ReadLocal(it.path()));
      } else if (S_ISLNK(st.st_mode)) {
        EXPECT_EQ(e->link_target, fs::read_symlink(it.path()).string());
      }
      ++seen;
    }
    EXPECT_EQ(seen + 1, flist.entries().size());  // + root
  }

  std::string root_, src_, store_dir_, out_;
};

TEST_F(PackTest, RoundTripThroughDirStore) {
  DirStore store(store_dir_);
  PackOptions options;
  options.routes.push_back(Route{0, 255, "dir://" + store_dir_});
  options.tags["version"] = "v1";
  options.tags["author"] = "flint";
  auto stats = PackDirectory(src_, out_, store, options);
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->regular_files, 8u);
  EXPECT_EQ(stats->symlinks, 2u);
  EXPECT_EQ(stats->others, 1u);
  EXPECT_EQ(stats->directories, 7u);  // root, usr, usr/bin, empty-dir, a, a/b, a/b/c
  // multi: 3, exact: 1, empty: 0, su, wall, deep: 1 each, dup1+dup2: 1 shared.
  EXPECT_EQ(stats->blocks, 9u);
  EXPECT_EQ(stats->blocks_uploaded, 8u);
  EXPECT_FALSE(fs::exists(out_ + ".tmp-" + std::to_string(getpid())));

  auto flist = ReadFlistFile(out_);
  ASSERT_TRUE(flist.ok()) << flist.status();
  EXPECT_EQ(flist->version(), FlistVersion::kV2);
  ExpectMatchesSource(*flist, store);
  EXPECT_EQ(flist->Find("/usr/bin/su")->st_mode(), 0104755u);
  EXPECT_EQ(flist->Find("/usr/bin/wall")->st_mode(), 0102755u);
  EXPECT_EQ(flist->Find("/empty-dir")->st_mode(), 041777u);
  EXPECT_EQ(flist->Find("/a/fifo")->type, EntryType::kFifo);
  EXPECT_EQ(flist->Find("/multi.bin")->blocks.size(), 3u);
  EXPECT_TRUE(flist->Find("/empty")->blocks.empty());
  EXPECT_EQ(flist->Find("/rel-link")->link_target, "usr/bin/su");
  if (geteuid() == 0) {
    EXPECT_EQ(flist->Find("/a/b/c/deep.txt")->uid, 1234u);
    EXPECT_EQ(flist->Find("/a/b/c/deep.txt")->gid, 5678u);
  }
  EXPECT_EQ(flist->tags().at("version"), "v1");
  EXPECT_EQ(flist->tags().at("author"), "flint");
  ASSERT_EQ(flist->routes().size(), 1u);
  EXPECT_EQ(flist->routes()[0].url, "dir://" + store_dir_);

  auto report = VerifyFlistBlocks(*flist, store);
  ASSERT_TRUE(report.ok());
  EXPECT_TRUE(report->ok());
  EXPECT_EQ(report->unique_blocks, 8u);
}

TEST_F(PackTest, RepackUploadsNothingNew) {
  DirStore store(store_dir_);
  ASSERT_TRUE(PackDirectory(src_, out_, store, {}).ok());
  auto again = PackDirectory(src_, root_ + "/again.fl", store, {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->blocks_uploaded, 0u);
  EXPECT_EQ(again->blocks, 9u);
}

TEST_F(PackTest, VerifyReportsMissingAndCorruptBlocks) {
  DirStore store(store_dir_);
  ASSERT_TRUE(PackDirectory(src_, out_, store, {}).ok());
  auto flist = ReadFlistFile(out_);
  ASSERT_TRUE(flist.ok());
  const Entry* multi = flist->Find("/multi.bin");
  ASSERT_EQ(multi->blocks.size(), 3u);
  fs::remove(store.PathFor(multi->blocks[0].id));
  {
    std::string path = store.PathFor(multi->blocks[1].id);
    std::string data = ReadLocal(path);
    data[10] ^= 0x40;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  }
  auto report = VerifyFlistBlocks(*flist, store);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok());
  EXPECT_EQ(report->missing, 1u);
  EXPECT_EQ(report->corrupt, 1u);
  ASSERT_EQ(report->problems.size(), 2u);
  EXPECT_NE(report->problems[0].find("/multi.bin"), std::string::npos);
  // Reading the file fails with a useful message instead of returning garbage.
  auto content = ReadFileContent(*flist, *multi, store);
  EXPECT_EQ(content.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(content.status().message().find("/multi.bin: block 0"), std::string::npos) << content.status();
}

// Files naming one stored block with different keys: each (id, key) is
// checked, so the file with the wrong key is reported, as reading it fails.
TEST_F(PackTest, VerifyChecksEveryKeyABlockIsNamedWith) {
  DirStore store(store_dir_);
  auto shared = EncodeBlock(BlockFormat::kV2, "shared content\n");
  auto other = EncodeBlock(BlockFormat::kV2, "other content!\n");
  ASSERT_TRUE(shared.ok() && other.ok());
  ASSERT_TRUE(store.Put(shared->id, shared->data).ok());
  FlistBuilder builder(FlistVersion::kV2);
  Entry good;
  good.mode = 0644;
  good.size = 15;
  good.blocks = {BlockRef{shared->id, shared->key}};
  Entry wrong_key = good;
  wrong_key.blocks = {BlockRef{shared->id, other->key}};
  ASSERT_TRUE(builder.Add(0, "a", good).ok());
  ASSERT_TRUE(builder.Add(0, "b", wrong_key).ok());
  ASSERT_TRUE(builder.Add(0, "c", good).ok());  // same (id, key) as /a: checked once
  const Flist flist = std::move(builder).Finish();

  auto report = VerifyFlistBlocks(flist, store);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->ok());
  EXPECT_EQ(report->unique_blocks, 2u);
  EXPECT_EQ(report->corrupt, 1u);
  EXPECT_EQ(report->missing, 0u);
  ASSERT_EQ(report->problems.size(), 1u);
  EXPECT_NE(report->problems[0].find("(/b)"), std::string::npos) << report->problems[0];

  EXPECT_EQ(*ReadFileContent(flist, *flist.Find("/a"), store), "shared content\n");
  auto b = ReadFileContent(flist, *flist.Find("/b"), store);
  EXPECT_EQ(b.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(b.status().message().find("/b: block 0"), std::string::npos) << b.status();
}

// Readers locate byte N in block N / 512 KiB, so a block list that adds up to
// the file size but is cut elsewhere is as unreadable as a missing block.
TEST_F(PackTest, BlocksMustHoldExactly512KiBButTheLast) {
  DirStore store(store_dir_);
  const std::string data = RandomBytes(kBlockSize + 1000, 5);
  auto block = [&](std::string_view plain) {
    auto b = EncodeBlock(BlockFormat::kV2, plain);
    EXPECT_TRUE(b.ok());
    EXPECT_TRUE(store.Put(b->id, b->data).ok());
    return BlockRef{b->id, b->key};
  };
  const BlockRef full = block(std::string_view(data).substr(0, kBlockSize));
  const BlockRef rest = block(std::string_view(data).substr(kBlockSize));
  const BlockRef head = block(std::string_view(data).substr(0, 1000));  // cut at 1000, not at 512 KiB
  const BlockRef tail = block(std::string_view(data).substr(1000));
  auto file = [](uint64_t size, std::vector<BlockRef> blocks) {
    Entry e;
    e.mode = 0644;
    e.size = size;
    e.blocks = std::move(blocks);
    return e;
  };
  FlistBuilder builder(FlistVersion::kV2);
  ASSERT_TRUE(builder.Add(0, "1-good", file(data.size(), {full, rest})).ok());
  ASSERT_TRUE(builder.Add(0, "2-head-alone", file(1000, {head})).ok());  // a short last block is fine
  ASSERT_TRUE(builder.Add(0, "3-shifted", file(data.size(), {head, tail})).ok());
  ASSERT_TRUE(builder.Add(0, "4-long-last", file(kBlockSize + 500, {full, tail})).ok());
  ASSERT_TRUE(builder.Add(0, "5-no-blocks", file(10, {})).ok());
  const Flist flist = std::move(builder).Finish();

  auto report = VerifyFlistBlocks(flist, store);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_FALSE(report->ok());
  EXPECT_EQ(report->unique_blocks, 4u);
  EXPECT_EQ(report->corrupt, 0u);
  EXPECT_EQ(report->missing, 0u);
  EXPECT_EQ(report->incomplete_files, 1u);
  EXPECT_EQ(report->misaligned_files, 2u);
  ASSERT_EQ(report->problems.size(), 3u);
  EXPECT_EQ(report->problems[0], "misaligned /3-shifted: block 0 decodes to 1000 bytes, expected 524288");
  EXPECT_EQ(report->problems[1], "misaligned /4-long-last: block 1 decodes to 524288 bytes, expected 500");
  EXPECT_EQ(report->problems[2], "incomplete /5-no-blocks: 0 blocks for 10 bytes");

  EXPECT_TRUE(*ReadFileContent(flist, *flist.Find("/1-good"), store) == data);
  EXPECT_TRUE(*ReadFileContent(flist, *flist.Find("/2-head-alone"), store) == data.substr(0, 1000));
  auto shifted = ReadFileContent(flist, *flist.Find("/3-shifted"), store);
  EXPECT_EQ(shifted.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(shifted.status().message().find("/3-shifted: block 0: decodes to 1000 bytes, expected 524288"),
            std::string::npos)
      << shifted.status();
  auto long_last = ReadFileContent(flist, *flist.Find("/4-long-last"), store);
  EXPECT_EQ(long_last.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(long_last.status().message().find("/4-long-last: block 1:"), std::string::npos) << long_last.status();
  auto no_blocks = ReadFileContent(flist, *flist.Find("/5-no-blocks"), store);
  EXPECT_EQ(no_blocks.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(no_blocks.status().message().find("/5-no-blocks: 0 blocks for 10 bytes, expected 1"), std::string::npos)
      << no_blocks.status();
}

TEST_F(PackTest, FailsCleanlyOnMissingSource) {
  DirStore store(store_dir_);
  auto stats = PackDirectory(root_ + "/nope", out_, store, {});
  EXPECT_FALSE(stats.ok());
  EXPECT_FALSE(fs::exists(out_));
  EXPECT_FALSE(fs::exists(out_ + ".tmp-" + std::to_string(getpid())));
}

TEST(WarmUpV2ReadWriteTest, RoundTripsInMemoryAndLeavesNoDescriptorOrFile) {
  char cwd_template[] = "/tmp/warm-up-cwd-XXXXXX";
  ASSERT_NE(mkdtemp(cwd_template), nullptr);
  const fs::path previous = fs::current_path();
  fs::current_path(cwd_template);
  auto open_fds = [] { return std::distance(fs::directory_iterator("/proc/self/fd"), fs::directory_iterator()); };
  const auto before = open_fds();
  absl::Status first = WarmUpV2ReadWrite();
  ASSERT_TRUE(first.ok()) << first;
  ASSERT_TRUE(WarmUpV2ReadWrite().ok());  // again: nothing left over from the first
  EXPECT_EQ(open_fds(), before);
  EXPECT_TRUE(fs::is_empty(cwd_template)) << "the warm-up wrote a file";
  fs::current_path(previous);
  fs::remove_all(cwd_template);
}

}  // namespace
}  // namespace flint::flist
