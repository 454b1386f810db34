// The read-only filesystem behind a flist mount: answers libfuse low-level
// requests from the in-memory model and reads file data block by block
// through the shared BlockCache. Inode numbers are entry index + 1, so they
// are stable for a given flist (the root is FUSE_ROOT_ID).
#pragma once

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "flist-snapshotter/block/block_codec.h"
#include "flist-snapshotter/cache/block_cache.h"
#include "flist-snapshotter/flist/model.h"
#include "flist-snapshotter/fuse/prefetcher.h"
#include "flist-snapshotter/store/block_store.h"
#include "flist-snapshotter/util/repeat_limiter.h"

namespace flint::flist {

struct FlistFsOptions {
  // After a sequential read, fetch up to this many following blocks in the
  // background (0 disables prefetch). Like the kernel's readahead the window
  // starts small (2 blocks) and doubles while the reads stay sequential, so
  // a short read does not pay for a long prefetch on a busy CPU. Blocks not
  // cached are fetched only as far ahead as hides the store's recent fetch
  // time at the reader's pace (at least 2 blocks): a reader slower than the
  // store does not make us fetch megabytes it may never read.
  int prefetch_blocks = 8;
  // On open, fetch this many first blocks of the file in the background: a
  // program started from the flist faults its binary and libraries in one
  // page at a time, which alone would fetch one block after another; fetched
  // side by side they arrive in about the time of one. Also starts a
  // sequential reader ahead of its first read. 0 disables.
  int open_prefetch_blocks = 4;
  // Files a container start reads first (its binary, /etc/passwd, ...): their
  // first open_prefetch_blocks blocks are queued when the filesystem is
  // created, before the mount serves, instead of one cold block after another
  // once something opens them. Resolved inside the flist (symlinks followed,
  // never above its root); missing paths and non-files are skipped.
  std::vector<std::string> warm_paths;
  int prefetch_threads = 4;
  size_t prefetch_queue = 64;
  // Reply to reads of cached blocks by splicing from the segment files (no
  // copy through our memory) when the kernel offers it.
  bool splice_reads = true;
  // Kernel caching of attributes and names; the content never changes.
  double attr_timeout_seconds = 86400;
};

struct FlistFsStats {
  uint64_t reads = 0;
  uint64_t bytes_read = 0;
  uint64_t read_errors = 0;
  uint64_t prefetch_scheduled = 0;
  uint64_t prefetch_errors = 0;
};

class FlistFs {
 public:
  FlistFs(std::shared_ptr<const Flist> flist, BlockCache* cache, BlockStore* store, FlistFsOptions options);
  ~FlistFs();

  static const fuse_lowlevel_ops& Ops();

  // Stops background prefetching (before the cache or store go away).
  void StopPrefetch() { prefetcher_.Stop(); }
  void WaitPrefetchIdle() { prefetcher_.WaitIdle(); }
  FlistFsStats stats() const;
  const Flist& flist() const { return *flist_; }
  // The FUSE protocol minor version the kernel's INIT carried, once it came
  // (0 until then, or if it does not come within `limit`). A server taking
  // over this mount's connection replays INIT with it.
  unsigned WaitForInit(std::chrono::milliseconds limit);

 private:
  struct OpenFile {
    uint32_t index;
    std::mutex mu;
    int64_t last_block = -1;       // last block index read through this handle
    int64_t prefetched_upto = -1;  // highest block index already scheduled
    int64_t window = 0;            // blocks ahead to prefetch now; doubles up to prefetch_blocks
    // The reader's pace over its current sequential run: where and when the
    // run started, and the furthest byte read since.
    uint64_t run_start_byte = 0;
    int64_t run_start_micros = 0;
    uint64_t run_end_byte = 0;
  };
  // How many blocks past the furthest one read a sequential reader needs
  // fetched, at most `window`: the store's recent fetch time over the time
  // the reader takes per block, plus one (`window` until both are known).
  int64_t FetchAhead(const OpenFile& file, int64_t now_micros, int64_t window) const;

  const Entry* EntryOf(fuse_ino_t ino) const;
  struct stat Attr(uint32_t index) const;
  void FillEntry(uint32_t index, fuse_entry_param* e) const;
  void MaybePrefetch(OpenFile& file, const Entry& entry, uint64_t offset, size_t size);
  // Queues blocks [from, to] of the entry that are not cached. (Cached ones
  // need nothing: the kernel's readahead on their segment brings them in, and
  // WILLNEED hints per block only broke its large requests into small ones.)
  // Stops at the first block past `fetch_to` that is not cached; returns the
  // last block handled.
  int64_t SchedulePrefetch(const Entry& entry, int64_t from, int64_t to, int64_t fetch_to = INT64_MAX);

  // Request handlers (called through Ops()).
  void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void GetAttr(fuse_req_t req, fuse_ino_t ino);
  void ReadLink(fuse_req_t req, fuse_ino_t ino);
  void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info* fi);
  // Replies with ranges of segment files when every block of the read is
  // cached; false (nothing replied) otherwise.
  bool ReplyFromCacheFiles(fuse_req_t req, const Entry& e, uint64_t offset, size_t want);
  void Release(fuse_req_t req, fuse_file_info* fi);
  void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus);
  void StatFs(fuse_req_t req);
  void Access(fuse_req_t req, fuse_ino_t ino, int mask);

  friend struct FlistFsOps;

  std::shared_ptr<const Flist> flist_;
  BlockCache* cache_;
  BlockStore* store_;
  FlistFsOptions options_;
  BlockFormat format_;
  std::vector<uint32_t> parent_;  // by entry index
  std::vector<uint32_t> nlink_;
  uint64_t total_bytes_ = 0;

  // Handles the kernel has not released yet (an aborted connection never
  // sends release, so the rest are freed with the filesystem). Handles are
  // ids, not pointers: after a takeover the kernel still holds the handles of
  // the server that died, which this one must recognise as not its own.
  std::mutex open_mu_;
  std::unordered_map<uint64_t, std::unique_ptr<OpenFile>> open_files_;
  uint64_t next_handle_;  // this process's pid in the high half: unique across takeovers
  OpenFile* FindOpenFile(uint64_t handle);

  std::mutex init_mu_;
  std::condition_variable init_cv_;
  unsigned proto_minor_ = 0;

  std::mutex prefetch_mu_;
  std::unordered_set<std::string> prefetch_inflight_;  // block ids queued or running
  Prefetcher prefetcher_;

  // A store that lost a block fails every read of it: one log line per block per 10 s.
  RepeatLimiter read_error_log_{std::chrono::seconds(10)};
  RepeatLimiter prefetch_error_log_{std::chrono::seconds(10)};

  std::atomic<uint64_t> reads_{0}, bytes_read_{0}, read_errors_{0}, prefetch_scheduled_{0},
      prefetch_errors_{0};
};

}  // namespace flint::flist
