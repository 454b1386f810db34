// Starts the fetch of a container's entrypoint before the container starts.
// An flist's files arrive on first read; the first file a container reads is
// its entrypoint executable, faulted in one page at a time after exec. Opening
// it while the runtime is still creating the container makes flist-mount fetch
// its first blocks in the background (its open-time prefetch), so they are
// cached by the time the process starts.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace flint::runtime {

// Opens and closes process.args[0] of the OCI `spec` inside `rootfs` (looked up
// in the spec's PATH when it has no slash, relative to process.cwd when it is
// relative), resolving symlinks as if `rootfs` were "/". Returns the path it
// opened, relative to the root; NotFound when there is no such regular file.
absl::StatusOr<std::string> WarmEntrypoint(const std::string& rootfs, const nlohmann::json& spec);

// What a container start reads from an flist before its own code runs: the hub's /.startup.toml,
// the user database, and the program of the CRI command (`program`, empty if the command comes
// from the image; every default-PATH candidate when it has no slash). flist-mount fetches their
// first blocks while it mounts (`--warm`).
std::vector<std::string> FlistStartupPaths(const std::string& program);

}  // namespace flint::runtime
