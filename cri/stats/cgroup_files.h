// Small parsers for cgroup pseudo-files, shared by the v1 and v2 readers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::stats::internal {

// Reads a pseudo-file with one read loop (they are small; no iostreams on the hot path).
// ENOENT is NotFound.
absl::StatusOr<std::string> ReadSmallFile(const std::string& path);

// "123\n" -> 123. Anything else (including "max") is nullopt.
std::optional<uint64_t> ParseUint(std::string_view text);

// "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control).
class FlatKeyedFile {
 public:
  explicit FlatKeyedFile(std::string_view content);
  std::optional<uint64_t> Get(std::string_view key) const;

 private:
  std::vector<std::pair<std::string, uint64_t>> entries_;
};

// Joins a hierarchy root, an optional controller dir and a cgroup path ("/a/b" or "a/b").
std::string JoinCgroupPath(const std::string& root, std::string_view controller, std::string_view cgroup_path);

int64_t RealtimeNanos();

// usage - inactive_file, clamped at 0 (kubelet/cAdvisor definition).
uint64_t WorkingSet(uint64_t usage, std::optional<uint64_t> inactive_file);

}  // namespace flint::stats::internal
