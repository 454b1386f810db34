#include "cri/image/test_tar.h"

#include <sys/sysmacros.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace flint::image::testing {

bool WriteTar(const std::string& path, const std::vector<TarEntry>& entries, TarCompression compression) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (compression == TarCompression::kGzip) archive_write_add_filter_gzip(a);
  if (compression == TarCompression::kZstd) archive_write_add_filter_zstd(a);
  bool ok = archive_write_open_filename(a, path.c_str()) == ARCHIVE_OK;
  for (const TarEntry& t : entries) {
    if (!ok) break;
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, t.path.c_str());
    archive_entry_set_uid(e, t.uid);
    archive_entry_set_gid(e, t.gid);
    archive_entry_set_mtime(e, t.mtime, 0);
    if (t.hardlink) {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, t.mode);
      archive_entry_set_hardlink(e, t.link.c_str());
      archive_entry_set_size(e, 0);
    } else {
      archive_entry_set_filetype(e, t.type);
      archive_entry_set_perm(e, t.mode);
      if (t.type == AE_IFLNK) archive_entry_set_symlink(e, t.link.c_str());
      if (t.type == AE_IFCHR || t.type == AE_IFBLK) archive_entry_set_rdev(e, makedev(t.rdev_major, t.rdev_minor));
      archive_entry_set_size(e, t.type == AE_IFREG ? static_cast<int64_t>(t.data.size()) : 0);
      if (!t.sparse.empty()) {
        for (const auto& [offset, length] : t.sparse) archive_entry_sparse_add_entry(e, offset, length);
      }
    }
    for (const auto& [name, value] : t.xattrs) {
      archive_entry_xattr_add_entry(e, name.c_str(), value.data(), value.size());
    }
    ok = archive_write_header(a, e) == ARCHIVE_OK;
    if (ok && !t.hardlink && t.type == AE_IFREG && !t.data.empty()) {
      ok = archive_write_data(a, t.data.data(), t.data.size()) == static_cast<la_ssize_t>(t.data.size());
    }
    archive_entry_free(e);
  }
  ok = archive_write_close(a) == ARCHIVE_OK && ok;
  archive_write_free(a);
  return ok;
}

std::string TarBytes(const std::vector<TarEntry>& entries, TarCompression compression) {
  char tmpl[] = "/tmp/flint-tar-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) return "";
  close(fd);
  std::string out;
  if (WriteTar(tmpl, entries, compression)) {
    std::ifstream in(tmpl, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    out = ss.str();
  }
  unlink(tmpl);
  return out;
}

}  // namespace flint::image::testing
