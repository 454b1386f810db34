// Writes the in-memory model as a v2 .fl flist (SQLite, rfs schema), and packs
// directory trees and tarballs into one: files are cut into 512 KiB blocks,
// compressed, encrypted and uploaded to a block store (see block_codec.h).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "flist-snapshotter/flist/model.h"
#include "flist-snapshotter/store/block_store.h"

namespace flint::flist {

struct PackOptions {
  // Written to the route table so readers can find the blocks. Passwords
  // should already be stripped (see RedactStoreUrl in store/store_url.h).
  std::vector<Route> routes;
  std::map<std::string, std::string> tags;
};

struct PackStats {
  uint64_t directories = 0;
  uint64_t regular_files = 0;
  uint64_t symlinks = 0;
  uint64_t others = 0;
  uint64_t bytes = 0;
  uint64_t blocks = 0;           // block references written
  uint64_t blocks_uploaded = 0;  // blocks the store did not have yet
};

// Writes `flist` (blocks must be v2 blocks) to `out_path` atomically (temp
// file + rename). Rows are inserted breadth-first, as rfs does. Tags and
// routes come from `options`, not from the flist.
absl::Status WriteV2File(const Flist& flist, const std::string& out_path, const PackOptions& options);

// Packs the tree under `src_dir`. Hard links become separate entries sharing
// blocks; symlinks are not followed.
absl::StatusOr<PackStats> PackDirectory(const std::string& src_dir, const std::string& out_path,
                                        BlockStore& store, const PackOptions& options);

// Packs a tar archive (optionally compressed: gzip, zstd, xz, bzip2) without
// extracting it, so ownership is kept even when not running as root. Later
// members replace earlier ones; missing parent directories are created 0755.
absl::StatusOr<PackStats> PackTarball(const std::string& tar_path, const std::string& out_path,
                                      BlockStore& store, const PackOptions& options);

// Writes a small flist into an in-memory database and reads it back: a fresh process (flist-mount's
// spare) that does this while idle reads its first real .fl sooner (3.1-3.4 ms -> 2.2-2.6 ms for a
// 0.1 MB flist; SQLite set-up and code paths first touched here). Fails if the round trip changes
// the flist. v1 (.flist) reading is not warmed.
absl::Status WarmUpV2ReadWrite();

}  // namespace flint::flist
