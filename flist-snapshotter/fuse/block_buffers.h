// flist-mount's block buffers (pooled_operator_new.cc, linked into flist-mount only).
#pragma once

#include <cstddef>

namespace flint::flist {

// Faults in the next `bytes` of the block-buffer pool (LargeBufferPool::Prefault).
size_t PrefaultBlockBuffers(size_t bytes);

}  // namespace flint::flist
