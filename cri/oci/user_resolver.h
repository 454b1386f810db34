// Resolves the container process identity from CRI security context and
// image USER, looking names up in the image's own /etc/passwd and /etc/group.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::oci {

struct PasswdEntry {
  std::string name;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string home;
};

struct GroupEntry {
  std::string name;
  uint32_t gid = 0;
  std::vector<std::string> members;
};

std::vector<PasswdEntry> ParsePasswd(std::string_view text);
std::vector<GroupEntry> ParseGroup(std::string_view text);

// Reads `relative_path` (e.g. "etc/passwd") under `rootfs`, resolving every
// path component (symlinks, "..") as if `rootfs` were "/", so an image cannot
// make us read host files. NotFound if the file does not exist; InvalidArgument
// if it is not a regular file (a device node or FIFO is never opened) or is
// larger than `max_bytes`.
absl::StatusOr<std::string> ReadFileInRoot(const std::string& rootfs, const std::string& relative_path,
                                           size_t max_bytes = 16 << 20);
// The same resolution, returning a descriptor opened with `flags` (plus
// O_CLOEXEC; O_PATH works) that the caller closes.
absl::StatusOr<int> OpenFileInRoot(const std::string& rootfs, const std::string& relative_path, int flags);

struct UserRequest {
  std::optional<int64_t> run_as_user;
  std::optional<int64_t> run_as_group;
  std::string run_as_username;
  std::string image_user;  // image config USER
  std::vector<int64_t> supplemental_groups;
  bool strict_supplemental_groups = false;  // SupplementalGroupsPolicy Strict
};

struct ResolvedUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::vector<uint32_t> additional_gids;  // primary gid first, then /etc/group membership, then supplemental
  std::string username;                   // empty if the uid has no passwd entry
};

// Precedence: run_as_username > run_as_user > image USER. run_as_group
// without a user is InvalidArgument. Numeric ids without passwd entries are
// allowed; unknown names are NotFound-style InvalidArgument.
absl::StatusOr<ResolvedUser> ResolveUser(const std::string& rootfs, const UserRequest& request);

}  // namespace flint::oci
