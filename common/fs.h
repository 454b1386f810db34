// Small filesystem helpers shared by flintd, the shim-side client and tools.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace flint::fs {

// mkdir -p with the given mode for directories it creates.
absl::Status MakeDirs(const std::string& path, unsigned mode = 0755);

// Writes a file so that readers see either the old or the new content, never a mix:
// temp file in the same directory, fsync, rename.
absl::Status WriteFileAtomic(const std::string& path, const std::string& content, unsigned mode = 0644);

absl::StatusOr<std::string> ReadFile(const std::string& path);
// fsync(2) of a file written by someone else (a stream, a download).
absl::Status SyncFile(const std::string& path);

struct DiskUsage {
  uint64_t bytes = 0;   // allocated bytes (st_blocks * 512), as du counts them
  uint64_t inodes = 0;  // distinct inodes (hard links counted once)
};
// Walks a tree without following symlinks or crossing mount points. A missing path is empty usage.
absl::StatusOr<DiskUsage> MeasureDiskUsage(const std::string& path);

// rm -rf that does not cross mount points; a missing path is success.
absl::Status RemoveAll(const std::string& path);

}  // namespace flint::fs
