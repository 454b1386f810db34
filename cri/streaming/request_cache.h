// Single-use, expiring tokens for the streaming URLs handed out by Exec/Attach/PortForward.
#pragma once

#include <cstddef>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <variant>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "api.pb.h"

namespace flint::streaming {

using CachedRequest =
    std::variant<runtime::v1::ExecRequest, runtime::v1::AttachRequest, runtime::v1::PortForwardRequest>;

class RequestCache {
 public:
  static constexpr absl::Duration kDefaultTtl = absl::Minutes(1);
  static constexpr size_t kDefaultMaxInFlight = 1000;

  explicit RequestCache(std::function<absl::Time()> clock = absl::Now, absl::Duration ttl = kDefaultTtl,
                        size_t max_in_flight = kDefaultMaxInFlight);

  // Stores request under a fresh crypto-random URL-safe token. ResourceExhausted when full.
  absl::StatusOr<std::string> Insert(CachedRequest request);
  // Removes and returns the request; nullopt for unknown, used or expired tokens.
  std::optional<CachedRequest> Consume(const std::string& token);
  size_t size();

 private:
  struct Entry {
    std::string token;
    CachedRequest request;
    absl::Time expires;
  };
  void EvictExpiredLocked(absl::Time now);

  std::function<absl::Time()> clock_;
  absl::Duration ttl_;
  size_t max_in_flight_;
  std::mutex mu_;
  std::list<Entry> entries_;  // in insertion (= expiry) order
  std::map<std::string, std::list<Entry>::iterator> by_token_;
};

// 8 random bytes as unpadded base64url (11 chars).
absl::StatusOr<std::string> NewToken();

}  // namespace flint::streaming
