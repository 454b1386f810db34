#include "flist-snapshotter/flist/v2_reader.h"

#include <sys/stat.h>

#include <deque>
#include <optional>
#include <unordered_map>
#include <vector>

#include "flist-snapshotter/util/absl_compat.h"
#include "absl/strings/str_cat.h"

namespace flint::flist {
namespace {

struct InodeRow {
  int64_t ino;
  std::string name;
  Entry entry;
};

absl::StatusOr<EntryType> TypeFromMode(int64_t mode) {
  switch (mode & S_IFMT) {
    case S_IFDIR: return EntryType::kDirectory;
    case S_IFREG: return EntryType::kRegular;
    case S_IFLNK: return EntryType::kSymlink;
    case S_IFBLK: return EntryType::kBlockDevice;
    case S_IFCHR: return EntryType::kCharDevice;
    case S_IFIFO: return EntryType::kFifo;
    case S_IFSOCK: return EntryType::kSocket;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown file type in mode 0", absl::Hex(mode)));
}

absl::Status Annotate(const absl::Status& s, std::string_view what) {
  return absl::Status(s.code(), absl::StrCat(Av(what), ": ", s.message()));
}

}  // namespace

absl::StatusOr<Flist> ReadV2(SqliteDb& db) {
  for (const char* table : {"inode", "extra", "block", "tag", "route"}) {
    auto has = db.HasPlainTable(table);
    if (!has.ok()) return has.status();
    if (!*has) return absl::InvalidArgumentError(absl::StrCat("no ", table, " table"));
  }
  // Rows are grouped by parent first, then the tree is walked from the root,
  // so parent/child order in the table does not matter and cycles are ignored.
  std::unordered_map<int64_t, std::vector<InodeRow>> by_parent;
  std::optional<InodeRow> root;
  {
    auto stmt = db.Prepare(
        "SELECT ino, parent, name, size, uid, gid, mode, rdev, mtime FROM inode ORDER BY ino");
    if (!stmt.ok()) return Annotate(stmt.status(), "read inodes");
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return Annotate(row.status(), "read inodes");
      if (!*row) break;
      InodeRow r;
      r.ino = stmt->Int64(0);
      int64_t parent = stmt->Int64(1);
      r.name = std::string(stmt->Bytes(2));
      int64_t size = stmt->Int64(3);
      int64_t uid = stmt->Int64(4);
      int64_t gid = stmt->Int64(5);
      int64_t mode = stmt->Int64(6);
      if (size < 0 || uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX) {
        return absl::InvalidArgumentError(absl::StrCat("inode ", r.ino, ": bad size or owner"));
      }
      auto type = TypeFromMode(mode);
      if (!type.ok()) return Annotate(type.status(), absl::StrCat("inode ", r.ino));
      r.entry.type = *type;
      r.entry.mode = static_cast<uint32_t>(mode & 07777);
      r.entry.size = static_cast<uint64_t>(size);
      r.entry.uid = static_cast<uint32_t>(uid);
      r.entry.gid = static_cast<uint32_t>(gid);
      r.entry.rdev = static_cast<uint64_t>(stmt->Int64(7));
      r.entry.mtime = stmt->Int64(8);
      if (r.ino == 1) {
        root = std::move(r);
      } else {
        by_parent[parent].push_back(std::move(r));
      }
    }
  }
  if (!root.has_value() || root->entry.type != EntryType::kDirectory) {
    return absl::InvalidArgumentError("no root directory (inode 1)");
  }

  std::unordered_map<int64_t, std::string> link_targets;
  {
    auto stmt = db.Prepare("SELECT ino, data FROM extra");
    if (!stmt.ok()) return Annotate(stmt.status(), "read extra");
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return Annotate(row.status(), "read extra");
      if (!*row) break;
      link_targets[stmt->Int64(0)] = std::string(stmt->Bytes(1));
    }
  }
  std::unordered_map<int64_t, std::vector<BlockRef>> blocks;
  {
    auto stmt = db.Prepare("SELECT ino, id, key FROM block ORDER BY rowid");
    if (!stmt.ok()) return Annotate(stmt.status(), "read blocks");
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return Annotate(row.status(), "read blocks");
      if (!*row) break;
      BlockRef b{std::string(stmt->Bytes(1)), std::string(stmt->Bytes(2))};
      if (b.id.size() != 32 || b.key.size() != 32) {
        return absl::InvalidArgumentError(absl::StrCat("inode ", stmt->Int64(0), ": block id/key is not 32 bytes"));
      }
      blocks[stmt->Int64(0)].push_back(std::move(b));
    }
  }

  FlistBuilder builder(FlistVersion::kV2);
  Entry& root_entry = builder.root();
  root_entry.mode = root->entry.mode;
  root_entry.uid = root->entry.uid;
  root_entry.gid = root->entry.gid;
  root_entry.size = root->entry.size;
  root_entry.mtime = root->entry.mtime;

  std::deque<std::pair<int64_t, uint32_t>> queue = {{1, 0}};  // (ino, builder index)
  while (!queue.empty()) {
    auto [dir_ino, dir_index] = queue.front();
    queue.pop_front();
    auto it = by_parent.find(dir_ino);
    if (it == by_parent.end()) continue;
    std::vector<InodeRow> children = std::move(it->second);
    by_parent.erase(it);  // a directory is expanded once, even if rows form a cycle
    for (InodeRow& child : children) {
      if (child.entry.type == EntryType::kSymlink) {
        auto t = link_targets.find(child.ino);
        if (t == link_targets.end()) {
          return absl::InvalidArgumentError(absl::StrCat("symlink inode ", child.ino, " has no target"));
        }
        child.entry.link_target = std::move(t->second);
      } else if (child.entry.type == EntryType::kRegular) {
        if (auto b = blocks.find(child.ino); b != blocks.end()) child.entry.blocks = std::move(b->second);
      }
      const bool is_dir = child.entry.type == EntryType::kDirectory;
      auto index = builder.Add(dir_index, child.name, std::move(child.entry));
      if (!index.ok()) return Annotate(index.status(), absl::StrCat("inode ", child.ino));
      if (is_dir) queue.emplace_back(child.ino, *index);
    }
  }

  if (!by_parent.empty()) {
    size_t orphans = 0;
    for (const auto& [parent, rows] : by_parent) orphans += rows.size();
    return absl::InvalidArgumentError(
        absl::StrCat(orphans, " inodes are not reachable from the root (first parent ",
                     by_parent.begin()->first, ")"));
  }

  {
    auto stmt = db.Prepare("SELECT key, value FROM tag");
    if (!stmt.ok()) return Annotate(stmt.status(), "read tags");
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return Annotate(row.status(), "read tags");
      if (!*row) break;
      builder.SetTag(std::string(stmt->Bytes(0)), std::string(stmt->Bytes(1)));
    }
  }
  {
    auto stmt = db.Prepare("SELECT start, \"end\", url FROM route ORDER BY rowid");
    if (!stmt.ok()) return Annotate(stmt.status(), "read routes");
    while (true) {
      auto row = stmt->Step();
      if (!row.ok()) return Annotate(row.status(), "read routes");
      if (!*row) break;
      int64_t start = stmt->Int64(0);
      int64_t end = stmt->Int64(1);
      if (start < 0 || end > 255 || start > end) {
        return absl::InvalidArgumentError(absl::StrCat("route range ", start, "-", end, " is invalid"));
      }
      builder.AddRoute(Route{static_cast<uint8_t>(start), static_cast<uint8_t>(end),
                             std::string(stmt->Bytes(2))});
    }
  }
  return std::move(builder).Finish();
}

}  // namespace flint::flist
