// host-local's on-disk state, compatible with the reference plugin:
//   <dataDir>/<network>/<ip>                 "<containerID>\r\n<ifname>"
//   <dataDir>/<network>/last_reserved_ip.<N> last IP handed out from range set N
//   <dataDir>/<network>/lock                 flock()ed around every operation
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "cni/lib/ip_math.h"

namespace flint::cni {

class AllocationStore {
 public:
  // Creates the network directory if needed and takes the exclusive lock,
  // held until the store is destroyed.
  static absl::StatusOr<std::unique_ptr<AllocationStore>> OpenLocked(const std::string& data_dir,
                                                                     const std::string& network);
  ~AllocationStore();
  AllocationStore(const AllocationStore&) = delete;
  AllocationStore& operator=(const AllocationStore&) = delete;

  // Claims `ip` for the owner; false if someone holds it already.
  absl::StatusOr<bool> Reserve(const std::string& container_id, const std::string& ifname, const IpAddress& ip,
                               int range_set_index);
  std::optional<IpAddress> LastReservedIp(int range_set_index) const;
  absl::StatusOr<std::vector<IpAddress>> FindByOwner(const std::string& container_id,
                                                     const std::string& ifname) const;
  // Removes every reservation of the owner; none is fine.
  absl::Status ReleaseByOwner(const std::string& container_id, const std::string& ifname);
  // Removes every reservation whose (container id, ifname) is not in `keep`;
  // records without an ifname match on the container id alone.
  absl::Status ReleaseAllExcept(const std::set<std::pair<std::string, std::string>>& keep);
  const std::string& dir() const { return dir_; }

 private:
  AllocationStore(std::string dir, int lock_fd) : dir_(std::move(dir)), lock_fd_(lock_fd) {}
  std::string dir_;
  int lock_fd_;
};

}  // namespace flint::cni
