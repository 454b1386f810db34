// End-to-end tests of the lazy flist filesystem: a temp tree is packed with
// the real packer into a dir:// (or redis://) store, mounted over FUSE in
// this process, and read back through the kernel. Needs root and /dev/fuse.
#include "flist-snapshotter/fuse/flist_mount.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <grp.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "common/testutil/redis_server.h"
#include "common/testutil/scripted_resp_server.h"
#include "flist-snapshotter/block/blake2b.h"
#include "flist-snapshotter/flist/flist_reader.h"
#include "flist-snapshotter/fuse/mount_spare.h"
#include "flist-snapshotter/flist/test_fixtures.h"
#include "flist-snapshotter/pack/v2_writer.h"
#include "flist-snapshotter/store/dir_store.h"
#include "flist-snapshotter/store/resp_store.h"
#include "flist-snapshotter/store/routed_store.h"
#include "flist-snapshotter/store/test_servers.h"
#include "gtest/gtest.h"

namespace flint::flist {
namespace {

namespace fs = std::filesystem;

class CountingStore : public BlockStore {
 public:
  explicit CountingStore(BlockStore& inner) : inner_(inner) {}
  absl::StatusOr<std::string> Get(std::string_view id) override {
    ++gets;
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
    return inner_.Get(id);
  }
  absl::Status Put(std::string_view id, std::string_view data) override { return inner_.Put(id, data); }
  absl::StatusOr<bool> Exists(std::string_view id) override { return inner_.Exists(id); }
  std::string Describe() const override { return "counting:" + inner_.Describe(); }

  std::atomic<int> gets{0};
  std::atomic<int> delay_ms{0};

 private:
  BlockStore& inner_;
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f << data;
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool IsMounted(const std::string& path) {
  std::ifstream mounts("/proc/mounts");
  std::string line;
  while (std::getline(mounts, line)) {
    std::istringstream fields(line);
    std::string dev, mnt;
    fields >> dev >> mnt;
    if (mnt == path) return true;
  }
  return false;
}

// Removes an overlay even when an assertion fails half way.
struct OverlayGuard {
  std::string target;
  ~OverlayGuard() {
    if (!target.empty()) umount2(target.c_str(), MNT_DETACH);
  }
};

constexpr size_t kBigSize = 3 * 1024 * 1024;  // 6 blocks

class FlistMountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    const int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
    if (fd < 0) GTEST_SKIP() << "/dev/fuse not usable";
    close(fd);
    char tmpl[] = "/tmp/flist-fuse-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    src_ = root_ + "/src";
    mnt_ = root_ + "/mnt";
    fs::create_directories(src_ + "/bin");
    fs::create_directories(src_ + "/etc/sub");
    fs::create_directories(src_ + "/tmp");
    fs::create_directories(src_ + "/shared");
    fs::create_directories(mnt_);

    big_ = RandomBytes(kBigSize, 42);
    WriteFile(src_ + "/big.bin", big_);
    WriteFile(src_ + "/etc/hostname", "flint\n");
    WriteFile(src_ + "/etc/sub/deep.txt", "deep file\n");
    WriteFile(src_ + "/empty", "");
    corrupt_ = RandomBytes(70000, 7);
    WriteFile(src_ + "/corrupt.bin", corrupt_);
    WriteFile(src_ + "/bin/su", "#!/bin/sh\necho su\n");
    chmod((src_ + "/bin/su").c_str(), 04755);
    chmod((src_ + "/tmp").c_str(), 01777);
    chmod((src_ + "/shared").c_str(), 02775);
    WriteFile(src_ + "/owned", "owned\n");
    ASSERT_EQ(chown((src_ + "/owned").c_str(), 1234, 5678), 0);
    chmod((src_ + "/owned").c_str(), 0640);
    ASSERT_EQ(symlink("etc/hostname", (src_ + "/link").c_str()), 0);
    ASSERT_EQ(symlink("/does/not/exist", (src_ + "/dangling").c_str()), 0);
    ASSERT_EQ(mkfifo((src_ + "/fifo").c_str(), 0600), 0);
    ASSERT_EQ(mknod((src_ + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
    struct timespec times[2] = {{1600000000, 0}, {1600000000, 0}};
    ASSERT_EQ(utimensat(AT_FDCWD, (src_ + "/etc/hostname").c_str(), times, 0), 0);
  }

  void TearDown() override {
    mount_.reset();
    if (!root_.empty()) {
      EXPECT_FALSE(IsMounted(mnt_)) << "mount left behind at " << mnt_;
      fs::remove_all(root_);
    }
  }

  // Packs src_ into a .fl whose blocks go to a dir:// store.
  void PackToDir() {
    const std::string store_dir = root_ + "/store";
    fs::create_directories(store_dir);
    dir_store_ = std::make_unique<DirStore>(store_dir);
    Pack(*dir_store_, "dir://" + store_dir);
    counting_ = std::make_unique<CountingStore>(*dir_store_);
  }

  void Pack(BlockStore& store, const std::string& url) {
    PackOptions options;
    options.routes.push_back(Route{0, 255, url});
    fl_ = root_ + "/image.fl";
    auto stats = PackDirectory(src_, fl_, store, options);
    ASSERT_TRUE(stats.ok()) << stats.status();
    auto flist = ReadFlistFile(fl_);
    ASSERT_TRUE(flist.ok()) << flist.status();
    flist_ = std::make_shared<const Flist>(*std::move(flist));
  }

  void OpenCache(uint64_t max_bytes = 0) {
    BlockCacheOptions o;
    o.dir = root_ + "/cache";
    o.max_bytes = max_bytes;
    auto cache = BlockCache::Open(o);
    ASSERT_TRUE(cache.ok()) << cache.status();
    cache_ = *std::move(cache);
  }

  // Open-time prefetch is off unless a test asks for it: the others count fetches exactly.
  void Mount(int prefetch_blocks, BlockStore* store = nullptr, int read_ahead_kb = FlistMountOptions().read_ahead_kb,
             int open_prefetch_blocks = 0) {
    if (cache_ == nullptr) OpenCache();
    FlistMountOptions options;
    options.fs.prefetch_blocks = prefetch_blocks;
    options.fs.open_prefetch_blocks = open_prefetch_blocks;
    options.fs.warm_paths = warm_paths_;
    options.read_ahead_kb = read_ahead_kb;
    auto m = FlistMount::Mount(flist_, cache_.get(), store != nullptr ? store : counting_.get(), mnt_, options);
    ASSERT_TRUE(m.ok()) << m.status();
    mount_ = *std::move(m);
    ASSERT_TRUE(IsMounted(mnt_));
  }

  // Reads `len` bytes at `off` through a fresh file descriptor.
  std::string PRead(const std::string& rel, off_t off, size_t len) {
    const int fd = open((mnt_ + rel).c_str(), O_RDONLY);
    if (fd < 0) return "<open failed>";
    std::string out(len, '\0');
    const ssize_t n = pread(fd, out.data(), len, off);
    close(fd);
    if (n < 0) return "<read failed>";
    out.resize(static_cast<size_t>(n));
    return out;
  }

  // Drops the kernel's cached pages of a file so the next read reaches FUSE.
  void DropPageCache(const std::string& rel) {
    const int fd = open((mnt_ + rel).c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
    close(fd);
  }

  std::string root_, src_, mnt_, fl_;
  std::vector<std::string> warm_paths_;  // FlistFsOptions::warm_paths of the next Mount
  std::string big_, corrupt_;
  std::unique_ptr<DirStore> dir_store_;
  std::unique_ptr<CountingStore> counting_;
  std::shared_ptr<const Flist> flist_;
  std::unique_ptr<BlockCache> cache_;
  std::unique_ptr<FlistMount> mount_;  // destroyed (unmounted) first in TearDown
};

TEST_F(FlistMountTest, ListsTheTreeWithModesOwnersAndTypes) {
  PackToDir();
  Mount(0);
  std::set<std::string> names;
  for (const auto& d : fs::directory_iterator(mnt_)) names.insert(d.path().filename().string());
  EXPECT_EQ(names, (std::set<std::string>{"big.bin", "bin", "corrupt.bin", "dangling", "empty", "etc", "fifo",
                                          "link", "null", "owned", "shared", "tmp"}));
  std::set<std::string> deep;
  for (const auto& d : fs::recursive_directory_iterator(mnt_ + "/etc")) deep.insert(d.path().string());
  EXPECT_EQ(deep, (std::set<std::string>{mnt_ + "/etc/hostname", mnt_ + "/etc/sub", mnt_ + "/etc/sub/deep.txt"}));

  struct stat st {};
  ASSERT_EQ(stat((mnt_ + "/bin/su").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFREG | 04755u);
  ASSERT_EQ(stat((mnt_ + "/tmp").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFDIR | 01777u);
  ASSERT_EQ(stat((mnt_ + "/shared").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFDIR | 02775u);
  ASSERT_EQ(stat((mnt_ + "/owned").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFREG | 0640u);
  EXPECT_EQ(st.st_uid, 1234u);
  EXPECT_EQ(st.st_gid, 5678u);
  EXPECT_EQ(st.st_size, 6);
  ASSERT_EQ(stat((mnt_ + "/big.bin").c_str(), &st), 0);
  EXPECT_EQ(static_cast<size_t>(st.st_size), kBigSize);
  ASSERT_EQ(stat((mnt_ + "/empty").c_str(), &st), 0);
  EXPECT_EQ(st.st_size, 0);
  ASSERT_EQ(stat((mnt_ + "/etc/hostname").c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1600000000);
  ASSERT_EQ(lstat((mnt_ + "/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(lstat((mnt_ + "/null").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(major(st.st_rdev), 1u);
  EXPECT_EQ(minor(st.st_rdev), 3u);
  ASSERT_EQ(stat((mnt_ + "/etc").c_str(), &st), 0);
  EXPECT_EQ(st.st_nlink, 3u);  // ".", its entry in "/", and sub/..

  // Symlinks: readlink and following them.
  EXPECT_EQ(fs::read_symlink(mnt_ + "/link").string(), "etc/hostname");
  EXPECT_EQ(fs::read_symlink(mnt_ + "/dangling").string(), "/does/not/exist");
  ASSERT_EQ(lstat((mnt_ + "/link").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(ReadAll(mnt_ + "/link"), "flint\n");

  EXPECT_EQ(stat((mnt_ + "/nope").c_str(), &st), -1);
  EXPECT_EQ(errno, ENOENT);

  // No xattrs; statfs reports a read-only fs.
  char value[16];
  EXPECT_EQ(getxattr((mnt_ + "/etc/hostname").c_str(), "user.x", value, sizeof(value)), -1);
  EXPECT_TRUE(errno == ENODATA || errno == ENOTSUP) << errno;
  struct statvfs sv {};
  ASSERT_EQ(statvfs(mnt_.c_str(), &sv), 0);
  EXPECT_TRUE(sv.f_flag & ST_RDONLY);

  std::ifstream mounts("/proc/mounts");
  std::string line;
  bool found = false;
  while (std::getline(mounts, line)) {
    if (line.find(" " + mnt_ + " ") != std::string::npos) {
      found = true;
      EXPECT_EQ(line.rfind("flint-flist " + mnt_ + " fuse.flist ro,", 0), 0u) << line;
      EXPECT_NE(line.find("allow_other"), std::string::npos) << line;
      EXPECT_NE(line.find("default_permissions"), std::string::npos) << line;
    }
  }
  EXPECT_TRUE(found);
}

TEST_F(FlistMountTest, WritesFailWithEROFS) {
  PackToDir();
  Mount(0);
  EXPECT_EQ(open((mnt_ + "/etc/hostname").c_str(), O_WRONLY), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(open((mnt_ + "/newfile").c_str(), O_CREAT | O_WRONLY, 0644), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(mkdir((mnt_ + "/d").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(unlink((mnt_ + "/empty").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(chmod((mnt_ + "/empty").c_str(), 0777), -1);
  EXPECT_EQ(errno, EROFS);
}

TEST_F(FlistMountTest, ReadsSmallAndMultiBlockFilesByteExact) {
  PackToDir();
  Mount(0);
  EXPECT_EQ(ReadAll(mnt_ + "/etc/hostname"), "flint\n");
  EXPECT_EQ(ReadAll(mnt_ + "/etc/sub/deep.txt"), "deep file\n");
  EXPECT_EQ(ReadAll(mnt_ + "/empty"), "");
  EXPECT_EQ(ReadAll(mnt_ + "/big.bin"), big_);

  // Random offsets, including ones that straddle block boundaries and the end.
  DropPageCache("/big.bin");
  std::mt19937 rng(9);
  for (int i = 0; i < 50; ++i) {
    const off_t off = static_cast<off_t>(rng() % kBigSize);
    const size_t len = 1 + rng() % 300000;
    const size_t expect_len = std::min(len, kBigSize - static_cast<size_t>(off));
    ASSERT_EQ(PRead("/big.bin", off, len), big_.substr(static_cast<size_t>(off), expect_len)) << "off " << off;
  }
  EXPECT_EQ(PRead("/big.bin", 512 * 1024 - 5, 10), big_.substr(512 * 1024 - 5, 10));
  EXPECT_EQ(PRead("/big.bin", kBigSize, 10), "");
}

TEST_F(FlistMountTest, FetchesOnlyTheTouchedBlocksWithoutPrefetch) {
  PackToDir();
  Mount(0);
  EXPECT_EQ(PRead("/big.bin", 0, 10), big_.substr(0, 10));
  EXPECT_EQ(counting_->gets, 1);
  // A read in the 5th block fetches that block only.
  EXPECT_EQ(PRead("/big.bin", 4 * 512 * 1024 + 100, 10), big_.substr(4 * 512 * 1024 + 100, 10));
  EXPECT_EQ(counting_->gets, 2);
  EXPECT_EQ(cache_->stats().fetches, 2u);

  // With the page cache dropped, a re-read reaches FUSE and hits the block cache.
  const uint64_t hits_before = cache_->stats().hits;
  DropPageCache("/big.bin");
  EXPECT_EQ(PRead("/big.bin", 0, 4096), big_.substr(0, 4096));
  EXPECT_EQ(counting_->gets, 2);
  EXPECT_GT(cache_->stats().hits, hits_before);
}

// Re-reads of cached blocks are replied to from the cache files (spliced
// when the kernel allows); the bytes must be exact across block boundaries,
// and the mount gets the larger readahead window.
TEST_F(FlistMountTest, CachedReadsFromCacheFilesAreByteExact) {
  PackToDir();
  Mount(0);
  EXPECT_EQ(ReadAll(mnt_ + "/big.bin"), big_);
  const int gets = counting_->gets;
  const uint64_t hits_before = cache_->stats().hits;
  DropPageCache("/big.bin");
  EXPECT_EQ(ReadAll(mnt_ + "/big.bin"), big_);
  for (off_t off : {off_t{0}, off_t{512 * 1024 - 3}, off_t{3 * 512 * 1024 + 7}}) {
    DropPageCache("/big.bin");
    EXPECT_EQ(PRead("/big.bin", off, 700 * 1024), big_.substr(static_cast<size_t>(off), 700 * 1024)) << off;
  }
  EXPECT_EQ(counting_->gets, gets) << "cached blocks were fetched again";
  EXPECT_GT(cache_->stats().hits, hits_before);
  struct stat st {};
  ASSERT_EQ(stat(mnt_.c_str(), &st), 0);
  const std::string knob_path = "/sys/class/bdi/" + std::to_string(major(st.st_dev)) + ":" +
                                std::to_string(minor(st.st_dev)) + "/read_ahead_kb";
  if (access(knob_path.c_str(), W_OK) == 0) {  // a read-only /sys (some containers) keeps the default
    std::ifstream knob(knob_path);
    int kb = 0;
    ASSERT_TRUE(knob >> kb);
    EXPECT_EQ(kb, FlistMountOptions().read_ahead_kb);
  }
}

TEST_F(FlistMountTest, SequentialReadPrefetchesTheNextBlocks) {
  PackToDir();
  Mount(/*prefetch_blocks=*/2);
  EXPECT_EQ(PRead("/big.bin", 0, 10), big_.substr(0, 10));
  mount_->WaitPrefetchIdle();
  EXPECT_EQ(counting_->gets, 3);  // block 0, plus 1 and 2 in the background
  EXPECT_EQ(mount_->stats().prefetch_scheduled, 2u);
  // Reading them now costs no fetch.
  EXPECT_EQ(PRead("/big.bin", 512 * 1024, 600 * 1024), big_.substr(512 * 1024, 600 * 1024));
  mount_->WaitPrefetchIdle();
  // The read continued the sequence (block 1 -> 2), so 3 and 4 were queued.
  EXPECT_EQ(counting_->gets, 5);
  EXPECT_EQ(ReadAll(mnt_ + "/big.bin"), big_);
  mount_->WaitPrefetchIdle();
  EXPECT_EQ(counting_->gets, 6);  // every block exactly once
}

// A reader much slower than the store gets blocks fetched only a little ahead of
// it (the prefetch window would otherwise grow to the whole 6-block file);
// read to the end, every block is still fetched exactly once.
TEST_F(FlistMountTest, SlowSequentialReaderIsPrefetchedOnlyAsFarAsItNeeds) {
  PackToDir();
  Mount(/*prefetch_blocks=*/8, nullptr, /*read_ahead_kb=*/0);
  const int fd = open((mnt_ + "/big.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  std::string got;
  char buf[32 * 1024];
  // 20 reads of 32 KiB, 10 ms apart: ~160 ms per block against a fetch from a
  // local directory of a few ms.
  for (int i = 0; i < 20; ++i) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    ASSERT_EQ(n, static_cast<ssize_t>(sizeof(buf)));
    got.append(buf, static_cast<size_t>(n));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  mount_->WaitPrefetchIdle();
  // Read so far: block 0 and part of 1 (the kernel reads 128 KiB ahead).
  EXPECT_LE(counting_->gets, 4) << "prefetched further than a slow reader needs";
  EXPECT_GE(counting_->gets, 3) << "no prefetch ahead of the reader";
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) got.append(buf, static_cast<size_t>(n));
  close(fd);
  EXPECT_EQ(got, big_);
  mount_->WaitPrefetchIdle();
  EXPECT_EQ(counting_->gets, 6);
}

// Opening a file queues its first blocks (a binary being exec'd faults them in
// one at a time); reading them afterwards costs no fetch.
TEST_F(FlistMountTest, OpenPrefetchesTheFirstBlocks) {
  PackToDir();
  Mount(/*prefetch_blocks=*/0, nullptr, FlistMountOptions().read_ahead_kb, /*open_prefetch_blocks=*/3);
  const int fd = open((mnt_ + "/big.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  mount_->WaitPrefetchIdle();
  EXPECT_EQ(counting_->gets, 3);
  EXPECT_EQ(mount_->stats().prefetch_scheduled, 3u);
  // Small reads in each of the three blocks (a large one would make the kernel read ahead further).
  for (off_t off : {off_t{100}, off_t{512 * 1024 + 100}, off_t{2 * 512 * 1024 + 100}}) {
    std::string got(10, '\0');
    ASSERT_EQ(pread(fd, got.data(), got.size(), off), 10);
    EXPECT_EQ(got, big_.substr(static_cast<size_t>(off), 10));
  }
  close(fd);
  EXPECT_EQ(counting_->gets, 3) << "blocks fetched on open were fetched again";
  // A second open finds them cached and queues nothing.
  const int again = open((mnt_ + "/big.bin").c_str(), O_RDONLY);
  ASSERT_GE(again, 0);
  close(again);
  mount_->WaitPrefetchIdle();
  EXPECT_EQ(mount_->stats().prefetch_scheduled, 3u);
  EXPECT_EQ(counting_->gets, 3);
}

TEST_F(FlistMountTest, WarmPathsAreFetchedBeforeAnythingOpensThem) {
  PackToDir();
  // /link -> etc/hostname (one block); big.bin has more blocks than the two warmed; the rest are skipped.
  warm_paths_ = {"/link", "/big.bin", "/missing", "/etc", "/dangling", "/../../etc/hostname"};
  Mount(/*prefetch_blocks=*/0, nullptr, FlistMountOptions().read_ahead_kb, /*open_prefetch_blocks=*/2);
  mount_->WaitPrefetchIdle();
  EXPECT_EQ(counting_->gets, 3) << "1 block of etc/hostname (once, though named twice) + 2 of big.bin";
  EXPECT_EQ(mount_->stats().prefetch_scheduled, 3u);
  EXPECT_EQ(PRead("/etc/hostname", 0, 100), "flint\n");
  EXPECT_EQ(PRead("/big.bin", 512 * 1024 + 5, 10), big_.substr(512 * 1024 + 5, 10));
  EXPECT_EQ(counting_->gets, 3) << "warmed blocks were fetched again";
}

TEST_F(FlistMountTest, ConcurrentReadersOfOneBlockFetchItOnce) {
  PackToDir();
  Mount(0);
  counting_->delay_ms = 300;
  constexpr int kThreads = 8;
  std::barrier start(kThreads);
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      // Distinct pages of block 1, so the kernel sends separate reads.
      const off_t off = 512 * 1024 + i * 64 * 1024;
      const int fd = open((mnt_ + "/big.bin").c_str(), O_RDONLY);
      start.arrive_and_wait();
      char buf[100];
      if (fd >= 0 && pread(fd, buf, sizeof(buf), off) == 100 &&
          std::string(buf, 100) == big_.substr(static_cast<size_t>(off), 100)) {
        ++good;
      }
      if (fd >= 0) close(fd);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good, kThreads);
  EXPECT_EQ(counting_->gets, 1);
  EXPECT_EQ(cache_->stats().fetches, 1u);
}

TEST_F(FlistMountTest, SmallCacheEvictsWhileReadingABigFile) {
  PackToDir();
  OpenCache(/*max_bytes=*/1024 * 1024);
  // Kernel readahead off, so reads come one at a time: with room for one
  // block, concurrent readahead requests that straddle two blocks would
  // legitimately refetch and make the counts below vary.
  Mount(0, nullptr, /*read_ahead_kb=*/0);
  EXPECT_EQ(ReadAll(mnt_ + "/big.bin"), big_);
  const BlockCacheStats s = cache_->stats();
  EXPECT_GE(s.evictions, 4u);
  EXPECT_LE(s.cached_bytes, 1024u * 1024u);
  EXPECT_EQ(counting_->gets, 6);
  // Evicted blocks are fetched again when needed.
  DropPageCache("/big.bin");
  EXPECT_EQ(PRead("/big.bin", 0, 100), big_.substr(0, 100));
  EXPECT_EQ(counting_->gets, 7);
}

TEST_F(FlistMountTest, TwoMountsShareOneBlockCache) {
  PackToDir();
  Mount(0);
  const std::string second = root_ + "/mnt2";
  fs::create_directories(second);
  FlistMountOptions options;
  options.fs.prefetch_blocks = 0;
  auto other = FlistMount::Mount(flist_, cache_.get(), counting_.get(), second, options);
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(ReadAll(mnt_ + "/big.bin"), big_);
  EXPECT_EQ(counting_->gets, 6);
  EXPECT_EQ(ReadAll(second + "/big.bin"), big_);
  EXPECT_EQ(counting_->gets, 6);  // the second mount only hit the cache
  EXPECT_EQ((*other)->Unmount(), absl::OkStatus());
  EXPECT_FALSE(IsMounted(second));
}

TEST_F(FlistMountTest, CorruptBlockInStoreIsEIO) {
  PackToDir();
  const Entry* e = flist_->Find("/corrupt.bin");
  ASSERT_NE(e, nullptr);
  ASSERT_EQ(e->blocks.size(), 1u);
  const std::string path = dir_store_->PathFor(e->blocks[0].id);
  std::string data = ReadAll(path);
  ASSERT_FALSE(data.empty());
  data[data.size() / 2] ^= 0x01;
  WriteFile(path, data);
  Mount(0);
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 3; ++i) {  // each read asks the store again, and fails again
    const int fd = open((mnt_ + "/corrupt.bin").c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    char buf[4096];
    EXPECT_EQ(pread(fd, buf, sizeof(buf), 0), -1);
    EXPECT_EQ(errno, EIO);
    close(fd);
  }
  const std::string logged = ::testing::internal::GetCapturedStderr();
  EXPECT_FALSE(cache_->Contains(e->blocks[0].id));
  EXPECT_GE(mount_->stats().read_errors, 3u);
  // Logged once, with the block's id: a store that lost a block must not flood the log.
  const std::string line = "flist read /corrupt.bin block 0: DATA_LOSS: block " + HexEncode(e->blocks[0].id);
  EXPECT_NE(logged.find(line), std::string::npos) << logged;
  EXPECT_EQ(logged.find(line), logged.rfind(line)) << logged;
  // Other files are unaffected.
  EXPECT_EQ(ReadAll(mnt_ + "/etc/hostname"), "flint\n");
}

// A store that trickles a block (5 KB/s: 105 s for 512 KiB) fails the read at the store's reply
// deadline instead of holding the reading process for as long as the store keeps sending.
TEST_F(FlistMountTest, TricklingStoreIsEIOAtTheReplyDeadline) {
  PackToDir();
  ::flint::testutil::ScriptedRespServer server({"$524288\r\n" + std::string(524288, 'b') + "\r\n"}, 100,
                                                std::chrono::milliseconds(20));
  ASSERT_GT(server.port(), 0);
  auto store = RespStore::Open("redis://127.0.0.1:" + std::to_string(server.port()), std::chrono::seconds(5), 1,
                               std::chrono::seconds(1));
  ASSERT_TRUE(store.ok()) << store.status();
  Mount(0, store->get());
  const int fd = open((mnt_ + "/big.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  char buf[4096];
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(read(fd, buf, sizeof(buf)), -1);
  EXPECT_EQ(errno, EIO);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  close(fd);
  EXPECT_GE(elapsed, std::chrono::milliseconds(900));
  EXPECT_LT(elapsed, std::chrono::seconds(10));
  EXPECT_EQ(server.connections(), 1);
  EXPECT_GE(mount_->stats().read_errors, 1u);
  mount_.reset();  // unmount before the store goes
}

TEST_F(FlistMountTest, KernelChecksPermissionsForOtherUsers) {
  PackToDir();
  Mount(0);
  ASSERT_EQ(chmod(root_.c_str(), 0755), 0);  // mkdtemp made it 0700
  // /owned is 0640 1234:5678. allow_other lets other uids in at all;
  // default_permissions makes the kernel apply the recorded modes.
  auto open_as = [&](uid_t uid, gid_t gid, const std::string& path) -> int {
    const pid_t pid = fork();
    if (pid == 0) {
      if (setgroups(0, nullptr) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) _exit(100);
      const int fd = open(path.c_str(), O_RDONLY);
      if (fd < 0) _exit(errno == EACCES ? 13 : 101);
      char c;
      _exit(read(fd, &c, 1) == 1 ? 0 : 102);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(open_as(1234, 1, mnt_ + "/owned"), 0);
  EXPECT_EQ(open_as(999, 5678, mnt_ + "/owned"), 0);     // group read
  EXPECT_EQ(open_as(999, 999, mnt_ + "/owned"), 13);     // others: no access
  EXPECT_EQ(open_as(999, 999, mnt_ + "/etc/hostname"), 0);
}

TEST_F(FlistMountTest, ServesV1Blocks) {
  // The packer writes v2; build a v1 model by hand to cover the XXTEA codec.
  const std::string store_dir = root_ + "/store";
  fs::create_directories(store_dir);
  dir_store_ = std::make_unique<DirStore>(store_dir);
  counting_ = std::make_unique<CountingStore>(*dir_store_);
  const std::string content = RandomBytes(kBlockSize + 1000, 11);
  Entry file;
  file.type = EntryType::kRegular;
  file.mode = 0644;
  file.size = content.size();
  for (size_t off = 0; off < content.size(); off += kBlockSize) {
    auto enc = EncodeBlock(BlockFormat::kV1, std::string_view(content).substr(off, kBlockSize));
    ASSERT_TRUE(enc.ok()) << enc.status();
    ASSERT_TRUE(dir_store_->Put(enc->id, enc->data).ok());
    file.blocks.push_back(BlockRef{enc->id, enc->key});
  }
  FlistBuilder builder(FlistVersion::kV1);
  builder.root().mode = 0755;
  ASSERT_TRUE(builder.Add(0, "data.bin", file).ok());
  flist_ = std::make_shared<const Flist>(std::move(builder).Finish());
  Mount(0);
  EXPECT_EQ(ReadAll(mnt_ + "/data.bin"), content);
  EXPECT_EQ(counting_->gets, 2);
}

// Blocks hold 512 KiB each but the last. A malformed flist whose block decodes longer must not
// have its extra bytes served as the next block's, and one that decodes shorter is EIO where its
// bytes are missing, on the copying path and on the splice path from cache files alike.
TEST_F(FlistMountTest, BlocksOffTheStrideAreNeverServedAsOtherBytes) {
  const std::string store_dir = root_ + "/store";
  fs::create_directories(store_dir);
  dir_store_ = std::make_unique<DirStore>(store_dir);
  counting_ = std::make_unique<CountingStore>(*dir_store_);
  const std::string content = RandomBytes(2 * kBlockSize, 12);
  const std::string longer = RandomBytes(kBlockSize + 4096, 13);
  auto block = [&](std::string_view plain) {
    auto enc = EncodeBlock(BlockFormat::kV2, plain);
    EXPECT_TRUE(enc.ok());
    EXPECT_TRUE(dir_store_->Put(enc->id, enc->data).ok());
    return BlockRef{enc->id, enc->key};
  };
  auto file = [](uint64_t size, std::vector<BlockRef> blocks) {
    Entry e;
    e.type = EntryType::kRegular;
    e.mode = 0644;
    e.size = size;
    e.blocks = std::move(blocks);
    return e;
  };
  FlistBuilder builder(FlistVersion::kV2);
  builder.root().mode = 0755;
  // Block 0 decodes 4 KiB too long; block 1 is right.
  ASSERT_TRUE(builder.Add(0, "long.bin", file(content.size(), {block(longer), block(content.substr(kBlockSize))})).ok());
  // Block 0 decodes 4 KiB too short.
  ASSERT_TRUE(builder.Add(0, "short.bin", file(content.size(), {block(content.substr(0, kBlockSize - 4096)),
                                                               block(content.substr(kBlockSize))}))
                  .ok());
  flist_ = std::make_shared<const Flist>(std::move(builder).Finish());
  Mount(0);
  for (int pass = 0; pass < 2; ++pass) {  // fetched, then from the cache files
    SCOPED_TRACE(pass == 0 ? "fetched" : "cached");
    DropPageCache("/long.bin");
    DropPageCache("/short.bin");
    // Across the boundary: block 0's first 512 KiB, then block 1 (not block 0's extra 4 KiB).
    EXPECT_TRUE(PRead("/long.bin", kBlockSize - 8192, 16384) ==
                longer.substr(kBlockSize - 8192, 8192) + content.substr(kBlockSize, 8192));
    EXPECT_EQ(PRead("/short.bin", kBlockSize - 4096, 4096), "<read failed>");
    EXPECT_EQ(PRead("/short.bin", kBlockSize, 4096), content.substr(kBlockSize, 4096));
  }
}

TEST_F(FlistMountTest, RealFixtureTreeMatchesTheModel) {
  auto flist = ReadFlistFile(testing::FixturePath("alpine-latest.fl"));
  if (!flist.ok()) GTEST_SKIP() << "fixture missing: " << flist.status();
  flist_ = std::make_shared<const Flist>(*std::move(flist));
  // Its blocks live in a store we do not have: an empty one.
  const std::string store_dir = root_ + "/store";
  fs::create_directories(store_dir);
  dir_store_ = std::make_unique<DirStore>(store_dir);
  counting_ = std::make_unique<CountingStore>(*dir_store_);
  Mount(0);
  size_t checked = 0;
  for (const Entry& e : flist_->entries()) {
    struct stat st {};
    const std::string path = mnt_ + e.path;
    ASSERT_EQ(lstat(path.c_str(), &st), 0) << e.path;
    EXPECT_EQ(st.st_mode, e.st_mode()) << e.path;
    EXPECT_EQ(st.st_uid, e.uid) << e.path;
    EXPECT_EQ(st.st_gid, e.gid) << e.path;
    EXPECT_EQ(st.st_mtim.tv_sec, e.mtime) << e.path;
    if (e.type == EntryType::kRegular) {
      EXPECT_EQ(static_cast<uint64_t>(st.st_size), e.size) << e.path;
    }
    if (e.type == EntryType::kSymlink) {
      EXPECT_EQ(fs::read_symlink(path).string(), e.link_target) << e.path;
    }
    if (e.type == EntryType::kDirectory) {
      size_t n = 0;
      for (auto it = fs::directory_iterator(path); it != fs::directory_iterator(); ++it) ++n;
      EXPECT_EQ(n, e.children.size()) << e.path;
    }
    ++checked;
  }
  EXPECT_EQ(checked, flist_->entries().size());
  EXPECT_EQ(counting_->gets, 0);  // metadata never touches the store
  // Reading a file whose blocks are missing fails cleanly.
  for (const Entry& e : flist_->entries()) {
    if (e.type != EntryType::kRegular || e.size == 0) continue;
    const int fd = open((mnt_ + e.path).c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    char buf[16];
    EXPECT_EQ(read(fd, buf, sizeof(buf)), -1);
    EXPECT_EQ(errno, EIO);
    close(fd);
    break;
  }
}

TEST_F(FlistMountTest, InodeNumbersAreStableAcrossMounts) {
  PackToDir();
  Mount(0);
  struct stat a {}, b {};
  ASSERT_EQ(stat((mnt_ + "/etc/sub/deep.txt").c_str(), &a), 0);
  ASSERT_EQ(mount_->Unmount(), absl::OkStatus());
  EXPECT_FALSE(IsMounted(mnt_));
  mount_.reset();
  Mount(0);
  ASSERT_EQ(stat((mnt_ + "/etc/sub/deep.txt").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST_F(FlistMountTest, OverlayOnTopKeepsTheFlistIntact) {
  PackToDir();
  Mount(0);
  const std::string upper = root_ + "/upper", work = root_ + "/work", merged = root_ + "/merged";
  fs::create_directories(upper);
  fs::create_directories(work);
  fs::create_directories(merged);
  const std::string opts = "lowerdir=" + mnt_ + ",upperdir=" + upper + ",workdir=" + work;
  ASSERT_EQ(mount("overlay", merged.c_str(), "overlay", 0, opts.c_str()), 0) << strerror(errno);
  OverlayGuard guard{merged};

  // Untouched files come through FUSE (and fetch their blocks on demand).
  EXPECT_EQ(counting_->gets, 0);
  EXPECT_EQ(ReadAll(merged + "/big.bin"), big_);
  EXPECT_EQ(counting_->gets, 6);
  EXPECT_EQ(ReadAll(merged + "/link"), "flint\n");
  struct stat st {};
  ASSERT_EQ(stat((merged + "/bin/su").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFREG | 04755u);

  // New files and modifications land in upper.
  WriteFile(merged + "/new.txt", "new\n");
  EXPECT_EQ(ReadAll(upper + "/new.txt"), "new\n");
  { std::ofstream(merged + "/etc/hostname", std::ios::app) << "more\n"; }
  EXPECT_EQ(ReadAll(merged + "/etc/hostname"), "flint\nmore\n");
  EXPECT_EQ(ReadAll(upper + "/etc/hostname"), "flint\nmore\n");
  ASSERT_EQ(fs::create_directory(merged + "/etc/sub/newdir"), true);

  // Deletes become whiteouts; the flist still has the files.
  ASSERT_EQ(unlink((merged + "/etc/sub/deep.txt").c_str()), 0);
  ASSERT_EQ(unlink((merged + "/big.bin").c_str()), 0);
  EXPECT_FALSE(fs::exists(merged + "/big.bin"));
  ASSERT_EQ(lstat((upper + "/big.bin").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));  // whiteout
  EXPECT_EQ(ReadAll(mnt_ + "/etc/sub/deep.txt"), "deep file\n");
  EXPECT_EQ(ReadAll(mnt_ + "/etc/hostname"), "flint\n");
  EXPECT_EQ(ReadAll(mnt_ + "/big.bin"), big_);

  ASSERT_EQ(umount2(merged.c_str(), 0), 0) << strerror(errno);
  guard.target.clear();
  EXPECT_FALSE(IsMounted(merged));
}

TEST_F(FlistMountTest, UnmountWhileBusyAbortsAndDetaches) {
  PackToDir();
  Mount(0);
  const int fd = open((mnt_ + "/etc/hostname").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  const absl::Status s = mount_->Unmount();
  EXPECT_FALSE(IsMounted(mnt_));
  char buf[16];
  // The open file now fails instead of hanging (or is served from the page cache).
  const ssize_t n = pread(fd, buf, sizeof(buf), 0);
  EXPECT_TRUE(n == -1 || n == 6) << n;
  close(fd);
  (void)s;
}

TEST_F(FlistMountTest, ServesBlocksFromARealRedisStore) {
  auto started = ::flint::testutil::RedisServer::Start();
  ASSERT_TRUE(started.ok()) << started.status();
  const ::flint::testutil::RedisServer& redis = **started;
  const std::string url = "redis://127.0.0.1:" + std::to_string(redis.port());
  auto store = OpenBlockStore(url);
  ASSERT_TRUE(store.ok()) << store.status();
  Pack(**store, url);
  // Open the store the way flintd would: from the flist's own route table.
  auto routed = OpenStoreForFlist(*flist_, "", "");
  ASSERT_TRUE(routed.ok()) << routed.status();
  counting_ = std::make_unique<CountingStore>(**routed);
  Mount(/*prefetch_blocks=*/2);
  EXPECT_EQ(ReadAll(mnt_ + "/big.bin"), big_);
  EXPECT_EQ(ReadAll(mnt_ + "/etc/hostname"), "flint\n");
  mount_->WaitPrefetchIdle();
  EXPECT_EQ(counting_->gets, 7);  // the 6 blocks of big.bin and hostname, each once
  mount_.reset();
}

TEST_F(FlistMountTest, FlistMountBinaryMountsAndExitsOnExternalUnmount) {
  PackToDir();
  const std::string cache = root_ + "/bincache";
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(FLIST_MOUNT_BIN, "flist-mount", fl_.c_str(), mnt_.c_str(), "--cache", cache.c_str(), "--foreground",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  bool mounted = false;
  for (int i = 0; i < 100 && !mounted; ++i) {
    mounted = IsMounted(mnt_);
    if (!mounted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (mounted) {
    EXPECT_EQ(ReadAll(mnt_ + "/etc/hostname"), "flint\n");
    EXPECT_EQ(ReadAll(mnt_ + "/big.bin"), big_);
    EXPECT_EQ(system(("fusermount3 -u " + mnt_).c_str()), 0);
  }
  int status = 0;
  pid_t done = 0;
  for (int i = 0; i < 100 && done == 0; ++i) {
    done = waitpid(pid, &status, WNOHANG);
    if (done == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  if (done == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    umount2(mnt_.c_str(), MNT_DETACH);
  }
  ASSERT_TRUE(mounted);
  EXPECT_EQ(done, pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_TRUE(fs::exists(cache));
}

// Alive and not a zombie (an exited spare may wait for a reaper that is not us).
bool Running(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pid_field, comm, state;
  if (!(stat >> pid_field >> comm >> state)) return false;
  return state != "Z" && state != "X";
}

// Scheduling policy of every thread of `pid` (field 41 of /proc/PID/task/TID/stat).
std::set<int> ThreadPolicies(pid_t pid) {
  std::set<int> policies;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream stat(task.path() / "stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    const size_t close_paren = text.rfind(')');
    if (close_paren == std::string::npos) continue;
    std::istringstream rest(text.substr(close_paren + 2));
    std::string field;
    for (int i = 3; i <= 41 && rest >> field; ++i) {
      if (i == 41) policies.insert(std::stoi(field));
    }
  }
  return policies;
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

TEST_F(FlistMountTest, FlistMountBinaryRefusesRoutesToStoresNotAllowed) {
  PackToDir();  // routes every block to dir://<root_>/store
  const std::string base = std::string(FLIST_MOUNT_BIN) + " " + fl_ + " " + mnt_ + " --cache " + root_ + "/bincache";
  const std::string err = root_ + "/mount.err";
  EXPECT_NE(system((base + " --allowed-store dir:///srv/blocks --allowed-store zdb://hub.grid.tf 2>" + err).c_str()), 0);
  EXPECT_FALSE(IsMounted(mnt_));
  const std::string message = ReadAll(err);
  EXPECT_NE(message.find("dir://" + root_ + "/store"), std::string::npos) << message;
  EXPECT_NE(message.find("not among the allowed block stores"), std::string::npos) << message;

  // Routes to an allowed store (here: a directory above it) mount.
  ASSERT_EQ(system((base + " --allowed-store dir://" + root_ + " 2>" + err).c_str()), 0) << ReadAll(err);
  EXPECT_TRUE(IsMounted(mnt_));
  EXPECT_EQ(ReadAll(mnt_ + "/etc/hostname"), "flint\n");
  EXPECT_EQ(umount2(mnt_.c_str(), 0), 0) << strerror(errno);
}

// Processes (not zombies) whose arguments include `path`: a detached flist-mount's server and its
// keeper (whose first argument is --keep).
struct MountProcesses {
  std::vector<pid_t> servers, keepers;
};
MountProcesses ProcessesServing(const std::string& path) {
  MountProcesses found;
  std::error_code ec;
  for (const auto& proc : fs::directory_iterator("/proc", ec)) {
    const std::string name = proc.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream cmdline(proc.path() / "cmdline", std::ios::binary);
    std::vector<std::string> args;
    for (std::string arg; std::getline(cmdline, arg, '\0');) args.push_back(arg);
    if (args.size() < 2 || fs::path(args[0]).filename() != "flist-mount" ||
        std::find(args.begin(), args.end(), path) == args.end()) {
      continue;
    }
    std::ifstream stat(proc.path() / "stat");
    std::string pid_field, comm, state;
    if (!(stat >> pid_field >> comm >> state) || state == "Z") continue;
    (args[1] == "--keep" ? found.keepers : found.servers).push_back(std::stoi(name));
  }
  return found;
}

// Starts flist-mount detached, serving blocks from an http store, and returns the server's pid.
pid_t MountDetachedFromHttp(const std::string& fl, const std::string& mnt, const std::string& cache,
                            const std::string& store_url, const std::string& more_args = "") {
  const std::string cmd = std::string(FLIST_MOUNT_BIN) + " " + fl + " " + mnt + " --cache " + cache + " --store " +
                          store_url + " --prefetch 0 --open-prefetch 0 " + more_args;
  if (system(cmd.c_str()) != 0) return -1;
  MountProcesses p;
  for (int i = 0; i < 250 && (p.servers.size() != 1 || p.keepers.size() != 1); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    p = ProcessesServing(mnt);
  }
  return p.servers.size() == 1 && p.keepers.size() == 1 ? p.servers[0] : -1;
}

// True when process `pid` has `path` open.
bool HoldsOpen(pid_t pid, const std::string& path) {
  std::error_code ec;
  for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    if (fs::read_symlink(fd.path(), ec) == path) return true;
  }
  return false;
}

// Serves every block of a dir:// store at <base>/<hex id>, as an http store is laid out.
void ServeStoreOverHttp(const std::string& store_dir, testing::HttpFileServer& http) {
  for (const auto& file : fs::recursive_directory_iterator(store_dir)) {
    if (file.is_regular_file()) http.Set("/" + file.path().filename().string(), ReadAll(file.path()));
  }
}

// Waits for a server other than `old` to serve `mnt`; -1 if none comes within 10 s.
pid_t NextServer(const std::string& mnt, pid_t old) {
  for (int i = 0; i < 500; ++i) {
    MountProcesses p = ProcessesServing(mnt);
    if (p.servers.size() == 1 && p.servers[0] != old) return p.servers[0];
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

TEST_F(FlistMountTest, KilledServerIsTakenOverAndItsReadInFlightCompletes) {
  PackToDir();
  testing::HttpFileServer http;
  ASSERT_TRUE(http.ok());
  ServeStoreOverHttp(root_ + "/store", http);
  const pid_t server = MountDetachedFromHttp(fl_, mnt_, root_ + "/bincache", http.base_url());
  ASSERT_GT(server, 0) << "no server and keeper serve " << mnt_;
  EXPECT_EQ(ReadAll(mnt_ + "/etc/hostname"), "flint\n");
  // The flist file goes, as RemoveImage of an image in use deletes it: the keeper holds it open.
  const pid_t keeper = ProcessesServing(mnt_).keepers.at(0);
  ASSERT_TRUE(WaitUntil([&] { return HoldsOpen(keeper, fl_); }, std::chrono::seconds(10)));
  ASSERT_EQ(unlink(fl_.c_str()), 0);

  // A read waits for its block while the server is killed: the kernel keeps the request, the
  // keeper starts a new server, which has it resent and answers it.
  const int before = http.requests();
  http.SetStallSeconds(30);
  std::string got;
  std::thread reader([&] { got = ReadAll(mnt_ + "/big.bin"); });
  const bool in_flight = WaitUntil([&] { return http.requests() > before; }, std::chrono::seconds(10));
  ASSERT_EQ(kill(server, SIGKILL), 0);
  http.SetStallSeconds(0);
  const pid_t next = NextServer(mnt_, server);
  reader.join();
  EXPECT_TRUE(in_flight);
  EXPECT_GT(next, 0) << "no server took over " << mnt_;
  EXPECT_EQ(got.size(), big_.size());
  EXPECT_TRUE(got == big_) << "the read in flight at the kill returned other bytes";
  EXPECT_TRUE(IsMounted(mnt_));
  EXPECT_EQ(ReadAll(mnt_ + "/etc/sub/deep.txt"), "deep file\n");

  // An unmount ends the new server and the keeper.
  EXPECT_EQ(umount2(mnt_.c_str(), 0), 0) << strerror(errno);
  EXPECT_TRUE(WaitUntil([&] {
    MountProcesses p = ProcessesServing(mnt_);
    return p.servers.empty() && p.keepers.empty();
  }, std::chrono::seconds(10))) << "server or keeper still running after the unmount";
}

// As on kernels before 6.9, which cannot resend: the requests a killed server had taken must not
// wait forever. The kernel fails them as the server's descriptors close; a buffered read then
// asks again (a reader sees a pause), anything else fails once. Its successor serves the rest.
TEST_F(FlistMountTest, KilledServerWithoutKernelResendLeavesNoReadWaiting) {
  PackToDir();
  testing::HttpFileServer http;
  ASSERT_TRUE(http.ok());
  ServeStoreOverHttp(root_ + "/store", http);
  const std::string log = root_ + "/flist-mount.log";
  const pid_t server =
      MountDetachedFromHttp(fl_, mnt_, root_ + "/bincache", http.base_url(), "--no-resend --log-file " + log);
  ASSERT_GT(server, 0) << "no server and keeper serve " << mnt_;
  EXPECT_EQ(ReadAll(mnt_ + "/etc/hostname"), "flint\n");

  const int before = http.requests();
  http.SetStallSeconds(30);
  std::atomic<bool> done{false};
  int read_errno = 0;
  std::string got;
  std::thread reader([&] {
    const int fd = open((mnt_ + "/big.bin").c_str(), O_RDONLY | O_CLOEXEC);
    char buf[65536];
    ssize_t n = 0;
    while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0) got.append(buf, static_cast<size_t>(n));
    read_errno = fd < 0 || n < 0 ? errno : 0;
    if (fd >= 0) close(fd);
    done = true;
  });
  const bool in_flight = WaitUntil([&] { return http.requests() > before; }, std::chrono::seconds(10));
  ASSERT_EQ(kill(server, SIGKILL), 0);
  http.SetStallSeconds(0);
  const bool returned = WaitUntil([&] { return done.load(); }, std::chrono::seconds(10));
  if (!returned) umount2(mnt_.c_str(), MNT_FORCE);  // aborts the connection, so the reader returns
  reader.join();
  EXPECT_TRUE(in_flight);
  ASSERT_TRUE(returned) << "the read the killed server had taken still waited 10 s later";
  if (read_errno == 0) {
    EXPECT_TRUE(got == big_) << "read " << got.size() << " of " << big_.size() << " bytes";
  } else {
    EXPECT_TRUE(read_errno == EIO || read_errno == ECONNABORTED) << strerror(read_errno);
  }

  const pid_t next = NextServer(mnt_, server);
  EXPECT_GT(next, 0) << "no server took over " << mnt_;
  EXPECT_EQ(ProcessesServing(mnt_).keepers.size(), 1u) << "the keeper gave up";
  const std::string again = ReadAll(mnt_ + "/big.bin");
  EXPECT_TRUE(again == big_) << "read " << again.size() << " of " << big_.size() << " bytes after the takeover";
  EXPECT_EQ(ReadAll(mnt_ + "/etc/sub/deep.txt"), "deep file\n");
  // Both servers served from descriptors cloned per thread: libfuse falls back to the shared one
  // (and says so, through our log) when it cannot clone.
  const std::string logged = ReadAll(log);
  EXPECT_NE(logged.find("taken over;"), std::string::npos) << logged;
  EXPECT_EQ(logged.find("clone"), std::string::npos) << logged;
  EXPECT_EQ(umount2(mnt_.c_str(), 0), 0) << strerror(errno);
  EXPECT_TRUE(WaitUntil([&] {
    MountProcesses p = ProcessesServing(mnt_);
    return p.servers.empty() && p.keepers.empty();
  }, std::chrono::seconds(10))) << "server or keeper still running after the unmount";
}

TEST_F(FlistMountTest, ServerThatKeepsDyingEndsTheMount) {
  PackToDir();
  testing::HttpFileServer http;
  ASSERT_TRUE(http.ok());
  ServeStoreOverHttp(root_ + "/store", http);
  pid_t server = MountDetachedFromHttp(fl_, mnt_, root_ + "/bincache", http.base_url());
  ASSERT_GT(server, 0) << "no server and keeper serve " << mnt_;
  constexpr int kRestarts = 5;  // the keeper's budget per minute
  for (int i = 0; i < kRestarts && server > 0; ++i) {
    ASSERT_EQ(kill(server, SIGKILL), 0);
    server = NextServer(mnt_, server);
    ASSERT_GT(server, 0) << "no server after kill " << i + 1;
    EXPECT_EQ(ReadAll(mnt_ + "/etc/hostname"), "flint\n");
  }
  ASSERT_EQ(kill(server, SIGKILL), 0);
  EXPECT_TRUE(WaitUntil([&] {
    MountProcesses p = ProcessesServing(mnt_);
    return p.servers.empty() && p.keepers.empty();
  }, std::chrono::seconds(10))) << "the keeper did not give up";
  // (Attributes are cached for a day: opening asks the server.) An aborted connection answers
  // ENOTCONN, or ECONNABORTED to a request that was queued when it ended.
  EXPECT_EQ(open((mnt_ + "/big.bin").c_str(), O_RDONLY), -1);
  EXPECT_TRUE(errno == ENOTCONN || errno == ECONNABORTED) << strerror(errno);
  umount2(mnt_.c_str(), MNT_DETACH);
}

// Detached, the server, its keeper and the servers after it write one log file, which flintd
// forwards: without it a bad block or a takeover would be logged to /dev/null.
TEST_F(FlistMountTest, DetachedMountLogsBadBlocksAndTakeoversToItsLogFile) {
  PackToDir();
  testing::HttpFileServer http;
  ASSERT_TRUE(http.ok());
  ServeStoreOverHttp(root_ + "/store", http);
  const Entry* e = flist_->Find("/corrupt.bin");
  ASSERT_NE(e, nullptr);
  const std::string block_file = fs::path(dir_store_->PathFor(e->blocks[0].id)).filename();
  std::string block = ReadAll(dir_store_->PathFor(e->blocks[0].id));
  ASSERT_FALSE(block.empty());
  block[block.size() / 2] ^= 0x01;
  http.Set("/" + block_file, block);
  const std::string log = root_ + "/flist-mount.log";
  const pid_t server = MountDetachedFromHttp(fl_, mnt_, root_ + "/logcache", http.base_url(), "--log-file " + log);
  ASSERT_GT(server, 0) << "no server and keeper serve " << mnt_;

  const int fd = open((mnt_ + "/corrupt.bin").c_str(), O_RDONLY);
  ASSERT_GE(fd, 0);
  char buf[4096];
  EXPECT_EQ(read(fd, buf, sizeof buf), -1);
  EXPECT_EQ(errno, EIO);
  close(fd);
  ASSERT_EQ(kill(server, SIGKILL), 0);
  ASSERT_GT(NextServer(mnt_, server), 0);
  EXPECT_EQ(ReadAll(mnt_ + "/etc/hostname"), "flint\n");
  ASSERT_EQ(umount2(mnt_.c_str(), 0), 0) << strerror(errno);
  ASSERT_TRUE(WaitUntil([&] {
    MountProcesses p = ProcessesServing(mnt_);
    return p.servers.empty() && p.keepers.empty();
  }, std::chrono::seconds(10)));

  const std::string text = ReadAll(log);
  // Which file, which block, which store, and why.
  const size_t bad = text.find(" error flist_fs.cc:");
  ASSERT_NE(bad, std::string::npos) << text;
  const std::string bad_line = text.substr(bad, text.find('\n', bad) - bad);
  EXPECT_NE(bad_line.find("/corrupt.bin"), std::string::npos) << bad_line;
  EXPECT_NE(bad_line.find(block_file), std::string::npos) << bad_line;
  EXPECT_NE(bad_line.find(http.base_url()), std::string::npos) << bad_line;
  // The keeper says what it did, and the server it started logs to the same file.
  EXPECT_NE(text.find("flist-mount keeper: the server of " + mnt_ +
                      " ended; starting another on the same connection (takeover 1)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("flist mount at " + mnt_ + " taken over"), std::string::npos) << text;
  EXPECT_NE(text.find("flist-mount: unmounted " + mnt_), std::string::npos) << text;
}

FlistMountSpareOptions SpareOptions() {
  FlistMountSpareOptions options;
  options.binary = FLIST_MOUNT_BIN;
  options.refill_delay = absl::Milliseconds(100);
  return options;
}

TEST_F(FlistMountTest, SpareMountsWhatItIsSentThenTheNextSpareStarts) {
  PackToDir();
  FlistMountSpare spares(SpareOptions());
  std::optional<pid_t> first = spares.WaitReady(absl::Seconds(20));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(ThreadPolicies(*first), std::set<int>{SCHED_IDLE});  // idle: only spare CPU time
  std::optional<absl::Status> mounted =
      spares.Mount({fl_, mnt_, "--cache", root_ + "/sparecache", "--warm", "/etc/hostname"}, absl::Seconds(30));
  ASSERT_TRUE(mounted.has_value());
  ASSERT_TRUE(mounted->ok()) << *mounted;
  ASSERT_TRUE(IsMounted(mnt_));
  // The next spare starts (100 ms from now) while this process holds a file of the mount open
  // without O_CLOEXEC: the spare must not keep it (the unmount below would fail with EBUSY).
  const int opened = open((mnt_ + "/etc/hostname").c_str(), O_RDONLY);
  ASSERT_GE(opened, 0);
  const int leaked = fcntl(opened, F_DUPFD, 100);  // clear of the descriptor the spare gets as 3
  close(opened);
  ASSERT_GE(leaked, 100);
  EXPECT_EQ(ReadAll(mnt_ + "/etc/hostname"), "flint\n");
  EXPECT_EQ(ReadAll(mnt_ + "/big.bin"), big_);
  EXPECT_TRUE(Running(*first));  // the spare became the mount's server
  EXPECT_EQ(ThreadPolicies(*first), std::set<int>{SCHED_OTHER});  // all of it, FUSE threads included

  std::optional<pid_t> second = spares.WaitReady(absl::Seconds(20));
  close(leaked);
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(*second, *first);
  std::error_code ec;
  for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(*second) + "/fd", ec)) {
    const std::string target = fs::read_symlink(fd.path(), ec).string();
    EXPECT_FALSE(target.starts_with(mnt_)) << "the spare holds " << target;
  }
  EXPECT_EQ(system(("fusermount3 -u " + mnt_).c_str()), 0);
  EXPECT_TRUE(WaitUntil([&] { return !Running(*first); }, std::chrono::seconds(10)));
}

TEST_F(FlistMountTest, SpareAnswersWithTheMountErrorAndBadArguments) {
  PackToDir();
  FlistMountSpare spares(SpareOptions());
  ASSERT_TRUE(spares.WaitReady(absl::Seconds(20)).has_value());
  const std::string missing = root_ + "/missing.fl";
  std::optional<absl::Status> failed = spares.Mount({missing, mnt_, "--cache", root_ + "/c"}, absl::Seconds(30));
  ASSERT_TRUE(failed.has_value());
  EXPECT_EQ(failed->code(), absl::StatusCode::kUnknown) << *failed;
  EXPECT_NE(failed->message().find(missing), std::string::npos) << *failed;
  EXPECT_FALSE(IsMounted(mnt_));

  ASSERT_TRUE(spares.WaitReady(absl::Seconds(20)).has_value());
  std::optional<absl::Status> bad = spares.Mount({"--bogus"}, absl::Seconds(30));
  ASSERT_TRUE(bad.has_value());
  EXPECT_NE(bad->message().find("bad mount arguments"), std::string::npos) << *bad;
}

TEST_F(FlistMountTest, IdleSpareExitsWithItsClientAndNoSpareMeansNoAnswer) {
  FlistMountSpareOptions options = SpareOptions();
  std::optional<pid_t> pid;
  {
    FlistMountSpare spares(options);
    pid = spares.WaitReady(absl::Seconds(20));
    ASSERT_TRUE(pid.has_value());
    EXPECT_TRUE(Running(*pid));
  }
  EXPECT_TRUE(WaitUntil([&] { return !Running(*pid); }, std::chrono::seconds(10)));

  // One that never gets ready does not hold up its client's shutdown (flintd stopping).
  const std::string silent = root_ + "/silent-spare";
  WriteFile(silent, "#!/bin/sh\nexec sleep 30\n");
  chmod(silent.c_str(), 0755);
  options.binary = silent;
  const auto before = std::chrono::steady_clock::now();
  {
    FlistMountSpare starting(options);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(5));

  {
    FlistMountSpare ready(SpareOptions());
    ASSERT_TRUE(ready.WaitReady(absl::Seconds(20)).has_value());
    // An argument the request cannot carry leaves the spare idle for the next mount.
    EXPECT_FALSE(ready.Mount({fl_, mnt_, "--cache", ""}, absl::Seconds(5)).has_value());
    EXPECT_TRUE(ready.WaitReady(absl::Milliseconds(1)).has_value());
  }

  options.binary = root_ + "/no-such-flist-mount";
  FlistMountSpare none(options);
  EXPECT_FALSE(none.WaitReady(absl::Milliseconds(300)).has_value());
  EXPECT_FALSE(none.Mount({fl_, mnt_, "--cache", root_ + "/c"}, absl::Seconds(5)).has_value());
}

}  // namespace
}  // namespace flint::flist
