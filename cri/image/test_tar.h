// Test helper: builds layer tarballs with libarchive's writer.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace flint::image::testing {

enum class TarCompression { kNone, kGzip, kZstd };

struct TarEntry {
  std::string path;
  mode_t type = AE_IFREG;
  unsigned mode = 0644;
  std::string data;  // regular file content
  std::string link;  // symlink target, or hard link target when hardlink = true
  bool hardlink = false;
  int64_t uid = 0, gid = 0;
  int64_t mtime = 1700000000;
  unsigned rdev_major = 0, rdev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
  // Sparse regular file: (offset, length) data regions; `data` is the whole logical content and
  // only the regions are stored in the archive.
  std::vector<std::pair<int64_t, int64_t>> sparse;
};

inline TarEntry File(std::string path, std::string data, unsigned mode = 0644) {
  TarEntry e;
  e.path = std::move(path);
  e.data = std::move(data);
  e.mode = mode;
  return e;
}
inline TarEntry Dir(std::string path, unsigned mode = 0755) {
  TarEntry e;
  e.path = std::move(path);
  e.type = AE_IFDIR;
  e.mode = mode;
  return e;
}
inline TarEntry Symlink(std::string path, std::string target) {
  TarEntry e;
  e.path = std::move(path);
  e.type = AE_IFLNK;
  e.mode = 0777;
  e.link = std::move(target);
  return e;
}
inline TarEntry Hardlink(std::string path, std::string target) {
  TarEntry e;
  e.path = std::move(path);
  e.link = std::move(target);
  e.hardlink = true;
  return e;
}

// Writes the entries as a pax tar to `path`; returns false on a libarchive error.
bool WriteTar(const std::string& path, const std::vector<TarEntry>& entries, TarCompression compression);

// The whole tar as bytes.
std::string TarBytes(const std::vector<TarEntry>& entries, TarCompression compression);

}  // namespace flint::image::testing
