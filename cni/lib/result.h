// The CNI ADD result (spec 1.0.0, with 0.3.x/0.4.0 read and written too).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cni/lib/ip_math.h"
#include "nlohmann/json.hpp"

namespace flint::cni {

struct ResultInterface {
  std::string name;
  std::string mac;
  std::string sandbox;  // empty for host-side interfaces
};

struct ResultIp {
  IpPrefix address;  // host address with the subnet's prefix length
  std::optional<IpAddress> gateway;
  std::optional<int> interface;  // index into Result::interfaces
};

struct ResultRoute {
  IpPrefix dst;
  std::optional<IpAddress> gw;
};

struct ResultDns {
  std::vector<std::string> nameservers;
  std::string domain;
  std::vector<std::string> search;
  std::vector<std::string> options;
};

struct Result {
  std::string cni_version;
  std::vector<ResultInterface> interfaces;
  std::vector<ResultIp> ips;
  std::vector<ResultRoute> routes;
  ResultDns dns;
};

absl::StatusOr<ResultRoute> ParseRoute(const nlohmann::json& json);
nlohmann::json RouteToJson(const ResultRoute& route);
absl::StatusOr<ResultDns> ParseDns(const nlohmann::json& json);
nlohmann::json DnsToJson(const ResultDns& dns);

// Reads any supported result version (the "version" field of 0.3.x IPs is ignored).
absl::StatusOr<Result> ParseResult(const nlohmann::json& json);
// Writes `result` in the shape of `version` (result.cni_version is ignored).
nlohmann::json ResultToJson(const Result& result, absl::string_view version);

}  // namespace flint::cni
