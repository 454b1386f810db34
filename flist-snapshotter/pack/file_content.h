// Reading file contents and checking block availability through a store.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "flist-snapshotter/block/block_codec.h"
#include "flist-snapshotter/flist/model.h"
#include "flist-snapshotter/store/block_store.h"

namespace flint::flist {

BlockFormat BlockFormatOf(const Flist& flist);

// Fetches, verifies and decodes every block of `entry` (a regular file) in
// order and writes the plaintext to `out`. Fails (DataLoss, naming the file and
// the block) unless there are ceil(size / kBlockSize) blocks, each decoding to
// kBlockSize bytes except the last, which holds the remainder.
absl::Status WriteFileContent(const Flist& flist, const Entry& entry, BlockStore& store,
                              std::ostream& out);
absl::StatusOr<std::string> ReadFileContent(const Flist& flist, const Entry& entry, BlockStore& store);

struct VerifyReport {
  uint64_t files = 0;
  uint64_t unique_blocks = 0;  // distinct (id, key) pairs
  uint64_t missing = 0;
  uint64_t corrupt = 0;
  uint64_t incomplete_files = 0;  // block list does not cover the file size
  uint64_t misaligned_files = 0;  // a block decodes to other than its kBlockSize share
  std::vector<std::string> problems;  // one line per problem, capped
  bool ok() const { return missing == 0 && corrupt == 0 && incomplete_files == 0 && misaligned_files == 0; }
};

// Checks that every block is in the store, hashes to its id and decodes with
// the key each file names it with, and that each file's blocks have the sizes
// WriteFileContent requires. Store errors other than "not found" abort the check.
absl::StatusOr<VerifyReport> VerifyFlistBlocks(const Flist& flist, BlockStore& store);

}  // namespace flint::flist
