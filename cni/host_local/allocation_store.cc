#include "cni/host_local/allocation_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace flint::cni {
namespace {

absl::Status ErrnoError(absl::string_view what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
}

std::string OwnerRecord(const std::string& id, const std::string& ifname) {
  return absl::StrCat(id, "\r\n", ifname);
}

std::optional<std::string> ReadSmallFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// True for "<id>\r\n<ifname>" and for the older bare "<id>" records.
bool OwnedBy(absl::string_view content, const std::string& id, const std::string& ifname) {
  absl::string_view trimmed = absl::StripAsciiWhitespace(content);
  return trimmed == OwnerRecord(id, ifname) || trimmed == id;
}

}  // namespace

absl::StatusOr<std::unique_ptr<AllocationStore>> AllocationStore::OpenLocked(const std::string& data_dir,
                                                                             const std::string& network) {
  if (network.empty() || network.find('/') != std::string::npos || network == "." || network == "..") {
    return absl::InvalidArgumentError(absl::StrCat("invalid network name \"", network, "\""));
  }
  std::string dir = absl::StrCat(data_dir, "/", network);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("create ", dir, ": ", ec.message()));
  std::string lock_path = absl::StrCat(dir, "/lock");
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError(absl::StrCat("open ", lock_path), errno);
  while (flock(fd, LOCK_EX) != 0) {
    if (errno != EINTR) {
      int err = errno;
      close(fd);
      return ErrnoError(absl::StrCat("lock ", lock_path), err);
    }
  }
  return std::unique_ptr<AllocationStore>(new AllocationStore(dir, fd));
}

AllocationStore::~AllocationStore() {
  flock(lock_fd_, LOCK_UN);
  close(lock_fd_);
}

absl::StatusOr<bool> AllocationStore::Reserve(const std::string& container_id, const std::string& ifname,
                                              const IpAddress& ip, int range_set_index) {
  std::string path = absl::StrCat(dir_, "/", ip.ToString());
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return false;
    return ErrnoError(absl::StrCat("create ", path), errno);
  }
  std::string record = OwnerRecord(container_id, ifname);
  ssize_t n = write(fd, record.data(), record.size());
  int err = errno;
  close(fd);
  if (n != static_cast<ssize_t>(record.size())) {
    unlink(path.c_str());
    return ErrnoError(absl::StrCat("write ", path), err);
  }
  std::string last_path = absl::StrCat(dir_, "/last_reserved_ip.", range_set_index);
  std::ofstream last(last_path, std::ios::binary | std::ios::trunc);
  last << ip.ToString();
  if (!last.flush()) {
    unlink(path.c_str());
    return absl::InternalError(absl::StrCat("write ", last_path));
  }
  return true;
}

std::optional<IpAddress> AllocationStore::LastReservedIp(int range_set_index) const {
  std::optional<std::string> text = ReadSmallFile(absl::StrCat(dir_, "/last_reserved_ip.", range_set_index));
  if (!text) return std::nullopt;
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(absl::StripAsciiWhitespace(*text));
  if (!ip.ok()) return std::nullopt;
  return *ip;
}

absl::StatusOr<std::vector<IpAddress>> AllocationStore::FindByOwner(const std::string& container_id,
                                                                    const std::string& ifname) const {
  std::vector<IpAddress> out;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = entry.path().filename().string();
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(name);
    if (!ip.ok()) continue;  // lock, last_reserved_ip.N, strays
    std::optional<std::string> content = ReadSmallFile(entry.path().string());
    if (content && OwnedBy(*content, container_id, ifname)) out.push_back(*ip);
  }
  if (ec) return absl::InternalError(absl::StrCat("list ", dir_, ": ", ec.message()));
  return out;
}

absl::Status AllocationStore::ReleaseByOwner(const std::string& container_id, const std::string& ifname) {
  absl::StatusOr<std::vector<IpAddress>> owned = FindByOwner(container_id, ifname);
  if (!owned.ok()) return owned.status();
  for (const IpAddress& ip : *owned) {
    std::string path = absl::StrCat(dir_, "/", ip.ToString());
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoError(absl::StrCat("remove ", path), errno);
  }
  return absl::OkStatus();
}

absl::Status AllocationStore::ReleaseAllExcept(const std::set<std::pair<std::string, std::string>>& keep) {
  std::set<std::string> kept_ids;
  for (const auto& [id, ifname] : keep) kept_ids.insert(id);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    if (!IpAddress::Parse(entry.path().filename().string()).ok()) continue;
    std::optional<std::string> content = ReadSmallFile(entry.path().string());
    if (!content) continue;
    absl::string_view record = absl::StripAsciiWhitespace(*content);
    size_t sep = record.find("\r\n");
    bool valid = sep == absl::string_view::npos
                     ? kept_ids.count(std::string(record)) > 0
                     : keep.count({std::string(record.substr(0, sep)), std::string(record.substr(sep + 2))}) > 0;
    if (!valid && unlink(entry.path().c_str()) != 0 && errno != ENOENT) {
      return ErrnoError(absl::StrCat("remove ", entry.path().string()), errno);
    }
  }
  if (ec) return absl::InternalError(absl::StrCat("list ", dir_, ": ", ec.message()));
  return absl::OkStatus();
}

}  // namespace flint::cni
