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

  // Segments of one record each by default, so that eviction picks single
  // blocks; the tests of segments themselves ask for larger ones.
  std::unique_ptr<BlockCache> OpenCache(uint64_t max_bytes = 0,
                                        std::chrono::milliseconds slow_failure_memory = std::chrono::seconds(5),
                                        uint64_t segment_bytes = 1) {
    BlockCacheOptions o;
    o.dir = root_ + "/cache";
    o.max_bytes = max_bytes;
    o.slow_failure_memory = slow_failure_memory;
    o.segment_bytes = segment_bytes;
    auto c = BlockCache::Open(o);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *std::move(c) : nullptr;
  }

  // The segment file a block's pointer names ("" without a pointer).
  std::string SegmentOf(const BlockRef& ref) {
    const std::string hex = HexEncode(ref.id);
    std::error_code ec;
    const std::string target =
        std::filesystem::read_symlink(root_ + "/cache/" + hex.substr(0, 2) + "/" + hex, ec).string();
    if (ec) return "";
    return root_ + "/cache/segments/" + target.substr(0, target.rfind(':'));
  }

  std::string root_;
  std::unique_ptr<DirStore> dir_store_;
  std::unique_ptr<CountingStore> store_;
};

// What the segment files of the cache at `dir` take.
uint64_t BlockFileBytes(const std::string& dir) {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/segments", ec)) {
    if (!e.is_symlink() && e.is_regular_file()) total += e.file_size();
  }
  return total;
}

// A record's size in its segment: header (56 bytes and the id), then the plaintext.
uint64_t RecordBytes(const BlockRef& ref, size_t plain_size) { return 56 + ref.id.size() + plain_size; }

bool IsPointer(const std::string& path) { return std::filesystem::is_symlink(path); }

TEST_F(BlockCacheTest, MissFetchesOnceThenHitsFromDisk) {
  const std::string plain = RandomBytes(300000, 1);
  const BlockRef ref = AddBlock(plain);
  auto cache = OpenCache();
  auto got = cache->GetBlock(ref, BlockFormat::kV2, *store_);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, plain);
  EXPECT_EQ(store_->gets, 1);
  const std::string hex = HexEncode(ref.id);
  EXPECT_TRUE(IsPointer(root_ + "/cache/" + hex.substr(0, 2) + "/" + hex));
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
  // Holding the ledger lock stalls the fetching thread where it appends the
  // block to its segment, i.e. after the fetch and before the block is on disk.
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
  const bool on_disk_before_unlock = IsPointer(block_file);
  unlock();
  leader.join();
  close(ledger_fd);
  ASSERT_TRUE(waiter_done) << "a waiter blocked until the block was written to disk";
  EXPECT_EQ(waiter.get(), plain.substr(1000, 64));
  EXPECT_FALSE(on_disk_before_unlock);
  EXPECT_TRUE(prefetched.ok()) << prefetched;
  EXPECT_EQ(store_->gets, 1);
  EXPECT_TRUE(IsPointer(block_file));
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
  // The store takes the ledger right after the fetch.
  for (int i = 0; i < 2500 && store_->gets < 2; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const bool store_waiting = store_->gets == 2;
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // for it to reach the lock
  auto hit = std::async(std::launch::async, [&] { return cache->GetBlock(cached, BlockFormat::kV2, *store_); });
  const bool hit_done = hit.wait_for(std::chrono::seconds(5)) == std::future_status::ready;
  const bool stored_before_unlock = IsPointer(cache->PathFor(fetched.id));
  flock(ledger_fd, LOCK_UN);
  storing.join();
  close(ledger_fd);
  EXPECT_TRUE(store_waiting);
  EXPECT_FALSE(stored_before_unlock) << "stored without the ledger";
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
  EXPECT_FALSE(IsPointer(cache->PathFor(refs[1].id)));
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

// Files of the per-block layout of earlier versions (block files, their temp
// files) are not part of the total and go when a cache is indexed.
TEST_F(BlockCacheTest, ReopenIndexesExistingBlocksAndDropsLegacyFiles) {
  const std::string plain = RandomBytes(50000, 3);
  const BlockRef ref = AddBlock(plain);
  {
    auto cache = OpenCache();
    ASSERT_TRUE(cache->GetBlock(ref, BlockFormat::kV2, *store_).ok());
  }
  const std::string hex = HexEncode(ref.id);
  const std::string temp = root_ + "/cache/" + hex.substr(0, 2) + "/.tmp-leftover";
  std::ofstream(temp) << "partial";
  const std::string legacy_block = root_ + "/cache/" + hex.substr(0, 2) + "/" + std::string(64, 'a');
  std::ofstream(legacy_block) << "a block file of the per-block layout";
  auto cache = OpenCache();
  cache->WaitForIndex();  // the ledger has a total: existing blocks are indexed in the background
  EXPECT_TRUE(cache->Contains(ref.id));
  EXPECT_FALSE(std::filesystem::exists(temp));
  EXPECT_FALSE(std::filesystem::exists(legacy_block));
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
  const uint64_t record = RecordBytes(refs[0], 100000);
  ASSERT_EQ(on_disk, 3 * record);

  // Too high: the limit fits the directory, so nothing may be evicted.
  SetLedgerTotal(cache_dir, on_disk + record);
  {
    auto cache = OpenCache(on_disk);
    cache->WaitForIndex();
    EXPECT_EQ(cache->stats().shared_bytes, on_disk);
    EXPECT_EQ(cache->stats().evictions, 0u);
    EXPECT_EQ(SharedLedger::ReadFile(cache_dir + "/.ledger").value(), on_disk);
  }

  // Too low: the directory is over the limit, which only a corrected total shows.
  SetLedgerTotal(cache_dir, on_disk - record);
  auto cache = OpenCache(250000);
  cache->WaitForIndex();
  EXPECT_EQ(cache->stats().evictions, 1u);
  EXPECT_EQ(BlockFileBytes(cache_dir), 2 * record);
  EXPECT_EQ(cache->stats().shared_bytes, BlockFileBytes(cache_dir));
}

// Blocks stored by another instance while an Open walks the directory are not
// lost from the total by that Open's correction.
TEST_F(BlockCacheTest, OpenDoesNotLoseStoresMadeWhileItCounts) {
  const std::string cache_dir = root_ + "/cache";
  // Many segments, so that the walk takes long enough for stores to land in it.
  std::filesystem::create_directories(cache_dir + "/segments");
  for (int i = 0; i < 2000; ++i) {
    std::ofstream(cache_dir + "/segments/1-1-" + std::to_string(i) + ".seg") << std::string(100, 'x');
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
  std::vector<std::string> segments;
  for (int i = 0; i < 3; ++i) segments.push_back(SegmentOf(refs[i]));
  auto path = [&](int i) { return segments[static_cast<size_t>(i)]; };
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
  EXPECT_FALSE(IsPointer(storing->PathFor(refs[1].id)));
  EXPECT_TRUE(std::filesystem::exists(path(2)));
  EXPECT_TRUE(std::filesystem::exists(SegmentOf(refs[3])));
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
  std::vector<std::string> segments;
  for (int i = 0; i < 2; ++i) segments.push_back(SegmentOf(refs[i]));
  SetFileTimes(segments[0], std::chrono::hours(3));
  SetFileTimes(segments[1], std::chrono::hours(2));
  auto cache = OpenCache(350000);  // three blocks with their headers
  cache->WaitForIndex();
  ASSERT_TRUE(cache->GetBlock(refs[2], BlockFormat::kV2, *store_).ok());
  segments.push_back(SegmentOf(refs[2]));
  auto path = [&](int i) { return segments[static_cast<size_t>(i)]; };
  // As if another process had read block 0 after this one opened (when block
  // 0 was 3 h old) but before this one stored block 2.
  SetFileTimes(path(0), std::chrono::minutes(30));
  ASSERT_TRUE(cache->GetBlock(refs[3], BlockFormat::kV2, *store_).ok());  // requeues 0, evicts 1
  segments.push_back(SegmentOf(refs[3]));
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
    // Failed writes leave neither partial records nor empty segments, and the ledger agrees.
    for (const auto& e : std::filesystem::directory_iterator(cache_dir + "/segments")) {
      EXPECT_GT(e.file_size(), 0u) << e.path();
    }
    EXPECT_EQ(cache->stats().shared_bytes, BlockFileBytes(cache_dir));
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
  const std::string first_segment = SegmentOf(ref);
  ASSERT_EQ(truncate(first_segment.c_str(), 1000), 0);
  auto got = cache->GetBlock(ref, BlockFormat::kV2, *store_);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, plain);
  EXPECT_EQ(store_->gets, 2);
  // Stored again, whole, in a new segment.
  EXPECT_NE(SegmentOf(ref), first_segment);
  EXPECT_EQ(std::filesystem::file_size(SegmentOf(ref)), RecordBytes(ref, plain.size()));
  EXPECT_TRUE(cache->GetBlock(ref, BlockFormat::kV2, *store_).ok());
  EXPECT_EQ(store_->gets, 2);
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
    auto where = (*cache)->Locate(ref);
    ASSERT_TRUE(where.ok()) << where.status();
    std::fstream f(where->segment_path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(where->plain_offset + 100));
    f.put('\x7f' ^ plain[100]);
  }
  auto got = (*cache)->GetBlock(ref, BlockFormat::kV2, *store_);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, plain);
  EXPECT_EQ(store_->gets, 2);
}


// Blocks fetched one after another are records side by side in one segment:
// a warm sequential read of them is one file read front to back.
TEST_F(BlockCacheTest, BlocksStoredInOrderSitSideBySideInOneSegment) {
  std::vector<BlockRef> refs;
  for (uint32_t i = 0; i < 5; ++i) refs.push_back(AddBlock(RandomBytes(30000 + i, 300 + i)));
  auto cache = OpenCache(0, std::chrono::seconds(5), /*segment_bytes=*/64 << 20);
  for (const BlockRef& ref : refs) ASSERT_TRUE(cache->GetBlock(ref, BlockFormat::kV2, *store_).ok());
  uint64_t next = 0;
  std::string segment;
  for (uint32_t i = 0; i < refs.size(); ++i) {
    auto where = cache->Locate(refs[i]);
    ASSERT_TRUE(where.ok()) << where.status();
    if (i == 0) segment = where->segment_path;
    EXPECT_EQ(where->segment_path, segment);
    EXPECT_EQ(where->record_offset, next);
    EXPECT_EQ(where->length, 30000u + i);
    next = where->plain_offset + where->length;
    EXPECT_EQ(next, where->record_offset + RecordBytes(refs[i], 30000 + i));
  }
  EXPECT_EQ(std::filesystem::file_size(segment), next);
  EXPECT_EQ(cache->stats().shared_bytes, next);
  EXPECT_EQ(cache->stats().cached_blocks, 5u);
  // Ranges for zero-copy replies point into the segment.
  auto range = cache->OpenCachedRange(refs[2], 100, 50);
  ASSERT_TRUE(range.ok()) << range.status();
  char buf[50];
  ASSERT_EQ(pread(range->fd, buf, sizeof buf, static_cast<off_t>(range->file_offset)), 50);
  close(range->fd);
  EXPECT_EQ(std::string(buf, 50), RandomBytes(30002, 302).substr(100, 50));
}

// Eviction takes a whole segment: every block in it, pointers included.
TEST_F(BlockCacheTest, ASegmentIsEvictedWholeWithItsPointers) {
  std::vector<BlockRef> refs;
  for (uint32_t i = 0; i < 20; ++i) refs.push_back(AddBlock(RandomBytes(50000, 320 + i)));
  // Segments of at most an eighth of the limit: two records each.
  auto cache = OpenCache(1000000, std::chrono::seconds(5), /*segment_bytes=*/64 << 20);
  for (const BlockRef& ref : refs) ASSERT_TRUE(cache->GetBlock(ref, BlockFormat::kV2, *store_).ok());
  EXPECT_EQ(SegmentOf(refs[0]), "");
  EXPECT_FALSE(cache->Contains(refs[0].id));
  EXPECT_FALSE(cache->Contains(refs[1].id));
  EXPECT_TRUE(cache->Contains(refs[2].id));
  EXPECT_EQ(SegmentOf(refs[2]), SegmentOf(refs[3]));
  EXPECT_NE(SegmentOf(refs[3]), SegmentOf(refs[4]));
  EXPECT_EQ(cache->stats().evictions, 1u);
  EXPECT_EQ(cache->stats().cached_blocks, 18u);
  const uint64_t on_disk = BlockFileBytes(root_ + "/cache");
  EXPECT_EQ(on_disk, 18 * RecordBytes(refs[0], 50000));
  EXPECT_EQ(cache->stats().shared_bytes, on_disk);
  auto again = cache->GetBlock(refs[1], BlockFormat::kV2, *store_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, RandomBytes(50000, 321));
  EXPECT_EQ(store_->gets, 21);
}

// A process appending to a segment that another process evicted starts a new
// one; nothing it stores afterwards is lost and the ledger stays exact.
TEST_F(BlockCacheTest, AWriterWhoseSegmentWasEvictedStartsANewOne) {
  std::vector<BlockRef> refs;
  for (uint32_t i = 0; i < 22; ++i) refs.push_back(AddBlock(RandomBytes(20000, 340 + i)));
  constexpr uint64_t kLimit = 400000;  // segments of up to 50000 bytes: two records
  auto writer = OpenCache(kLimit, std::chrono::seconds(5), 64 << 20);
  ASSERT_TRUE(writer->GetBlock(refs[0], BlockFormat::kV2, *store_).ok());
  const std::string open_segment = SegmentOf(refs[0]);
  SetFileTimes(open_segment, std::chrono::hours(1));  // the oldest there will be
  auto other = OpenCache(kLimit, std::chrono::seconds(5), 64 << 20);
  other->WaitForIndex();
  for (int i = 1; i <= 20; ++i) ASSERT_TRUE(other->GetBlock(refs[i], BlockFormat::kV2, *store_).ok());
  ASSERT_FALSE(std::filesystem::exists(open_segment)) << "the other instance was to evict the writer's segment";
  EXPECT_FALSE(writer->Contains(refs[0].id));
  ASSERT_TRUE(writer->GetBlock(refs[21], BlockFormat::kV2, *store_).ok());
  EXPECT_NE(SegmentOf(refs[21]), "");
  EXPECT_NE(SegmentOf(refs[21]), open_segment);
  const int gets = store_->gets;
  auto hit = other->GetBlock(refs[21], BlockFormat::kV2, *store_);
  ASSERT_TRUE(hit.ok()) << hit.status();
  EXPECT_EQ(*hit, RandomBytes(20000, 361));
  EXPECT_EQ(store_->gets, gets);
  EXPECT_LE(BlockFileBytes(root_ + "/cache"), kLimit);
  EXPECT_EQ(writer->stats().shared_bytes, BlockFileBytes(root_ + "/cache"));
}

// Whether this process has `path` open (as a deleted file, once it is removed).
bool ProcessHoldsOpen(const std::string& path) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code link_ec;
    const std::string target = std::filesystem::read_symlink(e.path(), link_ec).string();
    if (!link_ec && target.starts_with(path)) return true;
  }
  return false;
}

// Descriptors kept for readahead must not keep a segment another process
// evicted on disk, where it would take space the ledger no longer counts.
TEST_F(BlockCacheTest, ASegmentEvictedElsewhereIsNotKeptOpen) {
  std::vector<BlockRef> refs;
  for (uint32_t i = 0; i < 4; ++i) refs.push_back(AddBlock(RandomBytes(100000, 380 + i)));
  constexpr uint64_t kLimit = 350000;  // three blocks with their headers
  auto reader = OpenCache(kLimit);
  ASSERT_TRUE(reader->GetBlock(refs[0], BlockFormat::kV2, *store_).ok());
  const std::string segment = SegmentOf(refs[0]);
  ASSERT_TRUE(reader->GetBlock(refs[0], BlockFormat::kV2, *store_).ok());  // a hit: its segment is kept open
  ASSERT_TRUE(ProcessHoldsOpen(segment));
  SetFileTimes(segment, std::chrono::hours(1));
  auto evicting = OpenCache(kLimit);
  evicting->WaitForIndex();
  for (int i = 1; i < 4; ++i) ASSERT_TRUE(evicting->GetBlock(refs[i], BlockFormat::kV2, *store_).ok());
  ASSERT_FALSE(std::filesystem::exists(segment));
  bool held = true;
  for (int i = 0; i < 100 && held; ++i) {
    held = ProcessHoldsOpen(segment);
    if (held) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_FALSE(held) << segment << " is still open, 10 s after it was evicted";
  // And the reader finds the block gone, not served from the deleted file.
  EXPECT_FALSE(reader->Contains(refs[0].id));
}

// A pointer is only a hint: one whose segment is gone, one naming another
// block's record, and one naming a path outside the cache are misses, dropped,
// and never serve the wrong bytes.
TEST_F(BlockCacheTest, BadPointersAreMissesAndAreDropped) {
  const std::string plain_a = RandomBytes(30000, 360);
  const std::string plain_b = RandomBytes(30000, 361);
  const BlockRef a = AddBlock(plain_a);
  const BlockRef b = AddBlock(plain_b);
  auto cache = OpenCache(0, std::chrono::seconds(5), 64 << 20);
  ASSERT_TRUE(cache->GetBlock(a, BlockFormat::kV2, *store_).ok());
  ASSERT_TRUE(cache->GetBlock(b, BlockFormat::kV2, *store_).ok());
  const std::string pointer_a = cache->PathFor(a.id);
  const std::string pointer_b = cache->PathFor(b.id);

  // b's pointer names a's record.
  const std::string target_a = std::filesystem::read_symlink(pointer_a).string();
  std::filesystem::remove(pointer_b);
  std::filesystem::create_symlink(target_a, pointer_b);
  auto got = cache->GetBlock(b, BlockFormat::kV2, *store_);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == plain_b);
  EXPECT_EQ(store_->gets, 3);
  EXPECT_NE(std::filesystem::read_symlink(pointer_b).string(), target_a);

  // A path out of the cache.
  std::filesystem::remove(pointer_b);
  std::filesystem::create_symlink("../../../etc/passwd.seg:0", pointer_b);
  got = cache->GetBlock(b, BlockFormat::kV2, *store_);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == plain_b);
  EXPECT_EQ(store_->gets, 4);

  // The segment is gone.
  std::filesystem::remove(SegmentOf(a));
  EXPECT_TRUE(absl::IsNotFound(cache->Locate(a).status()));
  EXPECT_FALSE(IsPointer(pointer_a));
  got = cache->GetBlock(a, BlockFormat::kV2, *store_);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got == plain_a);
  EXPECT_EQ(store_->gets, 5);
  EXPECT_TRUE(cache->Locate(a).ok());
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
  EXPECT_EQ(BlockFileBytes(root_ + "/cache"), 3 * RecordBytes(refs[0], 100000));
  EXPECT_EQ(first->stats().evictions + second->stats().evictions, 0u);
  // Each instance alone holds at most 2 blocks, but the directory would hold 5.
  ASSERT_TRUE(second->GetBlock(refs[3], BlockFormat::kV2, *store_).ok());
  ASSERT_TRUE(first->GetBlock(refs[4], BlockFormat::kV2, *store_).ok());
  EXPECT_LE(BlockFileBytes(root_ + "/cache"), kLimit);
  EXPECT_EQ(first->stats().shared_bytes, BlockFileBytes(root_ + "/cache"));
  EXPECT_EQ(second->stats().shared_bytes, BlockFileBytes(root_ + "/cache"));
  EXPECT_GE(first->stats().evictions + second->stats().evictions, 2u);
  // The newest blocks of both instances survive; the oldest (first's block 0) went.
  EXPECT_TRUE(IsPointer(first->PathFor(refs[4].id)));
  EXPECT_TRUE(IsPointer(second->PathFor(refs[3].id)));
  EXPECT_FALSE(IsPointer(first->PathFor(refs[0].id)));
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
