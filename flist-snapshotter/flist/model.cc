#include "flist-snapshotter/flist/model.h"

#include <sys/stat.h>

#include <algorithm>
#include <vector>

#include "flist-snapshotter/util/absl_compat.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace flint::flist {

std::string_view EntryTypeName(EntryType type) {
  switch (type) {
    case EntryType::kDirectory: return "dir";
    case EntryType::kRegular: return "file";
    case EntryType::kSymlink: return "symlink";
    case EntryType::kBlockDevice: return "block";
    case EntryType::kCharDevice: return "char";
    case EntryType::kFifo: return "fifo";
    case EntryType::kSocket: return "socket";
  }
  return "unknown";
}

std::string_view Entry::name() const {
  if (path == "/") return "";
  return std::string_view(path).substr(path.rfind('/') + 1);
}

uint32_t Entry::st_mode() const {
  uint32_t fmt = 0;
  switch (type) {
    case EntryType::kDirectory: fmt = S_IFDIR; break;
    case EntryType::kRegular: fmt = S_IFREG; break;
    case EntryType::kSymlink: fmt = S_IFLNK; break;
    case EntryType::kBlockDevice: fmt = S_IFBLK; break;
    case EntryType::kCharDevice: fmt = S_IFCHR; break;
    case EntryType::kFifo: fmt = S_IFIFO; break;
    case EntryType::kSocket: fmt = S_IFSOCK; break;
  }
  return fmt | (mode & 07777);
}

const Entry* Flist::Find(std::string_view path) const {
  std::string normalized = "/";
  for (absl::string_view part : absl::StrSplit(Av(path), '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (normalized.size() > 1) normalized.push_back('/');
    normalized.append(part.data(), part.size());
  }
  auto it = by_path_.find(normalized);
  return it == by_path_.end() ? nullptr : &entries_[it->second];
}

const Entry* Flist::Resolve(std::string_view path, int max_links) const {
  // Components still to walk, last first, so a link's target can be pushed in front of the rest.
  std::vector<std::string> pending;
  auto push_path = [&pending](std::string_view p) {
    std::vector<std::string> parts;
    for (absl::string_view part : absl::StrSplit(Av(p), '/', absl::SkipEmpty())) parts.emplace_back(part);
    pending.insert(pending.end(), parts.rbegin(), parts.rend());
  };
  push_path(path);
  std::vector<uint32_t> walked = {0};  // entry indices from the root to the current directory
  while (!pending.empty()) {
    const std::string part = std::move(pending.back());
    pending.pop_back();
    if (part == ".") continue;
    if (part == "..") {
      if (walked.size() > 1) walked.pop_back();
      continue;
    }
    const Entry& dir = entries_[walked.back()];
    if (dir.type != EntryType::kDirectory) return nullptr;
    const std::string child_path = dir.path == "/" ? "/" + part : dir.path + "/" + part;
    auto it = by_path_.find(child_path);
    if (it == by_path_.end()) return nullptr;
    const Entry& child = entries_[it->second];
    if (child.type != EntryType::kSymlink) {
      walked.push_back(it->second);
      continue;
    }
    if (--max_links < 0) return nullptr;
    if (!child.link_target.empty() && child.link_target.front() == '/') walked.resize(1);
    push_path(child.link_target);
  }
  return &entries_[walked.back()];
}

FlistStats Flist::Stats() const {
  FlistStats s;
  for (const Entry& e : entries_) {
    switch (e.type) {
      case EntryType::kDirectory: ++s.directories; break;
      case EntryType::kRegular:
        ++s.regular_files;
        s.regular_bytes += e.size;
        s.blocks += e.blocks.size();
        break;
      case EntryType::kSymlink: ++s.symlinks; break;
      default: ++s.others; break;
    }
  }
  return s;
}

absl::Status ValidateName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("empty file name");
  if (name == "." || name == "..") return absl::InvalidArgumentError(absl::StrCat("illegal file name \"", Av(name), "\""));
  if (name.size() > 255) return absl::InvalidArgumentError("file name longer than 255 bytes");
  if (name.find('/') != std::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat("file name \"", Av(name), "\" contains '/'"));
  }
  if (name.find('\0') != std::string_view::npos) return absl::InvalidArgumentError("file name contains NUL");
  return absl::OkStatus();
}

FlistBuilder::FlistBuilder(FlistVersion version) {
  flist_.version_ = version;
  Entry root;
  root.path = "/";
  root.type = EntryType::kDirectory;
  root.mode = 0755;
  flist_.entries_.push_back(std::move(root));
  flist_.by_path_["/"] = 0;
}

absl::StatusOr<uint32_t> FlistBuilder::Add(uint32_t parent, std::string_view name, Entry entry) {
  if (parent >= flist_.entries_.size() || flist_.entries_[parent].type != EntryType::kDirectory) {
    return absl::InvalidArgumentError(absl::StrCat("parent of \"", Av(name), "\" is not a directory"));
  }
  const std::string& parent_path = flist_.entries_[parent].path;
  if (auto s = ValidateName(name); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("in ", parent_path, ": ", s.message()));
  }
  // Checked before the path is built: every entry holds its full path, so
  // without a cap a deep chain of directories costs memory quadratic in its depth.
  const size_t parent_length = parent_path == "/" ? 0 : parent_path.size();
  if (const size_t length = parent_length + 1 + name.size(); length > kMaxPathLength) {
    const auto depth = std::count(parent_path.begin(), parent_path.end(), '/') + (parent_length == 0 ? 0 : 1);
    return absl::InvalidArgumentError(absl::StrCat("path of \"", Av(name), "\" at depth ", depth, " is ", length,
                                                   " bytes, longer than ", kMaxPathLength, " (PATH_MAX)"));
  }
  entry.path = parent_length == 0 ? absl::StrCat("/", Av(name)) : absl::StrCat(parent_path, "/", Av(name));
  entry.children.clear();
  const auto index = static_cast<uint32_t>(flist_.entries_.size());
  if (!flist_.by_path_.emplace(entry.path, index).second) {
    return absl::AlreadyExistsError(absl::StrCat("duplicate entry ", entry.path));
  }
  flist_.entries_.push_back(std::move(entry));
  flist_.entries_[parent].children.push_back(index);
  return index;
}

std::optional<uint32_t> FlistBuilder::Lookup(std::string_view path) const {
  auto it = flist_.by_path_.find(Av(path));
  if (it == flist_.by_path_.end()) return std::nullopt;
  return it->second;
}

Flist FlistBuilder::Finish() && {
  auto& entries = flist_.entries_;
  for (Entry& e : entries) {
    std::sort(e.children.begin(), e.children.end(),
              [&](uint32_t a, uint32_t b) { return entries[a].name() < entries[b].name(); });
  }
  return std::move(flist_);
}

}  // namespace flint::flist
