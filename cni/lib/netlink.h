// Link, address and route operations over rtnetlink (libnl-route-3).
// A session is bound to the network namespace current at construction.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cni/lib/ip_math.h"

struct nl_sock;

namespace flint::cni {

struct LinkInfo {
  int index = 0;
  std::string name;
  std::string kind;  // "bridge", "veth", ... ; empty for plain devices
  std::string mac;
  int mtu = 0;
  bool up = false;
  bool promisc = false;
  int master = 0;  // ifindex of the bridge this link is enslaved to
};

struct RouteInfo {
  IpPrefix dst;
  std::optional<IpAddress> gateway;
  int ifindex = 0;
};

class NetlinkSession {
 public:
  static absl::StatusOr<std::unique_ptr<NetlinkSession>> Open();
  ~NetlinkSession();
  NetlinkSession(const NetlinkSession&) = delete;
  NetlinkSession& operator=(const NetlinkSession&) = delete;

  // NotFound when no such link exists.
  absl::StatusOr<LinkInfo> GetLink(const std::string& name);
  absl::StatusOr<LinkInfo> GetLink(int index);

  // Creates the bridge unless it exists; fails if `name` exists but is not a bridge.
  absl::StatusOr<LinkInfo> EnsureBridge(const std::string& name, int mtu);
  // Creates `host_name` here with its peer named `peer_name` directly inside the
  // namespace `peer_netns_fd`. AlreadyExists when a name is taken.
  absl::Status CreateVethPair(const std::string& host_name, const std::string& peer_name, int mtu,
                              int peer_netns_fd);
  absl::Status DeleteLink(int index);
  absl::Status SetUp(int index);
  absl::Status SetPromisc(int index);
  absl::Status SetMaster(int index, int master_index);
  absl::Status SetHairpin(int index);

  absl::StatusOr<std::vector<IpPrefix>> ListAddresses(int index, bool v4);
  absl::Status AddAddress(int index, const IpPrefix& address);
  absl::Status DeleteAddress(int index, const IpPrefix& address);

  absl::Status AddRoute(int index, const IpPrefix& dst, const std::optional<IpAddress>& gateway);
  // Main-table routes leaving through `index` (either family).
  absl::StatusOr<std::vector<RouteInfo>> ListRoutes(int index);

 private:
  explicit NetlinkSession(nl_sock* sock) : sock_(sock) {}
  nl_sock* sock_;
};

}  // namespace flint::cni
