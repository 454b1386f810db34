// Blobs by digest under <root>/blobs/sha256/<hex>. Every blob is written to a temp file under
// <root>/tmp, verified against its digest and size while streaming, then renamed into place.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace flint::image {

using BlobSink = std::function<absl::Status(const char*, size_t)>;

class ContentStore {
 public:
  explicit ContentStore(std::string root) : root_(std::move(root)) {}

  // Creates the directories and removes temp files left by an interrupted process.
  absl::Status Init();

  std::string BlobPath(const std::string& digest) const;
  std::string TempDir() const { return root_ + "/tmp"; }
  bool Has(const std::string& digest) const;

  // Calls `produce` with a sink that writes and hashes; commits only when the content matches
  // `digest` and `expected_size` (DataLoss otherwise, nothing is kept). `what` names the blob in
  // messages ("registry X repository Y"). ENOSPC surfaces as ResourceExhausted.
  absl::Status Ingest(const std::string& digest, int64_t expected_size, const std::string& what,
                      const std::function<absl::Status(const BlobSink&)>& produce);
  absl::Status Put(const std::string& digest, const std::string& data, const std::string& what);
  absl::StatusOr<std::string> Read(const std::string& digest) const;
  absl::Status Delete(const std::string& digest);

 private:
  std::string root_;
};

}  // namespace flint::image
