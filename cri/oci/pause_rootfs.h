// The sandbox rootfs: a read-only directory holding the static flint-pause.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace flint::oci {

// Creates `dir` with a copy of `pause_binary` at /flint-pause (mode 0755) and
// the empty mount points the sandbox spec needs (proc, dev, sys, etc/...), so
// runc/crun never have to write into the shared directory. Idempotent.
absl::Status PreparePauseRootfs(const std::string& dir, const std::string& pause_binary);

}  // namespace flint::oci
