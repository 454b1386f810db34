// The total size of a block cache directory, shared by every process that
// caches into it (each flist-mount process has its own BlockCache on the same
// directory). The total lives in a small file guarded by flock(2), so the
// size limit holds for the whole directory, not per process. A crash between
// storing a block and counting it leaves the total low by that block; a count
// of the directory rewrites it from what is actually on disk (opening a cache,
// unless the ledger was updated while the directory was walked; an eviction
// that ran out of locally known blocks).
//
// File: u64 LE total, then u64 LE number of updates so far (how a walk made
// without the lock tells that nothing changed meanwhile). Readers of the total
// alone (ReadFile) need only the first 8 bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"

namespace flint::flist {

class SharedLedger {
 public:
  // Opens (creating if needed) the ledger file at `path`.
  static absl::StatusOr<std::unique_ptr<SharedLedger>> Open(const std::string& path);
  ~SharedLedger();
  SharedLedger(const SharedLedger&) = delete;
  SharedLedger& operator=(const SharedLedger&) = delete;

  // Runs `fn` holding the ledger exclusively against every thread and process;
  // `fn` may change the total, which is written back.
  absl::Status Update(const std::function<void(uint64_t& total)>& fn);
  // The same, and tells `fn` how many updates (by any process) came before this one.
  absl::Status Update(const std::function<void(uint64_t& total, uint64_t updates)>& fn);
  absl::StatusOr<uint64_t> Read();
  struct State {
    uint64_t total = 0;
    uint64_t updates = 0;
  };
  absl::StatusOr<State> ReadState();
  // The total in the ledger file at `path` without creating it (0 when there is none yet), for
  // readers outside the cache such as flintd's ImageFsInfo.
  static absl::StatusOr<uint64_t> ReadFile(const std::string& path);
  // True when the ledger file held no total when it was opened (a new cache,
  // or a deleted ledger): the directory must be counted.
  bool fresh() const { return fresh_; }

 private:
  SharedLedger(int fd, std::string path, bool fresh) : fd_(fd), path_(std::move(path)), fresh_(fresh) {}

  int fd_;
  std::string path_;
  bool fresh_;
  std::mutex mu_;  // flock excludes other processes only: it is per open file
};

}  // namespace flint::flist
