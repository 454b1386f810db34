#include "cni/host_local/ipam_config.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cni/lib/cni_error.h"

namespace flint::cni {
namespace {

using json = nlohmann::json;

absl::Status Invalid(absl::string_view msg) { return CniStatus(ErrorCode::kInvalidNetworkConfig, msg); }

absl::StatusOr<std::optional<IpAddress>> OptionalIp(const json& j, const char* key) {
  if (!j.contains(key) || j[key].is_null()) return std::optional<IpAddress>();
  if (!j[key].is_string()) return Invalid(absl::StrCat("\"", key, "\" must be a string"));
  absl::StatusOr<IpAddress> ip = IpAddress::Parse(j[key].get<std::string>());
  if (!ip.ok()) return Invalid(absl::StrCat(key, ": ", ip.status().message()));
  return std::optional<IpAddress>(*ip);
}

absl::StatusOr<RangeSet> ParseRangeSet(const json& j) {
  if (!j.is_array() || j.empty()) return Invalid("a range set must be a non-empty list of ranges");
  RangeSet set;
  for (const json& r : j) {
    absl::StatusOr<IpRange> range = ParseRange(r);
    if (!range.ok()) return range.status();
    for (const IpRange& other : set) {
      if (other.subnet.address.is_v4() != range->subnet.address.is_v4()) {
        return Invalid("a range set must not mix IPv4 and IPv6");
      }
      if (other.Contains(range->start) || other.Contains(range->end) || range->Contains(other.start)) {
        return Invalid(absl::StrCat("range ", range->ToString(), " overlaps ", other.ToString()));
      }
    }
    set.push_back(*range);
  }
  return set;
}

}  // namespace

std::string RangeSetToString(const RangeSet& set) {
  std::vector<std::string> parts;
  for (const IpRange& r : set) parts.push_back(r.ToString());
  return absl::StrJoin(parts, ",");
}

absl::StatusOr<IpRange> ParseRange(const json& j) {
  if (!j.is_object() || !j.contains("subnet") || !j["subnet"].is_string()) {
    return Invalid("range has no \"subnet\"");
  }
  absl::StatusOr<IpPrefix> subnet = IpPrefix::Parse(j["subnet"].get<std::string>());
  if (!subnet.ok()) return Invalid(subnet.status().message());
  IpRange range;
  range.subnet = subnet->Network();
  const IpAddress& network = range.subnet.address;
  const bool v4 = network.is_v4();
  if (range.subnet.length > network.bit_length() - 2) {
    return Invalid(absl::StrCat("network ", range.subnet.ToString(), " too small to allocate from"));
  }
  absl::StatusOr<std::optional<IpAddress>> start = OptionalIp(j, "rangeStart");
  absl::StatusOr<std::optional<IpAddress>> end = OptionalIp(j, "rangeEnd");
  absl::StatusOr<std::optional<IpAddress>> gateway = OptionalIp(j, "gateway");
  for (const auto* s : {&start, &end, &gateway}) {
    if (!s->ok()) return s->status();
  }
  // Defaults: skip the network address, and for IPv4 the broadcast address.
  range.start = start->value_or(network.Next());
  IpAddress last = range.subnet.LastAddress();
  range.end = end->value_or(v4 ? last.Prev() : last);
  range.gateway = gateway->value_or(network.Next());
  for (const IpAddress* ip : {&range.start, &range.end}) {
    if (!range.subnet.Contains(*ip)) {
      return Invalid(absl::StrCat(ip->ToString(), " is not in network ", range.subnet.ToString()));
    }
  }
  if (range.end < range.start) {
    return Invalid(absl::StrCat("rangeStart ", range.start.ToString(), " is after rangeEnd ", range.end.ToString()));
  }
  return range;
}

absl::StatusOr<HostLocalConfig> ParseHostLocalConfig(const json& config) {
  if (!config.contains("ipam") || !config["ipam"].is_object()) return Invalid("missing \"ipam\" section");
  const json& ipam = config["ipam"];
  HostLocalConfig cfg;
  cfg.network_name = config.value("name", "");
  if (ipam.contains("dataDir")) {
    if (!ipam["dataDir"].is_string() || ipam["dataDir"].get<std::string>().empty()) {
      return Invalid("\"dataDir\" must be a non-empty string");
    }
    cfg.data_dir = ipam["dataDir"].get<std::string>();
  }
  const json* runtime_ranges = nullptr;
  if (config.contains("runtimeConfig") && config["runtimeConfig"].is_object() &&
      config["runtimeConfig"].contains("ipRanges") && config["runtimeConfig"]["ipRanges"].is_array() &&
      !config["runtimeConfig"]["ipRanges"].empty()) {
    runtime_ranges = &config["runtimeConfig"]["ipRanges"];
  }
  if (runtime_ranges != nullptr) {
    for (const json& set : *runtime_ranges) {
      absl::StatusOr<RangeSet> parsed = ParseRangeSet(set);
      if (!parsed.ok()) return WithContext(parsed.status(), "runtimeConfig.ipRanges");
      cfg.range_sets.push_back(*parsed);
    }
  } else {
    if (ipam.contains("subnet")) {
      absl::StatusOr<IpRange> legacy = ParseRange(ipam);
      if (!legacy.ok()) return legacy.status();
      cfg.range_sets.push_back({*legacy});
    }
    if (ipam.contains("ranges")) {
      if (!ipam["ranges"].is_array()) return Invalid("\"ranges\" must be a list of range sets");
      for (const json& set : ipam["ranges"]) {
        absl::StatusOr<RangeSet> parsed = ParseRangeSet(set);
        if (!parsed.ok()) return WithContext(parsed.status(), "ranges");
        cfg.range_sets.push_back(*parsed);
      }
    }
  }
  if (cfg.range_sets.empty()) return Invalid("no IP ranges specified");
  for (size_t i = 0; i < cfg.range_sets.size(); ++i) {
    for (size_t k = i + 1; k < cfg.range_sets.size(); ++k) {
      for (const IpRange& a : cfg.range_sets[i]) {
        for (const IpRange& b : cfg.range_sets[k]) {
          if (a.subnet.Overlaps(b.subnet)) {
            return Invalid(absl::StrCat("range set ", i, " overlaps with range set ", k));
          }
        }
      }
    }
  }
  if (ipam.contains("routes")) {
    if (!ipam["routes"].is_array()) return Invalid("\"routes\" must be a list");
    for (const json& r : ipam["routes"]) {
      absl::StatusOr<ResultRoute> route = ParseRoute(r);
      if (!route.ok()) return Invalid(absl::StrCat("routes: ", route.status().message()));
      cfg.routes.push_back(*route);
    }
  }
  return cfg;
}

}  // namespace flint::cni
