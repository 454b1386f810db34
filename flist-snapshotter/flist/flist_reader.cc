#include "flist-snapshotter/flist/flist_reader.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "flist-snapshotter/flist/sqlite_db.h"
#include "flist-snapshotter/flist/v1_reader.h"
#include "flist-snapshotter/flist/v2_reader.h"

namespace flint::flist {
namespace {

constexpr std::string_view kSqliteMagic("SQLite format 3\0", 16);

// Told apart as the readers select: table names in any case, and a view or the like in place of
// one is refused (InvalidArgument), not passed over.
absl::StatusOr<Flist> ReadSqlite(SqliteDb& db) {
  auto has_inode = db.HasPlainTable("inode");
  if (!has_inode.ok()) return has_inode.status();
  if (*has_inode) return ReadV2(db);
  auto has_entries = db.HasPlainTable("entries");
  if (!has_entries.ok()) return has_entries.status();
  if (*has_entries) return ReadV1(db);
  return absl::InvalidArgumentError("SQLite file has neither an inode (v2) nor an entries (v1) table");
}

}  // namespace

FileFormat SniffFormat(std::string_view head) {
  if (head.size() >= 2 && static_cast<uint8_t>(head[0]) == 0x1f && static_cast<uint8_t>(head[1]) == 0x8b) {
    return FileFormat::kGzip;
  }
  if (head.substr(0, kSqliteMagic.size()) == kSqliteMagic) return FileFormat::kSqlite;
  return FileFormat::kUnknown;
}

absl::StatusOr<Flist> ReadFlistFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("flist ", path, ": cannot open"));
  char head[16] = {};
  in.read(head, sizeof(head));
  const std::string_view head_view(head, static_cast<size_t>(in.gcount()));
  in.close();

  absl::StatusOr<Flist> result = absl::InvalidArgumentError("not a flist (unknown magic bytes)");
  switch (SniffFormat(head_view)) {
    case FileFormat::kGzip:
      result = ReadV1Archive(path);
      break;
    case FileFormat::kSqlite: {
      auto db = SqliteDb::OpenReadOnly(path);
      if (!db.ok()) {
        result = db.status();
        break;
      }
      result = ReadSqlite(*db);
      break;
    }
    case FileFormat::kUnknown:
      break;
  }
  if (!result.ok()) {
    return absl::Status(result.status().code(), absl::StrCat("flist ", path, ": ", result.status().message()));
  }
  return result;
}

absl::StatusOr<Flist> ReadFlistFd(int fd) {
  const std::string name = absl::StrCat("/proc/self/fd/", fd);
  auto failed = [&](const absl::Status& s) {
    return absl::Status(s.code(), absl::StrCat("flist ", name, ": ", s.message()));
  };
  struct stat st {};
  if (fstat(fd, &st) != 0) return failed(absl::NotFoundError(std::strerror(errno)));
  if (!S_ISREG(st.st_mode)) return failed(absl::InvalidArgumentError("not a regular file"));
  std::string content(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < content.size()) {
    const ssize_t n = pread(fd, content.data() + got, content.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failed(absl::DataLossError(absl::StrCat("read: ", std::strerror(errno))));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  content.resize(got);
  switch (SniffFormat(content)) {
    case FileFormat::kGzip:
      return ReadFlistFile(name);  // libarchive opens the descriptor's link, deleted or not
    case FileFormat::kSqlite: {
      auto db = SqliteDb::FromImage(content);
      if (!db.ok()) return failed(db.status());
      content.clear();
      content.shrink_to_fit();
      absl::StatusOr<Flist> result = ReadSqlite(*db);
      if (!result.ok()) return failed(result.status());
      return result;
    }
    case FileFormat::kUnknown:
      break;
  }
  return failed(absl::InvalidArgumentError("not a flist (unknown magic bytes)"));
}

}  // namespace flint::flist
