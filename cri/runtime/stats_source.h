// What the stats handlers need from the records that the records do not hold directly: the
// exact linux.cgroupsPath each pod and container was created with. It is read back from the
// bundle's config.json (the spec the OCI runtime got), so stats never recompute it with rules
// that might drift from the spec builder, and cached because it never changes for an id.
#pragma once

#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "absl/status/statusor.h"

namespace flint::runtime {

// linux.cgroupsPath of the OCI bundle at `bundle_dir` (NotFound when the spec has none).
absl::StatusOr<std::string> ReadBundleCgroupsPath(const std::string& bundle_dir);

class CgroupsPathCache {
 public:
  absl::StatusOr<std::string> Get(const std::string& id, const std::string& bundle_dir);
  // Drops ids not in `live`, so removed pods and containers do not pile up.
  void Retain(const std::unordered_set<std::string>& live);

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::string> paths_;
};

}  // namespace flint::runtime
