#include "flist-snapshotter/pack/v2_writer.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>

#include "absl/strings/str_cat.h"
#include "flist-snapshotter/flist/sqlite_db.h"
#include "flist-snapshotter/flist/v2_reader.h"
#include "flist-snapshotter/pack/v2_schema.h"

namespace flint::flist {
namespace {

absl::Status WriteRows(SqliteDb& db, const Flist& flist, const PackOptions& options) {
  auto inode = db.Prepare(
      "INSERT INTO inode (parent, name, size, uid, gid, mode, rdev, ctime, mtime) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
  auto extra = db.Prepare("INSERT INTO extra (ino, data) VALUES (?, ?)");
  auto block = db.Prepare("INSERT INTO block (ino, id, key) VALUES (?, ?, ?)");
  auto tag = db.Prepare("INSERT INTO tag (key, value) VALUES (?, ?)");
  auto route = db.Prepare("INSERT INTO route (start, end, url) VALUES (?, ?, ?)");
  for (auto* s : {&inode, &extra, &block, &tag, &route}) {
    if (!s->ok()) return s->status();
  }
  int64_t next_ino = 1;
  auto insert = [&](const Entry& e, int64_t parent, std::string_view name) -> absl::StatusOr<int64_t> {
    inode->BindInt64(1, parent);
    inode->BindText(2, name);
    inode->BindInt64(3, static_cast<int64_t>(e.size));
    inode->BindInt64(4, e.uid);
    inode->BindInt64(5, e.gid);
    inode->BindInt64(6, e.st_mode());
    inode->BindInt64(7, static_cast<int64_t>(e.rdev));
    inode->BindInt64(8, e.mtime);  // the model keeps no ctime; readers ignore it
    inode->BindInt64(9, e.mtime);
    if (auto s = inode->Run(); !s.ok()) return s;
    const int64_t ino = next_ino++;
    if (e.type == EntryType::kSymlink) {
      extra->BindInt64(1, ino);
      extra->BindBlob(2, e.link_target);
      if (auto s = extra->Run(); !s.ok()) return s;
    }
    for (const BlockRef& b : e.blocks) {
      block->BindInt64(1, ino);
      block->BindBlob(2, b.id);
      block->BindBlob(3, b.key);
      if (auto s = block->Run(); !s.ok()) return s;
    }
    return ino;
  };

  // Breadth-first: a directory's row, then its entries; subdirectories queued.
  const auto& entries = flist.entries();
  auto root_ino = insert(flist.root(), 0, "/");
  if (!root_ino.ok()) return root_ino.status();
  std::deque<std::pair<uint32_t, int64_t>> queue = {{0, *root_ino}};
  while (!queue.empty()) {
    auto [index, ino] = queue.front();
    queue.pop_front();
    for (uint32_t child : entries[index].children) {
      const Entry& e = entries[child];
      auto child_ino = insert(e, ino, e.name());
      if (!child_ino.ok()) return child_ino.status();
      if (e.type == EntryType::kDirectory) queue.emplace_back(child, *child_ino);
    }
  }
  for (const auto& [k, v] : options.tags) {
    tag->BindText(1, k);
    tag->BindText(2, v);
    if (auto s = tag->Run(); !s.ok()) return s;
  }
  for (const Route& r : options.routes) {
    route->BindInt64(1, r.start);
    route->BindInt64(2, r.end);
    route->BindText(3, r.url);
    if (auto s = route->Run(); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status WriteTables(SqliteDb& db, const Flist& flist, const PackOptions& options) {
  if (auto s = db.Exec(kV2Schema); !s.ok()) return s;
  if (auto s = db.Exec("BEGIN"); !s.ok()) return s;
  if (auto s = WriteRows(db, flist, options); !s.ok()) return s;
  return db.Exec("COMMIT");
}

absl::Status WriteDatabase(const Flist& flist, const std::string& path, const PackOptions& options) {
  auto db = SqliteDb::Create(path);
  if (!db.ok()) return db.status();
  // rfs disables WAL so the flist stays a single self-contained file.
  if (auto s = db->Exec("PRAGMA journal_mode=DELETE"); !s.ok()) return s;
  return WriteTables(*db, flist, options);
}

}  // namespace

absl::Status WriteV2File(const Flist& flist, const std::string& out_path, const PackOptions& options) {
  const std::string tmp = absl::StrCat(out_path, ".tmp-", getpid());
  unlink(tmp.c_str());
  absl::Status s = WriteDatabase(flist, tmp, options);
  if (s.ok() && rename(tmp.c_str(), out_path.c_str()) != 0) {
    s = absl::InternalError(absl::StrCat("rename to ", out_path, ": ", std::strerror(errno)));
  }
  if (!s.ok()) {
    unlink(tmp.c_str());
    unlink(absl::StrCat(tmp, "-journal").c_str());
    return absl::Status(s.code(), absl::StrCat("write ", out_path, ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status WarmUpV2ReadWrite() {
  FlistBuilder builder(FlistVersion::kV2);
  builder.root().mode = 0755;
  Entry dir;
  dir.type = EntryType::kDirectory;
  dir.mode = 0755;
  auto etc = builder.Add(0, "etc", dir);
  if (!etc.ok()) return etc.status();
  Entry file;
  file.mode = 0644;
  file.size = 11;
  file.blocks.push_back(BlockRef{std::string(32, 'i'), std::string(32, 'k')});
  if (auto s = builder.Add(*etc, "hostname", file); !s.ok()) return s.status();
  Entry link;
  link.type = EntryType::kSymlink;
  link.mode = 0777;
  link.link_target = "etc/hostname";
  if (auto s = builder.Add(0, "hostname", link); !s.ok()) return s.status();
  const Flist flist = std::move(builder).Finish();
  PackOptions options;
  options.routes.push_back(Route{0, 255, "redis://warm-up"});
  options.tags["version"] = "warm-up";

  // In memory: nothing touches the disk. (A memfd opened by its /proc/self/fd path does not work:
  // SQLite resolves the link and would create a file named after the memfd.)
  auto db = SqliteDb::Create(":memory:");
  if (!db.ok()) return db.status();
  if (auto s = WriteTables(*db, flist, options); !s.ok()) return s;
  auto read = ReadV2(*db);
  if (!read.ok()) return read.status();
  const Entry* hostname = read->Resolve("/hostname");
  if (read->entries().size() != flist.entries().size() || hostname == nullptr || hostname->blocks.size() != 1 ||
      hostname->blocks[0].id != file.blocks[0].id) {
    return absl::InternalError("flist v2 warm-up: the flist read back differs from the one written");
  }
  return absl::OkStatus();
}

}  // namespace flint::flist
