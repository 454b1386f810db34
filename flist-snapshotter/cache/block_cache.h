// A content-addressed on-disk cache of decoded flist blocks, shared by every
// flist and every mount of a host.
//
// Layout: <dir>/<hex id[0:2]>/<hex id>. Each file holds a 48-byte header
// (magic, plaintext length, blake2b-256 of the block key) followed by the
// decoded plaintext. Plaintext is stored (not the fetched ciphertext) so that
// re-reads cost a pread instead of decrypt+decompress, and so a read can pick
// a sub-range of a block. The key digest makes a hit require the right key:
// knowing a block id alone must not reveal the plaintext of another image.
//
// Writes go to a temp file in the same directory that is renamed into place,
// so a reader never sees a partial block; a file whose size disagrees with
// its header (e.g. after a crash before writeback) is treated as a miss.
//
// Size is bounded by an in-memory LRU, rebuilt at Open() by scanning the
// directory (ordered by atime/mtime). Concurrent requests for one block
// share a single store fetch ("single flight").
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "absl/status/statusor.h"
#include "flist-snapshotter/block/block_codec.h"
#include "flist-snapshotter/cache/lru_index.h"
#include "flist-snapshotter/flist/model.h"
#include "flist-snapshotter/store/block_store.h"

namespace flint::flist {

struct BlockCacheOptions {
  std::string dir;
  // Evict least recently used blocks above this many bytes (0 = unlimited).
  uint64_t max_bytes = 0;
  // fsync each block file before renaming it into place.
  bool fsync_writes = false;
  // Re-hash the plaintext on every hit (detects bit rot; costs CPU).
  bool verify_hits = false;
};

struct BlockCacheStats {
  uint64_t hits = 0;           // served from disk
  uint64_t misses = 0;         // had to wait for a store fetch
  uint64_t coalesced = 0;      // misses that joined a fetch already in flight
  uint64_t fetches = 0;        // store GETs issued
  uint64_t fetch_errors = 0;   // GETs or decodes that failed
  uint64_t bytes_fetched = 0;  // raw bytes received from stores
  uint64_t fetch_micros_total = 0;
  uint64_t fetch_micros_max = 0;
  uint64_t evictions = 0;
  uint64_t write_errors = 0;   // blocks that could not be stored (still served)
  uint64_t cached_bytes = 0;   // current size on disk (block files only)
  uint64_t cached_blocks = 0;
};

class BlockCache {
 public:
  // Creates `options.dir` if needed, removes stale temp files and indexes the
  // blocks already there (evicting down to the limit).
  static absl::StatusOr<std::unique_ptr<BlockCache>> Open(BlockCacheOptions options);

  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  // The decoded block: from disk on a hit, else fetched from `store`,
  // verified, stored and returned. Thread-safe.
  absl::StatusOr<std::string> GetBlock(const BlockRef& ref, BlockFormat format, BlockStore& store);

  // Copies up to `len` bytes of the decoded block starting at `offset` into
  // `out`; returns how many were copied (fewer at the end of the block).
  absl::StatusOr<size_t> ReadBlock(const BlockRef& ref, BlockFormat format, BlockStore& store,
                                   uint64_t offset, char* out, size_t len);

  // Makes sure the block is on disk (fetching it if needed).
  absl::Status Prefetch(const BlockRef& ref, BlockFormat format, BlockStore& store);

  // Whether a block file for `id` is indexed.
  bool Contains(std::string_view id) const;
  std::string PathFor(std::string_view id) const;
  BlockCacheStats stats() const;
  const BlockCacheOptions& options() const { return options_; }

 private:
  explicit BlockCache(BlockCacheOptions options) : options_(std::move(options)) {}
  absl::Status Scan();

  struct Flight {
    std::mutex mu;
    std::condition_variable done_cv;
    bool done = false;
    absl::Status status;
    std::shared_ptr<const std::string> plain;
  };

  // Reads [offset, offset+len) from the cached file; NotFound when the block
  // is not (validly) cached. len == SIZE_MAX with out == nullptr reads all
  // into *whole.
  absl::StatusOr<size_t> ReadCached(const BlockRef& ref, uint64_t offset, char* out, size_t len,
                                    std::string* whole);
  // Fetches through the single-flight table.
  absl::StatusOr<std::shared_ptr<const std::string>> Fetch(const BlockRef& ref, BlockFormat format,
                                                           BlockStore& store);
  absl::StatusOr<std::shared_ptr<const std::string>> FetchNow(const BlockRef& ref, BlockFormat format,
                                                              BlockStore& store);
  absl::Status Store(const BlockRef& ref, const std::string& plain);
  void Touch(const std::string& hex);

  BlockCacheOptions options_;

  mutable std::mutex mu_;  // guards lru_ and flights_
  LruIndex lru_;
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;  // by id+key

  std::atomic<uint64_t> hits_{0}, misses_{0}, coalesced_{0}, fetches_{0}, fetch_errors_{0},
      bytes_fetched_{0}, fetch_micros_total_{0}, fetch_micros_max_{0}, evictions_{0}, write_errors_{0};
  std::atomic<uint64_t> temp_counter_{0};
};

}  // namespace flint::flist
