// libarchive, loaded with dlopen the first time a v1 flist (a gzip'd tar) is
// opened. flist-mount is linked statically against everything else so a mount
// starts fast; libarchive's compression libraries (and libxml2 with ICU) would
// add ~20 shared objects to every start, although most flists are v2 files.
#pragma once

#include <archive.h>
#include <archive_entry.h>

#include "absl/status/statusor.h"

namespace flint::flist {

struct ArchiveApi {
  archive* (*read_new)();
  int (*read_free)(archive*);
  int (*read_support_filter_gzip)(archive*);
  int (*read_support_format_tar)(archive*);
  int (*read_support_format_gnutar)(archive*);
  int (*read_open_filename)(archive*, const char*, size_t);
  int (*read_next_header)(archive*, archive_entry**);
  la_ssize_t (*read_data)(archive*, void*, size_t);
  const char* (*error_string)(archive*);
  const char* (*entry_pathname)(archive_entry*);
  __LA_MODE_T (*entry_filetype)(archive_entry*);
  la_int64_t (*entry_size)(archive_entry*);
};

// Loads libarchive.so.13 once per process; thread-safe.
absl::StatusOr<const ArchiveApi*> LoadArchive();

}  // namespace flint::flist
