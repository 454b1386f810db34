#include "cri/runtime/record_store.h"

#include <sqlite3.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/fs.h"
#include "common/log.h"

namespace flint::runtime {
namespace {

constexpr char kSandbox[] = "sandbox";
constexpr char kContainer[] = "container";

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

RecordStore::~RecordStore() {
  if (db_ != nullptr) sqlite3_close(db_);
}

absl::StatusOr<std::unique_ptr<RecordStore>> RecordStore::Open(const std::string& root) {
  std::unique_ptr<RecordStore> store(new RecordStore(root));
  for (const char* sub : {"/sandboxes", "/containers"}) {
    if (absl::Status s = fs::MakeDirs(root + sub, 0711); !s.ok()) return s;
  }
  std::string path = root + "/runtime.db";
  if (sqlite3_open_v2(path.c_str(), &store->db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    return absl::InternalError(absl::StrCat("open ", path, ": ", sqlite3_errmsg(store->db_)));
  }
  char* error = nullptr;
  const char* schema =
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA busy_timeout=5000;"
      "CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, id TEXT NOT NULL, data BLOB NOT NULL,"
      " PRIMARY KEY (kind, id));";
  if (sqlite3_exec(store->db_, schema, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    return absl::InternalError(absl::StrCat("initialize ", path, ": ", message));
  }
  sqlite3_stmt* select = nullptr;
  if (sqlite3_prepare_v2(store->db_, "SELECT kind, id, data FROM records", -1, &select, nullptr) != SQLITE_OK) {
    return absl::InternalError(absl::StrCat("read ", path, ": ", sqlite3_errmsg(store->db_)));
  }
  while (sqlite3_step(select) == SQLITE_ROW) {
    std::string kind = reinterpret_cast<const char*>(sqlite3_column_text(select, 0));
    std::string id = reinterpret_cast<const char*>(sqlite3_column_text(select, 1));
    std::string data(static_cast<const char*>(sqlite3_column_blob(select, 2)),
                     static_cast<size_t>(sqlite3_column_bytes(select, 2)));
    bool ok = false;
    if (kind == kSandbox) {
      SandboxRecord record;
      ok = record.ParseFromString(data) && record.id() == id;
      if (ok) store->sandboxes_[id] = record;
    } else if (kind == kContainer) {
      ContainerRecord record;
      ok = record.ParseFromString(data) && record.id() == id;
      if (ok) store->containers_[id] = record;
    }
    if (!ok) FLINT_LOG(WARN) << "skipping unreadable " << kind << " record " << id << " in " << path;
  }
  sqlite3_finalize(select);
  return store;
}

absl::Status RecordStore::Write(const char* kind, const std::string& id, const std::string& bytes) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "INSERT OR REPLACE INTO records (kind, id, data) VALUES (?, ?, ?)", -1, &stmt,
                         nullptr) != SQLITE_OK) {
    return absl::InternalError(absl::StrCat("store ", kind, " ", id, ": ", sqlite3_errmsg(db_)));
  }
  sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, id.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_blob(stmt, 3, bytes.data(), static_cast<int>(bytes.size()), SQLITE_TRANSIENT);
  int rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) {
    std::string message = sqlite3_errmsg(db_);
    if (rc == SQLITE_FULL) return absl::ResourceExhaustedError(absl::StrCat("store ", kind, " ", id, ": disk full"));
    return absl::InternalError(absl::StrCat("store ", kind, " ", id, ": ", message));
  }
  return absl::OkStatus();
}

absl::Status RecordStore::Erase(const char* kind, const std::string& id) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "DELETE FROM records WHERE kind = ? AND id = ?", -1, &stmt, nullptr) != SQLITE_OK) {
    return absl::InternalError(absl::StrCat("delete ", kind, " ", id, ": ", sqlite3_errmsg(db_)));
  }
  sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text(stmt, 2, id.c_str(), -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(stmt);
  sqlite3_finalize(stmt);
  if (rc != SQLITE_DONE) return absl::InternalError(absl::StrCat("delete ", kind, " ", id, ": ", sqlite3_errmsg(db_)));
  return absl::OkStatus();
}

absl::Status RecordStore::PutSandbox(const SandboxRecord& record) {
  std::string bytes;
  if (!record.SerializeToString(&bytes)) return absl::InternalError("serialize sandbox record " + record.id());
  std::lock_guard lock(mu_);
  if (absl::Status s = Write(kSandbox, record.id(), bytes); !s.ok()) return s;
  sandboxes_[record.id()] = record;
  return absl::OkStatus();
}

absl::Status RecordStore::PutContainer(const ContainerRecord& record) {
  std::string bytes;
  if (!record.SerializeToString(&bytes)) return absl::InternalError("serialize container record " + record.id());
  std::lock_guard lock(mu_);
  if (absl::Status s = Write(kContainer, record.id(), bytes); !s.ok()) return s;
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
    if (absl::Status s = Erase(kSandbox, id); !s.ok()) return s;
    sandboxes_.erase(id);
  }
  return fs::RemoveAll(SandboxDir(id));
}

absl::Status RecordStore::DeleteContainer(const std::string& id) {
  {
    std::lock_guard lock(mu_);
    if (absl::Status s = Erase(kContainer, id); !s.ok()) return s;
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
