// host-local's "ipam" section: range sets, routes, data directory.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cni/lib/ip_math.h"
#include "cni/lib/result.h"
#include "nlohmann/json.hpp"

namespace flint::cni {

// One allocatable range inside a subnet; defaults filled in by parsing.
struct IpRange {
  IpPrefix subnet;  // canonical (host bits cleared)
  IpAddress start;
  IpAddress end;
  IpAddress gateway;

  bool Contains(const IpAddress& ip) const { return subnet.Contains(ip) && start <= ip && ip <= end; }
  std::string ToString() const { return start.ToString() + "-" + end.ToString(); }
};

// Ranges of one family; each set yields one address per attachment.
using RangeSet = std::vector<IpRange>;
std::string RangeSetToString(const RangeSet& set);

struct HostLocalConfig {
  std::string network_name;
  std::vector<RangeSet> range_sets;
  std::vector<ResultRoute> routes;
  std::string data_dir = "/var/lib/cni/networks";
};

// Parses and validates the "ipam" section of `config` (plus runtimeConfig.ipRanges).
absl::StatusOr<HostLocalConfig> ParseHostLocalConfig(const nlohmann::json& config);

// Parses one {subnet, rangeStart, rangeEnd, gateway} object and fills defaults.
absl::StatusOr<IpRange> ParseRange(const nlohmann::json& range);

}  // namespace flint::cni
