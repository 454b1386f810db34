#include "cni/lib/result.h"

#include "absl/strings/str_cat.h"
#include "cni/lib/cni_error.h"
#include "cni/lib/version.h"

namespace flint::cni {
namespace {

using json = nlohmann::json;

absl::Status DecodeError(absl::string_view what) {
  return CniStatus(ErrorCode::kDecodeFailure, absl::StrCat("decode result: ", what));
}

std::vector<std::string> StringList(const json& parent, const char* key) {
  std::vector<std::string> out;
  if (parent.contains(key) && parent[key].is_array()) {
    for (const json& v : parent[key]) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

std::string StringField(const json& parent, const char* key) {
  if (parent.contains(key) && parent[key].is_string()) return parent[key].get<std::string>();
  return "";
}

}  // namespace

absl::StatusOr<ResultRoute> ParseRoute(const json& j) {
  if (!j.is_object() || !j.contains("dst") || !j["dst"].is_string()) {
    return DecodeError("route without \"dst\"");
  }
  ResultRoute route;
  absl::StatusOr<IpPrefix> dst = IpPrefix::Parse(j["dst"].get<std::string>());
  if (!dst.ok()) return DecodeError(dst.status().message());
  route.dst = dst->Network();
  std::string gw = StringField(j, "gw");
  if (!gw.empty()) {
    absl::StatusOr<IpAddress> ip = IpAddress::Parse(gw);
    if (!ip.ok()) return DecodeError(ip.status().message());
    route.gw = *ip;
  }
  return route;
}

json RouteToJson(const ResultRoute& route) {
  json out = {{"dst", route.dst.ToString()}};
  if (route.gw) out["gw"] = route.gw->ToString();
  return out;
}

absl::StatusOr<ResultDns> ParseDns(const json& j) {
  ResultDns dns;
  if (j.is_null()) return dns;
  if (!j.is_object()) return DecodeError("\"dns\" is not an object");
  dns.nameservers = StringList(j, "nameservers");
  dns.domain = StringField(j, "domain");
  dns.search = StringList(j, "search");
  dns.options = StringList(j, "options");
  return dns;
}

json DnsToJson(const ResultDns& dns) {
  json out = json::object();
  if (!dns.nameservers.empty()) out["nameservers"] = dns.nameservers;
  if (!dns.domain.empty()) out["domain"] = dns.domain;
  if (!dns.search.empty()) out["search"] = dns.search;
  if (!dns.options.empty()) out["options"] = dns.options;
  return out;
}

absl::StatusOr<Result> ParseResult(const json& j) {
  if (!j.is_object()) return DecodeError("not a JSON object");
  Result result;
  result.cni_version = StringField(j, "cniVersion");
  if (j.contains("interfaces") && j["interfaces"].is_array()) {
    for (const json& i : j["interfaces"]) {
      result.interfaces.push_back(
          {StringField(i, "name"), StringField(i, "mac"), StringField(i, "sandbox")});
    }
  }
  if (j.contains("ips") && j["ips"].is_array()) {
    for (const json& i : j["ips"]) {
      ResultIp ip;
      absl::StatusOr<IpPrefix> address = IpPrefix::Parse(StringField(i, "address"));
      if (!address.ok()) return DecodeError(address.status().message());
      ip.address = *address;
      std::string gw = StringField(i, "gateway");
      if (!gw.empty()) {
        absl::StatusOr<IpAddress> parsed = IpAddress::Parse(gw);
        if (!parsed.ok()) return DecodeError(parsed.status().message());
        ip.gateway = *parsed;
      }
      if (i.contains("interface") && i["interface"].is_number_integer()) {
        ip.interface = i["interface"].get<int>();
      }
      result.ips.push_back(ip);
    }
  }
  if (j.contains("routes") && j["routes"].is_array()) {
    for (const json& r : j["routes"]) {
      absl::StatusOr<ResultRoute> route = ParseRoute(r);
      if (!route.ok()) return route.status();
      result.routes.push_back(*route);
    }
  }
  if (j.contains("dns")) {
    absl::StatusOr<ResultDns> dns = ParseDns(j["dns"]);
    if (!dns.ok()) return dns.status();
    result.dns = *dns;
  }
  return result;
}

json ResultToJson(const Result& result, absl::string_view version) {
  const bool tag_ip_version = ResultHasIpVersionField(version);
  json out;
  out["cniVersion"] = std::string(version);
  if (!result.interfaces.empty()) {
    json interfaces = json::array();
    for (const ResultInterface& i : result.interfaces) {
      json entry = {{"name", i.name}};
      if (!i.mac.empty()) entry["mac"] = i.mac;
      if (!i.sandbox.empty()) entry["sandbox"] = i.sandbox;
      interfaces.push_back(entry);
    }
    out["interfaces"] = interfaces;
  }
  if (!result.ips.empty()) {
    json ips = json::array();
    for (const ResultIp& ip : result.ips) {
      json entry;
      if (tag_ip_version) entry["version"] = ip.address.address.is_v4() ? "4" : "6";
      if (ip.interface) entry["interface"] = *ip.interface;
      entry["address"] = ip.address.ToString();
      if (ip.gateway) entry["gateway"] = ip.gateway->ToString();
      ips.push_back(entry);
    }
    out["ips"] = ips;
  }
  if (!result.routes.empty()) {
    json routes = json::array();
    for (const ResultRoute& r : result.routes) routes.push_back(RouteToJson(r));
    out["routes"] = routes;
  }
  out["dns"] = DnsToJson(result.dns);
  return out;
}

}  // namespace flint::cni
