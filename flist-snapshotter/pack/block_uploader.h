// Cuts byte streams into 512 KiB blocks, encodes each (v2 codec) on the
// calling thread, and uploads the ones the store does not have yet from a
// small pool of worker threads, so store latency (fsync, network) overlaps.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "flist-snapshotter/block/block_codec.h"
#include "flist-snapshotter/flist/model.h"
#include "flist-snapshotter/store/block_store.h"

namespace flint::flist {

class BlockUploader {
 public:
  // The store must be safe to call from several threads.
  explicit BlockUploader(BlockStore& store, int workers = 8);
  ~BlockUploader();
  BlockUploader(const BlockUploader&) = delete;
  BlockUploader& operator=(const BlockUploader&) = delete;

  // `read` fills up to n bytes and returns how many (0 at end of stream).
  using ReadFn = std::function<absl::StatusOr<size_t>(char* buf, size_t n)>;
  // Returns the blocks in order; *total receives the number of bytes read.
  // Uploads may still be in flight: call Finish() before relying on them.
  absl::StatusOr<std::vector<BlockRef>> Upload(const ReadFn& read, uint64_t* total);

  // Waits for every pending upload; returns the first upload error, if any.
  absl::Status Finish();

  uint64_t uploaded() const { return uploaded_count_; }

 private:
  absl::Status Enqueue(EncodedBlock block);
  void Work();

  BlockStore& store_;
  std::unordered_set<std::string> known_;  // ids already queued or stored
  std::string chunk_;
  std::atomic<uint64_t> uploaded_count_{0};

  std::mutex mu_;
  std::condition_variable has_work_;
  std::condition_variable has_space_;
  std::deque<EncodedBlock> queue_;
  bool closing_ = false;
  absl::Status error_;
  std::vector<std::thread> workers_;
};

}  // namespace flint::flist
