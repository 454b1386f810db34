// Docker Registry HTTP API v2 / OCI distribution client: endpoint selection (mirrors, insecure
// hosts), authentication (anonymous, basic, bearer token flow) and manifest/blob fetching.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cri/image/http_client.h"
#include "cri/image/manifest.h"
#include "cri/image/reference.h"

namespace flint::image {

struct RegistryConfig {
  // Registry host (as in references: "docker.io", "registry.k8s.io", "127.0.0.1:5055") -> endpoints
  // tried in order before the registry itself. An endpoint is "host[:port]" or "http(s)://host[:port]";
  // the repository path is kept.
  std::map<std::string, std::vector<std::string>> mirrors;
  // Hosts (host[:port]) reached over plain http.
  std::set<std::string> insecure;
};

// CRI AuthConfig without gRPC types.
struct RegistryAuth {
  std::string username;
  std::string password;
  std::string auth;            // base64("user:pass")
  std::string server_address;  // informational
  std::string identity_token;  // OAuth2 refresh token for the token endpoint
  std::string registry_token;  // bearer token sent as is
};

struct Endpoint {
  std::string base_url;  // "https://registry-1.docker.io", "http://127.0.0.1:5055"
  bool mirror = false;
};

// Endpoints for a registry host: mirrors first, then the registry itself.
std::vector<Endpoint> EndpointsFor(const RegistryConfig& config, const std::string& domain);

// Blob bytes this process received from registries (all sessions, including failed pulls):
// flintd's flint_image_pull_bytes_total.
uint64_t PulledBlobBytesTotal();

// One repository on one endpoint with one set of credentials; caches the bearer token.
// Thread-safe: layers are fetched in parallel through one session.
class RegistrySession {
 public:
  RegistrySession(Endpoint endpoint, std::string repository, RegistryAuth auth, HttpTimeouts timeouts,
                  std::function<bool()> cancelled);

  struct FetchedManifest {
    std::string content_type;
    std::string body;
    std::string digest;  // sha256 of body
  };
  // `tag_or_digest`; when it is a digest the body is verified against it (DataLoss otherwise).
  absl::StatusOr<FetchedManifest> GetManifest(const std::string& tag_or_digest);
  // Streams a blob into `sink`; the caller verifies the digest.
  absl::Status GetBlob(const std::string& digest, const std::function<absl::Status(const char*, size_t)>& sink);

  const Endpoint& endpoint() const { return endpoint_; }
  std::string Describe() const;  // "http://127.0.0.1:5055 repository flint/busybox"

 private:
  // Sends a request with authentication, handling a 401 challenge once.
  absl::StatusOr<HttpResponse> Send(HttpRequest request, const std::string& what);
  absl::Status Authenticate(const std::string& challenge, const std::string& what);
  std::vector<std::string> AuthHeaders();

  Endpoint endpoint_;
  std::string repository_;
  RegistryAuth auth_;
  std::string user_, password_;  // from username/password or auth
  HttpTimeouts timeouts_;
  std::function<bool()> cancelled_;
  std::mutex mu_;
  std::string bearer_token_;  // guarded by mu_
  bool use_basic_ = false;    // guarded by mu_
};

// Parses `Bearer realm="...",service="...",scope="..."` into lower-case keys plus "scheme".
std::map<std::string, std::string> ParseChallenge(const std::string& header);

}  // namespace flint::image
