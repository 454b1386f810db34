// Starts the fetch of a container's entrypoint before the container starts.
// An flist's files arrive on first read; the first file a container reads is
// its entrypoint executable, faulted in one page at a time after exec. Opening
// it while the runtime is still creating the container makes flist-mount fetch
// its first blocks in the background (its open-time prefetch), so they are
// cached by the time the process starts.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace flint::runtime {

// Opens and closes process.args[0] of the OCI `spec` inside `rootfs` (looked up
// in the spec's PATH when it has no slash, relative to process.cwd when it is
// relative), resolving symlinks as if `rootfs` were "/". Returns the path it
// opened, relative to the root; NotFound when there is no such regular file.
absl::StatusOr<std::string> WarmEntrypoint(const std::string& rootfs, const nlohmann::json& spec);

}  // namespace flint::runtime
