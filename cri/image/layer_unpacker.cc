#include "cri/image/layer_unpacker.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/fs.h"
#include "common/log.h"
#include "cri/image/digest.h"
#include "cri/image/errors.h"
#include "cri/image/layer_reader.h"

namespace flint::image {
namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueWhiteout = ".wh..wh..opq";
constexpr std::string_view kOverlayXattrPrefix = "trusted.overlay.";

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

using Components = std::vector<std::string>;

// Splits an archive path into components; rejects absolute paths and "..".
absl::StatusOr<Components> SplitArchivePath(std::string_view path) {
  if (!path.empty() && path.front() == '/') {
    return absl::InvalidArgumentError(absl::StrCat("absolute path \"", std::string(path), "\" in layer"));
  }
  Components out;
  size_t start = 0;
  while (start <= path.size()) {
    size_t pos = path.find('/', start);
    std::string_view c = path.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start);
    if (c == "..") {
      return absl::InvalidArgumentError(absl::StrCat("path \"", std::string(path), "\" escapes the layer (..)"));
    }
    if (!c.empty() && c != ".") out.emplace_back(c);
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

class Unpacker {
 public:
  Unpacker(std::string dest, LayerReader* reader) : dest_(std::move(dest)), reader_(reader) {}

  absl::StatusOr<UnpackResult> Run();

 private:
  static la_ssize_t ReadCallback(struct archive* a, void* self, const void** buffer);
  absl::StatusOr<Fd> OpenDir(const Components& comps, size_t count, bool create);
  absl::Status Entry(struct archive* a, struct archive_entry* e);
  absl::Status RemoveExisting(int parent, const std::string& name, const Components& comps, bool keep_dir);
  absl::Status WriteData(struct archive* a, int fd, int64_t size, const std::string& path);
  absl::Status ApplyMetadata(int fd, struct archive_entry* e, const std::string& path, bool set_times);
  absl::Status ApplyDirTimes();
  std::string Describe(const Components& comps) const { return absl::StrJoin(comps, "/"); }

  std::string dest_;
  LayerReader* reader_;
  Fd root_;
  bool is_root_ = geteuid() == 0;
  std::vector<char> buffer_ = std::vector<char>(256 * 1024);
  absl::Status read_status_;
  struct DirTimes {
    Components path;
    timespec times[2];
  };
  std::vector<DirTimes> dir_times_;
  uint64_t unpacked_bytes_ = 0;
};

la_ssize_t Unpacker::ReadCallback(struct archive* a, void* self_ptr, const void** buffer) {
  auto* self = static_cast<Unpacker*>(self_ptr);
  absl::StatusOr<size_t> n = self->reader_->Read(self->buffer_.data(), self->buffer_.size());
  if (!n.ok()) {
    self->read_status_ = n.status();
    archive_set_error(a, EIO, "%s", std::string(n.status().message()).c_str());
    return -1;
  }
  *buffer = self->buffer_.data();
  return static_cast<la_ssize_t>(*n);
}

absl::StatusOr<Fd> Unpacker::OpenDir(const Components& comps, size_t count, bool create) {
  Fd cur(open(dest_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (cur.get() < 0) return ErrnoStatus(errno, absl::StrCat("open ", dest_));
  for (size_t i = 0; i < count; ++i) {
    const std::string& c = comps[i];
    int fd = openat(cur.get(), c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create) {
      if (mkdirat(cur.get(), c.c_str(), 0755) != 0 && errno != EEXIST) {
        return ErrnoStatus(errno, absl::StrCat("mkdir ", Describe(Components(comps.begin(), comps.begin() + i + 1))));
      }
      fd = openat(cur.get(), c.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0) {
      int err = errno;
      std::string prefix = Describe(Components(comps.begin(), comps.begin() + i + 1));
      if (err == ENOTDIR || err == ELOOP) {
        return absl::InvalidArgumentError(absl::StrCat("path \"", Describe(comps), "\" goes through \"", prefix,
                                                       "\", which is a symlink or not a directory"));
      }
      return ErrnoStatus(err, absl::StrCat("open ", prefix));
    }
    cur = Fd(fd);
  }
  return cur;
}

absl::Status Unpacker::RemoveExisting(int parent, const std::string& name, const Components& comps, bool keep_dir) {
  struct stat st;
  if (fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("stat ", Describe(comps)));
  }
  if (S_ISDIR(st.st_mode)) {
    if (keep_dir) return absl::OkStatus();
    // Every component up to here was checked not to be a symlink, so the path string stays inside.
    return fs::RemoveAll(absl::StrCat(dest_, "/", Describe(comps)));
  }
  if (unlinkat(parent, name.c_str(), 0) != 0) return ErrnoStatus(errno, absl::StrCat("unlink ", Describe(comps)));
  return absl::OkStatus();
}

absl::Status Unpacker::WriteData(struct archive* a, int fd, int64_t size, const std::string& path) {
  const void* block;
  size_t len;
  la_int64_t offset;
  while (true) {
    int rc = archive_read_data_block(a, &block, &len, &offset);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      if (!read_status_.ok()) return read_status_;
      return absl::DataLossError(absl::StrCat("read data of ", path, ": ", archive_error_string(a)));
    }
    const char* p = static_cast<const char*>(block);
    while (len > 0) {
      ssize_t w = pwrite(fd, p, len, offset);
      if (w < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, absl::StrCat("write ", path));
      }
      p += w;
      len -= static_cast<size_t>(w);
      offset += w;
    }
  }
  // Trailing holes of sparse files are not written as data blocks.
  if (ftruncate(fd, size) != 0) return ErrnoStatus(errno, absl::StrCat("truncate ", path));
  return absl::OkStatus();
}

absl::Status Unpacker::ApplyMetadata(int fd, struct archive_entry* e, const std::string& path, bool set_times) {
  if (fchown(fd, static_cast<uid_t>(archive_entry_uid(e)), static_cast<gid_t>(archive_entry_gid(e))) != 0) {
    if (is_root_ || errno != EPERM) return ErrnoStatus(errno, absl::StrCat("chown ", path));
  }
  // After chown, which clears setuid/setgid.
  if (fchmod(fd, archive_entry_perm(e) & 07777) != 0) return ErrnoStatus(errno, absl::StrCat("chmod ", path));
  // After chown, which clears security.capability.
  const char* name;
  const void* value;
  size_t size;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    // Overlay's own attributes (opaque, redirect, metacopy) only come from whiteout conversion;
    // from a tarball they would steer the overlay mount.
    if (std::string_view(name).rfind(kOverlayXattrPrefix, 0) == 0) {
      FLINT_LOG(DEBUG) << "unpack: ignoring xattr " << name << " on " << path;
      continue;
    }
    if (fsetxattr(fd, name, value, size, 0) != 0) {
      if (errno == ENOTSUP || (errno == EPERM && !is_root_)) {
        FLINT_LOG(DEBUG) << "unpack: xattr " << name << " on " << path << " not supported here, skipped";
        continue;
      }
      return ErrnoStatus(errno, absl::StrCat("setxattr ", name, " on ", path));
    }
  }
  if (set_times) {
    timespec times[2] = {{archive_entry_atime(e), archive_entry_atime_nsec(e)},
                         {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
    if (!archive_entry_atime_is_set(e)) times[0] = times[1];
    if (futimens(fd, times) != 0) return ErrnoStatus(errno, absl::StrCat("set times of ", path));
  }
  return absl::OkStatus();
}

absl::Status Unpacker::Entry(struct archive* a, struct archive_entry* e) {
  const char* raw = archive_entry_pathname(e);
  if (raw == nullptr) return absl::InvalidArgumentError("layer entry without a path");
  absl::StatusOr<Components> comps = SplitArchivePath(raw);
  if (!comps.ok()) return comps.status();
  const std::string path = raw;
  mode_t type = archive_entry_filetype(e);
  timespec times[2] = {{archive_entry_mtime(e), archive_entry_mtime_nsec(e)},
                       {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};

  if (comps->empty()) {  // "./": the layer root itself
    if (type != AE_IFDIR) return absl::InvalidArgumentError("layer root entry is not a directory");
    Fd fd(open(dest_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return ErrnoStatus(errno, absl::StrCat("open ", dest_));
    dir_times_.push_back({*comps, {times[0], times[1]}});
    return ApplyMetadata(fd.get(), e, path, false);
  }

  absl::StatusOr<Fd> parent = OpenDir(*comps, comps->size() - 1, true);
  if (!parent.ok()) return parent.status();
  const std::string& name = comps->back();
  int pfd = parent->get();
  uid_t uid = static_cast<uid_t>(archive_entry_uid(e));
  gid_t gid = static_cast<gid_t>(archive_entry_gid(e));

  if (name.rfind(kWhiteoutPrefix, 0) == 0) {
    if (name == kOpaqueWhiteout) {
      Fd dir(openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
      if (dir.get() < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
      if (fsetxattr(dir.get(), "trusted.overlay.opaque", "y", 1, 0) != 0) {
        return ErrnoStatus(errno, absl::StrCat("mark opaque: ", path));
      }
      return absl::OkStatus();
    }
    if (name.rfind(".wh..wh.", 0) == 0) return absl::OkStatus();  // other AUFS metadata
    std::string target = name.substr(kWhiteoutPrefix.size());
    if (target.empty() || target == "." || target == "..") {
      return absl::InvalidArgumentError(absl::StrCat("bad whiteout \"", path, "\""));
    }
    Components target_comps = *comps;
    target_comps.back() = target;
    if (absl::Status s = RemoveExisting(pfd, target, target_comps, false); !s.ok()) return s;
    if (mknodat(pfd, target.c_str(), S_IFCHR | 0, makedev(0, 0)) != 0) {
      return ErrnoStatus(errno, absl::StrCat("whiteout ", path));
    }
    if (fchownat(pfd, target.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 && is_root_) {
      return ErrnoStatus(errno, absl::StrCat("chown whiteout ", path));
    }
    return absl::OkStatus();
  }

  if (const char* link = archive_entry_hardlink(e); link != nullptr) {
    absl::StatusOr<Components> target = SplitArchivePath(link);
    if (!target.ok())
      return absl::InvalidArgumentError(absl::StrCat("hard link ", path, ": ", target.status().message()));
    if (target->empty()) return absl::InvalidArgumentError(absl::StrCat("hard link ", path, " to the layer root"));
    absl::StatusOr<Fd> target_parent = OpenDir(*target, target->size() - 1, false);
    if (!target_parent.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("hard link ", path, " -> ", link, ": ", target_parent.status().message()));
    }
    if (absl::Status s = RemoveExisting(pfd, name, *comps, false); !s.ok()) return s;
    // flags=0: a symlink target is linked itself, never followed.
    if (linkat(target_parent->get(), target->back().c_str(), pfd, name.c_str(), 0) != 0) {
      int err = errno;
      if (err == ENOENT)
        return absl::InvalidArgumentError(absl::StrCat("hard link ", path, " -> ", link, ": target not in layer"));
      return ErrnoStatus(err, absl::StrCat("hard link ", path, " -> ", link));
    }
    return absl::OkStatus();
  }

  if (absl::Status s = RemoveExisting(pfd, name, *comps, type == AE_IFDIR); !s.ok()) return s;
  switch (type) {
    case AE_IFDIR: {
      if (mkdirat(pfd, name.c_str(), 0700) != 0 && errno != EEXIST)
        return ErrnoStatus(errno, absl::StrCat("mkdir ", path));
      Fd fd(openat(pfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      if (fd.get() < 0) return ErrnoStatus(errno, absl::StrCat("open ", path));
      dir_times_.push_back({*comps, {times[0], times[1]}});
      return ApplyMetadata(fd.get(), e, path, false);
    }
    case AE_IFREG: {
      Fd fd(openat(pfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (fd.get() < 0) return ErrnoStatus(errno, absl::StrCat("create ", path));
      int64_t size = archive_entry_size(e);
      if (absl::Status s = WriteData(a, fd.get(), size, path); !s.ok()) return s;
      unpacked_bytes_ += static_cast<uint64_t>(size);
      return ApplyMetadata(fd.get(), e, path, true);
    }
    case AE_IFLNK: {
      const char* target = archive_entry_symlink(e);
      if (symlinkat(target != nullptr ? target : "", pfd, name.c_str()) != 0) {
        return ErrnoStatus(errno, absl::StrCat("symlink ", path));
      }
      if (fchownat(pfd, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 && is_root_) {
        return ErrnoStatus(errno, absl::StrCat("chown ", path));
      }
      if (utimensat(pfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoStatus(errno, absl::StrCat("set times of ", path));
      }
      return absl::OkStatus();
    }
    case AE_IFCHR:
    case AE_IFBLK:
    case AE_IFIFO: {
      if (mknodat(pfd, name.c_str(), type | 0600, archive_entry_rdev(e)) != 0) {
        return ErrnoStatus(errno, absl::StrCat("mknod ", path));
      }
      if (fchownat(pfd, name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 && is_root_) {
        return ErrnoStatus(errno, absl::StrCat("chown ", path));
      }
      if (fchmodat(pfd, name.c_str(), archive_entry_perm(e) & 07777, 0) != 0) {
        return ErrnoStatus(errno, absl::StrCat("chmod ", path));
      }
      if (utimensat(pfd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
        return ErrnoStatus(errno, absl::StrCat("set times of ", path));
      }
      return absl::OkStatus();
    }
    default:
      FLINT_LOG(DEBUG) << "unpack: skipping " << path << " of type " << type;
      return absl::OkStatus();
  }
}

absl::Status Unpacker::ApplyDirTimes() {
  for (const DirTimes& d : dir_times_) {
    if (d.path.empty()) {
      if (utimensat(AT_FDCWD, dest_.c_str(), d.times, 0) != 0) return ErrnoStatus(errno, "set times of layer root");
      continue;
    }
    absl::StatusOr<Fd> parent = OpenDir(d.path, d.path.size() - 1, false);
    if (!parent.ok()) continue;  // removed by a later entry
    if (utimensat(parent->get(), d.path.back().c_str(), d.times, AT_SYMLINK_NOFOLLOW) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("set times of ", Describe(d.path)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<UnpackResult> Unpacker::Run() {
  struct archive* a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_support_format_gnutar(a);
  archive_read_support_format_empty(a);  // a zero-length stream is a valid empty layer
  absl::Status status;
  if (archive_read_open(a, this, nullptr, &Unpacker::ReadCallback, nullptr) != ARCHIVE_OK) {
    status = read_status_.ok() ? absl::DataLossError(absl::StrCat("open tar stream: ", archive_error_string(a)))
                               : read_status_;
  }
  while (status.ok()) {
    struct archive_entry* e;
    int rc = archive_read_next_header(a, &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
      status = !read_status_.ok() ? read_status_
                                  : absl::DataLossError(absl::StrCat("read tar header: ", archive_error_string(a)));
      break;
    }
    status = Entry(a, e);
  }
  archive_read_free(a);
  if (!status.ok()) return status;
  if (absl::Status s = ApplyDirTimes(); !s.ok()) return s;
  absl::StatusOr<std::string> diff_id = reader_->FinishDiffId();
  if (!diff_id.ok()) return diff_id.status();
  return UnpackResult{*diff_id, unpacked_bytes_};
}

}  // namespace

absl::StatusOr<UnpackResult> UnpackLayer(const std::string& blob_path, const std::string& dest_dir) {
  absl::StatusOr<std::unique_ptr<LayerReader>> reader = LayerReader::Open(blob_path);
  if (!reader.ok()) return reader.status();
  Unpacker unpacker(dest_dir, reader->get());
  absl::StatusOr<UnpackResult> result = unpacker.Run();
  if (!result.ok()) {
    return absl::Status(result.status().code(), absl::StrCat("unpack ", blob_path, ": ", result.status().message()));
  }
  return result;
}

}  // namespace flint::image
