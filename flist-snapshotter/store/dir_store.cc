#include "flist-snapshotter/store/dir_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "flist-snapshotter/block/blake2b.h"

namespace flint::flist {
namespace {

// Blocks are at most a few MiB; refuse to slurp anything absurd.
constexpr off_t kMaxBlockFile = 64 * 1024 * 1024;

absl::Status Errno(std::string_view what, const std::string& path) {
  const int err = errno;
  std::string msg = absl::StrCat(std::string(what), " ", path, ": ", std::strerror(err));
  if (err == ENOENT) return absl::NotFoundError(msg);
  return absl::InternalError(msg);
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  // O_NONBLOCK: a FIFO at a block's path (a dir:// store a pulled flist names) must not hang the read.
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return Errno("open", path);
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > kMaxBlockFile) {
    close(fd);
    return absl::DataLossError(absl::StrCat("block file ", path, " is not a regular file, unreadable or too large"));
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      return Errno("read", path);
    }
    got += static_cast<size_t>(n);
  }
  close(fd);
  return data;
}

absl::Status WriteAll(int fd, std::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno("write", path);
    done += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

}  // namespace

std::string DirStore::PathFor(std::string_view id) const {
  std::string hex = HexEncode(id);
  return absl::StrCat(root_, "/", hex.substr(0, 2), "/", hex);
}

absl::StatusOr<std::string> DirStore::Get(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("empty block id");
  auto data = ReadWholeFile(PathFor(id));
  if (data.ok() || !absl::IsNotFound(data.status())) return data;
  auto flat = ReadWholeFile(absl::StrCat(root_, "/", HexEncode(id)));
  if (absl::IsNotFound(flat.status())) {
    return absl::NotFoundError(absl::StrCat("block ", HexEncode(id), " not in ", Describe()));
  }
  return flat;
}

absl::StatusOr<bool> DirStore::Exists(std::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("empty block id");
  struct stat st {};
  if (stat(PathFor(id).c_str(), &st) == 0) return true;
  return stat(absl::StrCat(root_, "/", HexEncode(id)).c_str(), &st) == 0;
}

absl::Status DirStore::Put(std::string_view id, std::string_view data) {
  if (id.empty()) return absl::InvalidArgumentError("empty block id");
  const std::string path = PathFor(id);
  const std::string dir = path.substr(0, path.rfind('/'));
  if (mkdir(root_.c_str(), 0755) != 0 && errno != EEXIST) return Errno("mkdir", root_);
  if (mkdir(dir.c_str(), 0755) != 0 && errno != EEXIST) return Errno("mkdir", dir);

  static std::atomic<uint64_t> counter{0};
  const std::string tmp = absl::StrCat(dir, "/.tmp-", getpid(), "-", counter.fetch_add(1));
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("create", tmp);
  absl::Status s = WriteAll(fd, data, tmp);
  if (s.ok() && fsync(fd) != 0) s = Errno("fsync", tmp);
  if (close(fd) != 0 && s.ok()) s = Errno("close", tmp);
  if (s.ok() && rename(tmp.c_str(), path.c_str()) != 0) s = Errno("rename", path);
  if (!s.ok()) {
    unlink(tmp.c_str());
    return s;
  }
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

}  // namespace flint::flist
