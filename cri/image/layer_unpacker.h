// Unpacks one layer tarball into a directory that can serve as an overlayfs lowerdir.
//
// OCI whiteouts become overlay whiteouts (`.wh.name` -> char device 0/0, `.wh..wh..opq` ->
// trusted.overlay.opaque=y on the directory). Every path is resolved component by component with
// O_NOFOLLOW below the destination, so entries with `..`, absolute paths, paths through symlinks and
// hard links to outside the layer are rejected (InvalidArgument). Ownership, modes (setuid, setgid,
// sticky applied after chown), xattrs incl. file capabilities, device nodes, hard links, sparse
// files and mtimes are kept.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace flint::image {

struct UnpackResult {
  std::string diff_id;          // sha256 of the uncompressed tar stream
  uint64_t unpacked_bytes = 0;  // sum of regular file sizes
};

// `dest_dir` must exist and be empty. On error its content is undefined; the caller unpacks into a
// temporary directory and renames it into place only on success.
absl::StatusOr<UnpackResult> UnpackLayer(const std::string& blob_path, const std::string& dest_dir);

}  // namespace flint::image
