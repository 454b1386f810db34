#include "cri/streaming/request_cache.h"

#include <openssl/rand.h>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"

namespace flint::streaming {

absl::StatusOr<std::string> NewToken() {
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) return absl::InternalError("token: RAND_bytes failed");
  std::string token;
  absl::WebSafeBase64Escape(absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)), &token);
  return token;
}

RequestCache::RequestCache(std::function<absl::Time()> clock, absl::Duration ttl, size_t max_in_flight)
    : clock_(std::move(clock)), ttl_(ttl), max_in_flight_(max_in_flight) {}

void RequestCache::EvictExpiredLocked(absl::Time now) {
  while (!entries_.empty() && entries_.front().expires <= now) {
    by_token_.erase(entries_.front().token);
    entries_.pop_front();
  }
}

absl::StatusOr<std::string> RequestCache::Insert(CachedRequest request) {
  std::lock_guard lock(mu_);
  absl::Time now = clock_();
  EvictExpiredLocked(now);
  if (entries_.size() >= max_in_flight_) {
    return absl::ResourceExhaustedError("streaming: too many in-flight requests, retry later");
  }
  std::string token;
  do {
    auto t = NewToken();
    if (!t.ok()) return t.status();
    token = *std::move(t);
  } while (by_token_.count(token));
  entries_.push_back(Entry{token, std::move(request), now + ttl_});
  by_token_[token] = std::prev(entries_.end());
  return token;
}

std::optional<CachedRequest> RequestCache::Consume(const std::string& token) {
  std::lock_guard lock(mu_);
  EvictExpiredLocked(clock_());
  auto it = by_token_.find(token);
  if (it == by_token_.end()) return std::nullopt;
  CachedRequest request = std::move(it->second->request);
  entries_.erase(it->second);
  by_token_.erase(it);
  return request;
}

size_t RequestCache::size() {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace flint::streaming
