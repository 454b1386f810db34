// A content-addressed on-disk cache of decoded flist blocks, shared by every
// flist and every mount of a host.
//
// Layout. Blocks are appended to segment files, <dir>/segments/<name>.seg,
// each block a record: a header (magic, plaintext length, id length,
// blake2b-256 of the block key, the id) and the decoded plaintext. A block is
// found through a pointer, <dir>/<hex id[0:2]>/<hex id>: a symlink (never
// followed) whose target is "<segment>:<record offset>". Blocks fetched in
// read order sit next to each other, so a warm sequential read is one file
// read front to back, in the large requests the kernel's readahead makes of
// it; one file per block capped every disk request at a block.
//
// Plaintext is stored (not the fetched ciphertext) so that re-reads cost a
// pread instead of decrypt+decompress, and so a read can pick a sub-range of a
// block. The key digest makes a hit require the right key: knowing a block id
// alone must not reveal the plaintext of another image.
//
// Writes. A record is appended, then its pointer created, both under the
// ledger lock, so every byte on disk is either counted or not yet visible to
// another process's recount; a reader never sees a pointer to a record not
// yet written. A record the header does not vouch for (cut short by a crash,
// wrong id) is a miss and loses its pointer.
//
// Size is bounded for the whole directory, across every process caching into
// it: a SharedLedger (<dir>/.ledger, flock-protected) holds the total of the
// segment files. Eviction removes whole segments, least recently used first:
// its pointers, then the file (a reader with the file open keeps reading it).
// A process evicts from its in-memory LRU of segments first (rebuilt at Open()
// from every segment there, ordered by atime/mtime, and fed by hits on
// segments other processes wrote); a segment another process used since
// (mtime, refreshed at most once a minute per hit) is put back in line at that
// time instead. When the LRU runs out, the directory is listed and the oldest
// segments go. A process appends to its own open segment until it holds
// `segment_bytes`; one evicted by another process meanwhile is noticed (no
// links left) and replaced. Concurrent requests for one block share a single
// store fetch ("single flight").
#pragma once

#include <sys/stat.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "flist-snapshotter/block/block_codec.h"
#include "flist-snapshotter/cache/lru_index.h"
#include "flist-snapshotter/cache/shared_ledger.h"
#include "flist-snapshotter/flist/model.h"
#include "flist-snapshotter/store/block_store.h"
#include "flist-snapshotter/util/repeat_limiter.h"

namespace flint::flist {

struct BlockCacheOptions {
  std::string dir;
  // Evict least recently used blocks above this many bytes (0 = unlimited).
  uint64_t max_bytes = 0;
  // Segment files are filled up to this size (at most an eighth of max_bytes)
  // before the next is started: the unit of contiguous reads and of eviction.
  uint64_t segment_bytes = 64ull << 20;
  // fdatasync each record before its pointer is created.
  bool fsync_writes = false;
  // Re-hash the plaintext on every hit (detects bit rot; costs CPU).
  bool verify_hits = false;
  // A fetch that failed because the store was too slow (DeadlineExceeded) is
  // answered with that failure for this long. The kernel follows a failed
  // readahead with a read of its own at once, which would otherwise wait for
  // the store's whole deadline a second time.
  std::chrono::milliseconds slow_failure_memory{5000};
};

// Fetch latency histogram: bucket i counts fetches of at most kFetchBucketFirstMicros << i
// microseconds (128 µs .. ~34 s); the last bucket counts everything slower.
inline constexpr int kFetchLatencyBuckets = 20;
inline constexpr uint64_t kFetchBucketFirstMicros = 128;

struct BlockCacheStats {
  uint64_t hits = 0;           // served from disk
  uint64_t misses = 0;         // had to wait for a store fetch
  uint64_t coalesced = 0;      // misses that joined a fetch already in flight
  uint64_t fetches = 0;        // store GETs issued
  uint64_t fetch_errors = 0;   // GETs or decodes that failed
  uint64_t slow_failures_repeated = 0;  // misses answered with a recent DeadlineExceeded
  uint64_t bytes_fetched = 0;  // raw bytes received from stores
  uint64_t fetch_micros_total = 0;
  uint64_t fetch_micros_max = 0;
  uint64_t evictions = 0;
  uint64_t write_errors = 0;   // blocks that could not be stored (still served)
  uint64_t cached_bytes = 0;   // segment files this instance knows of (bytes)
  uint64_t cached_blocks = 0;  // blocks, as this instance counted them (at Open, its stores and evictions)
  uint64_t shared_bytes = 0;   // the whole directory, as every process counts it
  std::array<uint64_t, kFetchLatencyBuckets + 1> fetch_latency_buckets{};  // per bucket, last = slower
};

// The stats as one JSON object (what flist-mount --stats-file writes for flintd's /metrics).
std::string BlockCacheStatsJson(const BlockCacheStats& stats);

class BlockCache {
 public:
  // Creates `options.dir` if needed, removes stale temp files and indexes the
  // blocks already there (evicting down to the limit). A cache whose ledger
  // already holds a total is indexed in the background: a full cache is tens
  // of thousands of files, and walking them cost every flist mount ~60 ms of
  // start time. Blocks not indexed yet are still found on disk.
  static absl::StatusOr<std::unique_ptr<BlockCache>> Open(BlockCacheOptions options);
  ~BlockCache();

  // Blocks until the background index of existing blocks is done (tests).
  void WaitForIndex();

  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;

  // The decoded block: from disk on a hit, else fetched from `store`,
  // verified, stored and returned. Thread-safe.
  absl::StatusOr<std::string> GetBlock(const BlockRef& ref, BlockFormat format, BlockStore& store);

  // Copies up to `len` bytes of the decoded block starting at `offset` into
  // `out`; returns how many were copied (fewer at the end of the block).
  absl::StatusOr<size_t> ReadBlock(const BlockRef& ref, BlockFormat format, BlockStore& store,
                                   uint64_t offset, char* out, size_t len);

  // A cached block's plaintext [offset, offset+len) as a range of its open
  // file, for zero-copy replies (splice). NotFound on a miss (the caller
  // falls back to ReadBlock); the caller closes `fd`. Counts as a hit.
  struct FileRange {
    int fd = -1;
    uint64_t file_offset = 0;
    size_t len = 0;  // fewer than asked at the end of the block
  };
  absl::StatusOr<FileRange> OpenCachedRange(const BlockRef& ref, uint64_t offset, size_t len);

  // Makes sure the block is on disk (fetching it if needed).
  absl::Status Prefetch(const BlockRef& ref, BlockFormat format, BlockStore& store);

  // Whether a pointer for `id` exists (the block was cached; it may turn out bad).
  bool Contains(std::string_view id) const;
  // The block's pointer (a symlink naming its segment and record).
  std::string PathFor(std::string_view id) const;
  // Where a cached block's plaintext is: its segment file and the plaintext's
  // offset and length there. NotFound when the block is not (validly) cached.
  struct Location {
    std::string segment_path;
    uint64_t record_offset = 0;
    uint64_t plain_offset = 0;
    uint64_t length = 0;
  };
  absl::StatusOr<Location> Locate(const BlockRef& ref);
  BlockCacheStats stats() const;
  // Time of a recent store fetch (get and decode), averaged over the last few;
  // 0 before the first. How far ahead a sequential reader needs blocks fetched.
  uint64_t recent_fetch_micros() const { return fetch_micros_recent_.load(std::memory_order_relaxed); }
  const BlockCacheOptions& options() const { return options_; }

 private:
  explicit BlockCache(BlockCacheOptions options) : options_(std::move(options)) {}
  // Counts the segments into the ledger and indexes them, under the ledger lock.
  absl::Status Scan();
  // Indexes the segments without the ledger lock; then, under it, corrects
  // the total from that count if no store or eviction happened meanwhile, and
  // evicts if the total is over the limit.
  void IndexExisting();
  // Walks the pointers: counts them into blocks_, removes those whose segment
  // is gone and files an older cache layout left.
  void SweepPointers(const std::vector<std::string>& segments);
  // With the ledger locked (and mu_ not held): evicts whole segments until
  // `total` fits the limit, never removing segment `keep`.
  void EvictLocked(uint64_t& total, const std::string& keep);
  // With the ledger locked: removes a segment and the pointers to its
  // records; its size leaves `total`. False when it was already gone.
  bool RemoveSegmentLocked(const std::string& segment, uint64_t& total);
  // Removes the pointer at `pointer` if it still names `target`.
  void DropPointer(const std::string& pointer, const std::string& target);
  // The segment file this process appends to, opened (or replaced when full
  // or evicted) as needed; with the ledger and writer_mu_ locked.
  absl::Status EnsureWritableSegmentLocked(uint64_t record_bytes);
  void CloseWritableSegment();
  std::string SegmentPath(const std::string& segment) const;
  // A new descriptor of the segment (-1 and errno on failure). Descriptors of
  // recently read segments are kept open and duplicated: the kernel's
  // readahead state lives in the open file, and a sequential reader whose
  // every request opened the segment anew got none of it.
  int OpenSegment(const std::string& segment);
  // Closes the kept descriptor of an evicted segment, so it leaves the disk.
  void ForgetSegment(const std::string& segment);
  // Closes kept descriptors of segments removed by other processes (which an
  // open descriptor would keep on disk, unaccounted) or idle for a while;
  // runs every few seconds on sweeper_.
  void SweepKeptSegments();
  static constexpr size_t kOpenSegmentsKept = 32;
  uint64_t EffectiveSegmentBytes() const;

  struct OpenRecord {
    int fd = -1;
    std::string hex;      // of the block id
    std::string pointer;  // its path
    std::string segment;
    std::string target;  // the pointer's text
    uint64_t record_offset = 0;
    uint64_t plain_offset = 0;
    uint64_t length = 0;
    struct stat st {};
  };
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
  // Follows the block's pointer, opens its segment and checks the record's
  // header against `ref`; on success rec->fd is open. NotFound when not
  // (validly) cached (a bad pointer is removed).
  absl::Status OpenChecked(const BlockRef& ref, OpenRecord* rec);
  // Marks a hit on the segment in the LRU and, once a minute, in its mtime.
  void NoteHit(const OpenRecord& rec);
  // Fetches through the single-flight table.
  absl::StatusOr<std::shared_ptr<const std::string>> Fetch(const BlockRef& ref, BlockFormat format,
                                                           BlockStore& store);
  // Gets and decodes the block (not stored yet); *already_cached when another
  // fetch stored it between our miss and taking the lead.
  absl::StatusOr<std::shared_ptr<const std::string>> FetchNow(const BlockRef& ref, BlockFormat format,
                                                              BlockStore& store, bool* already_cached);
  absl::Status Store(const BlockRef& ref, const std::string& plain);
  // Store(), with a failure counted and logged: the block is still served.
  void StoreFetched(const BlockRef& ref, const std::string& plain);

  BlockCacheOptions options_;

  std::unique_ptr<SharedLedger> ledger_;
  // Guards lru_, flights_ and slow_failures_. Never held while taking the
  // ledger: another process may hold that for a while, and hits must not wait.
  mutable std::mutex mu_;
  LruIndex lru_;  // of segments
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_;  // by id+key
  struct SlowFailure {
    absl::Status status;
    std::chrono::steady_clock::time_point at;
  };
  std::unordered_map<std::string, SlowFailure> slow_failures_;  // by id+key, guarded by mu_

  // A full or failing cache disk fails every store: one line per kind of error per 10 s.
  RepeatLimiter write_error_log_{std::chrono::seconds(10)};
  std::atomic<uint64_t> hits_{0}, misses_{0}, coalesced_{0}, fetches_{0}, fetch_errors_{0},
      bytes_fetched_{0}, fetch_micros_total_{0}, fetch_micros_max_{0}, evictions_{0}, write_errors_{0},
      slow_failures_repeated_{0};
  std::array<std::atomic<uint64_t>, kFetchLatencyBuckets + 1> fetch_latency_buckets_{};
  std::atomic<uint64_t> fetch_micros_recent_{0};
  std::atomic<int64_t> blocks_{0};
  struct KeptSegment {
    int fd;
    std::chrono::steady_clock::time_point used;
  };
  std::mutex fds_mu_;
  std::unordered_map<std::string, KeptSegment> segment_fds_;  // guarded by fds_mu_
  std::condition_variable sweeper_cv_;                         // with fds_mu_
  bool stopping_ = false;                                      // guarded by fds_mu_
  std::thread sweeper_;
  // The segment this process appends to; guarded by the ledger lock (all
  // appends happen under it) and writer_mu_ (for the destructor).
  std::mutex writer_mu_;
  int writer_fd_ = -1;
  std::string writer_segment_;
  uint64_t writer_size_ = 0;
  uint64_t segments_started_ = 0;
  std::thread indexer_;
};

}  // namespace flint::flist
