#include "cni/lib/netlink.h"

#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <netlink/addr.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sys/socket.h>

#include "absl/strings/str_cat.h"

namespace flint::cni {
namespace {

struct LinkDeleter {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkDeleter>;
struct AddrDeleter {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
using NlAddrPtr = std::unique_ptr<nl_addr, AddrDeleter>;
struct CacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using CachePtr = std::unique_ptr<nl_cache, CacheDeleter>;

absl::Status NlError(int err, absl::string_view what) {
  err = err < 0 ? -err : err;
  absl::StatusCode code = absl::StatusCode::kInternal;
  if (err == NLE_EXIST) code = absl::StatusCode::kAlreadyExists;
  if (err == NLE_OBJ_NOTFOUND || err == NLE_NODEV) code = absl::StatusCode::kNotFound;
  return absl::Status(code, absl::StrCat(what, ": ", nl_geterror(err)));
}

NlAddrPtr ToNlAddr(const IpAddress& ip, int prefix_len) {
  nl_addr* a = nl_addr_build(ip.is_v4() ? AF_INET : AF_INET6, ip.bytes(), ip.byte_length());
  nl_addr_set_prefixlen(a, prefix_len);
  return NlAddrPtr(a);
}

std::optional<IpAddress> FromNlAddr(nl_addr* a) {
  if (a == nullptr) return std::nullopt;
  const auto* bytes = static_cast<const uint8_t*>(nl_addr_get_binary_addr(a));
  if (nl_addr_get_family(a) == AF_INET && nl_addr_get_len(a) == 4) return IpAddress::FromV4Bytes(bytes);
  if (nl_addr_get_family(a) == AF_INET6 && nl_addr_get_len(a) == 16) return IpAddress::FromV6Bytes(bytes);
  return std::nullopt;
}

LinkInfo ToLinkInfo(rtnl_link* link) {
  LinkInfo info;
  info.index = rtnl_link_get_ifindex(link);
  if (const char* n = rtnl_link_get_name(link)) info.name = n;
  if (const char* t = rtnl_link_get_type(link)) info.kind = t;
  if (nl_addr* a = rtnl_link_get_addr(link)) {
    char buf[64];
    info.mac = nl_addr2str(a, buf, sizeof(buf));
  }
  info.mtu = static_cast<int>(rtnl_link_get_mtu(link));
  unsigned flags = rtnl_link_get_flags(link);
  info.up = flags & IFF_UP;
  info.promisc = flags & IFF_PROMISC;
  info.master = rtnl_link_get_master(link);
  return info;
}

// Applies `change` (flags etc.) to the link with `index`.
absl::Status ChangeLink(nl_sock* sock, int index, rtnl_link* change, absl::string_view what) {
  LinkPtr orig(rtnl_link_alloc());
  rtnl_link_set_ifindex(orig.get(), index);
  int err = rtnl_link_change(sock, orig.get(), change, 0);
  if (err < 0) return NlError(err, absl::StrCat(what, " (ifindex ", index, ")"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<NetlinkSession>> NetlinkSession::Open() {
  nl_sock* sock = nl_socket_alloc();
  if (sock == nullptr) return absl::InternalError("netlink: cannot allocate socket");
  int err = nl_connect(sock, NETLINK_ROUTE);
  if (err < 0) {
    nl_socket_free(sock);
    return NlError(err, "netlink: connect");
  }
  return std::unique_ptr<NetlinkSession>(new NetlinkSession(sock));
}

NetlinkSession::~NetlinkSession() { nl_socket_free(sock_); }

absl::StatusOr<LinkInfo> NetlinkSession::GetLink(const std::string& name) {
  rtnl_link* link = nullptr;
  int err = rtnl_link_get_kernel(sock_, 0, name.c_str(), &link);
  if (err < 0) return NlError(err, absl::StrCat("link \"", name, "\""));
  LinkPtr owned(link);
  return ToLinkInfo(link);
}

absl::StatusOr<LinkInfo> NetlinkSession::GetLink(int index) {
  rtnl_link* link = nullptr;
  int err = rtnl_link_get_kernel(sock_, index, nullptr, &link);
  if (err < 0) return NlError(err, absl::StrCat("link #", index));
  LinkPtr owned(link);
  return ToLinkInfo(link);
}

absl::StatusOr<LinkInfo> NetlinkSession::EnsureBridge(const std::string& name, int mtu) {
  LinkPtr bridge(rtnl_link_bridge_alloc());
  rtnl_link_set_name(bridge.get(), name.c_str());
  if (mtu > 0) rtnl_link_set_mtu(bridge.get(), static_cast<unsigned>(mtu));
  int err = rtnl_link_add(sock_, bridge.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0 && err != -NLE_EXIST) return NlError(err, absl::StrCat("create bridge \"", name, "\""));
  absl::StatusOr<LinkInfo> info = GetLink(name);
  if (!info.ok()) return info.status();
  if (info->kind != "bridge") {
    return absl::FailedPreconditionError(absl::StrCat("\"", name, "\" already exists but is not a bridge"));
  }
  return info;
}

absl::Status NetlinkSession::CreateVethPair(const std::string& host_name, const std::string& peer_name, int mtu,
                                            int peer_netns_fd) {
  rtnl_link* veth = rtnl_link_veth_alloc();
  if (veth == nullptr) return absl::InternalError("veth: allocation failed");
  rtnl_link* peer = rtnl_link_veth_get_peer(veth);
  rtnl_link_set_name(veth, host_name.c_str());
  rtnl_link_set_name(peer, peer_name.c_str());
  if (mtu > 0) {
    rtnl_link_set_mtu(veth, static_cast<unsigned>(mtu));
    rtnl_link_set_mtu(peer, static_cast<unsigned>(mtu));
  }
  // No queue length on either end, as the reference plugins create them.
  rtnl_link_set_txqlen(veth, 0);
  rtnl_link_set_txqlen(peer, 0);
  rtnl_link_set_ns_fd(peer, peer_netns_fd);
  int err = rtnl_link_add(sock_, veth, NLM_F_CREATE | NLM_F_EXCL);
  rtnl_link_put(peer);
  rtnl_link_veth_release(veth);
  if (err < 0) return NlError(err, absl::StrCat("create veth ", host_name, "/", peer_name));
  return absl::OkStatus();
}

absl::Status NetlinkSession::DeleteLink(int index) {
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_ifindex(link.get(), index);
  int err = rtnl_link_delete(sock_, link.get());
  if (err < 0) return NlError(err, absl::StrCat("delete link #", index));
  return absl::OkStatus();
}

absl::Status NetlinkSession::SetUp(int index) {
  LinkPtr change(rtnl_link_alloc());
  rtnl_link_set_flags(change.get(), IFF_UP);
  return ChangeLink(sock_, index, change.get(), "set link up");
}

absl::Status NetlinkSession::SetPromisc(int index) {
  LinkPtr change(rtnl_link_alloc());
  rtnl_link_set_flags(change.get(), IFF_PROMISC);
  return ChangeLink(sock_, index, change.get(), "set promiscuous mode");
}

absl::Status NetlinkSession::SetMaster(int index, int master_index) {
  int err = rtnl_link_enslave_ifindex(sock_, master_index, index);
  if (err < 0) return NlError(err, absl::StrCat("attach link #", index, " to bridge #", master_index));
  return absl::OkStatus();
}

absl::Status NetlinkSession::SetHairpin(int index) {
  // Bridge port flags travel as IFLA_PROTINFO in an AF_BRIDGE setlink.
  LinkPtr orig(rtnl_link_alloc());
  rtnl_link_set_ifindex(orig.get(), index);
  rtnl_link_set_family(orig.get(), AF_BRIDGE);
  LinkPtr change(rtnl_link_alloc());
  rtnl_link_set_family(change.get(), AF_BRIDGE);
  int err = rtnl_link_bridge_set_flags(change.get(), RTNL_BRIDGE_HAIRPIN_MODE);
  if (err >= 0) err = rtnl_link_change(sock_, orig.get(), change.get(), 0);
  if (err < 0) return NlError(err, absl::StrCat("set hairpin mode on link #", index));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<IpPrefix>> NetlinkSession::ListAddresses(int index, bool v4) {
  nl_cache* raw = nullptr;
  int err = rtnl_addr_alloc_cache(sock_, &raw);
  if (err < 0) return NlError(err, "list addresses");
  CachePtr cache(raw);
  std::vector<IpPrefix> out;
  for (nl_object* obj = nl_cache_get_first(raw); obj != nullptr; obj = nl_cache_get_next(obj)) {
    auto* addr = reinterpret_cast<rtnl_addr*>(obj);
    if (rtnl_addr_get_ifindex(addr) != index) continue;
    if (rtnl_addr_get_family(addr) != (v4 ? AF_INET : AF_INET6)) continue;
    std::optional<IpAddress> ip = FromNlAddr(rtnl_addr_get_local(addr));
    if (ip) out.push_back({*ip, rtnl_addr_get_prefixlen(addr)});
  }
  return out;
}

absl::Status NetlinkSession::AddAddress(int index, const IpPrefix& address) {
  rtnl_addr* addr = rtnl_addr_alloc();
  rtnl_addr_set_ifindex(addr, index);
  NlAddrPtr local = ToNlAddr(address.address, address.length);
  rtnl_addr_set_local(addr, local.get());
  if (address.address.is_v4() && address.length < 31) {
    NlAddrPtr brd = ToNlAddr(address.LastAddress(), address.length);
    rtnl_addr_set_broadcast(addr, brd.get());
  }
  int err = rtnl_addr_add(sock_, addr, 0);
  rtnl_addr_put(addr);
  if (err < 0) return NlError(err, absl::StrCat("add address ", address.ToString(), " to link #", index));
  return absl::OkStatus();
}

absl::Status NetlinkSession::DeleteAddress(int index, const IpPrefix& address) {
  rtnl_addr* addr = rtnl_addr_alloc();
  rtnl_addr_set_ifindex(addr, index);
  NlAddrPtr local = ToNlAddr(address.address, address.length);
  rtnl_addr_set_local(addr, local.get());
  int err = rtnl_addr_delete(sock_, addr, 0);
  rtnl_addr_put(addr);
  if (err < 0) return NlError(err, absl::StrCat("delete address ", address.ToString()));
  return absl::OkStatus();
}

absl::Status NetlinkSession::AddRoute(int index, const IpPrefix& dst, const std::optional<IpAddress>& gateway) {
  rtnl_route* route = rtnl_route_alloc();
  rtnl_route_set_family(route, dst.address.is_v4() ? AF_INET : AF_INET6);
  rtnl_route_set_table(route, RT_TABLE_MAIN);
  rtnl_route_set_protocol(route, RTPROT_BOOT);
  rtnl_route_set_type(route, RTN_UNICAST);
  rtnl_route_set_scope(route, gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
  NlAddrPtr dst_addr = ToNlAddr(dst.FirstAddress(), dst.length);
  rtnl_route_set_dst(route, dst_addr.get());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  rtnl_route_nh_set_ifindex(nh, index);
  if (gateway) {
    NlAddrPtr gw = ToNlAddr(*gateway, gateway->bit_length());
    rtnl_route_nh_set_gateway(nh, gw.get());
  }
  rtnl_route_add_nexthop(route, nh);  // the route owns nh from here
  int err = rtnl_route_add(sock_, route, NLM_F_EXCL);
  rtnl_route_put(route);
  if (err < 0) return NlError(err, absl::StrCat("add route ", dst.ToString()));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<RouteInfo>> NetlinkSession::ListRoutes(int index) {
  nl_cache* raw = nullptr;
  int err = rtnl_route_alloc_cache(sock_, AF_UNSPEC, 0, &raw);
  if (err < 0) return NlError(err, "list routes");
  CachePtr cache(raw);
  std::vector<RouteInfo> out;
  for (nl_object* obj = nl_cache_get_first(raw); obj != nullptr; obj = nl_cache_get_next(obj)) {
    auto* route = reinterpret_cast<rtnl_route*>(obj);
    if (rtnl_route_get_table(route) != RT_TABLE_MAIN || rtnl_route_get_nnexthops(route) < 1) continue;
    rtnl_nexthop* nh = rtnl_route_nexthop_n(route, 0);
    if (rtnl_route_nh_get_ifindex(nh) != index) continue;
    nl_addr* dst = rtnl_route_get_dst(route);
    RouteInfo info;
    info.ifindex = index;
    std::optional<IpAddress> dst_ip = FromNlAddr(dst);
    if (dst_ip) {
      info.dst = {*dst_ip, static_cast<int>(nl_addr_get_prefixlen(dst))};
    } else {
      // Default routes come back with an empty destination.
      uint8_t zero[16] = {};
      bool v4 = rtnl_route_get_family(route) == AF_INET;
      info.dst = {v4 ? IpAddress::FromV4Bytes(zero) : IpAddress::FromV6Bytes(zero), 0};
    }
    info.gateway = FromNlAddr(rtnl_route_nh_get_gateway(nh));
    out.push_back(info);
  }
  return out;
}

}  // namespace flint::cni
