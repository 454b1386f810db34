// PackTarball: streams tar members straight into the in-memory model (no
// extraction), uploading file contents block by block.
#include <archive.h>
#include <archive_entry.h>

#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "flist-snapshotter/pack/block_uploader.h"
#include "flist-snapshotter/pack/pack_stats.h"
#include "flist-snapshotter/pack/v2_writer.h"
#include "flist-snapshotter/util/absl_compat.h"

namespace flint::flist {
namespace {

// "./a//b/" -> {"a", "b"}; ".." anywhere is an error, and so is a path longer
// than an flist entry's can be (which also bounds the work per member).
absl::StatusOr<std::vector<std::string>> SplitMemberPath(std::string_view raw) {
  if (raw.size() > kMaxPathLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("member path is ", raw.size(), " bytes, longer than ", kMaxPathLength, " (PATH_MAX)"));
  }
  std::vector<std::string> parts;
  for (absl::string_view part : absl::StrSplit(Av(raw), '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") return absl::InvalidArgumentError(absl::StrCat("member \"", Av(raw), "\" escapes the root"));
    parts.emplace_back(part);
  }
  return parts;
}

std::string JoinPath(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) absl::StrAppend(&out, "/", p);
  return out.empty() ? "/" : out;
}

// OCI layer whiteouts: ".wh.NAME" deletes NAME and ".wh..wh..opq" empties its
// directory, both only in the layers below (never in their own layer). A packed
// tarball has no layer below it, so they are dropped.
bool IsWhiteout(std::string_view raw) {
  while (!raw.empty() && raw.back() == '/') raw.remove_suffix(1);
  const size_t slash = raw.rfind('/');
  return raw.substr(slash == std::string_view::npos ? 0 : slash + 1).starts_with(".wh.");
}

class TarWalker {
 public:
  explicit TarWalker(BlockStore& store) : uploader_(store), builder_(FlistVersion::kV2) {}

  absl::StatusOr<Flist> Walk(const std::string& tar_path) {
    std::unique_ptr<archive, decltype(&archive_read_free)> ar(archive_read_new(), archive_read_free);
    archive_read_support_filter_all(ar.get());
    archive_read_support_format_tar(ar.get());
    archive_read_support_format_gnutar(ar.get());
    if (archive_read_open_filename(ar.get(), tar_path.c_str(), 1 << 16) != ARCHIVE_OK) {
      return absl::InvalidArgumentError(absl::StrCat("open ", tar_path, ": ", archive_error_string(ar.get())));
    }
    archive_entry* member = nullptr;
    while (true) {
      int rc = archive_read_next_header(ar.get(), &member);
      if (rc == ARCHIVE_EOF) break;
      if (rc != ARCHIVE_OK && rc != ARCHIVE_WARN) {
        return absl::DataLossError(absl::StrCat("read ", tar_path, ": ", archive_error_string(ar.get())));
      }
      const char* name = archive_entry_pathname(member);
      if (name != nullptr && IsWhiteout(name)) continue;  // its data is skipped by the next read_next_header
      if (auto s = AddMember(ar.get(), member); !s.ok()) {
        return absl::Status(s.code(), absl::StrCat(name != nullptr ? name : "?", ": ", s.message()));
      }
    }
    return std::move(builder_).Finish();
  }

  uint64_t uploaded() const { return uploader_.uploaded(); }
  // Blocks must be in the store before the flist that names them is written.
  absl::Status FinishUploads() { return uploader_.Finish(); }

 private:
  // Creates missing parent directories; returns the index of the parent.
  absl::StatusOr<uint32_t> EnsureParents(const std::vector<std::string>& parts) {
    uint32_t index = 0;
    std::string path;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      absl::StrAppend(&path, "/", parts[i]);
      if (auto found = builder_.Lookup(path)) {
        if (builder_.mutable_entry(*found).type != EntryType::kDirectory) {
          return absl::InvalidArgumentError(absl::StrCat(path, " is not a directory"));
        }
        index = *found;
        continue;
      }
      Entry dir;
      dir.type = EntryType::kDirectory;
      dir.mode = 0755;
      auto added = builder_.Add(index, parts[i], std::move(dir));
      if (!added.ok()) return added.status();
      index = *added;
    }
    return index;
  }

  absl::Status AddMember(archive* ar, archive_entry* member) {
    auto parts = SplitMemberPath(archive_entry_pathname(member) ? archive_entry_pathname(member) : "");
    if (!parts.ok()) return parts.status();
    Entry e;
    e.mode = archive_entry_perm(member) & 07777;
    e.uid = static_cast<uint32_t>(archive_entry_uid(member));
    e.gid = static_cast<uint32_t>(archive_entry_gid(member));
    e.mtime = archive_entry_mtime(member);

    if (const char* link = archive_entry_hardlink(member); link != nullptr) {
      auto target_parts = SplitMemberPath(link);
      if (!target_parts.ok()) return target_parts.status();
      auto target = builder_.Lookup(JoinPath(*target_parts));
      if (!target) return absl::NotFoundError(absl::StrCat("hard link target ", link, " not seen yet"));
      const Entry& t = builder_.mutable_entry(*target);
      if (t.type == EntryType::kDirectory) return absl::InvalidArgumentError("hard link to a directory");
      e.type = t.type;
      e.size = t.size;
      e.blocks = t.blocks;
      e.link_target = t.link_target;
      e.rdev = t.rdev;
    } else {
      switch (archive_entry_filetype(member)) {
        case AE_IFDIR: e.type = EntryType::kDirectory; break;
        case AE_IFLNK:
          e.type = EntryType::kSymlink;
          e.link_target = archive_entry_symlink(member) ? archive_entry_symlink(member) : "";
          e.size = e.link_target.size();
          break;
        case AE_IFCHR: e.type = EntryType::kCharDevice; break;
        case AE_IFBLK: e.type = EntryType::kBlockDevice; break;
        case AE_IFIFO: e.type = EntryType::kFifo; break;
        case AE_IFSOCK: e.type = EntryType::kSocket; break;
        case AE_IFREG: {
          e.type = EntryType::kRegular;
          auto read = [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
            la_ssize_t got = archive_read_data(ar, buf, n);
            if (got < 0) return absl::DataLossError(archive_error_string(ar));
            return static_cast<size_t>(got);
          };
          auto blocks = uploader_.Upload(read, &e.size);
          if (!blocks.ok()) return blocks.status();
          e.blocks = *std::move(blocks);
          break;
        }
        default:
          return absl::InvalidArgumentError("unsupported member type");
      }
      if (e.type == EntryType::kCharDevice || e.type == EntryType::kBlockDevice) {
        e.rdev = archive_entry_rdev(member);
      }
    }

    if (parts->empty()) {  // the root itself, e.g. "./"
      if (e.type != EntryType::kDirectory) return absl::InvalidArgumentError("root is not a directory");
      Entry& root = builder_.root();
      root.mode = e.mode;
      root.uid = e.uid;
      root.gid = e.gid;
      root.mtime = e.mtime;
      return absl::OkStatus();
    }
    auto parent = EnsureParents(*parts);
    if (!parent.ok()) return parent.status();
    if (auto existing = builder_.Lookup(JoinPath(*parts))) {
      // A later member wins, as with tar -x.
      Entry& old = builder_.mutable_entry(*existing);
      if (old.type == EntryType::kDirectory && e.type != EntryType::kDirectory && !old.children.empty()) {
        return absl::InvalidArgumentError("replaces a non-empty directory");
      }
      e.path = old.path;
      e.children = std::move(old.children);
      if (e.type != EntryType::kDirectory) e.children.clear();
      old = std::move(e);
      return absl::OkStatus();
    }
    auto added = builder_.Add(*parent, parts->back(), std::move(e));
    return added.ok() ? absl::OkStatus() : added.status();
  }

  BlockUploader uploader_;
  FlistBuilder builder_;
};

}  // namespace

absl::StatusOr<PackStats> PackTarball(const std::string& tar_path, const std::string& out_path,
                                      BlockStore& store, const PackOptions& options) {
  TarWalker walker(store);
  auto flist = walker.Walk(tar_path);
  if (!flist.ok()) {
    return absl::Status(flist.status().code(), absl::StrCat("pack ", tar_path, ": ", flist.status().message()));
  }
  if (auto s = walker.FinishUploads(); !s.ok()) {
    return absl::Status(s.code(), absl::StrCat("pack ", tar_path, ": ", s.message()));
  }
  if (auto s = WriteV2File(*flist, out_path, options); !s.ok()) return s;
  return StatsOf(*flist, walker.uploaded());
}

}  // namespace flint::flist
