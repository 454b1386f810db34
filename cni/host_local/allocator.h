// Picks the next free address of a range set, round-robin after the last one handed out.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "cni/host_local/allocation_store.h"
#include "cni/host_local/ipam_config.h"
#include "cni/lib/result.h"

namespace flint::cni {

// Reserves one address of `set` for the owner: `requested` if given (it must be
// in the set, not a gateway, and free), else the next free one. Errors:
// kAlreadyAllocated when the owner already holds one from this set,
// kAddressesExhausted when none is free.
absl::StatusOr<ResultIp> AllocateFromRangeSet(const RangeSet& set, int set_index, AllocationStore& store,
                                              const std::string& container_id, const std::string& ifname,
                                              const std::optional<IpAddress>& requested = std::nullopt);

// True if some range of `set` contains `ip`.
bool RangeSetContains(const RangeSet& set, const IpAddress& ip);

}  // namespace flint::cni
