#include "flist-snapshotter/flist/archive_api.h"

#include "flist-snapshotter/util/shared_library.h"

namespace flint::flist {
namespace {

absl::StatusOr<ArchiveApi> Load() {
  SharedLibrary lib("libarchive.so.13", "v1 flists", "libarchive13");
  ArchiveApi api{};
  lib.Bind(api.read_new, "archive_read_new");
  lib.Bind(api.read_free, "archive_read_free");
  lib.Bind(api.read_support_filter_gzip, "archive_read_support_filter_gzip");
  lib.Bind(api.read_support_format_tar, "archive_read_support_format_tar");
  lib.Bind(api.read_support_format_gnutar, "archive_read_support_format_gnutar");
  lib.Bind(api.read_open_filename, "archive_read_open_filename");
  lib.Bind(api.read_next_header, "archive_read_next_header");
  lib.Bind(api.read_data, "archive_read_data");
  lib.Bind(api.error_string, "archive_error_string");
  lib.Bind(api.entry_pathname, "archive_entry_pathname");
  lib.Bind(api.entry_filetype, "archive_entry_filetype");
  lib.Bind(api.entry_size, "archive_entry_size");
  if (!lib.status().ok()) return lib.status();
  return api;
}

}  // namespace

absl::StatusOr<const ArchiveApi*> LoadArchive() {
  static const absl::StatusOr<ArchiveApi> loaded = Load();
  if (!loaded.ok()) return loaded.status();
  return &*loaded;
}

}  // namespace flint::flist
