// Persistent network namespaces for pod sandboxes, made the way `ip netns add` makes them:
// a file bind-mounted with a namespace that no process needs to hold open.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace flint::cni {

// Creates a new network namespace pinned at `<dir>/<name>` with `lo` up, and returns that path.
// Idempotent: if the path already pins a namespace it is returned as is.
absl::StatusOr<std::string> CreateNetns(const std::string& dir, const std::string& name);

// Unpins (lazy unmount) and unlinks `path`. A missing path is success.
absl::Status RemoveNetns(const std::string& path);

// True when `path` is a mounted network namespace (nsfs).
bool IsNetnsPinned(const std::string& path);

}  // namespace flint::cni
