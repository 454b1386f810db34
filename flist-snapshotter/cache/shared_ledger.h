// The total size of a block cache directory, shared by every process that
// caches into it (each flist-mount process has its own BlockCache on the same
// directory). The total lives in an 8-byte file guarded by flock(2), so the
// size limit holds for the whole directory, not per process. A crash between
// storing a block and counting it leaves the total low; every full scan
// (cache open, or eviction that ran out of locally known blocks) rewrites it
// from what is actually on disk.
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
  absl::StatusOr<uint64_t> Read();

 private:
  SharedLedger(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}

  int fd_;
  std::string path_;
  std::mutex mu_;  // flock excludes other processes only: it is per open file
};

}  // namespace flint::flist
