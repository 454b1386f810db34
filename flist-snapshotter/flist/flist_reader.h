// Opens a flist file of either generation, chosen by its magic bytes:
// gzip (1f 8b) is a v1 .flist (tar.gz holding flistdb.sqlite3); a SQLite
// header is a v2 .fl, or a bare v1 flistdb.sqlite3 (told apart by its tables).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "flist-snapshotter/flist/model.h"

namespace flint::flist {

enum class FileFormat { kUnknown, kGzip, kSqlite };
FileFormat SniffFormat(std::string_view head);

absl::StatusOr<Flist> ReadFlistFile(const std::string& path);
// The same from an open descriptor, whose file may have been deleted: SQLite
// resolves /proc/self/fd/N to the file's old name and could not open it, so
// a SQLite flist is read into memory first.
absl::StatusOr<Flist> ReadFlistFd(int fd);

}  // namespace flint::flist
