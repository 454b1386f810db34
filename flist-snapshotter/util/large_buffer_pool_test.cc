#include "flist-snapshotter/util/large_buffer_pool.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace flint::flist {
namespace {

constexpr size_t kMiB = 1024 * 1024;
constexpr size_t kBlock = 512 * 1024;

TEST(LargeBufferPoolTest, ServesOnlyBlockSizedRequests) {
  LargeBufferPool pool(64 * kMiB);
  EXPECT_EQ(pool.Allocate(LargeBufferPool::kMinSize - 1), nullptr);
  EXPECT_EQ(pool.Allocate(LargeBufferPool::kMaxSize + 1), nullptr);
  void* small = pool.Allocate(LargeBufferPool::kMinSize);
  void* large = pool.Allocate(LargeBufferPool::kMaxSize);
  ASSERT_NE(small, nullptr);
  ASSERT_NE(large, nullptr);
  EXPECT_TRUE(pool.Owns(small));
  EXPECT_TRUE(pool.Owns(large));
  EXPECT_FALSE(pool.Owns(&pool));
  std::memset(large, 0xab, LargeBufferPool::kMaxSize);  // the whole slot is writable
  pool.Free(small);
  pool.Free(large);
}

TEST(LargeBufferPoolTest, FreedBufferIsReusedBySameSizeOnly) {
  LargeBufferPool pool(64 * kMiB);
  void* a = pool.Allocate(kBlock + 43);  // a store reply: block plus framing
  ASSERT_NE(a, nullptr);
  const size_t carved = pool.carved_bytes();
  pool.Free(a);
  void* other_size = pool.Allocate(kBlock);  // a smaller class: not the freed slot
  EXPECT_NE(other_size, a);
  void* again = pool.Allocate(kBlock + 100);  // same 64 KiB class as the first
  EXPECT_EQ(again, a);
  EXPECT_EQ(pool.carved_bytes(), carved + kBlock);
  pool.Free(other_size);
  pool.Free(again);
}

// Pages of [p, p + n) resident right now.
size_t ResidentPages(void* p, size_t n) {
  std::vector<unsigned char> vec(n / 4096);
  if (mincore(p, n, vec.data()) != 0) return 0;
  size_t resident = 0;
  for (unsigned char v : vec) resident += v & 1;
  return resident;
}

TEST(LargeBufferPoolTest, PrefaultMakesTheNextBuffersResident) {
  LargeBufferPool pool(8 * kMiB);
  void* first = pool.Allocate(kBlock);
  ASSERT_NE(first, nullptr);
  char* next = static_cast<char*>(first) + kBlock;
  EXPECT_EQ(ResidentPages(next, 2 * kMiB), 0u);
  EXPECT_EQ(pool.Prefault(2 * kMiB), 2 * kMiB);
  EXPECT_EQ(ResidentPages(next, 2 * kMiB), 2 * kMiB / 4096);
  EXPECT_EQ(pool.carved_bytes(), kBlock);  // nothing handed out
  EXPECT_EQ(pool.Allocate(kBlock), next);  // the next buffer is the resident one
  // Clamped to what is left of the range.
  EXPECT_EQ(pool.Prefault(64 * kMiB), 8 * kMiB - 2 * kBlock);
  LargeBufferPool empty(0);
  EXPECT_EQ(empty.Prefault(kMiB), 0u);
}

TEST(LargeBufferPoolTest, ExhaustedRangeReturnsNullUntilSomethingIsFreed) {
  LargeBufferPool pool(2 * kMiB);
  EXPECT_EQ(pool.reserved_bytes(), 2 * kMiB);
  std::vector<void*> got;
  for (int i = 0; i < 4; ++i) {
    got.push_back(pool.Allocate(kBlock));
    ASSERT_NE(got.back(), nullptr) << i;
  }
  EXPECT_EQ(pool.Allocate(kBlock), nullptr);
  pool.Free(got[2]);
  EXPECT_EQ(pool.Allocate(kBlock), got[2]);
}

TEST(LargeBufferPoolTest, RangeIsHugePageAlignedAndAdvised) {
  LargeBufferPool pool(8 * kMiB);
  void* p = pool.Allocate(kBlock);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % (2 * kMiB), 0u) << "the first slot starts the range";
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(thp, modes);
  if (modes.empty() || modes.find("[never]") != std::string::npos) GTEST_SKIP() << "THP not available here";
  // The mapping holding the pool carries the "hg" (MADV_HUGEPAGE) flag.
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_pool = false;
  bool advised = false;
  const auto addr = reinterpret_cast<uintptr_t>(p);
  while (std::getline(smaps, line)) {
    uintptr_t lo = 0;
    uintptr_t hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      in_pool = addr >= lo && addr < hi;
    } else if (in_pool && line.rfind("VmFlags:", 0) == 0) {
      advised = line.find(" hg") != std::string::npos;
      break;
    }
  }
  EXPECT_TRUE(advised);
  pool.Free(p);
}

TEST(LargeBufferPoolTest, ThreadsNeverShareABuffer) {
  LargeBufferPool pool(256 * kMiB);
  constexpr int kThreads = 8;
  constexpr int kRounds = 200;
  std::vector<std::thread> threads;
  std::vector<int> bad(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        const size_t n = kBlock + static_cast<size_t>((r % 3) * 70000);
        auto* p = static_cast<unsigned char*>(pool.Allocate(n));
        if (p == nullptr) {
          ++bad[t];
          continue;
        }
        std::memset(p, t + 1, n);
        std::this_thread::yield();
        for (size_t i = 0; i < n; i += 4096) bad[t] += p[i] != t + 1;
        bad[t] += p[n - 1] != t + 1;
        pool.Free(p);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(bad[t], 0) << "thread " << t;
  // Recycling bounds the range used to what was live at once.
  EXPECT_LE(pool.carved_bytes(), size_t{kThreads} * 3 * (kBlock + 2 * 70000 + LargeBufferPool::kGranule));
}

}  // namespace
}  // namespace flint::flist
