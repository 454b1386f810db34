#include "cri/oci/user_resolver.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace flint::oci {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

bool ParseId(absl::string_view text, uint32_t* out) {
  uint64_t v = 0;
  if (text.empty() || !absl::SimpleAtoi(text, &v) || v > std::numeric_limits<uint32_t>::max()) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

absl::StatusOr<std::string> ReadDatabase(const std::string& rootfs, const char* path) {
  auto text = ReadFileInRoot(rootfs, path);
  if (absl::IsNotFound(text.status())) return std::string();  // an image without /etc/passwd is fine
  return text;
}

const PasswdEntry* FindUserByName(const std::vector<PasswdEntry>& users, absl::string_view name) {
  for (const auto& u : users)
    if (u.name == name) return &u;
  return nullptr;
}

const PasswdEntry* FindUserById(const std::vector<PasswdEntry>& users, uint32_t uid) {
  for (const auto& u : users)
    if (u.uid == uid) return &u;
  return nullptr;
}

absl::StatusOr<uint32_t> ResolveGroupSpec(const std::vector<GroupEntry>& groups, absl::string_view spec) {
  uint32_t gid = 0;
  if (ParseId(spec, &gid)) return gid;
  for (const auto& g : groups)
    if (g.name == spec) return g.gid;
  return absl::InvalidArgumentError(absl::StrCat("group \"", spec, "\" not found in image /etc/group"));
}

void AddUnique(std::vector<uint32_t>& ids, uint32_t id) {
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
}

}  // namespace

std::vector<PasswdEntry> ParsePasswd(std::string_view text_in) {
  const absl::string_view text(text_in.data(), text_in.size());
  std::vector<PasswdEntry> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    if (f.size() < 4) continue;
    PasswdEntry e;
    e.name = std::string(f[0]);
    if (!ParseId(f[2], &e.uid) || !ParseId(f[3], &e.gid)) continue;
    if (f.size() > 5) e.home = std::string(f[5]);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<GroupEntry> ParseGroup(std::string_view text_in) {
  const absl::string_view text(text_in.data(), text_in.size());
  std::vector<GroupEntry> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    if (f.size() < 3) continue;
    GroupEntry e;
    e.name = std::string(f[0]);
    if (!ParseId(f[2], &e.gid)) continue;
    if (f.size() > 3) {
      for (absl::string_view m : absl::StrSplit(f[3], ',', absl::SkipEmpty())) e.members.emplace_back(m);
    }
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<int> OpenFileInRoot(const std::string& rootfs, const std::string& relative_path, int flags) {
  Fd root(open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (root.get() < 0) return absl::NotFoundError(absl::StrCat("open rootfs ", rootfs, ": ", std::strerror(errno)));
  struct open_how how;
  std::memset(&how, 0, sizeof(how));
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
  int raw = static_cast<int>(syscall(SYS_openat2, root.get(), relative_path.c_str(), &how, sizeof(how)));
  if (raw < 0) {
    int err = errno;
    std::string msg = absl::StrCat("open ", relative_path, " in ", rootfs, ": ", std::strerror(err));
    if (err == ENOENT || err == ENOTDIR) return absl::NotFoundError(msg);
    return absl::InternalError(msg);
  }
  return raw;
}

absl::StatusOr<std::string> ReadFileInRoot(const std::string& rootfs, const std::string& relative_path,
                                           size_t max_bytes) {
  // O_PATH first: opening a device node or FIFO an image names could block or act on the host.
  absl::StatusOr<int> path_fd = OpenFileInRoot(rootfs, relative_path, O_PATH);
  if (!path_fd.ok()) return path_fd.status();
  Fd located(*path_fd);
  struct stat st {};
  if (fstat(located.get(), &st) != 0) {
    return absl::InternalError(absl::StrCat("stat ", relative_path, " in ", rootfs, ": ", std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("/", relative_path, " in the image is not a regular file"));
  }
  const std::string too_large =
      absl::StrCat("/", relative_path, " in the image is larger than ", max_bytes, " bytes");
  if (static_cast<uint64_t>(st.st_size) > max_bytes) return absl::InvalidArgumentError(too_large);
  Fd fd(open(absl::StrCat("/proc/self/fd/", located.get()).c_str(), O_RDONLY | O_NOCTTY | O_CLOEXEC));
  if (fd.get() < 0) {
    return absl::InternalError(absl::StrCat("open ", relative_path, " in ", rootfs, ": ", std::strerror(errno)));
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(absl::StrCat("read ", relative_path, " in ", rootfs, ": ", std::strerror(errno)));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) return absl::InvalidArgumentError(too_large);
  }
  return out;
}

absl::StatusOr<ResolvedUser> ResolveUser(const std::string& rootfs, const UserRequest& request) {
  if (request.run_as_group.has_value() && !request.run_as_user.has_value() && request.run_as_username.empty()) {
    return absl::InvalidArgumentError("run_as_group is set without run_as_user or run_as_username");
  }
  auto passwd_text = ReadDatabase(rootfs, "etc/passwd");
  if (!passwd_text.ok()) return passwd_text.status();
  auto group_text = ReadDatabase(rootfs, "etc/group");
  if (!group_text.ok()) return group_text.status();
  const std::vector<PasswdEntry> users = ParsePasswd(*passwd_text);
  const std::vector<GroupEntry> groups = ParseGroup(*group_text);

  ResolvedUser out;
  if (!request.run_as_username.empty()) {
    const PasswdEntry* u = FindUserByName(users, request.run_as_username);
    if (u == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("user \"", request.run_as_username, "\" not found in image /etc/passwd"));
    }
    out.uid = u->uid;
    out.gid = u->gid;
    out.username = u->name;
  } else if (request.run_as_user.has_value()) {
    int64_t uid = *request.run_as_user;
    if (uid < 0 || uid > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat("run_as_user ", uid, " is out of range"));
    }
    out.uid = static_cast<uint32_t>(uid);
    if (const PasswdEntry* u = FindUserById(users, out.uid)) {
      out.gid = u->gid;
      out.username = u->name;
    }
  } else if (!request.image_user.empty()) {
    absl::string_view spec = request.image_user;
    absl::string_view user_part = spec;
    absl::string_view group_part;
    if (size_t colon = spec.find(':'); colon != absl::string_view::npos) {
      user_part = spec.substr(0, colon);
      group_part = spec.substr(colon + 1);
    }
    uint32_t uid = 0;
    if (ParseId(user_part, &uid)) {
      out.uid = uid;
      if (const PasswdEntry* u = FindUserById(users, uid)) {
        out.gid = u->gid;
        out.username = u->name;
      }
    } else {
      const PasswdEntry* u = FindUserByName(users, user_part);
      if (u == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("image user \"", user_part, "\" not found in image /etc/passwd"));
      }
      out.uid = u->uid;
      out.gid = u->gid;
      out.username = u->name;
    }
    if (!group_part.empty()) {
      auto gid = ResolveGroupSpec(groups, group_part);
      if (!gid.ok()) return gid.status();
      out.gid = *gid;
    }
  } else if (const PasswdEntry* root = FindUserById(users, 0)) {
    out.username = root->name;
    out.gid = root->gid;
  }

  if (request.run_as_group.has_value()) {
    int64_t gid = *request.run_as_group;
    if (gid < 0 || gid > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat("run_as_group ", gid, " is out of range"));
    }
    out.gid = static_cast<uint32_t>(gid);
  }

  out.additional_gids.push_back(out.gid);
  if (!request.strict_supplemental_groups && !out.username.empty()) {
    for (const auto& g : groups) {
      if (std::find(g.members.begin(), g.members.end(), out.username) != g.members.end()) {
        AddUnique(out.additional_gids, g.gid);
      }
    }
  }
  for (int64_t g : request.supplemental_groups) {
    if (g < 0 || g > std::numeric_limits<uint32_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat("supplemental group ", g, " is out of range"));
    }
    AddUnique(out.additional_gids, static_cast<uint32_t>(g));
  }
  return out;
}

}  // namespace flint::oci
