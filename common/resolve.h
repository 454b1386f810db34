// Name resolution with a deadline. getaddrinfo(3) has only the resolver's own timeouts
// (resolv.conf: 5 s per try, 2 tries per nameserver by default), so a dead DNS server can hold a
// FUSE read or a CRI call for half a minute; callers here give up when their own timeout ends.
#pragma once

#include <netdb.h>
#include <sys/socket.h>

#include <chrono>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace flint::net {

struct ResolvedAddress {
  int family = 0;
  int socktype = 0;
  int protocol = 0;
  sockaddr_storage addr{};
  socklen_t addrlen = 0;

  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&addr); }
};

// getaddrinfo(host, service) with hints' family and socktype, in the order getaddrinfo gives.
// A numeric address resolves at once. A name is looked up on a helper thread; if it has no answer
// within `timeout`, DeadlineExceeded (the lookup finishes in the background, and callers asking
// for the same name meanwhile wait on it instead of starting another). No addresses, or a
// resolver error, is Unavailable.
absl::StatusOr<std::vector<ResolvedAddress>> Resolve(const std::string& host, const std::string& service,
                                                     int family, int socktype, std::chrono::milliseconds timeout);

}  // namespace flint::net
