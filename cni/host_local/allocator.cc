#include "cni/host_local/allocator.h"

#include "absl/strings/str_cat.h"
#include "cni/lib/cni_error.h"

namespace flint::cni {
namespace {

struct Position {
  size_t range = 0;
  IpAddress ip;
  bool operator==(const Position&) const = default;
};

Position Following(const RangeSet& set, const Position& p) {
  if (p.ip == set[p.range].end) {
    size_t next = (p.range + 1) % set.size();
    return {next, set[next].start};
  }
  return {p.range, p.ip.Next()};
}

}  // namespace

bool RangeSetContains(const RangeSet& set, const IpAddress& ip) {
  for (const IpRange& r : set) {
    if (r.Contains(ip)) return true;
  }
  return false;
}

absl::StatusOr<ResultIp> AllocateFromRangeSet(const RangeSet& set, int set_index, AllocationStore& store,
                                              const std::string& container_id, const std::string& ifname,
                                              const std::optional<IpAddress>& requested) {
  absl::StatusOr<std::vector<IpAddress>> held = store.FindByOwner(container_id, ifname);
  if (!held.ok()) return held.status();
  for (const IpAddress& ip : *held) {
    for (const IpRange& r : set) {
      if (r.Contains(ip)) {
        return CniStatus(ErrorCode::kAlreadyAllocated,
                         absl::StrCat(ip.ToString(), " has been allocated to ", container_id,
                                      ", duplicate allocation is not allowed"));
      }
    }
  }

  if (requested) {
    for (const IpRange& range : set) {
      if (!range.Contains(*requested)) continue;
      if (*requested == range.gateway) {
        return CniStatus(ErrorCode::kInvalidNetworkConfig,
                         absl::StrCat("requested IP ", requested->ToString(), " is the subnet's gateway"));
      }
      absl::StatusOr<bool> reserved = store.Reserve(container_id, ifname, *requested, set_index);
      if (!reserved.ok()) return reserved.status();
      if (!*reserved) {
        return CniStatus(ErrorCode::kAddressesExhausted,
                         absl::StrCat("requested IP address ", requested->ToString(),
                                      " is not available in range set ", RangeSetToString(set)));
      }
      return ResultIp{IpPrefix{*requested, range.subnet.length}, range.gateway, std::nullopt};
    }
    return CniStatus(ErrorCode::kInvalidNetworkConfig,
                     absl::StrCat(requested->ToString(), " is not in range set ", RangeSetToString(set)));
  }

  Position start{0, set[0].start};
  if (std::optional<IpAddress> last = store.LastReservedIp(set_index)) {
    for (size_t i = 0; i < set.size(); ++i) {
      if (set[i].Contains(*last)) {
        start = Following(set, {i, *last});
        break;
      }
    }
  }
  Position cur = start;
  do {
    const IpRange& range = set[cur.range];
    if (cur.ip != range.gateway) {
      absl::StatusOr<bool> reserved = store.Reserve(container_id, ifname, cur.ip, set_index);
      if (!reserved.ok()) return reserved.status();
      if (*reserved) return ResultIp{IpPrefix{cur.ip, range.subnet.length}, range.gateway, std::nullopt};
    }
    cur = Following(set, cur);
  } while (!(cur == start));
  return CniStatus(ErrorCode::kAddressesExhausted,
                   absl::StrCat("no IP addresses available in range set: ", RangeSetToString(set)));
}

}  // namespace flint::cni
