// Reads a layer blob file as an uncompressed tar stream (gzip, zstd or plain, detected by magic
// bytes) and hashes the uncompressed bytes, which gives the layer's diff_id.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cri/image/digest.h"

namespace flint::image {

enum class Compression { kNone, kGzip, kZstd };

class LayerReader {
 public:
  static absl::StatusOr<std::unique_ptr<LayerReader>> Open(const std::string& path);
  ~LayerReader();
  LayerReader(const LayerReader&) = delete;
  LayerReader& operator=(const LayerReader&) = delete;

  // Fills up to `size` bytes of uncompressed data; 0 means end of stream.
  absl::StatusOr<size_t> Read(char* out, size_t size);
  // Reads (and hashes) whatever is left, then returns the diff_id.
  absl::StatusOr<std::string> FinishDiffId();
  Compression compression() const { return compression_; }

 private:
  LayerReader(int fd, Compression compression);
  absl::Status FillInput();

  int fd_;
  Compression compression_;
  struct Codec;
  std::unique_ptr<Codec> codec_;
  std::vector<char> in_;
  size_t in_pos_ = 0;
  size_t in_len_ = 0;
  bool in_eof_ = false;
  bool finished_ = false;
  Sha256 hash_;
};

}  // namespace flint::image
