// Pods and containers as flintd knows them: records persisted in SQLite (<root>/runtime.db, one
// row per record, each write its own transaction), cached in memory, reloaded at startup.
// Per-object files (bundles, sandbox files) live in <root>/sandboxes/<id> and <root>/containers/<id>.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "records.pb.h"

struct sqlite3;

namespace flint::runtime {

using records::ContainerRecord;
using records::SandboxRecord;

class RecordStore {
 public:
  // Opens (creating) the database and loads every record. Unreadable rows are logged and skipped.
  static absl::StatusOr<std::unique_ptr<RecordStore>> Open(const std::string& root);
  ~RecordStore();

  absl::Status PutSandbox(const SandboxRecord& record);
  absl::Status PutContainer(const ContainerRecord& record);
  std::optional<SandboxRecord> GetSandbox(const std::string& id) const;
  std::optional<ContainerRecord> GetContainer(const std::string& id) const;
  std::vector<SandboxRecord> Sandboxes() const;
  std::vector<ContainerRecord> Containers() const;
  std::vector<ContainerRecord> ContainersOf(const std::string& sandbox_id) const;
  absl::Status DeleteSandbox(const std::string& id);
  absl::Status DeleteContainer(const std::string& id);

  // Resolves a full id or a unique prefix (as crictl users type them). NotFound / InvalidArgument.
  absl::StatusOr<std::string> ResolveSandboxId(const std::string& id_or_prefix) const;
  absl::StatusOr<std::string> ResolveContainerId(const std::string& id_or_prefix) const;

  std::string SandboxDir(const std::string& id) const { return root_ + "/sandboxes/" + id; }
  std::string ContainerDir(const std::string& id) const { return root_ + "/containers/" + id; }

 private:
  explicit RecordStore(std::string root) : root_(std::move(root)) {}
  absl::Status Write(const char* kind, const std::string& id, const std::string& bytes);
  absl::Status Erase(const char* kind, const std::string& id);
  std::string root_;
  ::sqlite3* db_ = nullptr;  // guarded by mu_
  mutable std::mutex mu_;
  std::map<std::string, SandboxRecord> sandboxes_;
  std::map<std::string, ContainerRecord> containers_;
};

}  // namespace flint::runtime
