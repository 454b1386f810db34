// PackDirectory: walks a directory tree with *at() calls (no symlink is ever
// followed) into the in-memory model, uploading file blocks as it goes.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "flist-snapshotter/pack/block_uploader.h"
#include "flist-snapshotter/pack/pack_stats.h"
#include "flist-snapshotter/pack/v2_writer.h"

namespace flint::flist {
namespace {

absl::Status Errno(std::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat(std::string(what), " ", path, ": ", std::strerror(errno)));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

absl::StatusOr<std::vector<std::string>> ListDir(int dir_fd, const std::string& path) {
  int fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open", path);
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return Errno("opendir", path);
  }
  std::vector<std::string> names;
  errno = 0;
  while (dirent* e = readdir(d)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  const int err = errno;
  closedir(d);
  if (err != 0) {
    errno = err;
    return Errno("readdir", path);
  }
  return names;
}

Entry EntryFromStat(const struct stat& st) {
  Entry e;
  switch (st.st_mode & S_IFMT) {
    case S_IFDIR: e.type = EntryType::kDirectory; break;
    case S_IFLNK: e.type = EntryType::kSymlink; break;
    case S_IFBLK: e.type = EntryType::kBlockDevice; break;
    case S_IFCHR: e.type = EntryType::kCharDevice; break;
    case S_IFIFO: e.type = EntryType::kFifo; break;
    case S_IFSOCK: e.type = EntryType::kSocket; break;
    default: e.type = EntryType::kRegular; break;
  }
  e.mode = st.st_mode & 07777;
  e.uid = st.st_uid;
  e.gid = st.st_gid;
  e.mtime = st.st_mtime;
  e.size = e.type == EntryType::kDirectory ? static_cast<uint64_t>(st.st_size) : 0;
  if (e.type == EntryType::kBlockDevice || e.type == EntryType::kCharDevice) e.rdev = st.st_rdev;
  return e;
}

class DirectoryWalker {
 public:
  DirectoryWalker(BlockStore& store) : uploader_(store), builder_(FlistVersion::kV2) {}

  absl::StatusOr<Flist> Walk(const std::string& src) {
    Fd root(open(src.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (root.get() < 0) return Errno("open source directory", src);
    struct stat st {};
    if (fstat(root.get(), &st) != 0) return Errno("stat", src);
    Entry root_attrs = EntryFromStat(st);
    Entry& r = builder_.root();
    r.mode = root_attrs.mode;
    r.uid = root_attrs.uid;
    r.gid = root_attrs.gid;
    r.mtime = root_attrs.mtime;
    r.size = root_attrs.size;
    if (auto s = WalkDirectory(root.get(), 0); !s.ok()) return s;
    return std::move(builder_).Finish();
  }

  uint64_t uploaded() const { return uploader_.uploaded(); }
  // Blocks must be in the store before the flist that names them is written.
  absl::Status FinishUploads() { return uploader_.Finish(); }

 private:
  // Depth-first, so only one descriptor per level is open at a time.
  absl::Status WalkDirectory(int dir_fd, uint32_t dir_index) {
    const std::string dir_path = builder_.path(dir_index);
    auto names = ListDir(dir_fd, dir_path);
    if (!names.ok()) return names.status();
    for (const std::string& name : *names) {
      const std::string path = dir_path == "/" ? "/" + name : dir_path + "/" + name;
      struct stat st {};
      if (fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return Errno("stat", path);
      Entry e = EntryFromStat(st);
      std::optional<Fd> subdir;
      if (e.type == EntryType::kDirectory) {
        subdir.emplace(openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (subdir->get() < 0) return Errno("open", path);
      } else if (e.type == EntryType::kSymlink) {
        std::string target(PATH_MAX, '\0');
        ssize_t n = readlinkat(dir_fd, name.c_str(), target.data(), target.size());
        if (n < 0) return Errno("readlink", path);
        target.resize(static_cast<size_t>(n));
        e.size = target.size();
        e.link_target = std::move(target);
      } else if (e.type == EntryType::kRegular) {
        Fd file(openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        if (file.get() < 0) return Errno("open", path);
        auto read = [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
          while (true) {
            ssize_t got = ::read(file.get(), buf, n);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) return Errno("read", path);
            return static_cast<size_t>(got);
          }
        };
        // The size recorded is what was read, so the blocks always cover it.
        auto blocks = uploader_.Upload(read, &e.size);
        if (!blocks.ok()) {
          return absl::Status(blocks.status().code(), absl::StrCat(path, ": ", blocks.status().message()));
        }
        e.blocks = *std::move(blocks);
      }
      auto index = builder_.Add(dir_index, name, std::move(e));
      if (!index.ok()) return index.status();
      if (subdir) {
        if (auto s = WalkDirectory(subdir->get(), *index); !s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

  BlockUploader uploader_;
  FlistBuilder builder_;
};

}  // namespace

absl::StatusOr<PackStats> PackDirectory(const std::string& src_dir, const std::string& out_path,
                                        BlockStore& store, const PackOptions& options) {
  DirectoryWalker walker(store);
  auto flist = walker.Walk(src_dir);
  if (!flist.ok()) {
    return absl::Status(flist.status().code(), absl::StrCat("pack ", src_dir, ": ", flist.status().message()));
  }
  if (auto s = walker.FinishUploads(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("pack ", src_dir, ": ", s.message()));
  }
  if (auto s = WriteV2File(*flist, out_path, options); !s.ok()) return s;
  return StatsOf(*flist, walker.uploaded());
}

}  // namespace flint::flist
