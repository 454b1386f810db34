// flist-mount's global operator new/delete: block-sized allocations (the
// std::strings a fetched block passes through) come from a LargeBufferPool,
// everything else from malloc. Linked into the flist-mount executable only.
#include <cstdlib>
#include <new>

#include "flist-snapshotter/fuse/block_buffers.h"
#include "flist-snapshotter/util/large_buffer_pool.h"

namespace {

// 1 GiB of address space; only what is used becomes resident.
constexpr size_t kPoolReserve = size_t{1} << 30;

flint::flist::LargeBufferPool& Pool() {
  // Never destroyed: operator delete may run after static destructors.
  alignas(flint::flist::LargeBufferPool) static unsigned char storage[sizeof(flint::flist::LargeBufferPool)];
  static auto* pool = new (storage) flint::flist::LargeBufferPool(kPoolReserve);
  return *pool;
}

}  // namespace

namespace flint::flist {
size_t PrefaultBlockBuffers(size_t bytes) { return Pool().Prefault(bytes); }
}  // namespace flint::flist

namespace {

void* Allocate(size_t n) noexcept {
  if (n >= flint::flist::LargeBufferPool::kMinSize) {
    if (void* p = Pool().Allocate(n)) return p;
  }
  return std::malloc(n == 0 ? 1 : n);
}

void Release(void* p) noexcept {
  if (p == nullptr) return;
  flint::flist::LargeBufferPool& pool = Pool();
  if (pool.Owns(p)) {
    pool.Free(p);
  } else {
    std::free(p);
  }
}

}  // namespace

void* operator new(size_t n) {
  if (void* p = Allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  if (void* p = Allocate(n)) return p;
  throw std::bad_alloc();
}
void* operator new(size_t n, const std::nothrow_t&) noexcept { return Allocate(n); }
void* operator new[](size_t n, const std::nothrow_t&) noexcept { return Allocate(n); }
void operator delete(void* p) noexcept { Release(p); }
void operator delete[](void* p) noexcept { Release(p); }
void operator delete(void* p, size_t) noexcept { Release(p); }
void operator delete[](void* p, size_t) noexcept { Release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { Release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { Release(p); }
