// Recycled buffers for block-sized allocations (256 KiB to 16 MiB), carved
// from one address range backed by transparent huge pages.
//
// Why: each fetched block passes through two or three fresh 512 KiB buffers
// (store reply, plaintext, FUSE reply). glibc gives every thread its own arena,
// so a new fetch thread faults its buffers in 4 KiB at a time; on a VM with
// shadow paging a fault costs ~10 us, and a cold container start paid ~2,000
// of them in flist-mount. Here a freed buffer serves the next allocation of its
// size from any thread, and the first touch maps 2 MiB at once.
//
// Memory is never returned to the kernel: the pool holds its peak (a few
// blocks per fetching thread). Allocations that do not fit fall back to malloc.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace flint::flist {

class LargeBufferPool {
 public:
  static constexpr size_t kMinSize = 256 * 1024;
  static constexpr size_t kGranule = 64 * 1024;
  static constexpr size_t kMaxSize = 16 * 1024 * 1024;

  // Reserves `reserve_bytes` of address space (nothing is resident until
  // used). On failure the pool stays empty and Allocate always returns null.
  explicit LargeBufferPool(size_t reserve_bytes);
  ~LargeBufferPool();
  LargeBufferPool(const LargeBufferPool&) = delete;
  LargeBufferPool& operator=(const LargeBufferPool&) = delete;

  // A buffer of at least n bytes, or nullptr when n is outside
  // [kMinSize, kMaxSize] or the reserved range is used up.
  void* Allocate(size_t n);
  bool Owns(const void* p) const { return p >= begin_ && p < end_; }
  // p must come from Allocate of this pool.
  void Free(void* p);

  // Makes the next `bytes` of the range (the buffers the next allocations get) resident now, so
  // that the first fetches do not pay the page faults (flist-mount's spare does this while idle).
  // Returns the bytes made resident.
  size_t Prefault(size_t bytes);

  size_t reserved_bytes() const { return static_cast<size_t>(end_ - begin_); }
  size_t carved_bytes() const;  // address space handed out so far (the resident peak)

 private:
  static constexpr size_t kClasses = kMaxSize / kGranule;  // class c holds (c + 1) * kGranule bytes

  char* mapping_ = nullptr;
  size_t mapping_size_ = 0;
  char* begin_ = nullptr;  // 2 MiB aligned
  char* end_ = nullptr;
  mutable std::mutex mu_;
  char* next_ = nullptr;                    // first byte never handed out
  std::array<void*, kClasses> free_{};      // per class: freed slots, linked through their first word
  uint8_t* slot_class_ = nullptr;           // per granule of the range: class of the slot starting there
};

}  // namespace flint::flist
