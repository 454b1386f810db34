// The in-memory form of a flist, shared by both on-disk generations: a tree
// of entries with ownership, modes and per-file block lists, plus metadata
// (tags and routes to the block stores).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace flint::flist {

enum class FlistVersion { kV1 = 1, kV2 = 2 };

// Longest absolute path of an entry, as Linux's PATH_MAX.
inline constexpr size_t kMaxPathLength = 4096;

enum class EntryType { kDirectory, kRegular, kSymlink, kBlockDevice, kCharDevice, kFifo, kSocket };

std::string_view EntryTypeName(EntryType type);

struct BlockRef {
  std::string id;   // raw store key
  std::string key;  // raw decryption key
};

struct Entry {
  std::string path;  // absolute, "/" for the root, no trailing slash
  EntryType type = EntryType::kRegular;
  uint32_t mode = 0;  // permission bits including setuid, setgid and sticky (07777)
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t size = 0;
  int64_t mtime = 0;
  std::string link_target;        // symlinks only
  uint64_t rdev = 0;              // device nodes only
  std::vector<BlockRef> blocks;   // regular files only; block i covers [i*512KiB, ...)
  std::vector<uint32_t> children; // directories only; indices into Flist::entries(), by name

  std::string_view name() const;
  // st_mode: type bits | permission bits.
  uint32_t st_mode() const;
};

// A contiguous range of block-id first bytes served by `url` (inclusive).
struct Route {
  uint8_t start = 0;
  uint8_t end = 255;
  std::string url;
};

struct FlistStats {
  uint64_t directories = 0;
  uint64_t regular_files = 0;
  uint64_t symlinks = 0;
  uint64_t others = 0;
  uint64_t regular_bytes = 0;
  uint64_t blocks = 0;
};

class Flist {
 public:
  FlistVersion version() const { return version_; }
  const std::vector<Entry>& entries() const { return entries_; }
  const Entry& root() const { return entries_[0]; }
  // `path` is absolute or relative to the root; "." and empty components are ignored.
  const Entry* Find(std::string_view path) const;
  // Like Find, but follows symlinks (in any component) the way a lookup
  // chrooted at the flist's root would: ".." never climbs above the root and
  // absolute targets start at it. Null when missing or after `max_links` links.
  const Entry* Resolve(std::string_view path, int max_links = 40) const;
  // v2: the `tag` table. v1: the `metadata` table.
  const std::map<std::string, std::string>& tags() const { return tags_; }
  const std::vector<Route>& routes() const { return routes_; }
  FlistStats Stats() const;

 private:
  friend class FlistBuilder;
  FlistVersion version_ = FlistVersion::kV2;
  std::vector<Entry> entries_;
  absl::flat_hash_map<std::string, uint32_t> by_path_;
  std::map<std::string, std::string> tags_;
  std::vector<Route> routes_;
};

// Assembles a Flist while validating names: every entry is added under an
// existing directory, so paths cannot escape the root.
class FlistBuilder {
 public:
  explicit FlistBuilder(FlistVersion version);
  // The root entry (index 0) exists from the start; set its attributes here.
  Entry& root() { return flist_.entries_[0]; }
  // Adds `entry` named `name` under the directory at index `parent`; entry.path
  // and entry.children are filled in. Returns the new index. Fails when the
  // name is invalid or the path would be longer than kMaxPathLength.
  absl::StatusOr<uint32_t> Add(uint32_t parent, std::string_view name, Entry entry);
  void SetTag(std::string key, std::string value) { flist_.tags_[std::move(key)] = std::move(value); }
  void AddRoute(Route route) { flist_.routes_.push_back(std::move(route)); }
  const std::string& path(uint32_t index) const { return flist_.entries_[index].path; }
  // Index of the entry at an absolute path, if any.
  std::optional<uint32_t> Lookup(std::string_view path) const;
  // In-place access, e.g. to let a later tar member override an earlier one.
  // The path and children must not be changed.
  Entry& mutable_entry(uint32_t index) { return flist_.entries_[index]; }
  // Sorts children by name and returns the result.
  Flist Finish() &&;

 private:
  Flist flist_;
};

// A name is valid when it is non-empty, not "." or "..", at most 255 bytes and
// holds neither '/' nor NUL.
absl::Status ValidateName(std::string_view name);

}  // namespace flint::flist
