#include "cri/runtime/record_store.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/log.h"

namespace flint::runtime {
namespace {

constexpr char kRecordFile[] = "record.pb";

template <typename Record>
absl::Status Write(const std::string& dir, const Record& record) {
  if (absl::Status s = fs::MakeDirs(dir, 0711); !s.ok()) return s;
  std::string bytes;
  if (!record.SerializeToString(&bytes)) return absl::InternalError("serialize record " + record.id());
  return fs::WriteFileAtomic(dir + "/" + kRecordFile, bytes, 0600);
}

template <typename Record>
void LoadAll(const std::string& dir, std::map<std::string, Record>* out) {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    std::string path = entry.path().string() + "/" + kRecordFile;
    absl::StatusOr<std::string> bytes = fs::ReadFile(path);
    Record record;
    if (!bytes.ok() || !record.ParseFromString(*bytes) || record.id().empty()) {
      FLINT_LOG(WARN) << "skipping unreadable record " << path;
      continue;
    }
    (*out)[record.id()] = record;
  }
}

template <typename Record>
absl::StatusOr<std::string> Resolve(const std::map<std::string, Record>& records, const std::string& id,
                                    const char* kind) {
  if (id.empty()) return absl::InvalidArgumentError(absl::StrCat(kind, " id is empty"));
  if (records.contains(id)) return id;
  std::string match;
  for (auto it = records.lower_bound(id); it != records.end() && absl::StartsWith(it->first, id); ++it) {
    if (!match.empty()) return absl::InvalidArgumentError(absl::StrCat(kind, " id prefix \"", id, "\" is ambiguous"));
    match = it->first;
  }
  if (match.empty()) return absl::NotFoundError(absl::StrCat(kind, " \"", id, "\" not found"));
  return match;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RecordStore>> RecordStore::Open(const std::string& root) {
  std::unique_ptr<RecordStore> store(new RecordStore(root));
  for (const char* sub : {"/sandboxes", "/containers"}) {
    if (absl::Status s = fs::MakeDirs(root + sub, 0711); !s.ok()) return s;
  }
  LoadAll(root + "/sandboxes", &store->sandboxes_);
  LoadAll(root + "/containers", &store->containers_);
  return store;
}

absl::Status RecordStore::PutSandbox(const SandboxRecord& record) {
  if (absl::Status s = Write(SandboxDir(record.id()), record); !s.ok()) return s;
  std::lock_guard lock(mu_);
  sandboxes_[record.id()] = record;
  return absl::OkStatus();
}

absl::Status RecordStore::PutContainer(const ContainerRecord& record) {
  if (absl::Status s = Write(ContainerDir(record.id()), record); !s.ok()) return s;
  std::lock_guard lock(mu_);
  containers_[record.id()] = record;
  return absl::OkStatus();
}

std::optional<SandboxRecord> RecordStore::GetSandbox(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = sandboxes_.find(id);
  if (it == sandboxes_.end()) return std::nullopt;
  return it->second;
}

std::optional<ContainerRecord> RecordStore::GetContainer(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = containers_.find(id);
  if (it == containers_.end()) return std::nullopt;
  return it->second;
}

std::vector<SandboxRecord> RecordStore::Sandboxes() const {
  std::lock_guard lock(mu_);
  std::vector<SandboxRecord> out;
  for (const auto& [_, r] : sandboxes_) out.push_back(r);
  return out;
}

std::vector<ContainerRecord> RecordStore::Containers() const {
  std::lock_guard lock(mu_);
  std::vector<ContainerRecord> out;
  for (const auto& [_, r] : containers_) out.push_back(r);
  return out;
}

std::vector<ContainerRecord> RecordStore::ContainersOf(const std::string& sandbox_id) const {
  std::lock_guard lock(mu_);
  std::vector<ContainerRecord> out;
  for (const auto& [_, r] : containers_)
    if (r.sandbox_id() == sandbox_id) out.push_back(r);
  return out;
}

absl::Status RecordStore::DeleteSandbox(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    sandboxes_.erase(id);
  }
  return fs::RemoveAll(SandboxDir(id));
}

absl::Status RecordStore::DeleteContainer(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    containers_.erase(id);
  }
  return fs::RemoveAll(ContainerDir(id));
}

absl::StatusOr<std::string> RecordStore::ResolveSandboxId(const std::string& id) const {
  std::lock_guard lock(mu_);
  return Resolve(sandboxes_, id, "pod sandbox");
}

absl::StatusOr<std::string> RecordStore::ResolveContainerId(const std::string& id) const {
  std::lock_guard lock(mu_);
  return Resolve(containers_, id, "container");
}

}  // namespace flint::runtime
