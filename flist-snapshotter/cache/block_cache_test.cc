#include "flist-snapshotter/cache/block_cache.h"
#include "flist-snapshotter/cache/shared_ledger.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <thread>
#include <vector>

#include "flist-snapshotter/block/blake2b.h"
#include "flist-snapshotter/store/dir_store.h"
#include "gtest/gtest.h"

namespace flint::flist {
namespace {

// Counts GETs and can slow them down, to make fetches overlap.
class CountingStore : public BlockStore {
 public:
  explicit CountingStore(BlockStore& inner) : inner_(inner) {}
  absl::StatusOr<std::string> Get(std::string_view id) override {
    ++gets;
    if (delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms.load()));
    if (failure != absl::StatusCode::kOk) return absl::Status(failure.load(), "store failure for the test");
    return inner_.Get(id);
  }
  absl::Status Put(std::string_view id, std::string_view data) override { return inner_.Put(id, data); }
  absl::StatusOr<bool> Exists(std::string_view id) override { return inner_.Exists(id); }
  std::string Describe() const override { return "counting:" + inner_.Describe(); }

  std::atomic<int> gets{0};
  std::atomic<int> delay_ms{0};
  std::atomic<absl::StatusCode> failure{absl::StatusCode::kOk};  // every Get fails with it when set

 private:
  BlockStore& inner_;
};

std::string RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

class BlockCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/flist-cache-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_store_ = std::make_unique<DirStore>(root_ + "/store");
    std::filesystem::create_directories(root_ + "/store");
    store_ = std::make_unique<CountingStore>(*dir_store_);
  }
  void TearDown() override { std::filesystem::remove_all(root_); }

  // Encodes `plain` as a v2 block, puts it in the store and returns its ref.
  BlockRef AddBlock(const std::string& plain) {
    auto enc = EncodeBlock(BlockFormat::kV2, plain);
    EXPECT_TRUE(enc.ok()) << enc.status();
    EXPECT_TRUE(dir_store_->Put(enc->id, enc->data).ok());
    return BlockRef{enc->id, enc->key};
  }

  std::unique_ptr<BlockCache> OpenCache(uint64_t max_bytes = 0,
                                        std::chrono::milliseconds slow_failure_memory = std::chrono::seconds(5)) {
    BlockCacheOptions o;
    o.dir = root_ + "/cache";
    o.max_bytes = max_bytes;
    o.slow_failure_memory = slow_failure_memory;
    auto c = BlockCache::Open(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  std::string root_;
  std::unique_ptr<DirStore> dir_store_;
  std::unique_ptr<CountingStore> store_;
};

uint64_t BlockFileBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().filename().string()[0] != '.') total += e.file_size();
  }
  return total;
}

TEST_F(BlockCacheTest, MissFetchesOnceThenHitsFromDisk) {
  const std::string plain = RandomBytes(300000, 1);
  const BlockRef ref = AddBlock(plain);
  auto cache = OpenCache();
  auto got = cache->GetBlock(ref, BlockFormat::kV2, *store_);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, plain);
  EXPECT_EQ(store_->gets, 1);
  const std::string hex = HexEncode(ref.id);
  EXPECT_TRUE(std::filesystem::exists(root_ + "/cache/" + hex.substr(0, 2) + "/" + hex));
  EXPECT_EQ(cache->PathFor(ref.id), root_ + "/cache/" + hex.substr(0, 2) + "/" + hex);

  got = cache->GetBlock(ref, BlockFormat::kV2, *store_);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, plain);
  char buf[100];
  auto n = cache->ReadBlock(ref, BlockFormat::kV2, *store_, 1000, buf, sizeof(buf));
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, sizeof(buf));
  EXPECT_EQ(std::string(buf, 100), plain.substr(1000, 100));
  // Reads past the end of the block are short.
  n = cache->ReadBlock(ref, BlockFormat::kV2, *store_, plain.size() - 10, buf, sizeof(buf));
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 10u);
  EXPECT_EQ(store_->gets, 1);
  const BlockCacheStats s = cache->stats();
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 3u);
  EXPECT_EQ(s.fetches, 1u);
  EXPECT_GT(s.bytes_fetched, 0u);
  EXPECT_EQ(s.cached_blocks, 1u);
}

TEST_F(BlockCacheTest, ConcurrentMissesShareOneFetch) {
  const std::string plain = RandomBytes(200000, 2);
  const BlockRef ref = AddBlock(plain);
  auto cache = OpenCache();
  store_->delay_ms = 300;
  constexpr int kThreads = 8;
  std::barrier start(kThreads);
  std::atomic<int> good{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] {
      start.arrive_and_wait();
      char buf[64];
      auto n = cache->ReadBlock(ref, BlockFormat::kV2, *store_, static_cast<uint64_t>(i) * 1000, buf, sizeof(buf));
      if (n.ok() && *n == sizeof(buf) && std::string(buf, 64) == plain.substr(i * 1000, 64)) ++good;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good, kThreads);
  EXPECT_EQ(store_->gets, 1);
  const BlockCacheStats s = cache->stats();
  EXPECT_EQ(s.fetches, 1u);
  EXPECT_EQ(s.coalesced + s.hits, static_cast<uint64_t>(kThreads - 1));
  EXPECT_GE(s.coalesced, 1u);
}

TEST_F(BlockCacheTest, WaitersGetTheBlockBeforeItIsWrittenToDisk) {
  const std::string plain = RandomBytes(200000, 3);
  const BlockRef ref = AddBlock(plain);
  auto cache = OpenCache();
  const std::string hex = HexEncode(ref.id);
  const std::string block_file = root_ + "/cache/" + hex.substr(0, 2) + "/" + hex;
  // Holding the ledger lock stalls the fetching thread where it links the
  // block file into place, i.e. after the fetch and before the block is on disk.
  const int ledger_fd = open((root_ + "/cache/.ledger").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(ledger_fd, 0);
  ASSERT_EQ(flock(ledger_fd, LOCK_EX), 0);
  bool unlocked = false;
  auto unlock = [&] {
    if (!unlocked) flock(ledger_fd, LOCK_UN);
    unlocked = true;
  };
  store_->delay_ms = 200;
  absl::Status prefetched = absl::UnknownError("not run");
  std::thread leader([&] { prefetched = cache->Prefetch(ref, BlockFormat::kV2, *store_); });
  for (int i = 0; i < 500 && store_->gets == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  auto read_at = [&](uint64_t offset) {
    return std::async(std::launch::async, [&, offset]() -> std::string {
      char buf[64];
      auto n = cache->ReadBlock(ref, BlockFormat::kV2, *store_, offset, buf, sizeof(buf));
      return n.ok() ? std::string(buf, *n) : n.status().ToString();
    });
  };
  // Joins the fetch in flight and gets the block while it is still being written.
  auto waiter = read_at(1000);
  const bool waiter_done = waiter.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  const bool on_disk_before_unlock = std::filesystem::exists(block_file);
  unlock();
  leader.join();
  close(ledger_fd);
  ASSERT_TRUE(waiter_done) << "a waiter blocked until the block was written to disk";
  EXPECT_EQ(waiter.get(), plain.substr(1000, 64));
  EXPECT_FALSE(on_disk_before_unlock);
  EXPECT_TRUE(prefetched.ok()) << prefetched;
  EXPECT_EQ(store_->gets, 1);
  EXPECT_TRUE(std::filesystem::exists(block_file));
  EXPECT_TRUE(cache->Contains(ref.id));
}

// Another process holding the ledger (storing or evicting) stalls this
// process's stores, but not its hits.
TEST_F(BlockCacheTest, HitsDoNotWaitForTheLedger) {
  const std::string plain = RandomBytes(50000, 140);
  const BlockRef cached = AddBlock(plain);
  const BlockRef fetched = AddBlock(RandomBytes(50000, 141));
  auto cache = OpenCache();
  ASSERT_TRUE(cache->GetBlock(cached, BlockFormat::kV2, *store_).ok());
  const int ledger_fd = open((root_ + "/cache/.ledger").c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(ledger_fd, 0);
  ASSERT_EQ(flock(ledger_fd, LOCK_EX), 0);
  absl::Status prefetched = absl::UnknownError("not run");
  std::thread storing([&] { prefetched = cache->Prefetch(fetched, BlockFormat::kV2, *store_); });
  // The store writes its temp file just before it takes the ledger.
  const std::string sub = root_ + "/cache/" + HexEncode(fetched.id).substr(0, 2);
  auto temp_written = [&] {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(sub, ec)) {
      if (e.path().filename().string().starts_with(".tmp-")) return true;
    }
    return false;
  };
  for (int i = 0; i < 2500 && !temp_written(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const bool store_waiting = temp_written();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // for it to reach the lock
  auto hit = std::async(std::launch::async, [&] { return cache->GetBlock(cached, BlockFormat::kV2, *store_); });
  const bool hit_done = hit.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  flock(ledger_fd, LOCK_UN);
  storing.join();
  close(ledger_fd);
  EXPECT_TRUE(store_waiting);
  ASSERT_TRUE(hit_done) << "a hit waited for the ledger lock";
  auto got = hit.get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, plain);
  EXPECT_TRUE(prefetched.ok()) << prefetched;
  EXPECT_TRUE(cache->Contains(fetched.id));
  EXPECT_EQ(store_->gets, 2);
}

TEST_F(BlockCacheTest, EvictsLeastRecentlyUsedAboveLimit) {
  std::vector<BlockRef> refs;
  for (uint32_t i = 0; i < 4; ++i) refs.push_back(AddBlock(RandomBytes(100000, 10 + i)));
  auto cache = OpenCache(250000);  // room for two blocks (+ headers)
  ASSERT_TRUE(cache->GetBlock(refs[0], BlockFormat::kV2, *store_).ok());
  ASSERT_TRUE(cache->GetBlock(refs[1], BlockFormat::kV2, *store_).ok());
  ASSERT_TRUE(cache->GetBlock(refs[0], BlockFormat::kV2, *store_).ok());  // 0 is now newer than 1
  ASSERT_TRUE(cache->GetBlock(refs[2], BlockFormat::kV2, *store_).ok());  // evicts 1
  EXPECT_TRUE(cache->Contains(refs[0].id));
  EXPECT_FALSE(cache->Contains(refs[1].id));
  EXPECT_TRUE(cache->Contains(refs[2].id));
  EXPECT_FALSE(std::filesystem::exists(cache->PathFor(refs[1].id)));
  ASSERT_TRUE(cache->GetBlock(refs[3], BlockFormat::kV2, *store_).ok());  // evicts 0
  EXPECT_FALSE(cache->Contains(refs[0].id));
  const BlockCacheStats s = cache->stats();
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(s.cached_blocks, 2u);
  EXPECT_LE(s.cached_bytes, 250000u);
  EXPECT_EQ(store_->gets, 4);
  // An evicted block is fetched again.
  ASSERT_TRUE(cache->GetBlock(refs[1], BlockFormat::kV2, *store_).ok());
  EXPECT_EQ(store_->gets, 5);
}

TEST_F(BlockCacheTest, ReopenIndexesExistingBlocksAndDropsTempFiles) {
  const std::string plain = RandomBytes(50000, 3);
  const BlockRef ref = AddBlock(plain);
  {
    auto cache = OpenCache();
    ASSERT_TRUE(cache->GetBlock(ref, BlockFormat::kV2, *store_).ok());
  }
  const std::string hex = HexEncode(ref.id);
  const std::string temp = root_ + "/cache/" + hex.substr(0, 2) + "/.tmp-leftover";
  std::ofstream(temp) << "partial";
  auto cache = OpenCache();
  cache->WaitForIndex();  // the ledger has a total: existing blocks are indexed in the background
  EXPECT_TRUE(cache->Contains(ref.id));
  EXPECT_FALSE(std::filesystem::exists(temp));
  EXPECT_EQ(cache->stats().cached_blocks, 1u);
  auto got = cache->GetBlock(ref, BlockFormat::kV2, *store_);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, plain);
  EXPECT_EQ(store_->gets, 1);  // only the first process fetched
}

TEST_F(BlockCacheTest, ReopenEvictsDownToTheLimit) {
  std::vector<BlockRef> refs;
  {
    auto cache = OpenCache();
    for (uint32_t i = 0; i < 3; ++i) {
      refs.push_back(AddBlock(RandomBytes(100000, 20 + i)));
      ASSERT_TRUE(cache->GetBlock(refs.back(), BlockFormat::kV2, *store_).ok());
    }
  }
  auto cache = OpenCache(150000);
  cache->WaitForIndex();
  EXPECT_EQ(cache->stats().cached_blocks, 1u);
  EXPECT_EQ(cache->stats().evictions, 2u);
}

// Opening a cache whose ledger holds a total takes it and indexes the files
// off the caller's path; without a ledger the directory is counted at once.
TEST_F(BlockCacheTest, ReopenIndexesInTheBackgroundAndRecountsWithoutALedger) {
  std::vector<BlockRef> refs;
  {
    auto cache = OpenCache();
    for (uint32_t i = 0; i < 3; ++i) {
      refs.push_back(AddBlock(RandomBytes(20000, 70 + i)));
      ASSERT_TRUE(cache->GetBlock(refs.back(), BlockFormat::kV2, *store_).ok());
    }
  }
  const std::string cache_dir = root_ + "/cache";
  const uint64_t on_disk = BlockFileBytes(cache_dir);
  {
    auto cache = OpenCache();
    EXPECT_EQ(cache->stats().shared_bytes, on_disk);
    cache->WaitForIndex();
    EXPECT_EQ(cache->stats().cached_blocks, 3u);
    // Blocks are served from disk whether or not they were indexed yet.
    EXPECT_TRUE(cache->GetBlock(refs[0], BlockFormat::kV2, *store_).ok());
    EXPECT_EQ(store_->gets, 3);
  }
  // A ledger that lost its total (deleted) is rebuilt from the directory when opened.
  ASSERT_TRUE(std::filesystem::remove(cache_dir + "/.ledger"));
  auto cache = OpenCache();
  EXPECT_EQ(cache->stats().shared_bytes, on_disk);
  EXPECT_EQ(cache->stats().cached_blocks, 3u);
}

void SetLedgerTotal(const std::string& cache_dir, uint64_t value) {
  auto ledger = SharedLedger::Open(cache_dir + "/.ledger");
  ASSERT_TRUE(ledger.ok()) << ledger.status();
  ASSERT_TRUE((*ledger)->Update([&](uint64_t& total) { total = value; }).ok());
}

// A process killed inside a ledger update (after linking a block, before
// writing the total; or after evicting) leaves the total wrong. The walk that
// indexes the directory at the next Open corrects it.
TEST_F(BlockCacheTest, OpenCorrectsALedgerLeftWrongByACrash) {
  std::vector<BlockRef> refs;
  {
    auto cache = OpenCache();
    for (uint32_t i = 0; i < 3; ++i) {
      refs.push_back(AddBlock(RandomBytes(100000, 110 + i)));
      ASSERT_TRUE(cache->GetBlock(refs.back(), BlockFormat::kV2, *store_).ok());
    }
  }
  const std::string cache_dir = root_ + "/cache";
  const uint64_t on_disk = BlockFileBytes(cache_dir);
  ASSERT_EQ(on_disk, 3 * 100048u);

  // Too high: the limit fits the directory, so nothing may be evicted.
  SetLedgerTotal(cache_dir, on_disk + 100048);
  {
    auto cache = OpenCache(on_disk);
    cache->WaitForIndex();
    EXPECT_EQ(cache->stats().shared_bytes, on_disk);
    EXPECT_EQ(cache->stats().evictions, 0u);
    EXPECT_EQ(SharedLedger::ReadFile(cache_dir + "/.ledger").value(), on_disk);
  }

  // Too low: the directory is over the limit, which only a corrected total shows.
  SetLedgerTotal(cache_dir, on_disk - 100048);
  auto cache = OpenCache(250000);
  cache->WaitForIndex();
  EXPECT_EQ(cache->stats().evictions, 1u);
  EXPECT_EQ(BlockFileBytes(cache_dir), 2 * 100048u);
  EXPECT_EQ(cache->stats().shared_bytes, BlockFileBytes(cache_dir));
}

// Blocks stored by another instance while an Open walks the directory are not
// lost from the total by that Open's correction.
TEST_F(BlockCacheTest, OpenDoesNotLoseStoresMadeWhileItCounts) {
  const std::string cache_dir = root_ + "/cache";
  // Many files, so that the walk takes long enough for stores to land in it.
  for (int i = 0; i < 2000; ++i) {
    char name[65];
    std::snprintf(name, sizeof name, "%02x%062x", i % 256, i);
    std::filesystem::create_directories(cache_dir + "/" + std::string(name, 2));
    std::ofstream(cache_dir + "/" + std::string(name, 2) + "/" + name) << std::string(100, 'x');
  }
  std::vector<BlockRef> refs;
  for (uint32_t i = 0; i < 60; ++i) refs.push_back(AddBlock(RandomBytes(5000, 200 + i)));
  auto writer = OpenCache();  // no ledger yet: counts the directory
  // The ledger against the disk, both under the ledger lock (no store halfway).
  auto ledger_matches_disk = [&] {
    uint64_t total_seen = 0, on_disk = 0;
    EXPECT_TRUE(SharedLedger::Open(cache_dir + "/.ledger").value()->Update([&](uint64_t& total) {
      total_seen = total;
      on_disk = BlockFileBytes(cache_dir);
    }).ok());
    return total_seen == on_disk;
  };
  ASSERT_TRUE(ledger_matches_disk());
  std::atomic<bool> done{false};
  std::thread storing([&] {
    for (const BlockRef& ref : refs) {
      if (!writer->GetBlock(ref, BlockFormat::kV2, *store_).ok()) ADD_FAILURE() << "block not served";
    }
    done = true;
  });
  int opens = 0;
  bool matched = true;
  while (matched && (!done || opens == 0)) {
    auto cache = OpenCache();
    cache->WaitForIndex();
    ++opens;
    matched = ledger_matches_disk();
  }
  storing.join();
  EXPECT_TRUE(matched) << "after open " << opens;
  EXPECT_TRUE(ledger_matches_disk());
}

TEST_F(BlockCacheTest, LedgerCountsUpdatesOfEveryInstance) {
  const std::string path = root_ + "/ledger";
  auto one = SharedLedger::Open(path);
  auto two = SharedLedger::Open(path);
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_TRUE((*one)->fresh());
  ASSERT_TRUE((*one)->Update([](uint64_t& total) { total += 10; }).ok());
  ASSERT_TRUE((*two)->Update([](uint64_t&) {}).ok());  // an update that kept the total still counts
  uint64_t seen = 99;
  ASSERT_TRUE((*two)->Update([&](uint64_t& total, uint64_t updates) {
                    seen = updates;
                    total += 5;
                  }).ok());
  EXPECT_EQ(seen, 2u);
  auto state = (*one)->ReadState();
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->total, 15u);
  EXPECT_EQ(state->updates, 3u);
  EXPECT_EQ(SharedLedger::ReadFile(path).value(), 15u);
  EXPECT_FALSE(SharedLedger::Open(path).value()->fresh());
}

void SetFileTimes(const std::string& path, std::chrono::seconds ago) {
  const struct timespec t {std::time(nullptr) - ago.count(), 0};
  const struct timespec times[2] = {t, t};
  ASSERT_EQ(utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path << ": " << strerror(errno);
}

// Two flist-mount processes on one cache, both opened after its blocks were
// stored: one of them keeps reading block 0, the other stores a block that
// takes the cache over its limit. In the storing instance's own order block 0
// is the oldest, but it is the one in use; the cold block 1 must go instead.
TEST_F(BlockCacheTest, EvictionSparesABlockAnotherInstanceKeepsUsing) {
  std::vector<BlockRef> refs;
  for (uint32_t i = 0; i < 4; ++i) refs.push_back(AddBlock(RandomBytes(100000, 120 + i)));
  {
    auto cache = OpenCache();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(cache->GetBlock(refs[i], BlockFormat::kV2, *store_).ok());
  }
  auto path = [&](int i) { return root_ + "/cache/" + HexEncode(refs[i].id).substr(0, 2) + "/" + HexEncode(refs[i].id); };
  SetFileTimes(path(0), std::chrono::hours(3));
  SetFileTimes(path(1), std::chrono::hours(2));
  SetFileTimes(path(2), std::chrono::hours(1));
  constexpr uint64_t kLimit = 350000;  // three blocks with their headers
  auto storing = OpenCache(kLimit);
  auto reading = OpenCache(kLimit);
  storing->WaitForIndex();
  reading->WaitForIndex();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(reading->GetBlock(refs[0], BlockFormat::kV2, *store_).ok());
  EXPECT_EQ(store_->gets, 3);

  ASSERT_TRUE(storing->GetBlock(refs[3], BlockFormat::kV2, *store_).ok());
  EXPECT_TRUE(std::filesystem::exists(path(0)));
  EXPECT_FALSE(std::filesystem::exists(path(1)));
  EXPECT_TRUE(std::filesystem::exists(path(2)));
  EXPECT_TRUE(std::filesystem::exists(path(3)));
  EXPECT_EQ(storing->stats().evictions, 1u);
  EXPECT_TRUE(storing->Contains(refs[0].id));
  EXPECT_LE(BlockFileBytes(root_ + "/cache"), kLimit);
  EXPECT_EQ(storing->stats().shared_bytes, BlockFileBytes(root_ + "/cache"));
  // The reader still hits it.
  ASSERT_TRUE(reading->GetBlock(refs[0], BlockFormat::kV2, *store_).ok());
  EXPECT_EQ(store_->gets, 4);
}

// An entry another process used goes back in line at the time it was used,
// not ahead of what this process used after that.
TEST_F(BlockCacheTest, ABlockUsedElsewhereIsRequeuedAtThatTime) {
  std::vector<BlockRef> refs;
  for (uint32_t i = 0; i < 5; ++i) refs.push_back(AddBlock(RandomBytes(100000, 130 + i)));
  {
    auto cache = OpenCache();
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(cache->GetBlock(refs[i], BlockFormat::kV2, *store_).ok());
  }
  auto path = [&](int i) { return root_ + "/cache/" + HexEncode(refs[i].id).substr(0, 2) + "/" + HexEncode(refs[i].id); };
  SetFileTimes(path(0), std::chrono::hours(3));
  SetFileTimes(path(1), std::chrono::hours(2));
  auto cache = OpenCache(350000);  // three blocks with their headers
  cache->WaitForIndex();
  ASSERT_TRUE(cache->GetBlock(refs[2], BlockFormat::kV2, *store_).ok());
  // As if another process had read block 0 after this one opened (when block
  // 0 was 3 h old) but before this one stored block 2.
  SetFileTimes(path(0), std::chrono::minutes(30));
  ASSERT_TRUE(cache->GetBlock(refs[3], BlockFormat::kV2, *store_).ok());  // requeues 0, evicts 1
  EXPECT_TRUE(std::filesystem::exists(path(0)));
  EXPECT_FALSE(std::filesystem::exists(path(1)));
  ASSERT_TRUE(cache->GetBlock(refs[4], BlockFormat::kV2, *store_).ok());  // 0 is older than 2 and 3
  EXPECT_FALSE(std::filesystem::exists(path(0)));
  EXPECT_TRUE(std::filesystem::exists(path(2)));
  EXPECT_TRUE(std::filesystem::exists(path(3)));
  EXPECT_EQ(cache->stats().evictions, 2u);
}

// A full cache disk: blocks are still served (from the fetch), counted as not stored, and the
// warning comes once, not once per block.
TEST_F(BlockCacheTest, FullCacheDiskStillServesAndWarnsOnce) {
  const std::string cache_dir = root_ + "/cache";
  std::filesystem::create_directories(cache_dir);
  ASSERT_EQ(mount("tmpfs", cache_dir.c_str(), "tmpfs", 0, "size=64k"), 0) << strerror(errno);
  std::vector<std::pair<BlockRef, std::string>> blocks;
  for (int i = 0; i < 4; ++i) {
    std::string plain = RandomBytes(200000, 40 + i);
    blocks.emplace_back(AddBlock(plain), plain);
  }
  {
    auto cache = OpenCache();
    ASSERT_NE(cache, nullptr);
    ::testing::internal::CaptureStderr();
    for (const auto& [ref, plain] : blocks) {
      auto got = cache->GetBlock(ref, BlockFormat::kV2, *store_);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_TRUE(*got == plain);
    }
    const std::string logged = ::testing::internal::GetCapturedStderr();
    EXPECT_EQ(cache->stats().write_errors, 4u);
    const std::string warning = "block cache: cannot store block ";
    EXPECT_NE(logged.find(warning), std::string::npos) << logged;
    EXPECT_EQ(logged.find(warning), logged.rfind(warning)) << logged;
    EXPECT_NE(logged.find("No space left on device"), std::string::npos) << logged;
  }
  umount2(cache_dir.c_str(), MNT_DETACH);
}

TEST_F(BlockCacheTest, CorruptStoreBlockIsAnErrorAndNotCached) {
  const std::string plain = RandomBytes(10000, 4);
  auto enc = EncodeBlock(BlockFormat::kV2, plain);
  ASSERT_TRUE(enc.ok());
  std::string bad = enc->data;
  bad[bad.size() / 2] ^= 0x5a;
  ASSERT_TRUE(dir_store_->Put(enc->id, bad).ok());
  auto cache = OpenCache();
  auto got = cache->GetBlock(BlockRef{enc->id, enc->key}, BlockFormat::kV2, *store_);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
  EXPECT_FALSE(cache->Contains(enc->id));
  EXPECT_EQ(cache->stats().fetch_errors, 1u);
}

TEST_F(BlockCacheTest, SlowStoreFailureIsRepeatedBrieflyWithoutAnotherFetch) {
  const std::string plain = RandomBytes(10000, 8);
  const BlockRef ref = AddBlock(plain);
  auto cache = OpenCache(0, std::chrono::milliseconds(400));
  store_->failure = absl::StatusCode::kDeadlineExceeded;
  EXPECT_TRUE(absl::IsDeadlineExceeded(cache->GetBlock(ref, BlockFormat::kV2, *store_).status()));
  ASSERT_EQ(store_->gets, 1);
  // The store answers again, but the kernel's retry right after a failed read gets the failure.
  store_->failure = absl::StatusCode::kOk;
  auto again = cache->GetBlock(ref, BlockFormat::kV2, *store_);
  EXPECT_TRUE(absl::IsDeadlineExceeded(again.status())) << again.status();
  EXPECT_EQ(store_->gets, 1);
  EXPECT_EQ(cache->stats().slow_failures_repeated, 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(450));
  auto later = cache->GetBlock(ref, BlockFormat::kV2, *store_);
  ASSERT_TRUE(later.ok()) << later.status();
  EXPECT_EQ(*later, plain);
  EXPECT_EQ(store_->gets, 2);
}

TEST_F(BlockCacheTest, FastStoreFailuresAreAskedAgain) {
  const BlockRef ref = AddBlock(RandomBytes(10000, 9));
  auto cache = OpenCache();
  store_->failure = absl::StatusCode::kUnavailable;  // refused at once: asking again costs nothing
  EXPECT_TRUE(absl::IsUnavailable(cache->GetBlock(ref, BlockFormat::kV2, *store_).status()));
  EXPECT_TRUE(absl::IsUnavailable(cache->GetBlock(ref, BlockFormat::kV2, *store_).status()));
  EXPECT_EQ(store_->gets, 2);
  store_->failure = absl::StatusCode::kOk;
  EXPECT_TRUE(cache->GetBlock(ref, BlockFormat::kV2, *store_).ok());
  EXPECT_EQ(cache->stats().slow_failures_repeated, 0u);
}

TEST_F(BlockCacheTest, LedgerReadsFromOutsideWithoutCreatingIt) {
  const std::string ledger = root_ + "/cache/.ledger";
  auto none = SharedLedger::ReadFile(ledger);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(*none, 0u);
  EXPECT_FALSE(std::filesystem::exists(ledger));
  auto cache = OpenCache();
  ASSERT_TRUE(cache->GetBlock(AddBlock(RandomBytes(30000, 10)), BlockFormat::kV2, *store_).ok());
  auto total = SharedLedger::ReadFile(ledger);
  ASSERT_TRUE(total.ok()) << total.status();
  EXPECT_EQ(*total, cache->stats().shared_bytes);
  EXPECT_EQ(*total, BlockFileBytes(root_ + "/cache"));
}

TEST_F(BlockCacheTest, MissingBlockIsNotFound) {
  auto enc = EncodeBlock(BlockFormat::kV2, "never stored");
  ASSERT_TRUE(enc.ok());
  auto cache = OpenCache();
  auto got = cache->GetBlock(BlockRef{enc->id, enc->key}, BlockFormat::kV2, *store_);
  EXPECT_TRUE(absl::IsNotFound(got.status())) << got.status();
}

TEST_F(BlockCacheTest, WrongKeyNeverGetsCachedPlaintext) {
  const std::string plain = RandomBytes(20000, 5);
  const BlockRef ref = AddBlock(plain);
  auto cache = OpenCache();
  ASSERT_TRUE(cache->GetBlock(ref, BlockFormat::kV2, *store_).ok());
  BlockRef wrong = ref;
  wrong.key[0] ^= 1;
  auto got = cache->GetBlock(wrong, BlockFormat::kV2, *store_);
  EXPECT_FALSE(got.ok());
  // The right key still hits.
  EXPECT_TRUE(cache->GetBlock(ref, BlockFormat::kV2, *store_).ok());
}

TEST_F(BlockCacheTest, TruncatedCacheFileIsRefetched) {
  const std::string plain = RandomBytes(40000, 6);
  const BlockRef ref = AddBlock(plain);
  auto cache = OpenCache();
  ASSERT_TRUE(cache->GetBlock(ref, BlockFormat::kV2, *store_).ok());
  ASSERT_EQ(truncate(cache->PathFor(ref.id).c_str(), 1000), 0);
  auto got = cache->GetBlock(ref, BlockFormat::kV2, *store_);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, plain);
  EXPECT_EQ(store_->gets, 2);
  EXPECT_EQ(std::filesystem::file_size(cache->PathFor(ref.id)), 48 + plain.size());
}

TEST_F(BlockCacheTest, VerifyHitsCatchesBitRot) {
  const std::string plain = RandomBytes(40000, 7);
  const BlockRef ref = AddBlock(plain);
  BlockCacheOptions o;
  o.dir = root_ + "/cache";
  o.verify_hits = true;
  auto cache = BlockCache::Open(o);
  ASSERT_TRUE(cache.ok());
  ASSERT_TRUE((*cache)->GetBlock(ref, BlockFormat::kV2, *store_).ok());
  {
    std::fstream f((*cache)->PathFor(ref.id), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(48 + 100);
    f.put('\x7f' ^ plain[100]);
  }
  auto got = (*cache)->GetBlock(ref, BlockFormat::kV2, *store_);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, plain);
  EXPECT_EQ(store_->gets, 2);
}


// Two flist-mount processes share one cache dir; each alone stays under the
// limit, together they would not: the limit must hold for the directory.
TEST_F(BlockCacheTest, TwoInstancesOnOneDirShareTheLimit) {
  std::vector<BlockRef> refs;
  for (uint32_t i = 0; i < 6; ++i) refs.push_back(AddBlock(RandomBytes(100000, 40 + i)));
  constexpr uint64_t kLimit = 350000;  // three blocks with their headers
  auto first = OpenCache(kLimit);
  auto second = OpenCache(kLimit);
  ASSERT_TRUE(first && second);
  ASSERT_TRUE(first->GetBlock(refs[0], BlockFormat::kV2, *store_).ok());
  ASSERT_TRUE(first->GetBlock(refs[1], BlockFormat::kV2, *store_).ok());
  ASSERT_TRUE(second->GetBlock(refs[2], BlockFormat::kV2, *store_).ok());
  EXPECT_EQ(BlockFileBytes(root_ + "/cache"), 3 * 100048u);
  EXPECT_EQ(first->stats().evictions + second->stats().evictions, 0u);
  // Each instance alone holds at most 2 blocks, but the directory would hold 5.
  ASSERT_TRUE(second->GetBlock(refs[3], BlockFormat::kV2, *store_).ok());
  ASSERT_TRUE(first->GetBlock(refs[4], BlockFormat::kV2, *store_).ok());
  EXPECT_LE(BlockFileBytes(root_ + "/cache"), kLimit);
  EXPECT_EQ(first->stats().shared_bytes, BlockFileBytes(root_ + "/cache"));
  EXPECT_EQ(second->stats().shared_bytes, BlockFileBytes(root_ + "/cache"));
  EXPECT_GE(first->stats().evictions + second->stats().evictions, 2u);
  // The newest blocks of both instances survive; the oldest (first's block 0) went.
  EXPECT_TRUE(std::filesystem::exists(first->PathFor(refs[4].id)));
  EXPECT_TRUE(std::filesystem::exists(second->PathFor(refs[3].id)));
  EXPECT_FALSE(std::filesystem::exists(first->PathFor(refs[0].id)));
  // A block the other instance evicted is fetched again, correctly.
  const int gets = store_->gets;
  for (int i = 0; i < 5; ++i) {
    auto got = second->GetBlock(refs[i], BlockFormat::kV2, *store_);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, RandomBytes(100000, 40 + i));
    EXPECT_LE(BlockFileBytes(root_ + "/cache"), kLimit);
  }
  EXPECT_GT(store_->gets, gets);
  EXPECT_EQ(second->stats().shared_bytes, BlockFileBytes(root_ + "/cache"));
}

// Many threads of two instances storing at once never leave the directory above the limit
// once they are done, and the ledger agrees with the disk.
TEST_F(BlockCacheTest, ConcurrentInstancesKeepTheLedgerExact) {
  std::vector<BlockRef> refs;
  for (uint32_t i = 0; i < 24; ++i) refs.push_back(AddBlock(RandomBytes(50000, 60 + i)));
  constexpr uint64_t kLimit = 400000;
  auto a = OpenCache(kLimit);
  auto b = OpenCache(kLimit);
  ASSERT_TRUE(a && b);
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  int wanted = 0;
  for (int t = 0; t < 4; ++t) {
    for (size_t i = static_cast<size_t>(t); i < refs.size(); i += 2) ++wanted;
    threads.emplace_back([&, t] {
      BlockCache& cache = t % 2 == 0 ? *a : *b;
      for (size_t i = static_cast<size_t>(t); i < refs.size(); i += 2) {
        auto got = cache.GetBlock(refs[i], BlockFormat::kV2, *store_);
        if (got.ok()) ++good;
        else ADD_FAILURE() << got.status();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good, wanted);
  const uint64_t on_disk = BlockFileBytes(root_ + "/cache");
  EXPECT_LE(on_disk, kLimit);
  EXPECT_EQ(a->stats().shared_bytes, on_disk);
  // A new instance recounts from disk and agrees.
  auto c = OpenCache(kLimit);
  EXPECT_EQ(c->stats().shared_bytes, on_disk);
}

TEST(LruIndexTest, OrdersByUseAndKeepsTheNamedEntry) {
  LruIndex lru;
  lru.Insert("a", 10, 100);
  lru.Insert("b", 10, 100);
  lru.Insert("c", 10, 300);
  EXPECT_TRUE(lru.Touch("a", 300));  // same time as c, but later
  EXPECT_FALSE(lru.Touch("zz", 400));
  auto evicted = lru.EvictTo(15, "b");
  EXPECT_EQ(evicted, (std::vector<std::string>{"c", "a"}));
  EXPECT_EQ(lru.bytes(), 10u);
  EXPECT_TRUE(lru.Contains("b"));
}

TEST(LruIndexTest, OrdersByTimeNotByInsertion) {
  LruIndex lru;
  lru.Insert("new", 1, 500);
  lru.Insert("old", 2, 100);
  lru.Insert("middle", 3, 300);
  std::string name;
  uint64_t bytes = 0;
  int64_t used = 0;
  ASSERT_TRUE(lru.PopOldest("", &name, &bytes, &used));
  EXPECT_EQ(name, "old");
  EXPECT_EQ(bytes, 2u);
  EXPECT_EQ(used, 100);
  lru.Insert("old", 2, 400);  // requeued at the time it was used
  ASSERT_TRUE(lru.PopOldest("", &name, &bytes, &used));
  EXPECT_EQ(name, "middle");
  ASSERT_TRUE(lru.PopOldest("", &name, &bytes, &used));
  EXPECT_EQ(name, "old");
  EXPECT_EQ(used, 400);
  EXPECT_EQ(lru.size(), 1u);
  EXPECT_EQ(lru.bytes(), 1u);
}

}  // namespace
}  // namespace flint::flist
