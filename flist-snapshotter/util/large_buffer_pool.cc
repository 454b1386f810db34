#include "flist-snapshotter/util/large_buffer_pool.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

namespace flint::flist {
namespace {

constexpr size_t kHugePage = 2 * 1024 * 1024;

}  // namespace

LargeBufferPool::LargeBufferPool(size_t reserve_bytes) {
  const size_t usable = reserve_bytes / kHugePage * kHugePage;
  if (usable == 0) return;
  // One granule-class byte per granule, kept in front of the aligned range.
  const size_t table = usable / kGranule;
  const size_t size = usable + kHugePage + table;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return;
  mapping_ = static_cast<char*>(p);
  mapping_size_ = size;
  slot_class_ = reinterpret_cast<uint8_t*>(mapping_);
  const auto after_table = reinterpret_cast<uintptr_t>(mapping_ + table);
  begin_ = reinterpret_cast<char*>((after_table + kHugePage - 1) / kHugePage * kHugePage);
  end_ = begin_ + usable;
  next_ = begin_;
  // Best effort: without THP (disabled, or "never") the pool still recycles.
  (void)madvise(begin_, usable, MADV_HUGEPAGE);
}

LargeBufferPool::~LargeBufferPool() {
  if (mapping_ != nullptr) munmap(mapping_, mapping_size_);
}

void* LargeBufferPool::Allocate(size_t n) {
  if (n < kMinSize || n > kMaxSize || begin_ == nullptr) return nullptr;
  const size_t cls = (n - 1) / kGranule;
  const size_t bytes = (cls + 1) * kGranule;
  std::lock_guard<std::mutex> lock(mu_);
  if (void* slot = free_[cls]) {
    std::memcpy(&free_[cls], slot, sizeof(void*));
    return slot;
  }
  if (static_cast<size_t>(end_ - next_) < bytes) return nullptr;
  char* slot = next_;
  next_ += bytes;
  slot_class_[(slot - begin_) / kGranule] = static_cast<uint8_t>(cls);
  return slot;
}

void LargeBufferPool::Free(void* p) {
  const size_t cls = slot_class_[(static_cast<char*>(p) - begin_) / kGranule];
  std::lock_guard<std::mutex> lock(mu_);
  std::memcpy(p, &free_[cls], sizeof(void*));
  free_[cls] = p;
}

size_t LargeBufferPool::Prefault(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (begin_ == nullptr) return 0;
  const size_t n = std::min(bytes, static_cast<size_t>(end_ - next_));
  // One write per 4 KiB page: with THP the first one maps the whole 2 MiB.
  for (size_t off = 0; off < n; off += 4096) static_cast<volatile char*>(next_)[off] = 0;
  return n;
}

size_t LargeBufferPool::carved_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<size_t>(next_ - begin_);
}

}  // namespace flint::flist
