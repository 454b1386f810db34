// Kernel readahead of a FUSE mount. The kernel starts FUSE mounts with a
// 128 KiB readahead window, which turns a sequential read into 128 KiB
// requests served one after another; a bigger window means bigger requests
// (up to max_pages, 1 MiB with libfuse) and several in flight at once.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace flint::flist {

// Sets read_ahead_kb of the backing device of the filesystem mounted at
// `mountpoint` (/sys/class/bdi/<major>:<minor>/read_ahead_kb). The mount must
// already be served: stat(2) on it goes to the FUSE daemon.
absl::Status SetMountReadahead(const std::string& mountpoint, int kib);

}  // namespace flint::flist
