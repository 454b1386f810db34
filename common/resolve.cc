#include "common/resolve.h"

#include <arpa/inet.h>

#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>

#include "absl/strings/str_cat.h"

namespace flint::net {
namespace {

struct Lookup {
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  int rc = 0;
  std::vector<ResolvedAddress> addresses;
};

using LookupKey = std::tuple<std::string, std::string, int, int>;

// Lookups in flight, so a dead resolver costs one thread per name, not one per caller.
std::mutex& InFlightMutex() {
  static std::mutex mu;
  return mu;
}
std::map<LookupKey, std::shared_ptr<Lookup>>& InFlight() {
  static auto* lookups = new std::map<LookupKey, std::shared_ptr<Lookup>>();
  return *lookups;
}

int RunGetaddrinfo(const std::string& host, const std::string& service, int family, int socktype, int flags,
                   std::vector<ResolvedAddress>* out) {
  addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = socktype;
  hints.ai_flags = flags;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), service.empty() ? nullptr : service.c_str(), &hints, &res);
  if (rc != 0) return rc;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    ResolvedAddress a;
    a.family = ai->ai_family;
    a.socktype = ai->ai_socktype;
    a.protocol = ai->ai_protocol;
    std::memcpy(&a.addr, ai->ai_addr, ai->ai_addrlen);
    a.addrlen = ai->ai_addrlen;
    out->push_back(a);
  }
  freeaddrinfo(res);
  return 0;
}

bool IsNumericHost(const std::string& host) {
  in6_addr v6;
  in_addr v4;
  return inet_pton(AF_INET, host.c_str(), &v4) == 1 || inet_pton(AF_INET6, host.c_str(), &v6) == 1;
}

absl::StatusOr<std::vector<ResolvedAddress>> Finish(const std::string& host, int rc,
                                                    std::vector<ResolvedAddress> addresses) {
  if (rc != 0) return absl::UnavailableError(absl::StrCat("resolve ", host, ": ", gai_strerror(rc)));
  if (addresses.empty()) return absl::UnavailableError(absl::StrCat("resolve ", host, ": no addresses"));
  return addresses;
}

}  // namespace

absl::StatusOr<std::vector<ResolvedAddress>> Resolve(const std::string& host, const std::string& service,
                                                     int family, int socktype, std::chrono::milliseconds timeout) {
  if (IsNumericHost(host)) {
    std::vector<ResolvedAddress> addresses;
    int rc = RunGetaddrinfo(host, service, family, socktype, AI_NUMERICHOST, &addresses);
    return Finish(host, rc, std::move(addresses));
  }
  const LookupKey key{host, service, family, socktype};
  std::shared_ptr<Lookup> lookup;
  {
    std::lock_guard<std::mutex> lock(InFlightMutex());
    auto [it, inserted] = InFlight().try_emplace(key);
    if (inserted) {
      it->second = std::make_shared<Lookup>();
      std::thread([key, lookup = it->second] {
        const auto& [name, svc, fam, type] = key;
        std::vector<ResolvedAddress> addresses;
        int rc = RunGetaddrinfo(name, svc, fam, type, 0, &addresses);
        {
          std::lock_guard<std::mutex> in_flight_lock(InFlightMutex());
          InFlight().erase(key);
        }
        std::lock_guard<std::mutex> lock(lookup->mu);
        lookup->rc = rc;
        lookup->addresses = std::move(addresses);
        lookup->done = true;
        lookup->done_cv.notify_all();
      }).detach();
    }
    lookup = it->second;
  }
  std::unique_lock<std::mutex> lock(lookup->mu);
  if (!lookup->done_cv.wait_for(lock, timeout, [&] { return lookup->done; })) {
    return absl::DeadlineExceededError(
        absl::StrCat("resolve ", host, ": no answer from the name resolver within ", timeout.count(), " ms"));
  }
  return Finish(host, lookup->rc, lookup->addresses);
}

}  // namespace flint::net
